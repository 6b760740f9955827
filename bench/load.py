"""A floor under load: customers and agents on websockets with realistic pacing, stepped up until it breaks.

For each backend it starts real ``kefu serve`` processes (``tests/realtime/cluster.py``):
one on SQLite, or two on PostgreSQL + Redis (a private database the bench creates and
drops), seeds a team of agents, and then runs load *steps* (customers / agents: 25/5,
50/10, 100/20 … 2,000/200) against the limits of issue 13:

    average latency ≤ 100 ms, p99 ≤ 2 s, errors ≤ 0.025 % of operations.

The search goes up while a step holds p99 and errors (on a loaded machine even the
smallest floor can miss the average, and the knee is still worth finding), then tries
once between the last step that held and the first that did not; it reports the highest
step within all three limits and the highest within p99 and errors.

In a step, each customer opens a chat websocket, says it is typing, writes a first
message (a new conversation: routing, SLA, understanding) and then one message every
10–30 s, typing first; most customers arrive during a ramp, the rest (``--arrivals``)
arrive while the step is measured, and some (``--reconnects``) drop their socket mid-run,
reconnect and ``resume``: every message acked to them must come back in the history.
Each agent keeps a desk websocket open, opens (``resume``) every conversation routed to
them, and 2–5 s after a customer's message shows typing and replies over HTTP
(``POST /api/v1/conversations/{id}/messages`` with the desk's session and CSRF header).

Measured over the step's window (not the ramp): latency of every operation — a
customer message sent → ``ack`` (durable), an agent's reply request → 201 — as
average, p50 and p99; delivery of customer messages to the assignee's desk; errors:
refused or timed-out messages, failed replies or connects, sockets closed by the
server, acked messages missing from the database or from a resumed history
(*lost*), replies acked while the customer was connected but never delivered. Also the
server processes' CPU, the load generator's own CPU (it runs in ``--generators``
processes of its own, but on a 2-core machine it competes with the server for CPU),
and the load average.

Printed in the same run as baselines: the raw durable-insert loop of ``bench/ingest.py``
(so message rates are ratios of what the database alone does) and the lowest step
(later steps' latencies as multiples of it). Before the steps, the server's memory per
idle websocket: its RSS before and after opening ``--idle`` chat sockets that say nothing.
``--profile`` samples the servers with py-spy (``pip install py-spy``) over each window and
prints, for the first step that failed, where each server thread's time went.

    .venv/bin/python bench/load.py                       # both backends, ~10 min
    .venv/bin/python bench/load.py --quick               # ~4 min: two small steps, short windows
    .venv/bin/python bench/load.py --backend sqlite --steps 100/20,300/60 --seconds 90
    .venv/bin/python bench/load.py --profile --json out.json   # py-spy summary; figures as JSON

Loopback only; every step is bounded in time (ramp + window + a few seconds of settling),
the search stops at the first step that misses p99 or errors (``--no-refine``: without
the step in between) and no step starts once ``--budget`` seconds of steps are spent.
Rate limits are off (every simulated customer is 127.0.0.1).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
import websockets  # noqa: E402
from tests.realtime.cluster import Cluster, redis_unreachable_reason, redis_url  # noqa: E402

from ingest import BASELINE, UNLIMITED_CHAT  # noqa: E402 (bench/ is the script's folder)
from measure import cpu_seconds, pct  # noqa: E402

DEFAULT_STEPS = "25/5,50/10,100/20,200/40,400/80,800/120,1200/160,2000/200"
LIMIT_AVG_MS = 100.0
LIMIT_P99_MS = 2000.0
LIMIT_ERROR_RATE = 0.00025

FIRST_MESSAGES = [
    "你好，我昨天下的订单怎么还没发货？",
    "在吗？想问一下这款空气炸锅有没有现货",
    "您好，我收到的耳机左边没有声音，可以换货吗",
    "请问双十一的满减活动和优惠券能一起用吗？",
    "我的快递显示已签收，可是我根本没收到",
    "你好，帮我查一下订单 YJ20261118042 的物流",
    "想咨询一下会员积分怎么兑换",
    "衣服尺码买大了，可以退换吗？",
]
MESSAGES = [
    "好的，那大概什么时候能到？",
    "我的手机号是 13812345678，麻烦帮我查一下",
    "能不能帮我加急处理一下，周末要用",
    "运费险是自动退的吗？",
    "那我先申请退货，退款多久到账？",
    "这个颜色还有别的尺码吗",
    "地址写错了，能改成杭州市西湖区文三路 90 号吗",
    "已经等了三天了，还是没有更新物流信息",
    "发票可以开公司抬头吗？",
    "谢谢，那我再等等",
    "为什么我的优惠券用不了？",
    "客服你好，刚才的问题还没解决",
]
REPLIES = [
    "您好，我帮您查一下，请稍等。",
    "已经为您催促仓库，今天之内会安排发出。",
    "这边看到物流已经在派送中了，预计明天送达。",
    "可以的，您在订单页面点“申请售后”，选择换货即可。",
    "退款会在商家确认收货后 1–3 个工作日原路退回。",
    "地址已经帮您修改好了，请您留意短信通知。",
    "不好意思让您久等了，我这边给您登记加急处理。",
    "这张优惠券有使用门槛，您看一下订单金额是否满足哦。",
]

SETUP_AGENTS = """
from django.conf import settings
from django.utils import timezone
from kefu.accounts.models import Role, Team
from kefu.accounts.services import do_create_user
# Hundreds of bench agents: the fast hasher instead of seconds of PBKDF2 (they never log in).
settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
team = Team.objects.get(name="售前咨询")
agents = []
for i in range({n}):
    user = do_create_user(username=f"agent{{i}}", password="kefu-bench-pass-2026", role=Role.AGENT,
                          teams=(team,), display_name=f"客服{{i:03d}}", max_concurrent=1000)
    agents.append({{"id": user.pk, "session": session_for(user)}})
print(json.dumps(agents))
"""

# The step's agents online (routing picks among them), the others offline; fresh visitors.
STEP_SETUP = """
from django.utils import timezone
from kefu.accounts.models import AgentStatus, User
from kefu.channels.visitor import issue_visitor_token
ids = {ids}
User.objects.filter(username__startswith="agent").exclude(pk__in=ids).update(status=AgentStatus.OFFLINE)
User.objects.filter(pk__in=ids).update(status=AgentStatus.ONLINE, last_seen_at=timezone.now())
User.objects.filter(username="xiaomei").update(status=AgentStatus.OFFLINE)
print(json.dumps([issue_visitor_token({channel}) for _ in range({tokens})]))
"""

STORED = """
from kefu.conversations.models import Message
ids = json.loads(open({path!r}).read())
found = set()
for i in range(0, len(ids), 500):
    found.update(Message.objects.filter(pk__in=ids[i:i + 500]).values_list("pk", flat=True))
print(json.dumps(sorted(set(ids) - found)))
"""


def _now() -> float:
    return time.time()


async def _sleep_until(at: float) -> None:
    delay = at - _now()
    if delay > 0:
        await asyncio.sleep(delay)


# --- the load generator (runs in its own processes) -------------------------------------


@dataclass
class Plan:
    """One generator process's share of a step; times are wall-clock (``time.time()``)."""

    wid: int
    servers: list[tuple[str, str]]  # (http, ws) of each server
    agents: list[tuple[int, str, int]]  # (user id, session key, server index)
    customers: list[tuple[str, int, float, float | None]]  # (token, server index, first at, reconnect at)
    t_measure: float
    t_stop: float
    t_close: float
    pace: float = 1.0  # 1 = real pacing; shorter waits for a check of the bench itself
    desk_grace: float = 5.0  # how long desks listen after the customers have left
    seed: int = 0


@dataclass
class Tally:
    """What one generator process saw; merged over processes by the orchestrator."""

    ack_ms: list[float] = field(default_factory=list)  # steady messages sent in the window
    open_ms: list[float] = field(default_factory=list)  # first messages sent in the window
    ramp_ms: list[float] = field(default_factory=list)  # first messages of the ramp (not judged)
    reply_ms: list[float] = field(default_factory=list)  # agents' replies sent in the window
    deliver_ms: list[float] = field(default_factory=list)  # customer message → assignee's desk
    ops: int = 0  # operations: connects, messages, replies, resumes (ramp included)
    messages: int = 0
    replies: int = 0
    typing: int = 0
    reconnects: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    acked_ids: list[int] = field(default_factory=list)  # every message id acked or created (201)
    window_cmids: list[str] = field(default_factory=list)  # steady messages acked in the window
    desk_cmids: list[str] = field(default_factory=list)  # incoming messages seen on assignees' desks
    sent_replies: list[tuple[str, int, float]] = field(default_factory=list)  # (customer, id, at)
    received: dict[str, list[int]] = field(default_factory=dict)  # customer → message ids received
    closed_at: dict[str, float] = field(default_factory=dict)  # customer → when it stopped listening
    cpu: float = 0.0
    wall: float = 0.0


class Customer:
    """One visitor's chat socket: writes with typing first, one message in flight at a time."""

    def __init__(
        self, gen: Generator, k: int, token: str, server: int, first_at: float, reconnect_at: float | None
    ):
        self.gen, self.token, self.first_at, self.reconnect_at = gen, token, first_at, reconnect_at
        self.key = f"{gen.plan.wid}.{k}"
        self.http, self.ws_url = gen.plan.servers[server]
        self.ws: Any = None
        self.pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.history: asyncio.Future[dict[str, Any]] | None = None
        self.received: set[int] = set()
        self.acked: set[int] = set()
        self.leaving = False
        self.n = 0

    def judged(self, at: float) -> bool:
        return self.gen.plan.t_measure <= at < self.gen.plan.t_stop

    async def connect(self) -> bool:
        t = self.gen.tally
        t.ops += 1
        try:
            self.ws = await websockets.connect(
                f"{self.ws_url}/ws/chat/?token={self.token}", origin=self.http, open_timeout=15
            )
        except Exception as exc:
            t.errors[f"chat connect: {exc.__class__.__name__}"] += 1
            return False
        self.leaving = False
        self.reader = asyncio.create_task(self.read())
        return True

    async def read(self) -> None:
        try:
            async for raw in self.ws:
                frame = json.loads(raw)
                kind = frame.get("type")
                if kind in ("ack", "error") and (fut := self.pending.get(frame.get("client_msg_id", ""))):
                    if not fut.done():
                        fut.set_result(frame)
                elif kind == "error":
                    self.gen.tally.errors[f"chat error frame: {frame.get('detail')}"] += 1
                elif kind == "message":
                    self.received.add(frame["message"]["id"])
                elif kind == "history":
                    self.received.update(m["id"] for m in frame["messages"])
                    if self.history is not None and not self.history.done():
                        self.history.set_result(frame)
        except websockets.ConnectionClosed:
            pass
        if not self.leaving:
            self.gen.tally.errors["chat socket closed by the server"] += 1
            for fut in self.pending.values():
                if not fut.done():
                    fut.cancel()

    async def say(self, text: str, *, first: bool) -> bool:
        t = self.gen.tally
        try:
            await self.ws.send(json.dumps({"type": "typing"}))
            t.typing += 1
            await asyncio.sleep(random.uniform(1, 3) * self.gen.plan.pace)
            at = _now()
            # The send time rides in the id: the desk reader (maybe another process) times delivery.
            cmid = f"{self.key}.{self.n}.{int(at * 1e6)}"
            self.n += 1
            fut = self.pending[cmid] = asyncio.get_running_loop().create_future()
            await self.ws.send(json.dumps({"type": "message", "client_msg_id": cmid, "text": text}))
        except websockets.ConnectionClosed:
            return False
        judged = self.judged(at)
        t.ops += 1
        if judged:
            t.messages += 1
        try:
            frame = await asyncio.wait_for(fut, 15)
        except TimeoutError:
            t.errors["ack timeout (15 s)"] += 1
            return False
        except asyncio.CancelledError:
            t.errors["message unanswered when the socket closed"] += 1
            return False
        finally:
            self.pending.pop(cmid, None)
        if frame["type"] != "ack":
            t.errors[f"message refused: {frame.get('detail')}"] += 1
            return False
        ms = (_now() - at) * 1000
        message_id = frame["message"]["id"]
        self.acked.add(message_id)
        t.acked_ids.append(message_id)
        if first:
            (t.open_ms if judged else t.ramp_ms).append(ms)
        elif judged:
            t.ack_ms.append(ms)
            t.window_cmids.append(cmid)
        return True

    async def reconnect(self) -> bool:
        """Drop the socket, come back, resume from nothing: every acked message must be there."""
        t = self.gen.tally
        self.leaving = True
        await self.ws.close()
        await self.reader
        await asyncio.sleep(random.uniform(0.5, 2) * self.gen.plan.pace)
        if not await self.connect():
            return False
        t.reconnects += 1
        t.ops += 1  # the resume
        self.history = asyncio.get_running_loop().create_future()
        await self.ws.send(json.dumps({"type": "resume", "after": 0}))
        try:
            frame = await asyncio.wait_for(self.history, 15)
        except (TimeoutError, asyncio.CancelledError):
            t.errors["resume unanswered (15 s)"] += 1
            return False
        missing = self.acked - {m["id"] for m in frame["messages"]}
        if missing:
            t.errors["lost: acked message missing from the resumed history"] += len(missing)
        return True

    async def run(self) -> None:
        plan = self.gen.plan
        await _sleep_until(self.first_at)
        if not await self.connect():
            return
        try:
            if not await self.say(random.choice(FIRST_MESSAGES), first=True):
                return
            while True:
                next_at = _now() + random.uniform(10, 30) * plan.pace
                if self.reconnect_at is not None and self.reconnect_at < min(next_at, plan.t_stop):
                    await _sleep_until(self.reconnect_at)
                    self.reconnect_at = None
                    if not await self.reconnect():
                        return
                await _sleep_until(min(next_at, plan.t_stop))
                if _now() >= plan.t_stop:
                    break
                if not await self.say(random.choice(MESSAGES), first=False):
                    return
            await _sleep_until(plan.t_close)
        finally:
            self.leaving = True
            self.gen.tally.closed_at[self.key] = _now()
            self.gen.tally.received[self.key] = sorted(self.received)
            await self.ws.close()


class Agent:
    """One agent's desk socket; replies over HTTP to the conversations routed to them."""

    def __init__(self, gen: Generator, user_id: int, session: str, server: int):
        self.gen, self.user_id, self.session = gen, user_id, session
        self.http, self.ws_url = gen.plan.servers[server]
        self.customer_of: dict[int, str] = {}  # conversation → customer key
        self.opened: set[int] = set()
        self.replying: set[int] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.seen: set[str] = set()

    async def run(self) -> None:
        t = self.gen.tally
        csrf = f"{random.getrandbits(128):032x}"
        async with httpx.AsyncClient(
            base_url=self.http,
            cookies={"sessionid": self.session, "csrftoken": csrf},
            headers={"X-CSRFToken": csrf, "Referer": self.http + "/desk/"},
            timeout=15,
        ) as self.client:
            try:
                ws = await websockets.connect(
                    f"{self.ws_url}/ws/desk/",
                    origin=self.http,
                    additional_headers={"Cookie": f"sessionid={self.session}"},
                    max_queue=None,
                    open_timeout=15,
                )
            except Exception as exc:
                t.errors[f"desk connect: {exc.__class__.__name__}"] += 1
                return
            self.ws = ws
            reader = asyncio.create_task(self.read(ws))
            # Desks listen a little past the customers: a late event counts as late, not lost.
            await _sleep_until(self.gen.plan.t_close + self.gen.plan.desk_grace)
            while self.tasks:
                await asyncio.wait(list(self.tasks))
            await ws.close()
            await reader

    async def read(self, ws: Any) -> None:
        t = self.gen.tally
        plan = self.gen.plan
        try:
            async for raw in ws:
                frame = json.loads(raw)
                kind = frame.get("type")
                if kind == "error":
                    t.errors[f"desk error frame: {frame.get('detail')}"] += 1
                elif kind == "history":  # a conversation just opened: whose it is
                    for m in frame["messages"]:
                        if m.get("direction") == "incoming" and m.get("client_msg_id"):
                            customer = m["client_msg_id"].rsplit(".", 2)[0]
                            self.customer_of.setdefault(frame["conversation_id"], customer)
                elif kind == "event":
                    await self.event(ws, frame["event"], frame["data"])
        except websockets.ConnectionClosed:
            pass
        if _now() < plan.t_close:
            t.errors["desk socket closed by the server"] += 1

    async def event(self, ws: Any, event: str, data: dict[str, Any]) -> None:
        """A desk event: note who wrote; open what was routed to me; answer what is mine."""
        t = self.gen.tally
        plan = self.gen.plan
        conversation = data.get("conversation") or {}
        cid = conversation.get("id")
        mine = cid is not None and conversation.get("assignee_id") == self.user_id
        message = data.get("message") if event == "message.created" else None
        incoming = message is not None and message.get("direction") == "incoming"
        if incoming:
            cmid = message.get("client_msg_id") or ""
            if cmid in self.seen:
                return
            self.seen.add(cmid)
            customer, _n, sent_us = cmid.rsplit(".", 2)
            self.customer_of.setdefault(cid, customer)
            if mine:  # a new conversation's first message goes to the whole team, unassigned
                sent = int(sent_us) / 1e6
                t.desk_cmids.append(cmid)
                if plan.t_measure <= sent < plan.t_stop:
                    t.deliver_ms.append((_now() - sent) * 1000)
        if not mine:
            return
        newly = cid not in self.opened
        if newly:
            self.opened.add(cid)
            # The conversation page opens it on the desk socket (its history, its chatter).
            await ws.send(json.dumps({"type": "resume", "conversation_id": cid, "after": 0}))
        if (incoming or newly) and cid not in self.replying and _now() < plan.t_stop:
            self.replying.add(cid)
            task = asyncio.create_task(self.gen.guard(self.reply(ws, cid)))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def reply(self, ws: Any, cid: int) -> None:
        """2–5 s after the customer wrote: typing for the last 1.5 s of it, then the reply."""
        t = self.gen.tally
        pace = self.gen.plan.pace
        try:
            await asyncio.sleep(random.uniform(0.5, 3.5) * pace)
            try:
                await ws.send(json.dumps({"type": "typing", "conversation_id": cid}))
                t.typing += 1
            except websockets.ConnectionClosed:
                return
            await asyncio.sleep(1.5 * pace)
            at = _now()
            judged = self.gen.plan.t_measure <= at < self.gen.plan.t_stop
            body = {"text": random.choice(REPLIES), "client_msg_id": f"r{cid}.{int(at * 1e6)}"}
            t.ops += 1
            if judged:
                t.replies += 1
            try:
                r = await self.client.post(f"/api/v1/conversations/{cid}/messages", json=body)
            except httpx.HTTPError as exc:
                t.errors[f"reply: {exc.__class__.__name__}"] += 1
                return
            if r.status_code != 201:
                t.errors[f"reply HTTP {r.status_code}"] += 1
                return
            if judged:
                t.reply_ms.append((_now() - at) * 1000)
            message_id = r.json()["id"]
            t.acked_ids.append(message_id)
            if customer := self.customer_of.get(cid):
                t.sent_replies.append((customer, message_id, _now()))
        finally:
            self.replying.discard(cid)


class Generator:
    def __init__(self, plan: Plan):
        self.plan = plan
        self.tally = Tally()

    async def run(self) -> Tally:
        random.seed(self.plan.seed)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        agents = [Agent(self, *a) for a in self.plan.agents]
        customers = [Customer(self, k, *c) for k, c in enumerate(self.plan.customers)]
        await asyncio.gather(
            *(self.guard(a.run()) for a in agents), *(self.guard(c.run()) for c in customers)
        )
        self.tally.cpu = time.process_time() - cpu0
        self.tally.wall = time.perf_counter() - wall0
        return self.tally

    async def guard(self, coro: Any) -> None:
        """A client that breaks is an error of the step, not the end of the bench."""
        try:
            await coro
        except Exception as exc:
            self.tally.errors[f"client failed: {exc.__class__.__name__}: {exc}"[:120]] += 1


def generate(plan: Plan) -> dict[str, Any]:
    """A generator process's entry point: run its share of the step, return what it saw."""
    tally = asyncio.run(Generator(plan).run())
    out = {f.name: getattr(tally, f.name) for f in fields(tally)}
    out["errors"] = dict(tally.errors)
    return out


def _children(_: object = None) -> set[int]:
    """This process's children (the generator processes, and the servers)."""
    pids = set()
    for task in Path("/proc/self/task").iterdir():
        pids.update(int(p) for p in (task / "children").read_text().split())
    return pids


# --- the orchestrator --------------------------------------------------------------------


@dataclass
class Step:
    customers: int
    agents: int
    seconds: float
    ramp: float
    load: tuple[float, float] = (0.0, 0.0)
    tally: dict[str, Any] = field(default_factory=dict)
    server_cpu: float = 0.0  # share of one core, over the window, all servers together
    generator_cpu: float = 0.0  # the same for the generator processes
    server_rss_mb: float = 0.0
    lost_db: int = 0
    undelivered_replies: int = 0
    undelivered_desk: int = 0
    profile: Path | None = None

    @property
    def label(self) -> str:
        return f"{self.customers}/{self.agents}"

    def latencies(self) -> list[float]:
        t = self.tally
        return t["ack_ms"] + t["open_ms"] + t["reply_ms"]

    @property
    def errors(self) -> int:
        return (
            sum(self.tally["errors"].values())
            + self.lost_db
            + self.undelivered_replies
            + self.undelivered_desk
        )

    @property
    def ops(self) -> int:
        return self.tally["ops"]

    @property
    def error_rate(self) -> float:
        return self.errors / self.ops if self.ops else 1.0

    @property
    def avg_ms(self) -> float:
        lat = self.latencies()
        return statistics.mean(lat) if lat else float("nan")

    @property
    def p99_ms(self) -> float:
        return pct(self.latencies(), 99)

    @property
    def holds(self) -> bool:
        """Within the p99 and error limits."""
        return bool(self.latencies()) and self.p99_ms <= LIMIT_P99_MS and self.error_rate <= LIMIT_ERROR_RATE

    @property
    def passed(self) -> bool:
        """Within all three limits."""
        return self.holds and self.avg_ms <= LIMIT_AVG_MS

    def why(self) -> str:
        reasons = []
        if self.avg_ms > LIMIT_AVG_MS:
            reasons.append(f"avg {self.avg_ms:.0f} ms")
        if self.p99_ms > LIMIT_P99_MS:
            reasons.append(f"p99 {self.p99_ms:.0f} ms")
        if self.error_rate > LIMIT_ERROR_RATE:
            reasons.append(f"errors {self.error_rate:.3%}")
        return "ok" if not reasons else "FAIL: " + ", ".join(reasons)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _idle_sockets(server: Any, tokens: list[str]) -> tuple[float, float]:
    """RSS of ``server`` before and after ``len(tokens)`` chat sockets connect and say nothing."""
    # One socket first: the first connection warms caches, imports and pools.
    warm = await websockets.connect(f"{server.ws}/ws/chat/?token={tokens[0]}", origin=server.http)
    await asyncio.sleep(1)
    before = rss_mb(server.proc.pid)
    sockets = [warm]
    for token in tokens[1:]:
        sockets.append(await websockets.connect(f"{server.ws}/ws/chat/?token={token}", origin=server.http))
    await asyncio.sleep(2)
    after = rss_mb(server.proc.pid)
    for ws in sockets:
        await ws.close()
    return before, after


class Floor:
    """One backend's cluster, its agents, and the generator processes that drive it."""

    def __init__(self, backend: str, args: argparse.Namespace):
        self.backend, self.args = backend, args
        self.steps: list[Step] = []
        self.idle: dict[str, float] = {}
        self.raw_rate = 0.0
        self.profiles: dict[str, Path] = {}
        postgres = backend == "postgres"
        self.cluster = Cluster(
            servers=2 if postgres else 1,
            redis=redis_url() if postgres else None,
            database_url=args.database_url if postgres else "",
            seed_env={"SEED_VISITORS": "0", "SEED_AGENT_STATUS": "offline"},
            env=UNLIMITED_CHAT,
            kefu_serve=True,
        )

    def run(self, budget: float) -> None:
        args = self.args
        with (
            self.cluster as cluster,
            ProcessPoolExecutor(args.generators, mp_context=get_context("spawn")) as pool,
        ):
            list(pool.map(_children, range(args.generators)))  # start (and import in) the generators now
            out = json.loads(cluster._run(["-c", BASELINE, str(args.raw)]).strip().splitlines()[-1])
            self.raw_rate = args.raw / out["elapsed"]
            self.agents = cluster.run(SETUP_AGENTS.format(n=max(a for _, a in args.step_list)))
            self.idle_memory()
            deadline = time.monotonic() + budget
            for customers, agents in args.step_list:
                if time.monotonic() > deadline:
                    print(f"  {self.backend}: budget spent, {customers}/{agents} not run", flush=True)
                    break
                # The search goes on while p99 and errors hold: on a loaded machine even the
                # smallest floor can miss the average, and the knee is still worth finding.
                if not self.step(pool, customers, agents).holds:
                    break
            if args.refine and len(self.steps) >= 2 and not self.steps[-1].holds and self.steps[-2].holds:
                low, high = self.steps[-2], self.steps[-1]
                mid = ((low.customers + high.customers) // 2, (low.agents + high.agents) // 2)
                if time.monotonic() < deadline and mid[0] not in (low.customers, high.customers):
                    self.step(pool, *mid)

    def idle_memory(self) -> None:
        n = self.args.idle
        if not n:
            return
        server = self.cluster.servers[0]
        tokens = self.cluster.run(
            STEP_SETUP.format(ids="[]", channel=self.cluster.seed["channel_id"], tokens=n)
        )
        before, after = asyncio.run(_idle_sockets(server, tokens))
        self.idle = {
            "sockets": n,
            "rss_before_mb": before,
            "rss_after_mb": after,
            "kb_per_socket": (after - before) * 1024 / (n - 1),
        }
        print(
            f"  {self.backend}: idle sockets: RSS {before:.0f} → {after:.0f} MB over {n - 1} sockets "
            f"= {self.idle['kb_per_socket']:.0f} kB per socket",
            flush=True,
        )

    def step(self, pool: ProcessPoolExecutor, customers: int, agents: int) -> Step:
        args = self.args
        cluster = self.cluster
        # Ten new conversations a second at most while the floor fills (capped at a minute):
        # a burst of first messages is a test of its own (routing, SLA and understanding).
        ramp = args.ramp if args.ramp is not None else min(60.0, max(5.0, customers / 10))
        step = Step(customers, agents, args.seconds, ramp)
        self.steps.append(step)
        rng = random.Random(f"{customers}/{agents}")
        on = self.agents[:agents]
        tokens = cluster.run(
            STEP_SETUP.format(ids=[a["id"] for a in on], channel=cluster.seed["channel_id"], tokens=customers)
        )
        n_servers = len(cluster.servers)
        t0 = _now() + 1  # the generator processes are warm: a second to hand out the plans
        # The window opens a few seconds after the ramp: the last openings are answered.
        t_measure = t0 + ramp + 5 * args.pace
        t_stop = t_measure + args.seconds
        t_close = t_stop + 8 * args.pace
        arrivals = round(customers * args.arrivals)
        plans = [
            Plan(
                w,
                [(s.http, s.ws) for s in cluster.servers],
                [],
                [],
                t_measure,
                t_stop,
                t_close,
                args.pace,
                args.desk_grace,
                rng.getrandbits(32),
            )
            for w in range(args.generators)
        ]
        for i, a in enumerate(on):
            plans[i % args.generators].agents.append((a["id"], a["session"], i % n_servers))
        for i, token in enumerate(tokens):
            if i < customers - arrivals:
                first_at = rng.uniform(t0, t0 + ramp)
                reconnect_at = (
                    rng.uniform(t_measure + 2, t_stop - 3) if rng.random() < args.reconnects else None
                )
            else:  # a new conversation while the step is measured
                first_at = rng.uniform(t_measure, t_stop - 4 * args.pace)
                reconnect_at = None
            plans[i % args.generators].customers.append((token, i % n_servers, first_at, reconnect_at))
        step.load = os.getloadavg()[:2]
        futures = [pool.submit(generate, p) for p in plans]
        pids = [s.proc.pid for s in cluster.servers]
        generators = _children() - set(pids)
        time.sleep(max(0.0, t_measure - _now()))
        spies = [
            self.spy(pid, f"{step.label.replace('/', '-')}-{i}", args.seconds) for i, pid in enumerate(pids)
        ]
        cpu0 = sum(cpu_seconds(p) for p in pids)
        gen0 = sum(cpu_seconds(p) for p in generators)
        w0 = time.perf_counter()
        time.sleep(max(0.0, t_stop - _now()))
        wall = time.perf_counter() - w0
        step.server_cpu = (sum(cpu_seconds(p) for p in pids) - cpu0) / wall
        step.generator_cpu = (sum(cpu_seconds(p) for p in generators) - gen0) / wall
        step.server_rss_mb = sum(rss_mb(p) for p in pids)
        step.load = (max(step.load[0], os.getloadavg()[0]), os.getloadavg()[1])
        tallies = [f.result(timeout=t_close - _now() + 120) for f in futures]
        for spy in spies:
            if spy is not None:
                spy.wait(timeout=60)
        step.profile = self.profiles.get(f"{step.label.replace('/', '-')}-0")
        step.tally = merge(tallies)
        self.check(step)
        print("  " + row(self.backend, step, self.steps[0]), flush=True)
        return step

    def spy(self, pid: int, name: str, seconds: float) -> subprocess.Popen[bytes] | None:
        """py-spy sampling one server over the window (``--profile``), every thread, waits included."""
        if not self.args.profile:
            return None
        out = Path(self.args.profile_dir) / f"{self.backend}-{name}.txt"
        self.profiles[name] = out
        return subprocess.Popen(
            [
                self.args.py_spy,
                "record",
                "--idle",
                "--threads",
                "--nonblocking",
                "--format",
                "raw",
                "-r",
                "50",
                "-d",
                str(int(seconds)),
                "-p",
                str(pid),
                "-o",
                str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def check(self, step: Step) -> None:
        """Acked means stored: every acked or created id must be in the database; and delivered."""
        t = step.tally
        path = self.cluster.tmp / "acked.json"
        path.write_text(json.dumps(t["acked_ids"]))
        step.lost_db = len(self.cluster.run(STORED.format(path=str(path))))
        step.undelivered_desk = len(set(t["window_cmids"]) - set(t["desk_cmids"]))
        received = {k: set(v) for k, v in t["received"].items()}
        step.undelivered_replies = sum(
            1
            for key, message_id, at in t["sent_replies"]
            if at < t["closed_at"].get(key, 0) - 1 and message_id not in received.get(key, ())
        )


_SERVE_FRAMES = re.compile(r"\(kefu/(cli|asgi)\.py|\(kefu/ops/management/")
IDLE_LEAVES = {"_worker", "Runner.run", "BaseEventLoop.run_forever", "BaseEventLoop._run_once", "select"}


def _thread_kind(name: str) -> str:
    if "MainThread" in name:
        return "event loop"
    if "ThreadPoolExecutor" in name:
        return "database thread of the sockets"
    if "kefu-request" in name:
        return "request threads"
    return "other threads"


def _what(kind: str, names: list[str], leaf: str) -> str | None:
    """What a thread was doing in one sample, or None when it was idle (waiting for work)."""
    if not names or names[-1] in IDLE_LEAVES:
        return None
    if "psycopg/" in leaf or "redis/" in leaf:
        return "PostgreSQL / Redis round trips"
    if names[-1].endswith("execute") or names[-1] == "_commit":
        return "SQLite (lock waits included)"
    if names[-1] == "Condition.wait":
        if "AsyncToSync.__call__" in names:
            return "waiting for the event loop"
        if any("getconn" in name for name in names):
            return "waiting for a pooled connection"
        return None  # pool workers, schedulers: idle
    return "Python (waiting for the GIL included)"


def summarise_profile(path: Path, top: int = 14) -> list[str]:
    """Where the server's threads spent a window (py-spy raw stacks, waits included)."""
    if not path.exists():
        return [f"(no profile at {path})"]
    samples: Counter[str] = Counter()
    busy: Counter[str] = Counter()
    leaves: dict[str, Counter[str]] = {}
    inclusive: dict[str, Counter[str]] = {}
    threads: dict[str, set[str]] = {}
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        kind = _thread_kind(frames[0])
        threads.setdefault(kind, set()).add(frames[0])
        n = int(count)
        samples[kind] += n
        names = [f.split(" (")[0] for f in frames[1:]]
        what = _what(kind, names, frames[-1])
        if what is None:
            continue
        busy[kind] += n
        leaves.setdefault(kind, Counter())[what] += n
        own = {f.split(" (")[0] for f in frames[1:] if "(kefu/" in f and not _SERVE_FRAMES.search(f)}
        for name in own:
            inclusive.setdefault(kind, Counter())[name] += n
    lines = []
    for kind in ("event loop", "database thread of the sockets", "request threads", "other threads"):
        if not samples[kind]:
            continue
        per_thread = samples[kind] / len(threads[kind])
        share = busy[kind] / per_thread if per_thread else 0.0
        split = ", ".join(
            f"{k} {v / max(1, busy[kind]):.0%}" for k, v in leaves.get(kind, Counter()).most_common()
        )
        count = len(threads[kind])
        who = f"{kind}: busy" if count == 1 else f"{kind} ({count}): together busy"
        lines.append(f"{who} {share:.0%} of the window (of one thread); of that: {split}")
        for name, n in inclusive.get(kind, Counter()).most_common(top if "database" in kind else 6):
            lines.append(f"    {n / max(1, busy[kind]):5.0%}  {name}")
    return lines


def merge(tallies: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for t in tallies:
        for k, v in t.items():
            if isinstance(v, list):
                out.setdefault(k, []).extend(v)
            elif isinstance(v, dict) and k == "errors":
                out.setdefault(k, Counter()).update(v)
            elif isinstance(v, dict):
                out.setdefault(k, {}).update(v)
            else:
                out[k] = out.get(k, 0) + v
    return out


HEAD = (
    f"{'backend':<9} {'step':>9} {'msg/s':>6} {'rpl/s':>6} {'ops':>6} {'avg':>6} {'p50':>6} {'p99':>7} "
    f"{'ack avg/p99':>11} {'open avg/p99':>12} {'rpl avg/p99':>11} {'dlv p99':>7} {'errors':>7} {'lost':>4} "
    f"{'srv CPU':>7} {'gen CPU':>7} {'RSS MB':>6} {'load':>9} {'÷low avg':>8}  verdict"
)


def _avg_p99(values: list[float]) -> str:
    return f"{statistics.mean(values):.0f}/{pct(values, 99):.0f}" if values else "-"


def row(backend: str, s: Step, low: Step) -> str:
    t = s.tally
    ratio = s.avg_ms / low.avg_ms if low.latencies() and s.latencies() else float("nan")
    lost = t["errors"].get("lost: acked message missing from the resumed history", 0) + s.lost_db
    return (
        f"{backend:<9} {s.label:>9} {len(t['ack_ms']) / s.seconds + len(t['open_ms']) / s.seconds:6.1f} "
        f"{len(t['reply_ms']) / s.seconds:6.1f} {s.ops:6d} {s.avg_ms:6.0f} {pct(s.latencies(), 50):6.0f} "
        f"{s.p99_ms:7.0f} {_avg_p99(t['ack_ms']):>11} {_avg_p99(t['open_ms']):>12} {_avg_p99(t['reply_ms']):>11} "
        f"{pct(t['deliver_ms'], 99):7.0f} {s.errors:7d} {lost:4d} {s.server_cpu:7.0%} {s.generator_cpu:7.0%} "
        f"{s.server_rss_mb:6.0f} {s.load[0]:4.1f}/{s.load[1]:4.1f} {ratio:8.1f}  {s.why()}"
    )


def report(floors: list[Floor], args: argparse.Namespace, started: float) -> None:
    print()
    print(
        f"kefu floor load · {datetime.now(UTC):%Y-%m-%d %H:%M} UTC · {platform.node()} · {os.cpu_count()} CPUs · "
        f"Python {platform.python_version()} · window {args.seconds:.0f} s per step, {args.generators} generator "
        f"process(es) · {time.monotonic() - started:.0f} s in all"
    )
    print(
        f"limits: avg ≤ {LIMIT_AVG_MS:.0f} ms, p99 ≤ {LIMIT_P99_MS:.0f} ms, errors ≤ {LIMIT_ERROR_RATE:.3%}"
    )
    print(HEAD)
    print("-" * len(HEAD))
    for f in floors:
        for s in f.steps:
            print(row(f.backend, s, f.steps[0]))
    print(
        "step = customers/agents; msg/s = customer messages acked/s (first ones included), rpl/s = agents' "
        "replies/s;\navg/p50/p99 over every judged operation (message → ack, reply → 201), ms; dlv = customer "
        "message → assignee's desk;\nerrors = refused/timed-out/failed operations + lost + undelivered; CPU as a "
        "share of one core over the window;\nload = load average (1 min peak / 5 min); ÷low avg = average "
        "latency as a multiple of the lowest step's"
    )
    for f in floors:
        for what, ok in (("all three limits", Step.passed), ("the p99 and error limits", Step.holds)):
            good = [s for s in f.steps if ok.fget(s)]  # type: ignore[attr-defined]
            top = max(good, key=lambda s: s.customers) if good else None
            if top is None:
                print(f"{f.backend}: highest load within {what}: none (raw insert loop {f.raw_rate:,.0f}/s)")
                continue
            rate = (len(top.tally["ack_ms"]) + len(top.tally["open_ms"])) / top.seconds
            print(
                f"{f.backend}: highest load within {what}: {top.label}, {rate:.1f} customer msg/s = "
                f"{rate / f.raw_rate:.2%} of the raw insert loop's {f.raw_rate:,.0f}/s, avg {top.avg_ms:.0f} ms"
            )
        if f.idle:
            print(
                f"{f.backend}: memory per idle chat websocket: {f.idle['kb_per_socket']:.0f} kB "
                f"(RSS {f.idle['rss_before_mb']:.0f} → {f.idle['rss_after_mb']:.0f} MB, {f.idle['sockets'] - 1} sockets)"
            )
        for s in f.steps:
            if s.errors:
                kinds = dict(s.tally["errors"])
                kinds.update(
                    {
                        "lost (not in the database)": s.lost_db,
                        "replies not delivered": s.undelivered_replies,
                        "messages not on the assignee's desk": s.undelivered_desk,
                    }
                )
                print(
                    f"  {f.backend} {s.label} errors: "
                    + ", ".join(f"{k}: {v}" for k, v in kinds.items() if v)
                )
    if args.profile:
        print(f"py-spy samples (raw stacks, one file per step and server): {args.profile_dir}")
    for f in floors:
        failing = next((s for s in f.steps if not s.holds and s.profile), None) or next(
            (s for s in f.steps if not s.passed and s.profile), None
        )
        if failing is not None and failing.profile is not None:
            print(
                f"{f.backend}: where the first failing step's window went ({failing.label}, server 1, py-spy):"
            )
            for line in summarise_profile(failing.profile):
                print("  " + line)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                [
                    {
                        "backend": f.backend,
                        "raw_inserts_per_s": f.raw_rate,
                        "idle": f.idle,
                        "steps": [
                            {
                                "step": s.label,
                                "passed": s.passed,
                                "avg_ms": s.avg_ms,
                                "p99_ms": s.p99_ms,
                                "ops": s.ops,
                                "errors": s.errors,
                                "error_rate": s.error_rate,
                                "error_kinds": dict(s.tally["errors"]),
                                "lost_db": s.lost_db,
                                "undelivered_replies": s.undelivered_replies,
                                "undelivered_desk": s.undelivered_desk,
                                "server_cpu": s.server_cpu,
                                "generator_cpu": s.generator_cpu,
                                "server_rss_mb": s.server_rss_mb,
                                "load": s.load,
                                "messages_per_s": (len(s.tally["ack_ms"]) + len(s.tally["open_ms"]))
                                / s.seconds,
                                "replies_per_s": len(s.tally["reply_ms"]) / s.seconds,
                                "ack_p99_ms": pct(s.tally["ack_ms"], 99),
                                "reply_p99_ms": pct(s.tally["reply_ms"], 99),
                                "open_p99_ms": pct(s.tally["open_ms"], 99),
                                "reconnects": s.tally["reconnects"],
                                "typing": s.tally["typing"],
                            }
                            for s in f.steps
                        ],
                    }
                    for f in floors
                ],
                ensure_ascii=False,
                indent=1,
            )
        )


def parse_steps(text: str) -> list[tuple[int, int]]:
    steps = []
    for part in text.split(","):
        customers, _, agents = part.partition("/")
        steps.append((int(customers), int(agents)))
    return steps


def main(argv: list[str] | None = None) -> list[Floor]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument(
        "--quick", action="store_true", help="small steps, short windows: ~2 min for both backends"
    )
    parser.add_argument("--steps", help=f"customers/agents,… (default {DEFAULT_STEPS}; --quick 10/2,30/6)")
    parser.add_argument("--seconds", type=float, help="measured window per step (default 45; --quick 10)")
    parser.add_argument(
        "--ramp",
        type=float,
        help="seconds over which a step's first customers arrive (default customers/10, 5–60; --quick 3)",
    )
    parser.add_argument(
        "--arrivals", type=float, default=0.15, help="share of customers arriving in the window"
    )
    parser.add_argument(
        "--reconnects", type=float, default=0.05, help="share of customers reconnecting mid-run"
    )
    parser.add_argument(
        "--idle", type=int, help="idle sockets for the memory figure (default 500; --quick 50)"
    )
    parser.add_argument("--generators", type=int, default=1, help="load generator processes")
    parser.add_argument("--raw", type=int, default=1000, help="inserts in the raw baseline loop")
    parser.add_argument(
        "--budget",
        type=float,
        help="seconds of steps per backend after which no new step starts (default 360; --quick 60)",
    )
    parser.add_argument(
        "--no-refine",
        dest="refine",
        action="store_false",
        help="skip the step between the last passing and the first failing one",
    )
    parser.add_argument("--pace", type=float, default=1.0, help=argparse.SUPPRESS)  # shorter waits
    parser.add_argument(
        "--desk-grace",
        type=float,
        default=5.0,
        help="seconds the desks keep listening after the customers leave (late events are not lost)",
    )
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample the servers with py-spy over each window; summarise the first failing step",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("KEFU_DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL server to use; the bench creates and drops its own database there",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    args.step_list = parse_steps(args.steps or ("10/2,30/6" if quick else DEFAULT_STEPS))
    args.seconds = args.seconds or (10.0 if quick else 45.0)
    if quick and args.ramp is None:
        args.ramp = 3.0
    args.idle = args.idle if args.idle is not None else (50 if quick else 500)
    args.budget = args.budget or (60.0 if quick else 360.0)
    if args.profile:
        args.py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not Path(args.py_spy).exists():
            parser.error("--profile needs py-spy (pip install py-spy)")
        args.profile_dir = tempfile.mkdtemp(prefix="kefu-load-profile-")
    # Thousands of sockets: room for their file descriptors (the servers inherit it).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    started = time.monotonic()
    floors = []
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    for backend in backends:
        if backend == "postgres" and (reason := redis_unreachable_reason(redis_url())):
            print(f"postgres: skipped, {reason}", file=sys.stderr)
            continue
        floor = Floor(backend, args)
        floors.append(floor)
        print(f"{backend}: starting (load average {os.getloadavg()[0]:.1f})", flush=True)
        floor.run(args.budget)
    report(floors, args, started)
    return floors


if __name__ == "__main__":
    main()
