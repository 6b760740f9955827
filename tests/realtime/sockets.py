"""Helpers for websocket tests driven in-process through ``kefu.asgi.application``."""

from __future__ import annotations

import asyncio
import json
import sys
import types
from collections.abc import Callable
from typing import Any

try:
    from channels.testing import WebsocketCommunicator
except ModuleNotFoundError:
    # channels.testing's __init__ also imports its live-server case, which needs
    # daphne (and Twisted); we serve with uvicorn. Stand in for it only while
    # importing, so nothing else in the session sees a fake daphne.
    _stub = types.ModuleType("daphne.testing")
    _stub.DaphneProcess = None  # type: ignore[attr-defined]
    sys.modules["daphne"], sys.modules["daphne.testing"] = types.ModuleType("daphne"), _stub
    try:
        from channels.testing import WebsocketCommunicator
    finally:
        del sys.modules["daphne"], sys.modules["daphne.testing"]

ORIGIN = (b"origin", b"http://testserver")


def chat_socket(token: str) -> WebsocketCommunicator:
    from kefu.asgi import application

    return WebsocketCommunicator(application, f"/ws/chat/?token={token}", headers=[ORIGIN])


def desk_socket(session_key: str | None = None) -> WebsocketCommunicator:
    from kefu.asgi import application

    headers = [ORIGIN]
    if session_key:
        headers.append((b"cookie", f"sessionid={session_key}".encode()))
    return WebsocketCommunicator(application, "/ws/desk/", headers=headers)


async def _next(comm: WebsocketCommunicator, timeout: float) -> dict[str, Any] | None:
    # receive_output's own timeout cancels the application: poll instead.
    if await comm.receive_nothing(timeout=timeout, interval=0.01):
        return None
    return await comm.receive_json_from()


async def receive_until(
    comm: WebsocketCommunicator, predicate: Callable[[dict[str, Any]], bool], *, timeout: float = 5
) -> dict[str, Any]:
    """The first frame matching ``predicate``; frames before it are skipped."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    seen = []
    while (left := deadline - loop.time()) > 0:
        frame = await _next(comm, left)
        if frame is None:
            break
        if predicate(frame):
            return frame
        seen.append(frame)
    raise AssertionError(f"no matching frame within {timeout}s; got {seen}")


async def drain(comm: WebsocketCommunicator, *, quiet: float = 0.3) -> list[dict[str, Any]]:
    """Every frame that arrives until the socket has been quiet for ``quiet`` seconds."""
    frames = []
    while (frame := await _next(comm, quiet)) is not None:
        frames.append(frame)
    return frames


async def close_code(comm: WebsocketCommunicator) -> int | None:
    """Connect and return the close code the server answered with (None if it stayed open)."""
    connected, _ = await comm.connect(timeout=10)
    if not connected:
        return None
    out = await comm.receive_output(timeout=10)
    assert out["type"] == "websocket.close", out
    return out.get("code")


async def next_frame(ws: Any, predicate: Any, timeout: float = 15) -> dict[str, Any]:
    """The next JSON frame on a real (``websockets``) socket that ``predicate`` accepts."""
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await ws.recv())
            if predicate(frame):
                return frame


def session_for(user: Any) -> str:
    """A logged-in session for ``user``, as the login form would leave it; returns its key."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    assert session.session_key is not None
    return session.session_key
