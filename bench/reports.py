"""Reports for a month and the wallboard on a big team's history, against the plainest SQL.

    .venv/bin/python bench/reports.py                      # both backends, 40 agents × 60 days
    .venv/bin/python bench/reports.py --backend postgres --full        # 200 agents × 365 days
    .venv/bin/python bench/reports.py --backend postgres --database kefu_year --reuse
    .venv/bin/python bench/reports.py --backend postgres --database kefu_year --reuse --report-only

Each backend runs in its own process on a fresh database (a temp SQLite file; a PostgreSQL
database ``--database``, dropped and created unless ``--reuse``): ``kefu generate`` writes the
history, ``kefu rollups rebuild`` reads it, then, in the same process:

* **report**: ``kefu.analytics.reports.build_report`` for the last 30 days of the data, as the
  reports page and its JSON API draw it (every figure for the period and the period before,
  the trend, first response by hour, the heat map, breakdowns by channel / intent / team /
  agent), p50 and p90 of ``--runs`` runs; once reading the rollups, once with every rollup
  made stale (the live path the metrics take for the open tail).
* **wallboard**: ``kefu.wallboard.services.snapshot`` for the whole desk at 16:00 of the last
  day, KPI cache off (every refresh recomputes today's tiles); then the board of a lead of
  every team (one row of tiles per team), cache off too.
* **plain SQL**: for each, hand-written SQL computing the same figures in one pass per source
  (wall-clock first response: plain SQL has no business calendar). Its time is the baseline;
  the ratio is kefu's time ÷ the baseline's.

Goals (issue 11): report p50 ≤ 2 s, wallboard p50 ≤ 200 ms on PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PG_BASE = os.environ.get("KEFU_BENCH_PG", "postgres://postgres@127.0.0.1:5432")


def _timed(fn: Callable[[], Any], runs: int, *, warm: bool = True) -> tuple[float, float]:
    """p50 and p90 in seconds of ``runs`` calls (one warm-up first unless ``warm`` is False)."""
    if warm:
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    times.sort()
    return statistics.median(times), times[max(0, -(-9 * len(times) // 10) - 1)]


def _profile(fn: Callable[[], Any], top: int) -> str:
    """cProfile of one call (after a warm-up): the ``top`` functions by cumulative time, and the queries."""
    import cProfile
    import io
    import pstats

    from django.db import connection, reset_queries

    fn()
    profiler = cProfile.Profile()
    was_debug = connection.force_debug_cursor
    connection.force_debug_cursor = True
    reset_queries()
    t = time.perf_counter()
    profiler.runcall(fn)
    took = time.perf_counter() - t
    queries = connection.queries
    sql_s = sum(float(q["time"]) for q in queries)
    connection.force_debug_cursor = was_debug
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(top)
    return f"{took:.2f} s, {len(queries)} queries taking {sql_s:.2f} s\n" + text.getvalue()


# --- the plainest SQL ----------------------------------------------------------------------------


def _sql_dialect(vendor: str) -> dict[str, Callable[..., str]]:
    if vendor == "postgresql":
        return {
            "secs": lambda a, b: f"EXTRACT(EPOCH FROM ({a} - {b}))",
            "hour": lambda c: f"EXTRACT(HOUR FROM {c} AT TIME ZONE 'Asia/Shanghai')",
            "dow": lambda c: f"EXTRACT(ISODOW FROM {c} AT TIME ZONE 'Asia/Shanghai')",
            "day": lambda c: f"CAST({c} AT TIME ZONE 'Asia/Shanghai' AS date)",
            "json": lambda c, k: f"{c} ->> '{k}'",
            "has": lambda c, k: f"{c} ? '{k}'",
            "plus7": lambda c: f"{c} + interval '7 days'",
        }
    return {
        "secs": lambda a, b: f"((julianday({a}) - julianday({b})) * 86400.0)",
        "hour": lambda c: f"CAST(strftime('%%H', {c}, '+8 hours') AS integer)",
        "dow": lambda c: f"CAST(strftime('%%w', {c}, '+8 hours') AS integer)",
        "day": lambda c: f"date({c}, '+8 hours')",
        "json": lambda c, k: f"json_extract({c}, '$.{k}')",
        "has": lambda c, k: f"json_type({c}, '$.{k}') IS NOT NULL",
        "plus7": lambda c: f"datetime({c}, '+7 days')",
    }


def plain_report_sql(vendor: str) -> list[str]:
    """One statement per figure family; ``%(s)s`` / ``%(e)s`` bound to the period."""
    d = _sql_dialect(vendor)
    conv = "conversations_conversation"
    msg = "conversations_message"
    period = "c.created_at >= %(s)s AND c.created_at < %(e)s"
    resolved = "c.status IN ('resolved', 'closed') AND c.resolved_at IS NOT NULL"
    transferred = f"EXISTS (SELECT 1 FROM {msg} m WHERE m.conversation_id = c.id AND m.direction = 'activity' AND {d['has']('m.meta', 'to_team')})"
    reopened = (
        f"(EXISTS (SELECT 1 FROM {msg} i WHERE i.conversation_id = c.id AND i.direction = 'incoming' AND EXISTS "
        f"(SELECT 1 FROM {msg} r WHERE r.conversation_id = c.id AND r.id < i.id AND r.direction = 'activity' "
        f"AND {d['json']('r.meta', 'to')} IN ('resolved', 'closed'))) OR EXISTS (SELECT 1 FROM {msg} a "
        f"WHERE a.conversation_id = c.id AND a.direction = 'activity' AND {d['json']('a.meta', 'from')} IN ('resolved', 'closed') "
        f"AND {d['json']('a.meta', 'to')} IN ('open', 'pending', 'snoozed')))"
    )
    came_back = (
        f"EXISTS (SELECT 1 FROM {conv} l JOIN customers_customer lc ON lc.id = l.customer_id "
        f"JOIN customers_customer cc ON cc.id = c.customer_id WHERE l.id <> c.id AND l.created_at > c.created_at "
        f"AND l.created_at <= {d['plus7']('c.resolved_at')} AND (l.customer_id = c.customer_id "
        f"OR lc.merged_into_id = c.customer_id OR l.customer_id = cc.merged_into_id))"
    )
    upset = "EXISTS (SELECT 1 FROM understanding_emotionalert u WHERE u.conversation_id = c.id AND u.level = 'emotion' AND u.label IN ('dissatisfied', 'angry'))"
    frt = d["secs"]("c.first_response_at", "c.created_at")
    sums = ", ".join(
        [
            "COUNT(*)",
            f"SUM(CASE WHEN {resolved} THEN 1 ELSE 0 END)",
            f"SUM(CASE WHEN {resolved} AND NOT {reopened} AND NOT {transferred} AND NOT {came_back} THEN 1 ELSE 0 END)",
            f"SUM(CASE WHEN c.resolved_at IS NOT NULL AND {reopened} THEN 1 ELSE 0 END)",
            f"SUM(CASE WHEN {transferred} THEN 1 ELSE 0 END)",
            "AVG(c.csat_score)",
            "SUM(CASE WHEN c.csat_score >= 4 THEN 1 ELSE 0 END)",
            f"SUM(CASE WHEN {resolved} AND {upset} AND c.emotion_label = 'calm' THEN 1 ELSE 0 END)",
            f"SUM(CASE WHEN {resolved} AND {upset} THEN 1 ELSE 0 END)",
            f"AVG(CASE WHEN c.first_response_at IS NOT NULL THEN {frt} END)",
            f"AVG(CASE WHEN {resolved} AND c.first_response_at IS NOT NULL THEN {d['secs']('c.resolved_at', 'c.first_response_at')} END)",
            "SUM(CASE WHEN c.first_response_at <= c.first_response_due THEN 1 ELSE 0 END)",
        ]
    )
    ordered = (
        f"SELECT {frt} AS v FROM {conv} c WHERE {period} AND c.first_response_at IS NOT NULL ORDER BY v LIMIT 1 OFFSET "
        f"(SELECT CAST(COUNT(*) * %(q)s AS integer) FROM {conv} c WHERE {period} AND c.first_response_at IS NOT NULL)"
    )
    turns = (
        f"SELECT AVG({d['secs']('t.created_at', 't.start_at')}) FROM (SELECT m.created_at, m.direction, "
        "LAG(m.direction) OVER w AS prev, LAG(m.created_at) OVER w AS start_at FROM "
        f"{msg} m WHERE m.conversation_id IN (SELECT c.id FROM {conv} c WHERE c.created_at >= %(s0)s AND c.created_at < %(e)s) "
        "AND m.is_private = false AND m.kind <> 'auto' AND (m.direction = 'incoming' OR (m.direction = 'outgoing' AND m.sender_id IS NOT NULL)) "
        "WINDOW w AS (PARTITION BY m.conversation_id ORDER BY m.id)) t WHERE t.direction = 'outgoing' "
        "AND t.prev = 'incoming' AND t.created_at >= %(s)s AND t.created_at < %(e)s"
    )
    # (turns here start at the last customer message before the reply: the plainest window.)
    groups = [
        f"SELECT {key}, COUNT(*), SUM(CASE WHEN {resolved} THEN 1 ELSE 0 END), AVG(c.csat_score), AVG({frt}) "
        f"FROM {conv} c WHERE {period} GROUP BY 1"
        for key in ("c.channel_id", "c.intent", "c.team_id", "c.assignee_id", d["day"]("c.created_at"),
                    d["hour"]("c.created_at"), f"{d['dow']('c.created_at')} * 100 + {d['hour']('c.created_at')}")
    ]  # fmt: skip
    others = [
        "SELECT COUNT(*), AVG(CASE WHEN p.resolved_at IS NOT NULL THEN "
        + d["secs"]("p.resolved_at", "p.created_at")
        + " END) FROM complaints_complaint p WHERE p.created_at >= %(s)s AND p.created_at < %(e)s",
        "SELECT COUNT(*), SUM(r.amount) FROM complaints_compensationrequest r WHERE r.status IN ('granted', 'approved') "
        "AND r.created_at >= %(s)s AND r.created_at < %(e)s",
        "SELECT AVG(q.total), COUNT(*) FROM quality_qualityscore q JOIN conversations_conversation c ON c.id = q.conversation_id "
        f"WHERE {period}",
        "SELECT SUM(CASE WHEN t.first_response_at <= t.first_response_due THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN t.resolved_at <= t.due_at THEN 1 ELSE 0 END), COUNT(*) FROM tickets_ticket t "
        "WHERE t.created_at >= %(s)s AND t.created_at < %(e)s",
    ]
    return [f"SELECT {sums} FROM {conv} c WHERE {period}", ordered, turns, *groups, *others]


def plain_wallboard_sql(vendor: str) -> list[str]:
    d = _sql_dialect(vendor)
    conv = "conversations_conversation"
    return [
        f"SELECT c.team_id, COUNT(*), MIN(c.queued_at) FROM {conv} c WHERE c.queued_at IS NOT NULL "
        "AND c.assignee_id IS NULL AND c.status = 'open' GROUP BY c.team_id",
        "SELECT u.id, u.status, u.max_concurrent, (SELECT COUNT(*) FROM conversations_conversation a WHERE a.assignee_id = u.id "
        "AND a.status IN ('open', 'pending')) FROM accounts_user u WHERE u.is_active",
        f"SELECT c.id, c.first_response_due FROM {conv} c WHERE c.status IN ('open', 'pending') AND c.first_response_at IS NULL "
        "AND c.first_response_due <= %(soon)s ORDER BY c.first_response_due LIMIT 20",
        "SELECT t.id, t.due_at FROM tickets_ticket t WHERE t.status NOT IN ('resolved', 'closed') AND t.due_at <= %(soon)s "
        "ORDER BY t.due_at LIMIT 20",
        f"SELECT c.id FROM {conv} c WHERE c.status IN ('open', 'pending') AND c.emotion_label IN ('angry', 'dissatisfied') LIMIT 20",
        f"SELECT c.team_id, COUNT(*), AVG({d['secs']('c.first_response_at', 'c.created_at')}), "
        "SUM(CASE WHEN c.status IN ('resolved', 'closed') THEN 1 ELSE 0 END), AVG(c.csat_score), "
        "SUM(CASE WHEN c.first_response_at <= c.first_response_due THEN 1 ELSE 0 END) "
        f"FROM {conv} c WHERE c.created_at >= %(s)s AND c.created_at < %(e)s GROUP BY c.team_id",
        "SELECT COUNT(*) FROM complaints_complaint p WHERE p.created_at >= %(s)s AND p.created_at < %(e)s",
    ]


def run_sql(statements: list[str], params: dict[str, Any]) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql, {k: v for k, v in params.items() if f"%({k})s" in sql})
            cursor.fetchall()


# --- one backend -----------------------------------------------------------------------------------


def _time_wallboard(out: dict[str, Any], args: argparse.Namespace, boss: Any, last_day: date) -> datetime:
    """The wallboard at 16:00 of the last day: tiles cached, recomputed, and a lead of every team."""
    from django.conf import settings
    from django.utils import timezone

    from kefu.accounts.models import Role, Team, User
    from kefu.wallboard import services as wallboard

    runs = args.runs
    now = timezone.make_aware(datetime.combine(last_day, datetime.min.time())) + timedelta(hours=16)
    board = wallboard.scope_for(boss)
    # As deployed: today's tiles cached for KEFU_WALLBOARD_KPI_SECONDS, shared by every board.
    out["wallboard_cached"] = _timed(lambda: wallboard.snapshot(board, now=now), runs * 4)
    settings.KEFU_WALLBOARD_KPI_SECONDS = 0
    out["wallboard"] = _timed(lambda: wallboard.snapshot(board, now=now), runs * 4)
    # A lead of every team: one row of tiles per team.
    lead, _ = User.objects.get_or_create(username="bench-lead", defaults={"role": Role.TEAM_LEAD})
    lead.teams.set(Team.objects.all())
    teams_board = wallboard.scope_for(lead)
    out["teams"] = len(teams_board.team_ids or ())
    out["wallboard_teams"] = _timed(lambda: wallboard.snapshot(teams_board, now=now), runs * 4)
    return now


def child(args: argparse.Namespace) -> dict[str, Any]:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from kefu.accounts.models import Role, User
    from kefu.analytics import reports
    from kefu.analytics.models import RollupState
    from kefu.analytics.rollups import do_rebuild_rollups
    from kefu.conversations.models import Conversation, Message
    from kefu.demo.bulk import Scale, generate

    out: dict[str, Any] = {"backend": connection.vendor}
    call_command("migrate", verbosity=0)
    end = args.end or (timezone.localdate() - timedelta(days=1))
    if not (args.reuse and Conversation.objects.exists()):
        t = time.perf_counter()
        generate(Scale(agents=args.agents, days=args.days, tickets=args.tickets, end=end, seed=args.seed))
        out["generate_s"] = time.perf_counter() - t
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    out["conversations"] = Conversation.objects.count()
    out["messages"] = Message.objects.count()
    if not args.reuse or not RollupState.objects.filter(message_mark__gt=0).exists():
        t = time.perf_counter()
        p = do_rebuild_rollups()
        out["rollups_s"] = time.perf_counter() - t
        out["rollups"] = p.conversations
    boss, _ = User.objects.get_or_create(username="bench-boss", defaults={"role": Role.SUPERVISOR})
    last = Conversation.objects.order_by("-created_at").values_list("created_at", flat=True).first()
    last_day = args.last_day or (timezone.localtime(last).date() if last else end)
    first_day = last_day - timedelta(days=29)
    filters = reports.parse_filters(boss, period="custom", start=first_day, end=last_day)
    s, e = filters.scope.start, filters.scope.end
    out["period"] = f"{first_day} – {last_day}"
    out["period_conversations"] = Conversation.objects.filter(created_at__gte=s, created_at__lt=e).count()

    if args.profile:
        out["profile"] = _profile(lambda: reports.build_report(filters), args.profile)
        return out

    runs = args.runs
    out["report_rollups"] = _timed(lambda: reports.build_report(filters), runs)
    if args.report_only:
        return out
    if not args.skip_live:
        with transaction.atomic():  # every rollup stale: the live path, then put back
            RollupState.objects.update(message_mark=0, alert_mark=0)
            out["report_live"] = _timed(lambda: reports.build_report(filters), max(1, runs // 2))
            transaction.set_rollback(True)
    if args.skip_sql:  # the report and the wallboard, without the plain SQL baselines
        _time_wallboard(out, args, boss, last_day)
        return out
    report_sql = plain_report_sql(connection.vendor)

    def plain_report() -> None:
        for a, b in ((s, e), (filters.previous.start, filters.previous.end)):
            run_sql(report_sql, {"s": a, "e": b, "s0": a - timedelta(days=7), "q": 0.5})
            run_sql(report_sql[1:2], {"s": a, "e": b, "q": 0.9})

    # At a big team's scale the plainest SQL takes minutes (its per-conversation subqueries):
    # ``--sql-runs 1`` times it once, without a warm-up.
    out["report_sql"] = _timed(plain_report, args.sql_runs or runs, warm=not args.sql_runs)

    now = _time_wallboard(out, args, boss, last_day)
    midnight = timezone.make_aware(datetime.combine(last_day, datetime.min.time()))
    board_sql = plain_wallboard_sql(connection.vendor)
    out["wallboard_sql"] = _timed(
        lambda: run_sql(board_sql, {"s": midnight, "e": now, "soon": now + timedelta(minutes=5)}), runs * 4
    )
    return out


def _print(results: list[dict[str, Any]]) -> None:
    print()
    print(
        "| backend | conversations (period) | messages | what | kefu p50 | kefu p90 | plain SQL p50 | ratio |"
    )
    print("|---|---:|---:|---|---:|---:|---:|---:|")
    for r in results:
        base = f"{r['conversations']:,} ({r['period_conversations']:,})"
        for what, key, sql in (
            ("report, rollups", "report_rollups", "report_sql"),
            ("report, live", "report_live", "report_sql"),
            ("wallboard, tiles cached", "wallboard_cached", "wallboard_sql"),
            ("wallboard, tiles recomputed", "wallboard", "wallboard_sql"),
            (
                f"wallboard of a lead of {r.get('teams', '?')} teams, tiles recomputed",
                "wallboard_teams",
                "wallboard_sql",
            ),
        ):
            if key not in r:
                continue
            p50, p90 = r[key]
            if sql not in r:  # --report-only: no baseline timed
                print(f"| {r['backend']} | {base} | {r['messages']:,} | {what} | {p50 * 1000:,.0f} ms | "
                      f"{p90 * 1000:,.0f} ms | — | — |")  # fmt: skip
                continue
            b50 = r[sql][0]
            print(f"| {r['backend']} | {base} | {r['messages']:,} | {what} | {p50 * 1000:,.0f} ms | "
                  f"{p90 * 1000:,.0f} ms | {b50 * 1000:,.0f} ms | {p50 / b50:.2f} |")  # fmt: skip
    for r in results:
        extra = {k: r[k] for k in ("period", "generate_s", "rollups_s", "rollups") if k in r}
        print(
            f"{r['backend']}: "
            + ", ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}" for k, v in extra.items())
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--agents", type=int, default=40)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--tickets", type=int, default=None)
    parser.add_argument("--full", action="store_true", help="a year for 200 agents (issue 11's scale)")
    parser.add_argument("--end", type=date.fromisoformat, default=None)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--last-day",
        type=date.fromisoformat,
        default=None,
        help="the report's last day (default: the data's last)",
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database", default="kefu_bench_reports", help="PostgreSQL database name")
    parser.add_argument("--reuse", action="store_true", help="keep the database and its data if present")
    parser.add_argument(
        "--skip-live", action="store_true", help="do not time the report with every rollup stale"
    )
    parser.add_argument(
        "--sql-runs",
        type=int,
        default=0,
        help="time the plain SQL of the report this many times, without warm-up",
    )
    parser.add_argument(
        "--skip-sql",
        action="store_true",
        help="time the report and the wallboard, not the plain SQL baselines (minutes at a year's scale)",
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="time only the report from the rollups (no live path, plain SQL or wallboard)",
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="instead of timing: cProfile one report, print the N costliest functions",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.full:
        args.agents, args.days = 200, 365
    if args.child:
        print(json.dumps(child(args), default=str))
        return
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    results = []
    for backend in backends:
        env = {k: v for k, v in os.environ.items() if k not in ("KEFU_DATABASE_URL", "KEFU_SQLITE_PATH")}
        env["DJANGO_SETTINGS_MODULE"] = "kefu.settings"
        tmp = None
        if backend == "postgres":
            env["KEFU_DATABASE_URL"] = f"{PG_BASE}/{args.database}"
            env["KEFU_DB_POOL"] = "0"
            if not args.reuse:
                subprocess.run(
                    ["psql", PG_BASE + "/postgres", "-qc", f"DROP DATABASE IF EXISTS {args.database}"],
                    check=True,
                )
            subprocess.run(["psql", PG_BASE + "/postgres", "-qc", f"CREATE DATABASE {args.database}"], check=False,
                           stderr=subprocess.DEVNULL)  # fmt: skip
        else:
            tmp = tempfile.mkdtemp(prefix="kefu-bench-reports-")
            env["KEFU_SQLITE_PATH"] = str(Path(tmp) / "bench.sqlite3")
        cmd = [sys.executable, __file__, "--child", *sys.argv[1:]]
        print(f"[{backend}] generating {args.agents} agents × {args.days} days, then measuring …", flush=True)
        done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
        if done.returncode:
            sys.stderr.write(done.stderr)
            sys.exit(done.returncode)
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        if backend == "postgres" and not args.reuse:
            subprocess.run(
                ["psql", PG_BASE + "/postgres", "-qc", f"DROP DATABASE IF EXISTS {args.database}"],
                check=False,
            )
        if args.profile:
            print(results[-1]["profile"])
    if not args.profile:
        _print(results)


if __name__ == "__main__":
    main()
