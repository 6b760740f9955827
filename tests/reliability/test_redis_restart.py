"""Redis stops and comes back under two kefu processes (our own Redis, never the machine's).

The customer chats on process A, the agent's desk is on B. While Redis is down both
sockets stay open and are told (the banner), the customer's message is stored and
acknowledged, the agent's reply over HTTP is stored (201, not 500), and ``/readyz`` says
degraded. When Redis is back both sockets join their groups again by themselves, the
customer catches up on the reply by resuming, and live traffic crosses processes again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import websockets

from tests.realtime.cluster import Cluster
from tests.realtime.sockets import next_frame

from .instances import PrivateRedis

pytestmark = [pytest.mark.slow]

STORED = """
from kefu.conversations.models import Message
print(json.dumps(sorted(Message.objects.filter(client_msg_id__startswith="rr-").values_list("client_msg_id", flat=True))))
"""


@pytest.fixture(scope="module")
def cluster(redis: PrivateRedis) -> Iterator[Cluster]:
    with Cluster(servers=2, redis=redis.url, env={"KEFU_REALTIME_CHECK_SECONDS": "0.5"}) as c:
        yield c


async def test_sockets_survive_a_redis_restart_and_catch_up(cluster: Cluster, redis: PrivateRedis) -> None:
    try:
        await _restart_under_traffic(cluster, redis)
    except (AssertionError, TimeoutError, websockets.ConnectionClosed) as exc:
        raise AssertionError(f"{exc!r}\n{cluster.logs()}") from exc
    assert cluster.run(STORED) == ["rr-1", "rr-2", "rr-3", "rr-r-1", "rr-r-2"]


def _is_realtime(status: str) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f["type"] == "realtime" and f["status"] == status


async def _restart_under_traffic(cluster: Cluster, redis: PrivateRedis) -> None:
    a, b = cluster.servers
    seed = cluster.seed
    headers = {"Authorization": f"Bearer {seed['api_key']}"}
    async with (
        b.desk(seed["session_key"]) as desk,
        a.chat(seed["visitor_tokens"][0]) as chat,
        httpx.AsyncClient(timeout=15, headers=headers) as http,
    ):
        await desk.send(json.dumps({"type": "resume", "conversation_id": 10**9}))
        await next_frame(desk, lambda f: f["type"] == "error")
        await chat.send(
            json.dumps({"type": "message", "client_msg_id": "rr-1", "text": "你好，订单还没发货"})
        )
        await next_frame(chat, lambda f: f["type"] == "ack")
        event = await next_frame(desk, lambda f: f.get("event") == "message.created")
        conversation_id = event["data"]["conversation"]["id"]
        await next_frame(chat, lambda f: f["type"] == "history")
        last_seen = event["data"]["message"]["id"]

        redis.stop()
        await next_frame(chat, _is_realtime("degraded"), timeout=10)
        await next_frame(desk, _is_realtime("degraded"), timeout=10)

        # The customer writes on: stored and acknowledged without Redis.
        await chat.send(json.dumps({"type": "message", "client_msg_id": "rr-2", "text": "急用，能加急吗"}))
        ack = await next_frame(chat, lambda f: f["type"] == "ack" and f["client_msg_id"] == "rr-2")
        assert ack["message"]["text"] == "急用，能加急吗"
        # The agent answers over HTTP on the other process: stored, not a 500.
        reply = await http.post(
            f"{b.http}/api/v1/conversations/{conversation_id}/messages",
            json={"text": "好的，已为您加急处理", "client_msg_id": "rr-r-1"},
        )
        assert reply.status_code == 201, reply.text
        ready = await http.get(f"{a.http}/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "degraded", ready.text

        redis.start()
        await next_frame(chat, _is_realtime("ok"), timeout=15)
        await next_frame(desk, _is_realtime("ok"), timeout=15)

        # What the widget does on "ok": resume from the last id it saw.
        await chat.send(json.dumps({"type": "resume", "after": last_seen}))
        history = await next_frame(chat, lambda f: f["type"] == "history")
        assert "好的，已为您加急处理" in [m["text"] for m in history["messages"]]
        assert (await http.get(f"{a.http}/readyz")).json() == {"status": "ok"}

        # Live again across the two processes, on the sockets opened before the outage.
        await chat.send(json.dumps({"type": "message", "client_msg_id": "rr-3", "text": "谢谢，收到了"}))
        await next_frame(
            desk,
            lambda f: f.get("event") == "message.created" and f["data"]["message"]["text"] == "谢谢，收到了",
        )
        reply = await http.post(
            f"{b.http}/api/v1/conversations/{conversation_id}/messages",
            json={"text": "不客气，祝您购物愉快", "client_msg_id": "rr-r-2"},
        )
        assert reply.status_code == 201, reply.text
        await next_frame(
            chat, lambda f: f["type"] == "message" and f["message"]["text"] == "不客气，祝您购物愉快"
        )
