"""Request threads kept between HTTP requests (kefu.core.threads), through the real ASGI application."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from kefu.core.threads import RequestThreads


async def _get(app: Any, path: str = "/api/v1/ping") -> int:
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }

    messages = [{"type": "http.request", "body": b"", "more_body": False}]
    done = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await done.wait()  # Django listens for a disconnect while it answers
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            done.set()

    await app(scope, receive, send)
    return next(m["status"] for m in sent if m["type"] == "http.response.start")


def _recording_app() -> tuple[Any, list[list[int]]]:
    """An ASGI app whose requests note the thread each of their sync calls ran on."""
    seen: list[list[int]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        mine: list[int] = []
        seen.append(mine)
        for _ in range(3):
            mine.append(await sync_to_async(threading.get_ident)())
            await asyncio.sleep(0.01)

    return app, seen


async def test_one_request_keeps_one_thread_and_the_next_request_reuses_it():
    app, seen = _recording_app()
    threads = RequestThreads(app)
    await threads({"type": "http"}, None, None)
    await threads({"type": "http"}, None, None)
    assert len(set(seen[0])) == 1
    assert seen[0] == seen[1]
    assert seen[0][0] != threading.get_ident()


async def test_concurrent_requests_get_threads_of_their_own_and_idle_ones_are_bounded():
    app, seen = _recording_app()
    threads = RequestThreads(app, keep=2)
    await asyncio.gather(*(threads({"type": "http"}, None, None) for _ in range(4)))
    assert all(len(set(s)) == 1 for s in seen)
    assert len({s[0] for s in seen}) == 4
    assert len(threads.idle) == 2


@pytest.mark.django_db(transaction=True)
async def test_the_served_application_answers_requests_on_reused_threads():
    from kefu.asgi import application

    http = application.application_mapping["http"]
    assert isinstance(http, RequestThreads)
    assert await _get(application) == 200
    idle = list(http.idle)
    assert await _get(application) == 200
    assert http.idle == idle  # the same executor served the second request
