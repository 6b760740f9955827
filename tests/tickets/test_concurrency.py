"""Ticket numbers stay unique and gap-free when desks create tickets at the same moment.

The day's counter row (``records.take_ticket_number``) settles it: on PostgreSQL the
upsert holds the row's lock until the creating transaction commits; on SQLite the write
transaction (``BEGIN IMMEDIATE``) holds the database's. Checked with threads (PostgreSQL:
real concurrent transactions) and with two processes on either database.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.db import connection, connections

from kefu.tickets.models import Ticket
from kefu.tickets.services import do_create_ticket
from tests.realtime.cluster import Cluster


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
def test_concurrent_threads_get_distinct_consecutive_numbers(shop):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL for concurrent transactions in one process")
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def create() -> None:
        try:
            barrier.wait(timeout=30)
            for _ in range(5):
                do_create_ticket(
                    actor=shop.agent, customer_id=shop.conversation.customer_id, title="并发创建"
                )
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=create) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    numbers = sorted(Ticket.objects.values_list("number", flat=True))
    assert [n[-4:] for n in numbers] == [f"{i:04d}" for i in range(1, 21)]


CREATE = """
import random
import time
from pathlib import Path
from kefu.accounts.models import Role
from kefu.accounts.services import do_create_user
from kefu.customers.models import Customer
from kefu.tickets.services import do_create_ticket
agent = do_create_user(username="{username}", password="kefu-test-pass-2026", role=Role.AGENT, display_name="{name}")
customer = Customer.objects.create(name="{name}")
ready = Path({ready!r})
(ready / "{name}").touch()
while len(list(ready.iterdir())) < 2:  # both processes are set up: go together
    time.sleep(0.002)
numbers = []
for _ in range({n}):
    numbers.append(do_create_ticket(actor=agent, customer_id=customer.pk, title="退款进度查询").number)
    # Requests arrive spaced, not back to back: without a pause SQLite's busy wait (which
    # sleeps up to 100 ms between tries) could let one process finish before the other
    # got the lock once, and the race would not have been run.
    time.sleep(random.uniform(0, 0.02))
print(json.dumps(numbers))
"""


@pytest.mark.slow
def test_two_processes_never_get_the_same_number(tmp_path: Path) -> None:
    """Two server processes (PostgreSQL; SQLite's file shared by two processes) creating at once."""
    ready = tmp_path / "ready"
    ready.mkdir()
    n = 30
    with Cluster(servers=0, seed=False) as cluster, ThreadPoolExecutor(2) as pool:
        runs = [
            pool.submit(cluster.run, CREATE.format(username=username, name=name, ready=str(ready), n=n))
            for username, name in (("wangfang", "王芳"), ("zhangwei", "张伟"))
        ]
        first, second = (run.result(timeout=120) for run in runs)
    numbers = sorted(first + second)
    assert [x[-4:] for x in numbers] == [f"{i:04d}" for i in range(1, 2 * n + 1)]
    # The race was run: each process's numbers are not one block before or after the other's.
    assert not (max(first) < min(second) or max(second) < min(first)), (first, second)
