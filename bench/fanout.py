"""Desk fan-out: what one customer message costs when a whole team has its desks open.

Starts one ``uvicorn kefu.asgi:application`` on SQLite (``tests/realtime/cluster.py``),
seeds a team of ``--agents`` online agents, each with a desk socket open (as the desk
page keeps one), and ``--visitors`` customers on chat sockets who write in a closed
loop (each waits for the ack of its last message) until ``--messages`` messages or
``--seconds`` have passed. Routing spreads the conversations over the agents. Printed,
for the steady-state messages (each visitor's first one opens its conversation and is
not counted):

* messages/s and ack p50 / p99 (ms);
* server CPU per customer message (the server process's user + system time from
  ``/proc`` over the run);
* frames and kB the desk sockets received per customer message, all desks together,
  and how many of those frames were full message events;
* the same per-message figures with one agent (``--agents 1``) are the baseline the
  team's cost is compared against: run both and compare the ratios.

    .venv/bin/python bench/fanout.py [--agents 20] [--visitors 20] [--messages 400] [--seconds 20]

Loopback only, bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import websockets  # noqa: E402
from tests.realtime.cluster import Cluster  # noqa: E402

from measure import cpu_seconds, pct  # noqa: E402 (bench/ is the script's folder)

AGENTS = """
from django.utils import timezone
from kefu.accounts.models import AgentStatus, Role, Team, User
from kefu.accounts.services import do_create_user
team = Team.objects.get(name="售前咨询")
keys = []
for i in range({n}):
    user = do_create_user(username=f"agent{{i}}", password="kefu-bench-pass-2026", role=Role.AGENT,
                          teams=(team,), display_name=f"客服{{i}}", max_concurrent=1000)
    User.objects.filter(pk=user.pk).update(status=AgentStatus.ONLINE, last_seen_at=timezone.now())
    keys.append(session_for(user))
print(json.dumps(keys))
"""

UNLIMITED_CHAT = {
    "KEFU_RATELIMIT_CHAT_MESSAGE": "1000000/1s",
    "KEFU_RATELIMIT_CHAT_MESSAGE_IP": "1000000/1s",
    "KEFU_RATELIMIT_CHAT_CONNECT_IP": "1000000/1s",
}


class Desks:
    def __init__(self) -> None:
        self.frames = 0
        self.bytes = 0
        self.full_messages = 0
        self.counting = False

    async def read(self, ws: Any) -> None:
        async for raw in ws:
            if not self.counting:
                continue
            self.frames += 1
            self.bytes += len(raw)
            if '"message.created"' in raw:
                self.full_messages += 1


async def say(ws: Any, cmid: str, text: str) -> float:
    t0 = time.perf_counter()
    await ws.send(json.dumps({"type": "message", "client_msg_id": cmid, "text": text}))
    while True:
        frame = json.loads(await ws.recv())
        if frame["type"] == "ack" and frame["client_msg_id"] == cmid:
            return time.perf_counter() - t0
        if frame["type"] == "error":
            raise RuntimeError(frame)


async def drive(cluster: Cluster, keys: list[str], args: argparse.Namespace) -> dict[str, Any]:
    server = cluster.servers[0]
    desks = Desks()
    desk_sockets = []
    for key in keys:
        ws = await websockets.connect(
            f"{server.ws}/ws/desk/",
            origin=server.http,
            additional_headers={"Cookie": f"sessionid={key}"},
            max_queue=None,
        )
        desk_sockets.append(ws)
    readers = [asyncio.create_task(desks.read(ws)) for ws in desk_sockets]
    chats = [
        await websockets.connect(f"{server.ws}/ws/chat/?token={t}", origin=server.http)
        for t in cluster.seed["visitor_tokens"]
    ]
    acks: list[float] = []
    try:
        await asyncio.gather(
            *(say(ws, f"open-{i}", "你好，我想问一下订单的发货时间") for i, ws in enumerate(chats))
        )
        await asyncio.sleep(1.5)  # the opening events and routing settle
        counter = iter(range(args.messages))
        deadline = time.perf_counter() + args.seconds

        async def visitor(i: int, ws: Any) -> None:
            for n in counter:
                if time.perf_counter() > deadline:
                    return
                acks.append(
                    await say(ws, f"v{i}-m{n}", f"第 {n} 条：请帮我看看物流到哪里了，手机 13812345678")
                )

        desks.counting = True
        cpu0 = cpu_seconds(server.proc.pid)
        start = time.perf_counter()
        await asyncio.gather(*(visitor(i, ws) for i, ws in enumerate(chats)))
        elapsed = time.perf_counter() - start
        await asyncio.sleep(1.5)  # the last frames (and activity batches) arrive
        cpu = cpu_seconds(server.proc.pid) - cpu0
        desks.counting = False
    finally:
        for ws in chats + desk_sockets:
            await ws.close()
        for r in readers:
            r.cancel()
    n = len(acks)
    return {
        "agents": len(keys),
        "visitors": len(chats),
        "messages": n,
        "msg_per_s": round(n / elapsed, 1),
        "ack_p50_ms": round(pct(acks, 50) * 1000, 1),
        "ack_p99_ms": round(pct(acks, 99) * 1000, 1),
        "server_cpu_ms_per_msg": round(cpu / n * 1000, 2),
        "desk_frames_per_msg": round(desks.frames / n, 2),
        "desk_full_message_frames_per_msg": round(desks.full_messages / n, 2),
        "desk_kB_per_msg": round(desks.bytes / n / 1024, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--visitors", type=int, default=20)
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    cluster = Cluster(
        servers=1,
        redis=None,
        database_url="",
        seed_env={"SEED_VISITORS": str(args.visitors), "SEED_AGENT_STATUS": "offline"},
        env=UNLIMITED_CHAT,
    )
    with cluster:
        keys = cluster.run(AGENTS.format(n=args.agents))
        result = asyncio.run(drive(cluster, keys, args))
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
