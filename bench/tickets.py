"""``POST /api/v1/tickets`` through a real server, beside a raw insert loop in the same run.

Starts one ``uvicorn kefu.asgi:application`` (``tests/realtime/cluster.py``) on a freshly
migrated database, seeds an agent, a customer with an order and a logged-in session,
then runs ``--clients`` concurrent HTTP clients creating tickets as the desk does
(session cookie + CSRF header; ``--auth token`` uses an API token instead) for
``--seconds`` or ``--tickets``, whichever comes first. Printed:

* tickets/s and latency p50 / p99;
* server CPU per ticket — the server process's user + system time (``/proc``) over
  the run, divided by the tickets it created;
* the baseline — ``Ticket.objects.create`` in autocommit, sequential, into the same
  database, in the same run — and the API's ratio to it.

``--profile`` instead runs the same requests in-process through Django's test client
under cProfile and prints where the time goes (no server, no concurrency).

    .venv/bin/python bench/tickets.py [--clients 8] [--seconds 10] [--tickets 400] [--auth session|token]
        [--backend sqlite|postgres] [--profile]

Bounded in time and count; loopback only. Ratios are the figures to compare: the
machine is shared, absolute numbers swing with its load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
from tests.realtime.cluster import Cluster, redis_url  # noqa: E402

from measure import cpu_seconds, pct  # noqa: E402 (bench/ is the script's folder)

SETUP = """
from kefu.customers.models import Customer, Order
from django.utils import timezone
customer = Customer.objects.create(name="王小明", phone="13812345678")
Order.objects.create(customer=customer, order_no="YJ20261118001", placed_at=timezone.now(), amount=199)
print(json.dumps({"customer_id": customer.pk}))
"""

BASELINE = """
import sys, time
from kefu.customers.models import Customer
from kefu.tickets.models import Ticket
n = {n}
customer = Customer.objects.first()
start = time.perf_counter()
for i in range(n):
    Ticket.objects.create(number=f"RAW{{i:08d}}", title=f"基线工单 {{i}}", customer=customer)
print(json.dumps({{"elapsed": time.perf_counter() - start}}))
"""

PROFILE = """
import cProfile, io, pstats, time
from django.test import Client
from kefu.accounts.models import User
client = Client(HTTP_HOST="127.0.0.1")
client.force_login(User.objects.get(username="xiaomei"))
body = {body!r}
def one():
    r = client.post("/api/v1/tickets", body, content_type="application/json")
    assert r.status_code == 201, r.content
for _ in range(20):
    one()
n = {n}
cpu = time.process_time()
prof = cProfile.Profile()
prof.enable()
for _ in range(n):
    one()
prof.disable()
per = (time.process_time() - cpu) / n * 1000
out = io.StringIO()
pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(40)
pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(25)
print(out.getvalue())
print(json.dumps({{"cpu_ms_per_ticket_profiled": per}}))
"""


def body(customer_id: int, i: int) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "title": f"退货申请：蓝牙耳机左耳无声 #{i}",
        "description": "客户反映收到的蓝牙耳机左耳没有声音，已尝试重新配对，要求退货退款。",
        "category": "after_sales",
        "urgent": i % 5 == 0,
    }


async def drive(
    url: str, headers: dict[str, str], cookies: dict[str, str], args: argparse.Namespace, cid: int
):
    latencies: list[float] = []
    errors: dict[int, int] = {}
    counter = iter(range(args.tickets))
    deadline = time.perf_counter() + args.seconds

    async def client() -> None:
        async with httpx.AsyncClient(base_url=url, headers=headers, cookies=cookies, timeout=30) as http:
            for i in counter:
                if time.perf_counter() > deadline:
                    return
                t = time.perf_counter()
                r = await http.post("/api/v1/tickets", json=body(cid, i))
                if r.status_code == 201:
                    latencies.append(time.perf_counter() - t)
                else:
                    errors[r.status_code] = errors.get(r.status_code, 0) + 1

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(args.clients)))
    return latencies, errors, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--tickets", type=int, default=400)
    parser.add_argument("--auth", choices=("session", "token"), default="session")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile in-process instead of the server run"
    )
    args = parser.parse_args()

    postgres = args.backend == "postgres"
    cluster = Cluster(
        servers=0 if args.profile else 1,
        redis=redis_url() if postgres else None,
        database_url=args.database_url if postgres else "",
    )
    with cluster:
        cid = cluster.run(SETUP)["customer_id"]
        if args.profile:
            code = PROFILE.format(body=body(cid, 0), n=args.tickets)
            out = cluster._run(["-c", _prelude() + code], timeout=600)
            print(out)
            return
        server = cluster.servers[0]
        csrf = secrets.token_hex(16)
        if args.auth == "session":
            headers = {"X-CSRFToken": csrf, "Referer": server.http + "/desk/"}
            cookies = {"sessionid": cluster.seed["session_key"], "csrftoken": csrf}
        else:
            headers, cookies = {"Authorization": f"Bearer {cluster.seed['api_key']}"}, {}
        cpu0 = cpu_seconds(server.proc.pid)
        latencies, errors, elapsed = asyncio.run(drive(server.http, headers, cookies, args, cid))
        cpu = cpu_seconds(server.proc.pid) - cpu0
        done = len(latencies)
        raw = cluster.run(BASELINE.format(n=max(200, done)))
        raw_rate = max(200, done) / raw["elapsed"]
    rate = done / elapsed if elapsed else 0.0
    print(
        json.dumps(
            {
                "backend": args.backend,
                "auth": args.auth,
                "clients": args.clients,
                "tickets": done,
                "errors": errors,
                "tickets_per_s": round(rate, 1),
                "p50_ms": round(pct(latencies, 50) * 1000, 1),
                "p99_ms": round(pct(latencies, 99) * 1000, 1),
                "server_cpu_ms_per_ticket": round(cpu / done * 1000, 2) if done else None,
                "raw_inserts_per_s": round(raw_rate, 1),
                "ratio_to_raw": round(rate / raw_rate, 4),
                "mean_ms": round(statistics.mean(latencies) * 1000, 1) if latencies else None,
            },
            ensure_ascii=False,
        )
    )


def _prelude() -> str:
    return (
        "import json, os, django\n"
        'os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu.settings")\n'
        "django.setup()\n"
    )


if __name__ == "__main__":
    main()
