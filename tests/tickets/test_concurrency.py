"""Ticket numbers stay unique when desks create tickets at the same moment (PostgreSQL:
real concurrent transactions; SQLite serialises writers, so nothing to race there)."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, connections

from kefu.tickets import records
from kefu.tickets.models import Ticket
from kefu.tickets.services import do_create_ticket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def test_concurrent_creation_gets_distinct_numbers(shop, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL for concurrent transactions")

    real = records.next_number
    computed: list[str] = []

    def slownext_number(now):
        # Widen the window so every desk computes its number before any inserts it.
        number = real(now)
        computed.append(number)
        time.sleep(0.3)
        return number

    monkeypatch.setattr(records, "next_number", slownext_number)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def create() -> None:
        try:
            barrier.wait(timeout=30)
            do_create_ticket(actor=shop.agent, customer_id=shop.conversation.customer_id, title="并发创建")
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
    assert len(numbers) == len(set(numbers)) == 4
    assert [n[-4:] for n in numbers] == ["0001", "0002", "0003", "0004"]
    assert len(computed) > 4, "the race was not exercised: no number was retried"
