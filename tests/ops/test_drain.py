"""Graceful shutdown in-process (``kefu.core.drain``): the hint, the 1012 close, late handshakes.

The same with real ``kefu serve`` processes and SIGTERM: tests/realtime/test_graceful_shutdown.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from kefu.channels.visitor import issue_visitor_token
from kefu.core import drain
from tests.realtime.sockets import chat_socket, close_code, receive_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def not_draining() -> Iterator[None]:
    yield
    drain._state["draining"] = False  # the process "restarted"


async def test_drain_hints_open_chat_socket_to_reconnect_then_closes_it_with_1012(desk: Any) -> None:
    comm = chat_socket(issue_visitor_token(desk.channel.pk))
    assert (await comm.connect(timeout=10))[0]
    assert drain.open_sockets() == 1

    draining = asyncio.create_task(drain.drain(spread_ms=500, timeout=5))
    hint = await receive_until(comm, lambda f: f["type"] == "reconnect")
    assert hint["reason"] == "restart" and 0 <= hint["retry_after_ms"] <= 500
    assert await comm.receive_output(timeout=5) == {
        "type": "websocket.close",
        "code": 1012,
        "reason": "restart",
    }
    await comm.disconnect(code=1012)  # the client's side of the close handshake
    assert await asyncio.wait_for(draining, 5) == 1
    assert drain.open_sockets() == 0


async def test_handshake_while_draining_is_closed_with_1012(desk: Any) -> None:
    assert await drain.drain(timeout=1) == 0
    assert await close_code(chat_socket(issue_visitor_token(desk.channel.pk))) == 1012
