"""PostgreSQL restarts under a running kefu (our own cluster, never the machine's).

While it is down: a customer's message is refused with a retryable error frame (never
acknowledged), an agent's reply gets ``503`` with ``Retry-After`` and a JSON body, a new
chat or desk socket is told to come back (1013 and a hint), ``/readyz`` answers 503. When it is
back the process reconnects by itself (the pool's health checks), the resent message
is stored once, and the sockets opened before the outage carry traffic again.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets

from tests.realtime.cluster import Cluster
from tests.realtime.sockets import next_frame

from .instances import PrivatePostgres, migrated_postgres, unavailable_reason

pytestmark = [pytest.mark.slow]

STORED = """
from kefu.conversations.models import Message
print(json.dumps(sorted(Message.objects.filter(client_msg_id__startswith="pg-").values_list("client_msg_id", flat=True))))
"""


@pytest.fixture(scope="module")
def postgres() -> Iterator[PrivatePostgres]:
    if reason := unavailable_reason():
        pytest.skip(reason)
    holder = Cluster(servers=0, database_url="")  # only its environment, for a first migrate
    try:
        pg = migrated_postgres(holder.env)
    finally:
        holder.stop()
    try:
        yield pg
    finally:
        pg.close()


@pytest.fixture(scope="module")
def cluster(postgres: PrivatePostgres) -> Iterator[Cluster]:
    # A request waits this long for a connection the pool cannot make (10 s by default).
    with Cluster(servers=1, database_url=postgres.url, env={"KEFU_DB_POOL_TIMEOUT": "2"}) as c:
        yield c


async def test_a_postgresql_restart_refuses_retryably_and_recovers_by_itself(
    cluster: Cluster, postgres: PrivatePostgres
) -> None:
    try:
        await _restart_under_traffic(cluster, postgres)
    except (AssertionError, TimeoutError, websockets.ConnectionClosed) as exc:
        raise AssertionError(f"{exc!r}\n{cluster.logs()}") from exc
    # Every message acknowledged is stored, each once; the refused one once after its resend.
    assert cluster.run(STORED) == ["pg-1", "pg-2", "pg-3", "pg-r-1"]


async def _restart_under_traffic(cluster: Cluster, postgres: PrivatePostgres) -> None:
    (server,) = cluster.servers
    seed = cluster.seed
    token = seed["visitor_tokens"][0]
    async with (
        server.desk(seed["session_key"]) as desk,
        server.chat(token) as chat,
        httpx.AsyncClient(
            base_url=server.http, timeout=30, headers={"Authorization": f"Bearer {seed['api_key']}"}
        ) as http,
    ):
        await desk.send(json.dumps({"type": "resume", "conversation_id": 10**9}))
        await next_frame(desk, lambda f: f["type"] == "error")
        await chat.send(
            json.dumps({"type": "message", "client_msg_id": "pg-1", "text": "你好，我的退款到哪一步了"})
        )
        await next_frame(chat, lambda f: f["type"] == "ack")
        event = await next_frame(desk, lambda f: f.get("event") == "message.created")
        conversation_id = event["data"]["conversation"]["id"]

        postgres.stop(mode="fast")  # every session is cut, as in a restart or failover

        await chat.send(json.dumps({"type": "message", "client_msg_id": "pg-2", "text": "在吗？"}))
        refused = await next_frame(chat, lambda f: f.get("client_msg_id") == "pg-2", timeout=30)
        assert refused["type"] == "error" and refused["code"] == "unavailable", refused
        assert refused["retry_after_ms"] > 0

        reply = await http.post(
            f"/api/v1/conversations/{conversation_id}/messages",
            json={"text": "您好，退款已在处理", "client_msg_id": "pg-r-1"},
        )
        assert reply.status_code == 503, reply.text
        assert reply.json()["error"] == "unavailable" and reply.headers["Retry-After"]
        assert (await http.get("/readyz")).status_code == 503

        # A new chat socket meanwhile: told to come back soon, not failed.
        async with server.chat(token) as late:
            hint = await next_frame(late, lambda f: f["type"] == "reconnect", timeout=30)
            assert hint["reason"] == "unavailable"
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await late.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013

        # A desk opened meanwhile: its session lookup fails before kefu's consumer runs.
        async with server.desk(seed["session_key"]) as late_desk:
            hint = await next_frame(late_desk, lambda f: f["type"] == "reconnect", timeout=30)
            assert hint["reason"] == "unavailable"
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await late_desk.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013

        postgres.start()
        deadline = time.monotonic() + 60
        while (await http.get("/readyz")).status_code != 200:
            assert time.monotonic() < deadline, "not ready again within 60 s"
            await asyncio.sleep(0.2)

        # What the widget does after the hint: the same message, the same id, again after
        # each hint (the socket breaker answers at once for 2 s after the last failure).
        await _send_as_the_widget(chat, "pg-2", "在吗？")
        reply = await http.post(
            f"/api/v1/conversations/{conversation_id}/messages",
            json={"text": "您好，退款已在处理", "client_msg_id": "pg-r-1"},
        )
        assert reply.status_code == 201, reply.text
        await next_frame(
            chat, lambda f: f["type"] == "message" and f["message"]["text"] == "您好，退款已在处理"
        )
        await chat.send(json.dumps({"type": "message", "client_msg_id": "pg-3", "text": "好的，谢谢"}))
        await next_frame(chat, lambda f: f["type"] == "ack" and f["client_msg_id"] == "pg-3")
        await next_frame(
            desk,
            lambda f: f.get("event") == "message.created" and f["data"]["message"]["text"] == "好的，谢谢",
        )


async def _send_as_the_widget(chat: Any, client_msg_id: str, text: str, tries: int = 10) -> None:
    for _ in range(tries):
        await chat.send(json.dumps({"type": "message", "client_msg_id": client_msg_id, "text": text}))
        frame = await next_frame(chat, lambda f: f.get("client_msg_id") == client_msg_id)
        if frame["type"] == "ack":
            return
        assert frame.get("code") == "unavailable", frame
        await asyncio.sleep(frame["retry_after_ms"] / 1000)
    raise AssertionError(f"{client_msg_id} not acked after {tries} tries")
