"""A SQLite database named by ``KEFU_DATABASE_URL`` serves concurrent API clients.

Two server processes share one SQLite file given as a ``sqlite:///`` URL; before the
URL got kefu's SQLite options (WAL, IMMEDIATE transactions, a busy timeout), eight
concurrent clients met "database is locked" 500s.
"""

from __future__ import annotations

import asyncio
import os

import httpx
import pytest

from .cluster import Cluster

pytestmark = [pytest.mark.slow]

CLIENTS = 8
REQUESTS_EACH = 6


async def test_eight_concurrent_api_clients_on_a_sqlite_url_get_no_errors() -> None:
    if os.environ.get("KEFU_DATABASE_URL"):
        pytest.skip("a SQLite test: the SQLite run covers it")
    cluster = Cluster(servers=2, database_url="")
    cluster.env.pop("KEFU_SQLITE_PATH")
    cluster.env["KEFU_DATABASE_URL"] = f"sqlite:///{cluster.tmp}/desk.sqlite3"
    with cluster:
        headers = {"Authorization": f"Bearer {cluster.seed['api_key']}"}

        async def client(n: int) -> list[int]:
            base = cluster.servers[n % 2].http
            statuses = []
            async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as http:
                for k in range(REQUESTS_EACH):
                    created = await http.post(
                        "/api/v1/customers", json={"name": f"客户{n}-{k}", "notes": "咨询退款进度"}
                    )
                    ticket = await http.post(
                        "/api/v1/tickets",
                        json={
                            "customer_id": created.json().get("id"),
                            "title": f"退款未到账 {n}-{k}",
                            "description": "订单已取消三天，退款还没到",
                        },
                    )
                    listed = await http.get("/api/v1/tickets", params={"limit": 5})
                    statuses += [created.status_code, ticket.status_code, listed.status_code]
            return statuses

        results = await asyncio.gather(*(client(n) for n in range(CLIENTS)))
        assert (cluster.tmp / "desk.sqlite3").exists()
        assert [s for r in results for s in r if s >= 300] == [], cluster.logs()
        assert all(s in (200, 201) for r in results for s in r)
