"""A new conversation's events across two server processes (PostgreSQL + Redis).

The customer writes to process A, which stores, routes and publishes; the desks sit on
process B. The team the conversation is routed to hears it created, then the message,
then the assignment; its lead gets the alert; the channel's own team hears nothing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
import websockets

from .cluster import Cluster, redis_unreachable_reason, redis_url

pytestmark = [pytest.mark.redis, pytest.mark.slow]

SETUP = """
from django.utils import timezone
from kefu.accounts.models import AgentStatus, Role, Team, User
from kefu.accounts.services import do_create_user
from kefu.routing.models import RoutingRule

after_sales = Team.objects.create(name="售后服务")
RoutingRule.objects.create(name="退款", keywords=["退款", "退貨"], team=after_sales, priority="P3")
agent = do_create_user(username="xiaoli", password="kefu-test-pass-2026", role=Role.AGENT,
                       teams=(after_sales,), display_name="小李", max_concurrent=10)
User.objects.filter(pk=agent.pk).update(status=AgentStatus.ONLINE, last_seen_at=timezone.now())
lead = do_create_user(username="laozhou", password="kefu-test-pass-2026", role=Role.TEAM_LEAD,
                      teams=(after_sales,), display_name="周组长")
print(json.dumps({"agent": agent.pk, "lead": lead.pk, "team": after_sales.pk,
                  "agent_session": session_for(agent), "lead_session": session_for(lead)}))
"""


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    url = redis_url()
    if reason := redis_unreachable_reason(url):
        pytest.skip(reason)
    with Cluster(servers=2, redis=url) as c:
        c.seed.update(c.run(SETUP))
        yield c


async def _desk(server: Any, session_key: str) -> Any:
    ws = await websockets.connect(
        f"{server.ws}/ws/desk/", origin=server.http, additional_headers={"Cookie": f"sessionid={session_key}"}
    )
    # A refused resume is answered only after the socket has joined its groups.
    await ws.send(json.dumps({"type": "resume", "conversation_id": 10**9}))
    await _until(ws, lambda f: f["type"] == "error")
    return ws


async def _until(ws: Any, predicate: Any, timeout: float = 15) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await ws.recv())
            if predicate(frame):
                return frame


async def _events_until(ws: Any, last: str, timeout: float = 15) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while not frames or frames[-1].get("event") != last:
            frame = json.loads(await ws.recv())
            if frame["type"] == "event":
                frames.append(frame)
    return frames


async def _quiet(ws: Any, seconds: float) -> list[dict[str, Any]]:
    frames = []
    try:
        async with asyncio.timeout(seconds):
            while True:
                frames.append(json.loads(await ws.recv()))
    except TimeoutError:
        return frames


async def test_routed_team_hears_created_message_then_assignment_across_processes(cluster: Cluster) -> None:
    try:
        await _check_order(cluster)
    except (AssertionError, TimeoutError) as exc:
        raise AssertionError(f"{exc!r}\n{cluster.logs()}") from exc


async def _check_order(cluster: Cluster) -> None:
    a, b = cluster.servers
    seed = cluster.seed
    agent = await _desk(b, seed["agent_session"])
    lead = await _desk(b, seed["lead_session"])
    presales = await _desk(b, seed["session_key"])  # the channel's own team
    try:
        async with websockets.connect(
            f"{a.ws}/ws/chat/?token={seed['visitor_tokens'][0]}", origin=a.http
        ) as chat:
            text = "三天了还不给我退款，再拖我就去12315投诉你们！！"
            await chat.send(json.dumps({"type": "message", "client_msg_id": "order-1", "text": text}))
            ack = await _until(chat, lambda f: f["type"] == "ack")

            frames = await _events_until(agent, "conversation.assigned")
            names = [f["event"] for f in frames]
            assert names[:2] == ["conversation.created", "message.created"], names
            assert frames[0]["data"]["conversation"]["team_id"] == seed["team"]
            assert frames[1]["data"]["message"]["id"] == ack["message"]["id"]
            assert frames[-1]["data"]["conversation"]["assignee_id"] == seed["agent"]
            seqs = [f["seq"] for f in frames if "seq" in f]
            assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs
            told = await _until(agent, lambda f: f.get("event") == "conversation.emotion_alert")
            assert told["data"]["notify_user_ids"] == [seed["agent"]]

            alert = await _until(lead, lambda f: f.get("event") == "conversation.emotion_alert")
            assert alert["data"]["level"] == "complaint_risk"
            assert alert["data"]["notify_user_ids"] == [seed["lead"]]
            assert await _quiet(presales, 1.0) == []
    finally:
        for ws in (agent, lead, presales):
            await ws.close()
