"""How long a customer message holds SQLite's write lock, with its understanding ahead of or inside the lock.

SQLite admits one writer: ``BEGIN IMMEDIATE`` takes the write lock and the commit
releases it, so the time between the two is what every other writer (the desk's
HTTP replies, other processes) may wait for. ``do_receive_customer_message`` works
out emotion and intent before its transaction (``understanding.reading.Reading``);
``--inside`` rounds switch that off (the reading is dropped, so the transaction works
it out itself, as before), alternating with the normal path in the same process:

    .venv/bin/python bench/write_lock.py [--messages 200] [--rounds 3]
    .venv/bin/python bench/write_lock.py --profile 40   # where a message's CPU goes instead

``--profile N`` sends the messages once under cProfile (after a warm-up round) and prints
the CPU per message, kefu's N costliest functions by cumulative time and the N costliest
functions of all by their own time.

It migrates a fresh SQLite database in a temp directory, seeds a team, an online
agent and a web channel, and sends customer messages (ten per visitor, realistic
Chinese text) straight to the service. Printed per mode: write-lock hold per message
(p50, p99, total per message), the CPU the writing thread spent while holding it (less
sensitive to a busy machine than wall time), the whole call's wall time, and the
ratios ahead ÷ inside.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from measure import pct

REPO = Path(__file__).resolve().parents[1]
TEXTS = [
    "你好，在吗",
    "我的快递到哪了？三天了还没到",
    "订单号 YJ20261118001 还没发货，怎么回事",
    "能不能快点处理，等得太久了，再不处理我就投诉了",
    "好的，谢谢你",
    "收到的衣服尺码不对，想换一件 L 码的",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200, help="messages per round and mode")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="cProfile instead of timing")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="kefu-bench-lock-"))
    os.environ.update(
        DJANGO_SETTINGS_MODULE="kefu.settings",
        KEFU_SQLITE_PATH=str(tmp / "kefu.sqlite3"),
        KEFU_VAR_DIR=str(tmp),
    )
    os.environ.pop("KEFU_DATABASE_URL", None)
    os.environ.pop("KEFU_REDIS_URL", None)
    subprocess.run(
        [sys.executable, "-m", "kefu.cli", "migrate", "--noinput", "-v", "0"], check=True, cwd=REPO
    )

    import django

    django.setup()
    from django.db.backends.sqlite3.base import DatabaseWrapper
    from django.utils import timezone

    import kefu.conversations.services as conversations
    from kefu.accounts.models import AgentStatus, Role, Team, User
    from kefu.accounts.services import do_create_user
    from kefu.channels.models import Channel

    team = Team.objects.create(name="售前咨询", is_general=True)
    agent = do_create_user(
        username="xiaomei",
        password="kefu-bench-pass-2026",
        role=Role.AGENT,
        teams=(team,),
        display_name="小美",
        max_concurrent=100000,
    )
    User.objects.filter(pk=agent.pk).update(status=AgentStatus.ONLINE, last_seen_at=timezone.now())
    channel = Channel.objects.create(name="官网在线客服", kind=Channel.Kind.WEB, team=team)

    held: list[float] = []
    held_cpu: list[float] = []
    began: list[tuple[float, float]] = []
    start_tx = DatabaseWrapper._start_transaction_under_autocommit
    commit = DatabaseWrapper._commit

    def timed_start(self: DatabaseWrapper) -> None:
        start_tx(self)
        began.append((time.perf_counter(), time.thread_time()))

    def timed_commit(self: DatabaseWrapper) -> None:
        commit(self)
        if began:
            wall, cpu = began.pop()
            held.append(time.perf_counter() - wall)
            held_cpu.append(time.thread_time() - cpu)

    DatabaseWrapper._start_transaction_under_autocommit = timed_start  # type: ignore[method-assign]
    DatabaseWrapper._commit = timed_commit  # type: ignore[method-assign]
    ahead = conversations.read_customer_message

    def run(mode: str, tag: str) -> tuple[list[float], list[float], list[float]]:
        conversations.read_customer_message = ahead if mode == "ahead" else (lambda *a, **k: None)
        held.clear()
        held_cpu.clear()
        walls = []
        for i in range(args.messages):
            held_before = len(held)
            t = time.perf_counter()
            conversations.do_receive_customer_message(
                channel=channel,
                identities=[("web", f"{tag}-{i // 10}")],
                text=TEXTS[i % len(TEXTS)],
                client_msg_id=f"{tag}-{i}",
            )
            walls.append(time.perf_counter() - t)
            assert len(held) > held_before
        # The message's own transaction is the first; routing after the commit adds more.
        return list(held), list(held_cpu), walls

    run("ahead", "warm")
    if args.profile:
        profile(lambda: run("ahead", "prof"), args.messages, args.profile)
        return
    results: dict[str, tuple[list[float], list[float], list[float]]] = {
        "ahead": ([], [], []),
        "inside": ([], [], []),
    }
    for r in range(args.rounds):
        for mode in ("inside", "ahead") if r % 2 else ("ahead", "inside"):
            for into, got in zip(results[mode], run(mode, f"{mode}{r}"), strict=True):
                into.extend(got)

    print(f"{args.messages} messages × {args.rounds} rounds per mode, alternating; ms per message")
    print(
        f"{'understanding':<14} {'lock p50':>9} {'lock p99':>9} {'lock/msg':>9} {'lock CPU/msg':>13} {'call':>7}"
    )
    for mode in ("inside", "ahead"):
        h, c, w = results[mode]
        ms = [x * 1000 for x in h]
        print(
            f"{mode:<14} {pct(ms, 50):9.2f} {pct(ms, 99):9.2f} {sum(ms) / len(w):9.2f}"
            f" {sum(c) * 1000 / len(w):13.2f} {statistics.mean(w) * 1000:7.2f}"
        )
    per = {
        m: (sum(results[m][0]) / len(results[m][2]), sum(results[m][1]) / len(results[m][2])) for m in results
    }
    print(
        f"write lock held per message, ahead ÷ inside: wall {per['ahead'][0] / per['inside'][0]:.2f},"
        f" CPU inside the lock {per['ahead'][1] / per['inside'][1]:.2f}"
    )


def profile(send: object, messages: int, top: int) -> None:
    import cProfile
    import io
    import pstats

    prof = cProfile.Profile()
    cpu = time.process_time()
    prof.enable()
    send()  # type: ignore[operator]
    prof.disable()
    cpu = time.process_time() - cpu
    print(f"{messages} messages; CPU {cpu * 1000 / messages:.2f} ms per message (under the profiler)")
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats("src/kefu/", top)
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
    print(out.getvalue())


if __name__ == "__main__":
    main()
