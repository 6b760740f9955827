"""A server process killed (SIGKILL, no drain) while a customer is writing.

An ``ack`` is sent only after the message's transaction committed, so every acknowledged
message must be in the database after the kill; a message sent but not acknowledged is sent
again by the client with the same ``client_msg_id`` once the server is back (what the widget
does from its pending list), and is stored once whether or not it had committed before the
kill. Runs on SQLite (WAL, one process, in-memory layer) and on PostgreSQL + Redis.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Iterator

import pytest
import websockets

from .cluster import Cluster, redis_unreachable_reason, redis_url
from .sockets import next_frame

pytestmark = [pytest.mark.slow]

MESSAGES = 40

STORED = """
from kefu.conversations.models import Message
ids = list(Message.objects.filter(direction="incoming", client_msg_id__startswith="kill-")
           .values_list("client_msg_id", flat=True))
print(json.dumps(ids))
"""


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    redis = None
    if os.environ.get("KEFU_DATABASE_URL"):
        redis = redis_url()
        if reason := redis_unreachable_reason(redis):
            pytest.skip(reason)
    # One customer writing forty messages at once is past her own limit (8 in 10 s): off here.
    with Cluster(servers=1, redis=redis, env={"KEFU_RATELIMIT_CHAT_MESSAGE": "off"}) as c:
        yield c


def _text(n: int) -> str:
    return f"第{n}条：订单号 2026120{n:03d} 的快递还没到，麻烦帮我查一下"


async def test_a_server_killed_mid_stream_loses_no_acked_message_and_stores_resends_once(
    cluster: Cluster,
) -> None:
    server = cluster.servers[0]
    token = cluster.seed["visitor_tokens"][0]
    ids = [f"kill-{n}" for n in range(MESSAGES)]
    acked: set[str] = set()

    async with server.chat(token) as chat:
        # Write as fast as the socket takes it; kill the server once some are acknowledged.
        for n, client_msg_id in enumerate(ids):
            await chat.send(json.dumps({"type": "message", "client_msg_id": client_msg_id, "text": _text(n)}))
        try:
            async with asyncio.timeout(30):
                async for raw in chat:
                    frame = json.loads(raw)
                    if frame.get("type") == "ack":
                        acked.add(frame["client_msg_id"])
                        if len(acked) == 8:
                            os.kill(server.proc.pid, signal.SIGKILL)
        except websockets.ConnectionClosed:
            pass
    server.proc.wait(timeout=10)
    assert 8 <= len(acked) < MESSAGES, f"the kill came too late to test anything: {len(acked)} acked"

    cluster.serve_again(server)
    stored = set(await asyncio.to_thread(cluster.run, STORED))
    assert acked <= stored, f"acknowledged but lost: {sorted(acked - stored)}"

    # The client sends again everything it holds unacknowledged, as the widget does.
    async with server.chat(token) as chat:
        for n, client_msg_id in enumerate(ids):
            if client_msg_id not in acked:
                await chat.send(
                    json.dumps({"type": "message", "client_msg_id": client_msg_id, "text": _text(n)})
                )
        for client_msg_id in [i for i in ids if i not in acked]:
            await next_frame(chat, lambda f, c=client_msg_id: f["type"] == "ack" and f["client_msg_id"] == c)

    final = await asyncio.to_thread(cluster.run, STORED)
    assert sorted(final) == sorted(ids), "each message stored exactly once"
