"""Two ``kefu serve`` processes on PostgreSQL + Redis behind nginx with the shipped config.

nginx runs ``deploy/nginx/kefu.conf`` (tests/realtime/proxy.py changes only ports and
paths). Through it: the API reaches both processes, a customer's chat socket gets an
agent's reply sent on the other process, the client's own address (not nginx's) is what
the rate limits count, and when the process holding the chat drains (SIGTERM) the
customer reconnects through nginx to the other one and misses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import signal
from collections.abc import Iterator

import httpx
import pytest
import websockets

from .cluster import Cluster, Server, redis_unreachable_reason, redis_url
from .proxy import Nginx, nginx_binary
from .sockets import next_frame

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

# Small limits, so that a few requests show whose address is counted.
TOKEN_LIMIT = 3
CONNECT_LIMIT = 3


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    if not os.environ.get("KEFU_DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        pytest.skip("several processes behind a proxy need PostgreSQL (SQLite serves one process)")
    if nginx_binary() is None:
        pytest.skip("nginx is not installed (make system-deps installs it)")
    url = redis_url()
    if reason := redis_unreachable_reason(url):
        pytest.skip(reason)
    env = {
        "KEFU_DRAIN_SPREAD_MS": "300",
        "KEFU_RATELIMIT_CHAT_TOKEN_IP": f"{TOKEN_LIMIT}/1m",
        "KEFU_RATELIMIT_CHAT_CONNECT_IP": f"{CONNECT_LIMIT}/1m",
    }
    with Cluster(servers=2, redis=url, kefu_serve=True, env=env) as c:
        yield c


@pytest.fixture(scope="module")
def proxy(cluster: Cluster) -> Iterator[Nginx]:
    with Nginx(upstream_ports=[s.port for s in cluster.servers]) as n:
        yield n


def client_address() -> str:
    """A loopback address of its own (Linux routes all of 127/8 to lo): not nginx's 127.0.0.1.

    Random, so that runs sharing Redis never share a rate-limit count.
    """
    return f"127.{random.randint(1, 254)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


def _metric(server: Server, line: str) -> float:
    """One sample of a process's own ``/metrics`` (scraped on its port, from loopback)."""
    text = httpx.get(f"{server.http}/metrics", timeout=10).text
    match = re.search(rf"^{re.escape(line)} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def _api_requests(server: Server) -> float:
    return _metric(server, 'kefu_http_requests_total{method="GET",status="2xx"}')


def _chat_sockets(server: Server) -> float:
    return _metric(server, 'kefu_websockets_open{kind="chat"}')


def _failed(exc: BaseException, cluster: Cluster, proxy: Nginx) -> AssertionError:
    return AssertionError(f"{exc!r}\n{cluster.logs()}\n{proxy.log()}")


def test_api_through_nginx_is_answered_by_both_processes(cluster: Cluster, proxy: Nginx) -> None:
    auth = {"Authorization": f"Bearer {cluster.seed['api_key']}"}
    before = [_api_requests(s) for s in cluster.servers]
    with httpx.Client(base_url=proxy.http, headers=auth, timeout=15) as http:
        for _ in range(6):
            resp = http.get("/api/v1/conversations")
            assert resp.status_code == 200, f"{resp.status_code} {resp.text[:300]}\n{proxy.log()}"
        assert http.get("/healthz").json() == {"status": "ok"}
        # Each process is scraped on its own port; nginx does not expose /metrics.
        assert http.get("/metrics").status_code == 404
    after = [_api_requests(s) for s in cluster.servers]
    served = [b - a for a, b in zip(before, after, strict=True)]
    assert all(n > 0 for n in served), served  # no sticky routing: both took requests


async def test_rate_limits_count_the_client_address_nginx_forwards(cluster: Cluster, proxy: Nginx) -> None:
    """uvicorn trusts X-Forwarded-For from nginx (127.0.0.1) and takes the address nginx appended.

    Without that every customer would share nginx's address and its limits; with the
    header trusted from anyone, a client could pick a fresh address per request.
    """
    channel = str(cluster.seed["channel_id"])
    first, second = client_address(), client_address()

    async def token(address: str, spoofed: str) -> int:
        transport = httpx.AsyncHTTPTransport(local_address=address)
        async with httpx.AsyncClient(base_url=proxy.http, transport=transport, timeout=15) as http:
            resp = await http.post(
                "/chat/token", data={"channel": channel}, headers={"X-Forwarded-For": spoofed}
            )
            return resp.status_code

    # A new made-up X-Forwarded-For on every request does not reset the count.
    codes = [await token(first, f"198.51.100.{n}") for n in range(TOKEN_LIMIT + 1)]
    assert codes == [200] * TOKEN_LIMIT + [429], f"{codes}\n{proxy.log()}"
    # Another customer behind the same nginx has a count of its own.
    assert await token(second, first) == 200

    # The same for chat sockets (their handshake goes through the /ws/ location).
    path = f"/ws/chat/?token={cluster.seed['visitor_tokens'][0]}"
    third, fourth = client_address(), client_address()

    async def connect(address: str) -> int | None:
        ws = await websockets.connect(
            f"{proxy.ws}{path}",
            origin=proxy.http,
            additional_headers={"X-Forwarded-For": "203.0.113.9"},
            local_addr=(address, 0),
        )
        try:
            await ws.send(json.dumps({"type": "resume", "after": 0}))
            await next_frame(ws, lambda f: f["type"] == "history", timeout=10)
        except websockets.ConnectionClosed:
            pass
        code = ws.close_code  # None while open: accepted
        with contextlib.suppress(websockets.ConnectionClosed):
            await ws.close()
        return code

    closes = [await connect(third) for _ in range(CONNECT_LIMIT + 1)]
    assert closes == [None] * CONNECT_LIMIT + [4429], closes
    assert await connect(fourth) is None


async def test_a_chat_through_nginx_survives_the_drain_of_its_process(cluster: Cluster, proxy: Nginx) -> None:
    try:
        await _chat_through_a_drain(cluster, proxy)
    except (AssertionError, TimeoutError, websockets.ConnectionClosed, httpx.HTTPError) as exc:
        raise _failed(exc, cluster, proxy) from exc


async def _chat_through_a_drain(cluster: Cluster, proxy: Nginx) -> None:
    seed = cluster.seed
    auth = {"Authorization": f"Bearer {seed['api_key']}"}
    address = client_address()
    connect = {
        "uri": f"{proxy.ws}/ws/chat/?token={seed['visitor_tokens'][0]}",
        "origin": proxy.http,
        "local_addr": (address, 0),
    }

    chat = await websockets.connect(**connect)
    await chat.send(
        json.dumps({"type": "message", "client_msg_id": "ng-1", "text": "你好，我的快递显示已签收但我没收到"})
    )
    first = (await next_frame(chat, lambda f: f["type"] == "ack"))["message"]
    # Which process nginx gave the socket to: its own gauge says (the sockets of the test
    # before may take a moment to be counted out).
    async with asyncio.timeout(10):
        while sorted(counts := [_chat_sockets(s) for s in cluster.servers]) != [0, 1]:
            await asyncio.sleep(0.1)
    holding, other = cluster.servers if counts[0] else reversed(cluster.servers)

    conversation_id = await _conversation_of(cluster, first["id"])
    async with httpx.AsyncClient(base_url=other.http, headers=auth, timeout=15) as http:
        # The agent answers on the other process; the reply reaches the socket through Redis.
        resp = await http.post(
            f"/api/v1/conversations/{conversation_id}/messages",
            json={"text": "您好，我帮您联系快递员核实一下", "client_msg_id": "ng-r1"},
        )
        assert resp.status_code == 201, resp.text
        live = await next_frame(
            chat,
            lambda f: f["type"] == "message" and f["message"]["text"] == "您好，我帮您联系快递员核实一下",
        )
        assert live["message"]["id"] == resp.json()["id"]
        last_seen = live["message"]["id"]

        holding.proc.send_signal(signal.SIGTERM)
        frames = []
        async with asyncio.timeout(10):
            try:
                async for raw in chat:
                    frames.append(json.loads(raw))
            except websockets.ConnectionClosed:
                pass
        # The hint and the close code cross nginx unchanged.
        assert chat.close_code == 1012, (chat.close_code, frames)
        hint = next(f for f in frames if f["type"] == "reconnect")

        # While the customer is away, the agent writes again.
        resp = await http.post(
            f"/api/v1/conversations/{conversation_id}/messages",
            json={"text": "快递员说放在了小区驿站，取件码 3-2-1608", "client_msg_id": "ng-r2"},
        )
        assert resp.status_code == 201, resp.text
        missed = resp.json()["id"]

    await asyncio.sleep(hint["retry_after_ms"] / 1000)
    # Back through nginx: the draining process no longer accepts, so nginx uses the other.
    async with websockets.connect(**connect) as chat:
        await chat.send(json.dumps({"type": "resume", "after": last_seen}))
        history = await next_frame(chat, lambda f: f["type"] == "history")
        assert [m["id"] for m in history["messages"]] == [missed]
        await chat.send(
            json.dumps({"type": "message", "client_msg_id": "ng-2", "text": "好的，我去驿站拿，谢谢"})
        )
        second = (await next_frame(chat, lambda f: f["type"] == "ack"))["message"]
        assert second["id"] > missed
        assert _chat_sockets(other) == 1
    holding.proc.wait(timeout=15)


async def _conversation_of(cluster: Cluster, message_id: int) -> int:
    code = (
        "from kefu.conversations.models import Message\n"
        f"print(json.dumps(Message.objects.get(pk={message_id}).conversation_id))\n"
    )
    return int(await asyncio.to_thread(cluster.run, code))
