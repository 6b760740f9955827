"""Customer-message ingest through the real chat websocket, beside a raw insert baseline.

For each backend it starts real ``uvicorn kefu.asgi:application`` processes
(``tests/realtime/cluster.py``) on a freshly migrated database, connects visitors'
chat sockets and one agent's desk socket, and measures:

* accepted/s — customer messages stored and acked per second (closed loop: every
  visitor has one message in flight, like a person waiting for the tick);
* ack latency — send → ``ack`` (the message is durable);
* delivery latency — send → ``message.created`` event on the agent's desk socket;
* baseline — plain durable inserts (``Message.objects.create`` in autocommit, one
  process, sequential) into the same database, measured in the same run.

Backends: ``sqlite`` (one server: the in-memory channel layer cannot span processes)
and ``postgres`` (PostgreSQL + Redis, customers on server A, the desk on server B,
so every event crosses processes through Redis; ``--no-pool`` turns the PostgreSQL
connection pool off for an A/B). Each visitor's first message opens a
conversation (routing, SLA, text understanding); it is reported separately and not
counted in the steady-state figures.

    .venv/bin/python bench/ingest.py [--messages 300] [--visitors 8] [--backend sqlite|postgres|both]
        [--max-seconds 60] [--spread] [--no-pool] [--database-url postgres://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import websockets  # noqa: E402
from tests.realtime.cluster import Cluster, redis_unreachable_reason, redis_url  # noqa: E402

from measure import pct  # noqa: E402 (bench/ is the script's folder)

BASELINE = """
import json, os, sys, time, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu.settings")
django.setup()
from kefu.channels.models import Channel
from kefu.conversations.models import Conversation, Message
from kefu.customers.models import Customer

n = int(sys.argv[1])
channel = Channel.objects.first()
conversation = Conversation.objects.create(channel=channel, customer=Customer.objects.create(name="baseline"))
lat = []
start = time.perf_counter()
for i in range(n):
    t = time.perf_counter()
    Message.objects.create(conversation=conversation, direction="incoming", text=f"基线消息 {i}", client_msg_id=f"b{i}")
    lat.append(time.perf_counter() - t)
print(json.dumps({"elapsed": time.perf_counter() - start, "latencies": lat}))
"""


@dataclass
class Run:
    backend: str
    sent: int = 0
    acked: int = 0
    delivered: int = 0
    elapsed: float = 0.0
    ack_ms: list[float] = field(default_factory=list)
    deliver_ms: list[float] = field(default_factory=list)
    open_ack_ms: list[float] = field(default_factory=list)
    baseline_rate: float = 0.0
    baseline_ms: list[float] = field(default_factory=list)
    truncated: bool = False

    @property
    def rate(self) -> float:
        return self.acked / self.elapsed if self.elapsed else 0.0


@dataclass
class _Traffic:
    """What the visitors and the desk reader share: when each message was sent and seen."""

    run: Run
    deadline: float
    sent_at: dict[str, float] = field(default_factory=dict)
    delivered: dict[str, float] = field(default_factory=dict)
    # The steady-state messages (the opening ones are sent and seen, but not counted).
    timed: set[str] = field(default_factory=set)

    async def read_desk(self, desk: Any) -> None:
        async for raw in desk:
            frame = json.loads(raw)
            if frame.get("event") != "message.created":
                continue
            cmid = frame["data"]["message"].get("client_msg_id")
            if cmid in self.sent_at and cmid not in self.delivered:
                self.delivered[cmid] = time.perf_counter()

    async def say(self, ws: Any, cmid: str, text: str) -> float:
        """Send one message and wait for its ack; returns the seconds it took."""
        t0 = time.perf_counter()
        self.sent_at[cmid] = t0
        await ws.send(json.dumps({"type": "message", "client_msg_id": cmid, "text": text}))
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == "ack" and frame["client_msg_id"] == cmid:
                return time.perf_counter() - t0
            if frame["type"] == "error":
                raise RuntimeError(frame)

    async def visitor(self, i: int, ws: Any, counter: Iterator[int]) -> None:
        """Send the next message of the shared count as soon as the last one is acked."""
        run = self.run
        for n in counter:
            if time.perf_counter() > self.deadline:
                run.truncated = True
                return
            cmid = f"v{i}-m{n}"
            self.timed.add(cmid)
            run.sent += 1
            run.ack_ms.append(1000 * await self.say(ws, cmid, f"第 {n} 条消息：请帮我看看物流到哪里了"))
            run.acked += 1

    async def settle(self) -> None:
        """Let the last events arrive (bounded)."""
        settle = time.perf_counter() + 10
        while len(self.timed - self.delivered.keys()) and time.perf_counter() < settle:
            await asyncio.sleep(0.05)


async def _desk_ready(desk: Any) -> None:
    """Wait until the desk socket answers: resuming a conversation that does not exist is an error."""
    await desk.send(json.dumps({"type": "resume", "conversation_id": 10**9}))
    while json.loads(await desk.recv())["type"] != "error":
        pass


async def drive(cluster: Cluster, run: Run, *, messages: int, deadline: float, spread: bool) -> None:
    desk_on = cluster.servers[-1]
    # Customers on server A only, or (--spread) round-robin over every server.
    customer_servers = cluster.servers if spread else cluster.servers[:1]
    seed = cluster.seed
    traffic = _Traffic(run, deadline)

    async with websockets.connect(
        f"{desk_on.ws}/ws/desk/",
        origin=desk_on.http,
        additional_headers={"Cookie": f"sessionid={seed['session_key']}"},
        max_queue=None,
    ) as desk:
        await _desk_ready(desk)
        reader = asyncio.create_task(traffic.read_desk(desk))
        sockets = []
        for i, token in enumerate(seed["visitor_tokens"]):
            server = customer_servers[i % len(customer_servers)]
            sockets.append(
                await websockets.connect(f"{server.ws}/ws/chat/?token={token}", origin=server.http)
            )
        try:
            # Warm-up: every visitor's first message opens a conversation.
            opened = await asyncio.gather(
                *(
                    traffic.say(ws, f"open-{i}", "你好，我想问一下订单的发货时间")
                    for i, ws in enumerate(sockets)
                )
            )
            run.open_ack_ms = [s * 1000 for s in opened]

            counter = iter(range(messages))
            start = time.perf_counter()
            await asyncio.gather(*(traffic.visitor(i, ws, counter) for i, ws in enumerate(sockets)))
            run.elapsed = time.perf_counter() - start
            await traffic.settle()
        finally:
            for ws in sockets:
                await ws.close()
            reader.cancel()
    run.delivered = len(traffic.timed & traffic.delivered.keys())
    run.deliver_ms = [
        (traffic.delivered[c] - traffic.sent_at[c]) * 1000 for c in traffic.timed if c in traffic.delivered
    ]


def baseline(cluster: Cluster, run: Run, n: int) -> None:
    out = json.loads(cluster._run(["-c", BASELINE, str(n)]).strip().splitlines()[-1])
    run.baseline_rate = n / out["elapsed"]
    run.baseline_ms = [s * 1000 for s in out["latencies"]]


# Every visitor writes as fast as acks come back, all from 127.0.0.1: far past what
# kefu lets one customer send. The limiter still counts each message (its cost is part
# of the figures); it just never refuses one.
UNLIMITED_CHAT = {
    "KEFU_RATELIMIT_CHAT_MESSAGE": "1000000/1s",
    "KEFU_RATELIMIT_CHAT_MESSAGE_IP": "1000000/1s",
    "KEFU_RATELIMIT_CHAT_CONNECT_IP": "1000000/1s",
}


def bench(backend: str, args: argparse.Namespace) -> Run:
    run = Run(backend)
    seed_env = {"SEED_VISITORS": str(args.visitors)}
    if backend == "sqlite":
        cluster = Cluster(servers=1, redis=None, database_url="", seed_env=seed_env, env=UNLIMITED_CHAT)
    else:
        env = {"KEFU_DB_POOL": "0", **UNLIMITED_CHAT} if args.no_pool else UNLIMITED_CHAT
        cluster = Cluster(
            servers=2, redis=redis_url(), database_url=args.database_url, seed_env=seed_env, env=env
        )
        run.backend = "postgres+spread" if args.spread else "postgres"
        if args.no_pool:
            run.backend += ",no-pool"
    with cluster:
        baseline(cluster, run, args.messages)
        deadline = time.perf_counter() + args.max_seconds
        asyncio.run(drive(cluster, run, messages=args.messages, deadline=deadline, spread=args.spread))
    return run


def report(runs: list[Run], args: argparse.Namespace) -> None:
    print()
    print(f"kefu ingest bench · {datetime.now(UTC):%Y-%m-%d %H:%M} UTC · {platform.node()} · "
          f"{os.cpu_count()} CPUs · Python {platform.python_version()} · "
          f"{args.messages} messages, {args.visitors} visitors")  # fmt: skip
    head = f"{'backend':<26} {'msg/s':>8} {'vs raw':>7} {'ack p50':>8} {'ack p99':>8} {'dlv p50':>8} {'dlv p99':>8}  notes"
    print(head)
    print("-" * len(head))
    for r in runs:
        notes = f"{r.acked}/{r.sent} acked, {r.delivered} delivered"
        if r.truncated:
            notes += f", stopped at {args.max_seconds}s"
        print(
            f"{r.backend + ' (websocket)':<26} {r.rate:8.1f} {r.rate / r.baseline_rate:7.1%} "
            f"{pct(r.ack_ms, 50):8.1f} {pct(r.ack_ms, 99):8.1f} {pct(r.deliver_ms, 50):8.1f} {pct(r.deliver_ms, 99):8.1f}  {notes}"
        )
        print(
            f"{r.backend + ' (raw insert)':<26} {r.baseline_rate:8.1f} {'100%':>7} "
            f"{pct(r.baseline_ms, 50):8.2f} {pct(r.baseline_ms, 99):8.2f} {'':>8} {'':>8}  Message.objects.create, autocommit"
        )
        print(
            f"{r.backend + ' (open conv.)':<26} {'':>8} {'':>7} {statistics.median(r.open_ack_ms):8.1f} "
            f"{max(r.open_ack_ms):8.1f} {'':>8} {'':>8}  first message of each visitor (median / max)"
        )
    print("latencies in ms; msg/s = customer messages stored, acked and published per second")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--visitors", type=int, default=8)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument(
        "--spread", action="store_true", help="postgres: customers on both servers (default: all on server A)"
    )
    parser.add_argument(
        "--no-pool",
        action="store_true",
        help="postgres: servers without the connection pool (KEFU_DB_POOL=0)",
    )
    parser.add_argument(
        "--max-seconds", type=float, default=60, help="stop sending after this long (per backend)"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("KEFU_DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL server to use; the bench creates and drops its own database there",
    )
    args = parser.parse_args()
    runs = []
    if args.backend in ("sqlite", "both"):
        runs.append(bench("sqlite", args))
    if args.backend in ("postgres", "both"):
        if reason := redis_unreachable_reason(redis_url()):
            print(f"postgres: skipped, {reason}", file=sys.stderr)
        else:
            runs.append(bench("postgres", args))
    report(runs, args)


if __name__ == "__main__":
    main()
