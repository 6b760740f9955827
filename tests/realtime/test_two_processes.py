"""Realtime across two server processes: the channel layer (Redis) carries the events.

The customer talks to process A, the agent's desk socket is on process B; each event
crosses from one process to the other only through Redis.
"""

from __future__ import annotations

import asyncio
import json
import os
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
    with Cluster(servers=2, redis=url) as c:
        yield c


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
        await next_frame(desk, lambda f: f["type"] == "error")

        await chat.send(
            json.dumps({"type": "message", "client_msg_id": "m-1", "text": "你好，快递三天没动了"})
        )
        ack = await next_frame(chat, lambda f: f["type"] == "ack")
        message = ack["message"]

        event = await next_frame(desk, lambda f: f.get("event") == "message.created")
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
        reply = await next_frame(
            chat, lambda f: f["type"] == "message" and f["message"]["text"] == "您好，马上为您查询"
        )
        assert reply["message"]["id"] == resp.json()["id"]
        assert reply["message"]["sender_name"] == "小美"

        # Typing crosses too: customer on A → desk on B, once the desk has the conversation
        # open (its page resumes it; only that page draws the indicator).
        await desk.send(json.dumps({"type": "resume", "conversation_id": conversation_id}))
        await next_frame(desk, lambda f: f["type"] == "history")
        await chat.send(json.dumps({"type": "typing"}))
        typing = await next_frame(desk, lambda f: f["type"] == "typing")
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
                await next_frame(
                    chat, lambda f, n=n: f["type"] == "ack" and f["client_msg_id"] == f"pool-{n}"
                )
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
# What happens to a socket quiet for minutes, run in seconds: every timer that fires while a
# desk and a chat say nothing, set to 2 s, so the 20 s idle goes through each of them ten
# times — about ten minutes of a real floor's lunch break. The pool closes idle PostgreSQL
# connections (10 min) and replaces every one (1 h); SQLite's kept connection is reopened
# (600 s); the desk re-checks its session (60 s) and writes the agent's presence (30 s);
# uvicorn pings both sockets (20 s) and waits for the pong.
QUIET_MINUTES_AS_SECONDS = {
    "KEFU_DB_POOL_MAX_IDLE": "2",
    "KEFU_DB_POOL_MAX_LIFETIME": "6",
    "KEFU_SQLITE_CONN_MAX_AGE": "2",
    "KEFU_DESK_RECHECK_SECONDS": "2",
    "KEFU_PRESENCE_HEARTBEAT_SECONDS": "2",
    "KEFU_WS_PING_SECONDS": "2",
    "KEFU_WS_PING_TIMEOUT_SECONDS": "5",
}

LAST_SEEN = """
from kefu.accounts.models import User
u = User.objects.get(username="xiaomei")
print(json.dumps({"last_seen": u.last_seen_at.timestamp() if u.last_seen_at else None, "status": u.status}))
"""


async def test_quiet_chat_and_desk_sockets_still_deliver_after_minutes_of_timers() -> None:
    url = redis_url()
    if reason := redis_unreachable_reason(url):
        pytest.skip(reason)
    if "KEFU_DATABASE_URL" not in os.environ:
        # What goes quiet is the Redis layer's connections and the pool's: one run
        # (PostgreSQL + Redis) covers it and the suite keeps 20 s.
        pytest.skip("the PostgreSQL + Redis run covers it")
    # Its own Redis keys: the module's cluster (the same seeded ids) is running beside it.
    prefix = os.environ.get("KEFU_REDIS_PREFIX", "") + "quiet-"
    with Cluster(
        servers=2, redis=url, env={**QUIET_MINUTES_AS_SECONDS, "KEFU_REDIS_PREFIX": prefix}
    ) as cluster:
        try:
            await _idle_then_converse(cluster)
        except (AssertionError, TimeoutError, websockets.ConnectionClosed) as exc:
            raise AssertionError(f"{exc!r}\n{cluster.logs()}") from exc
        assert "TimeoutError" not in cluster.logs()
        assert "over capacity" not in cluster.logs()
        assert "Traceback" not in cluster.logs(), cluster.logs()


async def _idle_then_converse(cluster: Cluster) -> None:
    a, b = cluster.servers
    seed = cluster.seed
    async with (
        b.desk(seed["session_key"]) as desk,
        a.chat(seed["visitor_tokens"][0]) as chat,
    ):
        await desk.send(json.dumps({"type": "resume", "conversation_id": 10**9}))
        await next_frame(desk, lambda f: f["type"] == "error")
        await chat.send(json.dumps({"type": "resume", "after": 0}))
        await next_frame(chat, lambda f: f["type"] == "history")
        before = await asyncio.to_thread(cluster.run, LAST_SEEN)

        await asyncio.sleep(IDLE_SECONDS)

        # The quiet desk kept telling the database its agent is there: still online, seen lately.
        after = await asyncio.to_thread(cluster.run, LAST_SEEN)
        assert after["status"] == "online", after
        assert after["last_seen"] > (before["last_seen"] or 0) + IDLE_SECONDS / 2, (before, after)

        await chat.send(
            json.dumps({"type": "message", "client_msg_id": "idle-1", "text": "还在吗？想问下发票"})
        )
        await next_frame(chat, lambda f: f["type"] == "ack" and f["client_msg_id"] == "idle-1")
        event = await next_frame(
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
        await next_frame(
            chat, lambda f: f["type"] == "message" and f["message"]["text"] == "在的，发票稍后发到您邮箱"
        )


LOST_DESK = """
from datetime import timedelta
from django.utils import timezone
from kefu.accounts.models import User
from kefu.channels.models import Channel
from kefu.channels.visitor import issue_visitor_token
User.objects.filter(username="xiaomei").update(last_seen_at=timezone.now() - timedelta(days=3))
channel = Channel.objects.get(name="官网在线客服")
print(json.dumps([issue_visitor_token(channel.pk) for _ in range(2)]))
"""

ASSIGNEE_OF = """
from kefu.conversations.models import Message
m = Message.objects.select_related("conversation__assignee").get(pk={message_id})
a = m.conversation.assignee
print(json.dumps({{"assignee": a.username if a else None, "queued": m.conversation.queued_at is not None}}))
"""


async def _customer_writes(server: Any, token: str, text: str) -> int:
    async with server.chat(token) as chat:
        await chat.send(json.dumps({"type": "message", "client_msg_id": "p-1", "text": text}))
        ack = await next_frame(chat, lambda f: f["type"] == "ack")
        # Routing runs after the message's commit; the queue reply or history follows it.
        await next_frame(chat, lambda f: f["type"] == "history")
        return int(ack["message"]["id"])


async def test_a_desk_open_on_one_process_makes_the_agent_routable_on_the_other(cluster: Cluster) -> None:
    """Presence lives in the database: the heartbeat of a desk socket on B counts for routing on A."""
    a, b = cluster.servers
    tokens = cluster.run(LOST_DESK)  # her desk was last seen three days ago (beyond the grace)
    first = await _customer_writes(a, tokens[0], "你好，想问下能开增值税专用发票吗")
    assert cluster.run(ASSIGNEE_OF.format(message_id=first)) == {"assignee": None, "queued": True}

    async with b.desk(cluster.seed["session_key"]) as desk:
        await desk.send(json.dumps({"type": "resume", "conversation_id": 10**9}))
        await next_frame(desk, lambda f: f["type"] == "error")  # connected: the heartbeat is written
        second = await _customer_writes(a, tokens[1], "我买的运动鞋尺码偏小，可以换大一码吗")
        assert cluster.run(ASSIGNEE_OF.format(message_id=second))["assignee"] == "xiaomei"
