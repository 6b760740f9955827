"""Two workers sweeping at the same moment fire each escalation step once (PostgreSQL: real
concurrent transactions; SQLite serialises writers, so nothing to race there)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections

from kefu.accounts.models import Role
from kefu.sla.models import EscalationNotice, SLAPolicy
from kefu.sla.services import do_install_default_policies, do_set_escalation, do_sweep
from kefu.tickets.models import Ticket
from kefu.tickets.services import do_create_ticket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def test_concurrent_sweeps_fire_each_step_and_timer_once(shop, make_user):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL for concurrent transactions")
    make_user("zuzhang", role=Role.TEAM_LEAD, teams=(shop.desk.team,), display_name="李组长")
    # A transactional test before this one flushes the policies the migration seeded.
    do_install_default_policies()
    policy = SLAPolicy.objects.get(name="P1 工单解决")
    do_set_escalation(
        actor=shop.supervisor,
        policy_id=policy.pk,
        steps=[
            {"anchor": "warning", "notify": "assignee"},
            {"anchor": "breach", "notify": "team_lead"},
            {"anchor": "breach", "after_seconds": 3600, "notify": "supervisor"},
        ],
    )
    tickets = [
        do_create_ticket(
            actor=shop.agent,
            conversation_id=shop.conversation.pk,
            title=f"退款未到账 {i}",
            urgent=True,
            important=True,
        )
        for i in range(3)
    ]
    now = max(t.due_at for t in tickets) + timedelta(hours=2)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []
    counts: list[int] = []

    def sweep() -> None:
        try:
            barrier.wait(timeout=30)
            result = do_sweep(now)
            counts.append(result.escalations + result.ticket_breaches)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert sum(counts) == 3 * (3 + 1)  # three steps and one breach per ticket, across all workers
    assert EscalationNotice.objects.count() == 9
    for ticket in Ticket.objects.filter(pk__in=[t.pk for t in tickets]):
        assert ticket.events.filter(kind="sla_breached").count() == 1
        assert ticket.events.filter(kind="sla_escalated").count() == 3
