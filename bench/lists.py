"""Lists and pages at scale: the desk's lists and pages, timed in-process, beside a bare indexed query.

    .venv/bin/python bench/lists.py                                   # SQLite, 10,000 tickets
    .venv/bin/python bench/lists.py --backend postgres --database kefu_lists_big --reuse
    .venv/bin/python bench/lists.py --sqlite-path /tmp/lists.sqlite3 --reuse   # data already there

On a database holding ``kefu generate``'s history (generated here unless ``--reuse`` finds
tickets: ``--agents`` × ``--days`` with ``--tickets`` tickets), a supervisor and the agent who
owns the most tickets are signed in with Django's test client, and each page below is
requested ``--runs`` times, round-robin (one request of each page per round, so a burst of
load on the shared machine falls on every page alike). The time is the server's: the whole
Django request (middleware, session, queries, template), no network.

* ticket list page: all tickets, filtered by status, sorted by last update; the next page
  (keyset cursor); an agent's own tickets;
* ticket list API (``GET /api/v1/tickets``, 25 items, filtered by status, sorted);
* inbox: all conversations (supervisor), an agent's own;
* a conversation page, its side panels (fetched after the page) and its customer's page
  (the customer with the most conversations);
* search: the customer list searched by a phone number and by a surname.

Baseline, in the same rounds: a bare ``SELECT … ORDER BY created_at DESC LIMIT 25`` of the
same ticket rows with their customer (a raw cursor, an index walk); each page's ratio is its
p50 ÷ the baseline's p50. The number of queries each page runs is printed too.

Goals (issue 13): p50 ≤ 12 ms at 10,000 tickets on SQLite, ≤ 30 ms at 1 million on PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
PG_BASE = os.environ.get("KEFU_BENCH_PG", "postgres://postgres@127.0.0.1:5432")

from measure import pct  # noqa: E402 (bench/ is the script's folder)


def child(args: argparse.Namespace) -> dict[str, Any]:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Count
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from kefu.accounts.models import Role, User
    from kefu.conversations.models import Conversation, Message
    from kefu.customers.models import Customer
    from kefu.demo.bulk import Scale, generate
    from kefu.tickets.models import Ticket

    out: dict[str, Any] = {"backend": connection.vendor}
    if not args.no_migrate:
        call_command("migrate", verbosity=0)
    if not (args.reuse and Ticket.objects.exists()):
        t = time.perf_counter()
        generate(
            Scale(agents=args.agents, days=args.days, tickets=args.tickets, end=args.end, seed=args.seed)
        )
        out["generate_s"] = round(time.perf_counter() - t, 1)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")  # what autovacuum keeps a live database at
    out["tickets"] = Ticket.objects.count()
    out["conversations"] = Conversation.objects.count()
    out["messages"] = Message.objects.count()
    out["customers"] = Customer.objects.count()

    boss, _ = User.objects.get_or_create(
        username="bench-boss", defaults={"role": Role.SUPERVISOR, "display_name": "值班主管"}
    )
    top = (
        Ticket.objects.filter(status="in_progress", owner__isnull=False)
        .values("owner_id")
        .annotate(n=Count("id"))
        .order_by("-n")
        .first()
    )
    agent = User.objects.get(pk=top["owner_id"]) if top else boss
    busiest = (
        Conversation.objects.values("customer_id")
        .annotate(n=Count("id"))
        .order_by("-n", "customer_id")
        .first()
    )
    assert busiest, "no conversations: generate data first"
    customer = Customer.objects.get(pk=busiest["customer_id"])
    conversation = Conversation.objects.filter(customer=customer).order_by("-id").first()
    assert conversation is not None
    out["customer_conversations"] = busiest["n"]
    out["conversation_messages"] = Message.objects.filter(conversation=conversation).count()
    surname = customer.name[0]

    def client_for(user: User) -> Client:
        c = Client(HTTP_HOST="127.0.0.1")
        c.force_login(user)
        return c

    sup, ag = client_for(boss), client_for(agent)
    first = sup.get("/desk/tickets/?view=all&status=closed&sort=-updated_at")
    assert first.status_code == 200, first.status_code
    cursor = first.context.get("next_cursor") if first.context else None
    pages: dict[str, tuple[Client, str]] = {
        "ticket list page (all, status, sort)": (
            sup,
            "/desk/tickets/?view=all&status=closed&sort=-updated_at",
        ),
        "ticket list page, next page": (
            sup,
            f"/desk/tickets/?view=all&status=closed&sort=-updated_at&after={cursor}"
            if cursor
            else "/desk/tickets/?view=all&status=closed&sort=-updated_at",
        ),
        "ticket list page (agent's own)": (ag, "/desk/tickets/?view=mine"),
        "ticket list API (status, sort)": (
            sup,
            "/api/v1/tickets?status=in_progress&sort=-updated_at&limit=25",
        ),
        "inbox (all)": (sup, "/desk/?view=all"),
        "inbox (agent's own)": (ag, "/desk/?view=mine"),
        "conversation page": (sup, f"/desk/c/{conversation.pk}/"),
        # What desk.js fetches once the conversation page is shown (agents, history, my open).
        "conversation side panels": (sup, f"/desk/c/{conversation.pk}/panels/"),
        "customer page": (sup, f"/desk/customers/{customer.pk}/"),
        "search: phone": (sup, f"/desk/customers/?q={customer.phone}"),
        "search: surname": (sup, f"/desk/customers/?q={surname}"),
    }
    out["next_cursor"] = bool(cursor)

    raw_sql = (
        'SELECT t.id, t.number, t.title, t.status, t.priority, t.created_at, c.name FROM "tickets_ticket" t '
        'JOIN "customers_customer" c ON c.id = t.customer_id ORDER BY t.created_at DESC, t.id DESC LIMIT 25'
    )

    def baseline() -> None:
        with connection.cursor() as cur:
            cur.execute(raw_sql)
            assert len(cur.fetchall()) == 25

    def request(client: Client, url: str) -> Callable[[], None]:
        def go() -> None:
            r = client.get(url)
            assert r.status_code == 200, (url, r.status_code)

        return go

    timed: dict[str, Callable[[], None]] = {"baseline: bare SELECT … LIMIT 25": baseline}
    timed.update({name: request(c, url) for name, (c, url) in pages.items()})
    queries: dict[str, int] = {}
    for name, fn in timed.items():
        fn()  # warm-up
        with CaptureQueriesContext(connection) as ctx:
            fn()
        queries[name] = len(ctx.captured_queries)
    times: dict[str, list[float]] = {name: [] for name in timed}
    for _ in range(args.runs):
        for name, fn in timed.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    out["rows"] = [
        {"name": n, "p50": pct(v, 50) * 1000, "p99": pct(v, 99) * 1000, "queries": queries[n]}
        for n, v in times.items()
    ]
    return out


def _print(result: dict[str, Any]) -> None:
    print(
        f"\n{result['backend']}: {result['tickets']:,} tickets, {result['conversations']:,} conversations, "
        f"{result['messages']:,} messages, {result['customers']:,} customers"
        + (f"; generated in {result['generate_s']} s" if "generate_s" in result else "")
    )
    print(
        f"(customer page: {result['customer_conversations']} conversations; "
        f"conversation page: {result['conversation_messages']} messages)"
    )
    base = result["rows"][0]["p50"]
    print(f"{'what':<40} {'p50 ms':>9} {'p99 ms':>9} {'÷ base':>8} {'queries':>8}")
    for r in result["rows"]:
        print(f"{r['name']:<40} {r['p50']:>9.2f} {r['p99']:>9.2f} {r['p50'] / base:>8.1f} {r['queries']:>8}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--end", type=date.fromisoformat, default=date(2026, 11, 30))
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--database", default="kefu_bench_lists", help="PostgreSQL database name")
    parser.add_argument("--sqlite-path", default=None, help="SQLite file (default: a temp file)")
    parser.add_argument("--reuse", action="store_true", help="keep the database and its data if present")
    parser.add_argument("--no-migrate", action="store_true", help="measure the schema as it is")
    parser.add_argument("--json", action="store_true", help="print the result as JSON too")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args), default=str))
        return
    env = {k: v for k, v in os.environ.items() if k not in ("KEFU_DATABASE_URL", "KEFU_SQLITE_PATH")}
    env["DJANGO_SETTINGS_MODULE"] = "kefu.settings"
    if args.backend == "postgres":
        env["KEFU_DATABASE_URL"] = f"{PG_BASE}/{args.database}"
        env["KEFU_DB_POOL"] = "0"
        if not args.reuse:
            subprocess.run(
                ["psql", PG_BASE + "/postgres", "-qc", f"DROP DATABASE IF EXISTS {args.database}"], check=True
            )
        subprocess.run(["psql", PG_BASE + "/postgres", "-qc", f"CREATE DATABASE {args.database}"], check=False,
                       stderr=subprocess.DEVNULL)  # fmt: skip
    else:
        path = args.sqlite_path or str(Path(tempfile.mkdtemp(prefix="kefu-bench-lists-")) / "bench.sqlite3")
        env["KEFU_SQLITE_PATH"] = path
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    load = os.getloadavg()
    done = subprocess.run(
        [sys.executable, __file__, "--child", *sys.argv[1:]],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        sys.stderr.write(done.stderr)
        sys.exit(done.returncode)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{started}, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} → {os.getloadavg()[0]:.1f}")
    _print(result)
    if args.json:
        print(json.dumps(result))
    if args.backend == "postgres" and not args.reuse:
        subprocess.run(
            ["psql", PG_BASE + "/postgres", "-qc", f"DROP DATABASE IF EXISTS {args.database}"], check=False
        )


if __name__ == "__main__":
    main()
