"""Realtime across two server processes: the channel layer (Redis) carries the events.

The customer talks to process A, the agent's desk socket is on process B; each event
crosses from one process to the other only through Redis.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets

from .cluster import Cluster, redis_unreachable_reason, redis_url

pytestmark = [pytest.mark.redis, pytest.mark.slow]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    url = redis_url()
    if reason := redis_unreachable_reason(url):
        pytest.skip(reason)
    with Cluster(servers=2, redis=url) as c:
        yield c


async def _next(ws: Any, predicate: Any, timeout: float = 15) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await ws.recv())
            if predicate(frame):
                return frame


async def test_customer_on_one_process_and_agent_on_another_talk_through_redis(cluster: Cluster) -> None:
    try:
        await _converse(cluster)
    except (AssertionError, TimeoutError) as exc:
        raise AssertionError(f"{exc!r}\n{cluster.logs()}") from exc


async def _converse(cluster: Cluster) -> None:
    a, b = cluster.servers
    seed = cluster.seed
    desk_url = f"{b.ws}/ws/desk/"
    chat_url = f"{a.ws}/ws/chat/?token={seed['visitor_tokens'][0]}"
    async with (
        websockets.connect(
            desk_url, origin=b.http, additional_headers={"Cookie": f"sessionid={seed['session_key']}"}
        ) as desk,
        websockets.connect(chat_url, origin=a.http) as chat,
    ):
        # A refused resume is answered only after the desk socket has joined its groups.
        await desk.send(json.dumps({"type": "resume", "conversation_id": 10**9}))
        await _next(desk, lambda f: f["type"] == "error")

        await chat.send(
            json.dumps({"type": "message", "client_msg_id": "m-1", "text": "你好，快递三天没动了"})
        )
        ack = await _next(chat, lambda f: f["type"] == "ack")
        message = ack["message"]

        event = await _next(desk, lambda f: f.get("event") == "message.created")
        assert event["data"]["message"]["id"] == message["id"]
        assert event["data"]["message"]["text"] == "你好，快递三天没动了"
        conversation_id = event["data"]["conversation"]["id"]

        # The agent answers over HTTP on process B; the customer on A receives it.
        async with httpx.AsyncClient(base_url=b.http, timeout=15) as http:
            resp = await http.post(
                f"/api/v1/conversations/{conversation_id}/messages",
                json={"text": "您好，马上为您查询", "client_msg_id": "r-1"},
                headers={"Authorization": f"Bearer {seed['api_key']}"},
            )
        assert resp.status_code == 201, resp.text
        reply = await _next(
            chat, lambda f: f["type"] == "message" and f["message"]["text"] == "您好，马上为您查询"
        )
        assert reply["message"]["id"] == resp.json()["id"]
        assert reply["message"]["sender_name"] == "小美"

        # Typing crosses too: customer on A → desk on B.
        await chat.send(json.dumps({"type": "typing"}))
        typing = await _next(desk, lambda f: f["type"] == "typing")
        assert typing["conversation_id"] == conversation_id


def _server_backends(cluster: Cluster) -> set[int]:
    """PostgreSQL backends connected to the cluster's database, other than this one."""
    import psycopg

    with psycopg.connect(cluster.env["KEFU_DATABASE_URL"], autocommit=True, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return {pid for (pid,) in rows}


@pytest.mark.postgres
async def test_servers_reuse_pooled_postgresql_connections_across_requests(cluster: Cluster) -> None:
    if "KEFU_DATABASE_URL" not in cluster.env:
        pytest.skip("needs PostgreSQL")
    a, b = cluster.servers
    seed = cluster.seed
    headers = {"Authorization": f"Bearer {seed['api_key']}"}
    async with httpx.AsyncClient(timeout=15, headers=headers) as http:
        for server in (a, b):  # both pools are open
            assert (await http.get(f"{server.http}/api/v1/conversations")).status_code == 200
        before = _server_backends(cluster)

        async with websockets.connect(
            f"{a.ws}/ws/chat/?token={seed['visitor_tokens'][0]}", origin=a.http
        ) as chat:
            for n in range(5):
                await chat.send(json.dumps({"type": "message", "client_msg_id": f"pool-{n}", "text": "在吗"}))
                await _next(chat, lambda f, n=n: f["type"] == "ack" and f["client_msg_id"] == f"pool-{n}")
        for n in range(10):
            resp = await http.get(f"{(a, b)[n % 2].http}/api/v1/conversations")
            assert resp.status_code == 200, resp.text
        after = _server_backends(cluster)

    # Without a pool every request ends its backend: none would be left, and each
    # request above would have started a new one.
    assert before, cluster.logs()
    assert after == before, cluster.logs()
    assert len(before) <= 2 * 4  # two servers, KEFU_DB_POOL_MAX's default


# Longer than channels-redis's 5 s blocking wait and redis-py 8's default 5 s read
# timeout together: before the layer's socket timeout was set, quiet sockets died here.
IDLE_SECONDS = 20


async def test_quiet_chat_and_desk_sockets_still_deliver_after_20_seconds(cluster: Cluster) -> None:
    try:
        await _idle_then_converse(cluster)
    except (AssertionError, TimeoutError, websockets.ConnectionClosed) as exc:
        raise AssertionError(f"{exc!r}\n{cluster.logs()}") from exc
    assert "TimeoutError" not in cluster.logs()
    assert "over capacity" not in cluster.logs()


async def _idle_then_converse(cluster: Cluster) -> None:
    a, b = cluster.servers
    seed = cluster.seed
    async with (
        websockets.connect(
            f"{b.ws}/ws/desk/",
            origin=b.http,
            additional_headers={"Cookie": f"sessionid={seed['session_key']}"},
        ) as desk,
        websockets.connect(f"{a.ws}/ws/chat/?token={seed['visitor_tokens'][0]}", origin=a.http) as chat,
    ):
        await desk.send(json.dumps({"type": "resume", "conversation_id": 10**9}))
        await _next(desk, lambda f: f["type"] == "error")
        await chat.send(json.dumps({"type": "resume", "after": 0}))
        await _next(chat, lambda f: f["type"] == "history")

        await asyncio.sleep(IDLE_SECONDS)

        await chat.send(
            json.dumps({"type": "message", "client_msg_id": "idle-1", "text": "还在吗？想问下发票"})
        )
        await _next(chat, lambda f: f["type"] == "ack" and f["client_msg_id"] == "idle-1")
        event = await _next(
            desk,
            lambda f: (
                f.get("event") == "message.created" and f["data"]["message"]["text"] == "还在吗？想问下发票"
            ),
        )
        async with httpx.AsyncClient(base_url=b.http, timeout=15) as http:
            resp = await http.post(
                f"/api/v1/conversations/{event['data']['conversation']['id']}/messages",
                json={"text": "在的，发票稍后发到您邮箱", "client_msg_id": "idle-r-1"},
                headers={"Authorization": f"Bearer {seed['api_key']}"},
            )
        assert resp.status_code == 201, resp.text
        await _next(
            chat, lambda f: f["type"] == "message" and f["message"]["text"] == "在的，发票稍后发到您邮箱"
        )
