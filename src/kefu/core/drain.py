"""Graceful shutdown of this process's websockets (``kefu serve`` on SIGTERM).

Every kefu socket registers itself while it is open. When the server is told to stop,
it first closes its listening socket (new connections go to the other processes behind
the proxy), then ``drain()`` sends each open socket a ``{"type": "reconnect"}`` frame
with a spread-out delay and closes it with 1012 (service restart). Clients reconnect
through the proxy to any process and resume from the last message id they saw, so
nothing is lost: what was acknowledged is stored, what was missed is resent on resume.
The delays are spread so a restarted process's thousands of sockets do not arrive on
the others in the same millisecond.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any, Protocol

log = logging.getLogger(__name__)

# RFC 6455 "Service Restart": the client may reconnect at once, to any server.
CLOSE_SERVICE_RESTART = 1012


class DrainableSocket(Protocol):
    async def send_json(self, content: Any, close: bool = False) -> None: ...

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None: ...


_open: set[DrainableSocket] = set()
_state = {"draining": False}


def register(socket: DrainableSocket) -> None:
    _open.add(socket)


def unregister(socket: DrainableSocket) -> None:
    _open.discard(socket)


def is_draining() -> bool:
    return _state["draining"]


def open_sockets() -> int:
    return len(_open)


async def drain(*, spread_ms: int = 2000, timeout: float = 10.0) -> int:
    """Close every open socket with 1012 and a reconnect hint; returns how many were closed.

    Waits up to ``timeout`` seconds for the sockets' own clean-up (leaving their groups).
    """
    _state["draining"] = True
    sockets = list(_open)
    for socket in sockets:
        try:
            await socket.send_json(
                {"type": "reconnect", "reason": "restart", "retry_after_ms": random.randint(0, spread_ms)}
            )
            await socket.close(code=CLOSE_SERVICE_RESTART, reason="restart")
        except Exception:  # a socket already gone must not stop the others' drain
            log.debug("socket closed before its drain", exc_info=True)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while _open.intersection(sockets) and loop.time() < deadline:
        await asyncio.sleep(0.02)
    if left := len(_open.intersection(sockets)):
        log.warning("%d websockets still open after %.0f s of drain", left, timeout)
    return len(sockets)
