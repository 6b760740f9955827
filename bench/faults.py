"""Faults under load: Redis, then PostgreSQL, restarted under two kefu processes with customers chatting.

Everything runs on servers of our own (``tests/reliability/instances.py``): a private
PostgreSQL cluster and a private Redis, never the machine's shared ones. Two real
server processes (``tests/realtime/cluster.py``) share them; ``--visitors`` customers on
chat sockets, half on each process, each write every 0.5–1.5 × ``--every`` s and behave like the
widget: a message stays in the visitor's resend queue until acked, an ``unavailable``
refusal is resent after its hint with the same ``client_msg_id``, a closed socket is
reopened (after the hint on 1012/1013, else with backoff) and the queue resent. One
agent's desk socket on the second process counts ``message.created`` events and the
``realtime`` frames. ``/readyz`` of the first process is polled every 0.25 s.

Timeline (seconds): ``--phase`` of steady traffic (the baseline), Redis stopped for
``--down``, ``--phase`` after it is back, PostgreSQL stopped (``pg_ctl -m fast``) for
``--down``, ``--phase`` after; then sending stops and the queues drain (bounded).

Printed: ack latency per phase and its ratio to the baseline phase of the same run;
messages sent, acked, refused and resent; when the sockets were told (degraded / ok) and
when ``/readyz`` changed, relative to each stop and start; and at the end, what was
acknowledged against what is stored (every acked id stored, each exactly once).

    .venv/bin/python bench/faults.py [--visitors 10] [--every 2] [--phase 10] [--down 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
import websockets  # noqa: E402
from tests.realtime.cluster import Cluster  # noqa: E402
from tests.reliability.instances import PrivateRedis, migrated_postgres  # noqa: E402

from measure import pct  # noqa: E402 (bench/ is the script's folder)

STORED = """
from django.db.models import Count
from kefu.conversations.models import Message
rows = Message.objects.filter(client_msg_id__startswith="f-").values("client_msg_id").annotate(n=Count("id"))
print(json.dumps({r["client_msg_id"]: r["n"] for r in rows}))
"""


@dataclass
class Run:
    t0: float = field(default_factory=time.monotonic)
    marks: dict[str, float] = field(default_factory=dict)
    sent: dict[str, float] = field(default_factory=dict)  # client_msg_id -> first send
    acks: dict[str, float] = field(default_factory=dict)  # client_msg_id -> ack latency (s)
    acked_at: dict[str, float] = field(default_factory=dict)
    refused: int = 0
    resent: int = 0
    reconnects: int = 0
    frames: list[tuple[float, str, str]] = field(default_factory=list)  # (t, socket, status)
    ready: list[tuple[float, int, str]] = field(default_factory=list)
    desk_events: int = 0
    sending: bool = True
    every: float = 1.0  # mean seconds between one visitor's messages

    def now(self) -> float:
        return time.monotonic() - self.t0

    def mark(self, name: str) -> None:
        self.marks[name] = self.now()
        print(f"  {self.marks[name]:6.1f}s {name}", flush=True)


async def resend(ws: Any, pending: dict[str, str], run: Run) -> None:
    """The widget's resend queue: every message not yet acked, with its own id."""
    for cid, text in pending.items():
        run.resent += 1
        await ws.send(json.dumps({"type": "message", "client_msg_id": cid, "text": text}))


async def visitor(cluster: Cluster, n: int, run: Run) -> None:
    server = cluster.servers[n % len(cluster.servers)]
    token = cluster.seed["visitor_tokens"][n]
    pending: dict[str, str] = {}
    seq = 0
    backoff = 0.5
    while run.sending or pending:
        try:
            async with websockets.connect(
                f"{server.ws}/ws/chat/?token={token}", origin=server.http, open_timeout=15
            ) as ws:
                backoff = 0.5
                await resend(ws, pending, run)
                retry_at: float | None = None
                next_send = time.monotonic() + random.uniform(0.1, 1.0)
                while run.sending or pending:
                    now = time.monotonic()
                    if retry_at is not None and now >= retry_at:
                        retry_at = None
                        await resend(ws, pending, run)
                    if run.sending and now >= next_send:
                        seq += 1
                        cid = f"f-{n}-{seq}"
                        text = f"第{seq}条：请问订单什么时候发货？"
                        pending[cid] = text
                        run.sent[cid] = run.now()
                        await ws.send(json.dumps({"type": "message", "client_msg_id": cid, "text": text}))
                        next_send = now + random.uniform(0.5, 1.5) * run.every
                    try:
                        raw = await asyncio.wait_for(ws.recv(), timeout=0.2)
                    except TimeoutError:
                        continue
                    frame = json.loads(raw)
                    kind = frame.get("type")
                    if kind == "ack" and frame.get("client_msg_id") in pending:
                        cid = frame["client_msg_id"]
                        del pending[cid]
                        if cid not in run.acks:
                            run.acked_at[cid] = run.now()
                            run.acks[cid] = run.acked_at[cid] - run.sent[cid]
                    elif kind == "error" and frame.get("code") == "unavailable":
                        run.refused += 1
                        retry_at = time.monotonic() + frame.get("retry_after_ms", 2000) / 1000
                    elif kind == "realtime":
                        run.frames.append((run.now(), f"chat{n}", frame["status"]))
                    elif kind == "reconnect":
                        backoff = frame.get("retry_after_ms", 1000) / 1000
                    if not run.sending and not pending:
                        return
        except (OSError, websockets.WebSocketException, TimeoutError):
            pass
        if not (run.sending or pending):
            return
        run.reconnects += 1
        await asyncio.sleep(backoff + random.uniform(0, 0.25))
        backoff = min(8.0, backoff * 2)


async def desk(cluster: Cluster, run: Run) -> None:
    server = cluster.servers[-1]
    headers = {"Cookie": f"sessionid={cluster.seed['session_key']}"}
    while run.sending:
        try:
            async with websockets.connect(
                f"{server.ws}/ws/desk/", origin=server.http, additional_headers=headers
            ) as ws:
                while run.sending:
                    try:
                        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=0.5))
                    except TimeoutError:
                        continue
                    if frame.get("event") == "message.created":
                        run.desk_events += 1
                    elif frame.get("type") == "realtime":
                        run.frames.append((run.now(), "desk", frame["status"]))
        except (OSError, websockets.WebSocketException):
            await asyncio.sleep(1)


async def poll_ready(cluster: Cluster, run: Run) -> None:
    last = None
    async with httpx.AsyncClient(timeout=5) as http:
        while run.sending:
            try:
                r = await http.get(f"{cluster.servers[0].http}/readyz")
                state = (r.status_code, r.json()["status"])
            except (httpx.HTTPError, ValueError):
                state = (0, "no answer")
            if state != last:
                run.ready.append((run.now(), *state))
                last = state
            await asyncio.sleep(0.25)


async def scenario(cluster: Cluster, pg: Any, redis: PrivateRedis, args: argparse.Namespace) -> Run:
    run = Run(every=args.every)
    tasks = [asyncio.create_task(visitor(cluster, n, run)) for n in range(args.visitors)]
    tasks += [asyncio.create_task(desk(cluster, run)), asyncio.create_task(poll_ready(cluster, run))]
    loop = asyncio.get_running_loop()
    run.mark("start")
    await asyncio.sleep(args.phase)
    run.mark("redis stop")
    await loop.run_in_executor(None, redis.stop)
    await asyncio.sleep(args.down)
    run.mark("redis start")
    await loop.run_in_executor(None, redis.start)
    run.mark("redis up")
    await asyncio.sleep(args.phase)
    run.mark("postgres stop")
    await loop.run_in_executor(None, lambda: pg.stop(mode="fast"))
    await asyncio.sleep(args.down)
    run.mark("postgres start")
    await loop.run_in_executor(None, pg.start)
    run.mark("postgres up")
    await asyncio.sleep(args.phase)
    run.mark("stop sending")
    run.sending = False
    try:
        await asyncio.wait_for(asyncio.gather(*tasks[: args.visitors]), timeout=60)
    except TimeoutError:
        print("  (some visitors still had unacked messages after 60 s)")
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    run.mark("drained")
    return run


def phase_of(run: Run, t: float) -> str:
    m = run.marks
    if t < m["redis stop"]:
        return "1 baseline"
    if t < m["redis up"]:
        return "2 redis down"
    if t < m["postgres stop"]:
        return "3 after redis"
    if t < m["postgres up"]:
        return "4 postgres down"
    return "5 after postgres"


def report(run: Run, stored: dict[str, int], args: argparse.Namespace) -> dict[str, Any]:
    by_phase: dict[str, list[float]] = {}
    for cid, latency in run.acks.items():
        by_phase.setdefault(phase_of(run, run.sent[cid]), []).append(latency * 1000)
    base = by_phase.get("1 baseline", [])
    base_p50, base_p99 = pct(base, 50), pct(base, 99)
    phases = {}
    for name in sorted(by_phase):
        values = by_phase[name]
        p50, p99 = pct(values, 50), pct(values, 99)
        phases[name] = {
            "acked": len(values),
            "ack_p50_ms": round(p50, 1),
            "ack_p99_ms": round(p99, 1),
            "ack_max_ms": round(max(values), 1),
            "p50_vs_baseline": round(p50 / base_p50, 2) if base_p50 else None,
            "p99_vs_baseline": round(p99 / base_p99, 2) if base_p99 else None,
        }

    def first(who: str, status: str, after: float) -> float | None:
        times = [t for t, sock, s in run.frames if s == status and t >= after and sock.startswith(who)]
        return round(min(times) - after, 2) if times else None

    m = run.marks
    told = {
        "redis: desk told degraded after stop (s)": first("desk", "degraded", m["redis stop"]),
        "redis: a chat told degraded after stop (s)": first("chat", "degraded", m["redis stop"]),
        "redis: desk told ok after start (s)": first("desk", "ok", m["redis up"]),
        "redis: a chat told ok after start (s)": first("chat", "ok", m["redis up"]),
        "chat sockets told degraded / ok": (
            len({s for _, s, st in run.frames if s.startswith("chat") and st == "degraded"}),
            len({s for _, s, st in run.frames if s.startswith("chat") and st == "ok"}),
        ),
    }
    after_pg = [
        run.acked_at[c] - m["postgres up"] for c in run.acked_at if run.acked_at[c] >= m["postgres up"]
    ]
    refused_then = sorted(
        run.acked_at[c] - m["postgres up"]
        for c in run.acked_at
        if m["postgres stop"] <= run.sent[c] < m["postgres up"]
    )
    acked = set(run.acks)
    lost = sorted(acked - set(stored))
    twice = sorted(c for c, n in stored.items() if n > 1)
    summary = {
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.node()} {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}",
        "visitors": args.visitors,
        "every_s": args.every,
        "phase_s": args.phase,
        "down_s": args.down,
        "sent": len(run.sent),
        "acked": len(acked),
        "stored": len(stored),
        "acked_but_not_stored": lost,
        "stored_twice": twice,
        "sent_never_acked": len(run.sent) - len(acked),
        "refused_unavailable_frames": run.refused,
        "resends": run.resent,
        "reconnects": run.reconnects,
        "desk_message_events": run.desk_events,
        "phases": phases,
        "told": told,
        "postgres: first ack after start (s)": round(min(after_pg), 2) if after_pg else None,
        "postgres: messages first sent while down, acked after start p50/max (s)": (
            (round(pct(refused_then, 50), 2), round(refused_then[-1], 2)) if refused_then else None
        ),
        "readyz": [(round(t, 1), code, state) for t, code, state in run.ready],
        "marks": {k: round(v, 1) for k, v in run.marks.items()},
    }
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--visitors", type=int, default=10)
    parser.add_argument("--every", type=float, default=2.0, help="mean seconds between a visitor's messages")
    parser.add_argument(
        "--phase", type=float, default=10.0, help="seconds of traffic before, between and after"
    )
    parser.add_argument("--down", type=float, default=5.0, help="seconds each server stays down")
    args = parser.parse_args()

    holder = Cluster(servers=0, database_url="")
    print("starting a private PostgreSQL and Redis …", flush=True)
    pg = migrated_postgres(holder.env)
    holder.stop()
    redis = PrivateRedis().start()
    unlimited = {
        "KEFU_RATELIMIT_CHAT_MESSAGE_IP": "off",
        "KEFU_RATELIMIT_CHAT_MESSAGE": "off",
        "KEFU_RATELIMIT_CHAT_SIGNAL": "off",
        "KEFU_RATELIMIT_CHAT_CONNECT_IP": "off",
    }
    try:
        with Cluster(
            servers=2,
            redis=redis.url,
            database_url=pg.url,
            seed_env={"SEED_VISITORS": str(args.visitors)},
            env={**unlimited, "KEFU_DB_POOL_TIMEOUT": "3"},
        ) as cluster:
            print(f"two servers up; {args.visitors} visitors", flush=True)
            run = asyncio.run(scenario(cluster, pg, redis, args))
            stored = cluster.run(STORED)
            summary = report(run, stored, args)
            # What the servers said (warnings and errors), for the record.
            print(cluster.logs()[-int(os.environ.get("FAULTS_LOG_CHARS", "4000")) :], file=sys.stderr)
    finally:
        redis.close()
        pg.close()
    print(json.dumps(summary, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
