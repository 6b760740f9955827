"""Graceful shutdown across two ``kefu serve`` processes (docs/operations.md).

SIGTERM to one process: its customer and desk sockets get a ``reconnect`` frame and
close code 1012; the clients reconnect to the other process and resume from the last
message id they saw, missing nothing that was sent while they were away.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets

from .cluster import Cluster, redis_unreachable_reason, redis_url
from .sockets import next_frame

pytestmark = [pytest.mark.redis, pytest.mark.slow]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    url = redis_url()
    if reason := redis_unreachable_reason(url):
        pytest.skip(reason)
    with Cluster(servers=2, redis=url, kefu_serve=True, env={"KEFU_DRAIN_SPREAD_MS": "300"}) as c:
        yield c


async def _closed_with(ws: Any) -> tuple[list[dict[str, Any]], int | None]:
    """Frames received until the server closed the socket, and its close code."""
    frames = []
    try:
        async with asyncio.timeout(10):
            async for raw in ws:
                frames.append(json.loads(raw))
    except websockets.ConnectionClosed:
        pass
    return frames, ws.close_code


async def test_sigterm_closes_sockets_with_1012_and_clients_resume_on_the_other_process(
    cluster: Cluster,
) -> None:
    try:
        await _restart_one(cluster)
    except (AssertionError, TimeoutError, websockets.ConnectionClosed) as exc:
        raise AssertionError(f"{exc!r}\n{cluster.logs()}") from exc


async def _restart_one(cluster: Cluster) -> None:
    a, b = cluster.servers
    seed = cluster.seed
    cookie = {"Cookie": f"sessionid={seed['session_key']}"}
    chat_path = f"/ws/chat/?token={seed['visitor_tokens'][0]}"
    auth = {"Authorization": f"Bearer {seed['api_key']}"}

    chat = await websockets.connect(f"{a.ws}{chat_path}", origin=a.http)
    desk = await websockets.connect(f"{a.ws}/ws/desk/", origin=a.http, additional_headers=cookie)
    await desk.send(json.dumps({"type": "resume", "conversation_id": 10**9}))
    await next_frame(desk, lambda f: f["type"] == "error")  # the desk has joined its groups
    await chat.send(json.dumps({"type": "message", "client_msg_id": "gs-1", "text": "我的订单还没发货"}))
    first = (await next_frame(chat, lambda f: f["type"] == "ack"))["message"]
    created = await next_frame(desk, lambda f: f.get("event") == "message.created")
    conversation_id = created["data"]["conversation"]["id"]

    started = time.monotonic()
    a.proc.send_signal(signal.SIGTERM)
    (chat_frames, chat_code), (desk_frames, desk_code) = await asyncio.gather(
        _closed_with(chat), _closed_with(desk)
    )
    assert (chat_code, desk_code) == (1012, 1012)
    for frames in (chat_frames, desk_frames):
        hint = next((f for f in frames if f["type"] == "reconnect"), None)
        assert hint is not None, frames
        assert 0 <= hint["retry_after_ms"] <= 300
    a.proc.wait(timeout=15)
    # uvicorn re-raises the signal once it has shut down cleanly (systemd counts it a clean stop).
    assert a.proc.returncode in (0, -signal.SIGTERM)
    drained_in = time.monotonic() - started

    # While the customer is away, the agent answers on the process still running.
    async with httpx.AsyncClient(base_url=b.http, timeout=15, headers=auth) as http:
        resp = await http.post(
            f"/api/v1/conversations/{conversation_id}/messages",
            json={"text": "您好，今天下午就发出", "client_msg_id": "gs-r1"},
        )
    assert resp.status_code == 201, resp.text
    reply_id = resp.json()["id"]

    async with (
        websockets.connect(f"{b.ws}{chat_path}", origin=b.http) as chat,
        websockets.connect(f"{b.ws}/ws/desk/", origin=b.http, additional_headers=cookie) as desk,
    ):
        # The customer resumes after the last id it saw and resends what it had not seen
        # acknowledged (here: its first message again, which must not be stored twice).
        await chat.send(json.dumps({"type": "resume", "after": first["id"]}))
        history = await next_frame(chat, lambda f: f["type"] == "history")
        assert [m["id"] for m in history["messages"]] == [reply_id]
        await chat.send(json.dumps({"type": "message", "client_msg_id": "gs-1", "text": "我的订单还没发货"}))
        assert (await next_frame(chat, lambda f: f["type"] == "ack"))["message"]["id"] == first["id"]

        await desk.send(json.dumps({"type": "resume", "conversation_id": conversation_id, "after": 0}))
        desk_history = await next_frame(desk, lambda f: f["type"] == "history")
        ids = [m["id"] for m in desk_history["messages"]]  # with the activity lines between
        assert ids.index(first["id"]) < ids.index(reply_id)

        # And live traffic flows on the new process.
        await chat.send(json.dumps({"type": "message", "client_msg_id": "gs-2", "text": "好的，谢谢"}))
        second = (await next_frame(chat, lambda f: f["type"] == "ack"))["message"]
        live = await next_frame(desk, lambda f: f.get("event") == "message.created")
        assert live["data"]["message"]["id"] == second["id"]
    assert drained_in < 10
