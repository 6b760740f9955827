"""The supervisor page polls the overviews every few seconds: their query count stays flat."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from kefu.accounts.models import AgentStatus
from kefu.conversations.models import Conversation
from kefu.conversations.services import do_receive_customer_message
from kefu.routing.services import agent_overview, queue_overview

pytestmark = pytest.mark.django_db


def _waiting(channel: Any, team: Any, *, minutes: int, n: int) -> Conversation:
    """A conversation of ``team`` nobody has taken, queued ``minutes`` ago."""
    message, _ = do_receive_customer_message(channel=channel, identities=[("web", f"v-{n}")], text="在吗")
    Conversation.objects.filter(pk=message.conversation_id).update(
        team=team, assignee=None, queued_at=timezone.now() - timedelta(minutes=minutes)
    )
    return Conversation.objects.get(pk=message.conversation_id)


def test_queue_overview_counts_waiting_and_longest_wait_per_team(make_team, make_channel):
    presales, aftersales, empty = make_team("售前"), make_team("售后"), make_team("技术")
    channel = make_channel("web", team=presales)
    _waiting(channel, presales, minutes=3, n=1)
    _waiting(channel, presales, minutes=10, n=2)
    _waiting(channel, aftersales, minutes=1, n=3)
    answered = _waiting(channel, aftersales, minutes=30, n=4)
    Conversation.objects.filter(pk=answered.pk).update(status=Conversation.Status.RESOLVED)

    rows = {r["team"]: r for r in queue_overview()}

    assert rows["售前"]["waiting"] == 2
    assert 600 <= rows["售前"]["longest_wait_seconds"] < 660
    assert rows["售后"]["waiting"] == 1
    assert 60 <= rows["售后"]["longest_wait_seconds"] < 120
    assert rows[empty.name] == {"team_id": empty.pk, "team": "技术", "waiting": 0, "longest_wait_seconds": 0}
    assert [r["team_id"] for r in queue_overview()] == sorted(r["team_id"] for r in rows.values())


def test_queue_overview_query_count_does_not_grow_with_teams(
    make_team, make_channel, django_assert_max_num_queries
):
    channel = make_channel("web", team=make_team())
    for n in range(12):
        _waiting(channel, make_team(), minutes=n + 1, n=n)
    with django_assert_max_num_queries(2):
        rows = queue_overview()
    assert len(rows) == 13


def test_agent_overview_query_count_does_not_grow_with_agents(
    make_team, make_user, django_assert_max_num_queries
):
    teams = [make_team() for _ in range(3)]
    for n in range(10):
        make_user(teams=(teams[n % 3], teams[(n + 1) % 3]), status=AgentStatus.ONLINE)
    with django_assert_max_num_queries(3):  # the agents, their teams, the loads
        rows = agent_overview()
    assert len(rows) == 10
    assert all(len(r["teams"]) == 2 and r["load"] == 0 for r in rows)


def test_agent_overview_load_counts_open_and_pending_conversations_only(make_team, make_channel, make_user):
    team = make_team("售后")
    channel = make_channel("web", team=team)
    busy, idle, gone = (make_user(teams=(team,), status=AgentStatus.ONLINE) for _ in range(3))
    statuses = [Conversation.Status.OPEN, Conversation.Status.PENDING, Conversation.Status.SNOOZED,
                Conversation.Status.RESOLVED, Conversation.Status.CLOSED]  # fmt: skip
    for n, status in enumerate(statuses):
        conversation = _waiting(channel, team, minutes=1, n=n)
        Conversation.objects.filter(pk=conversation.pk).update(assignee=busy, status=status)
    left = _waiting(channel, team, minutes=1, n=9)
    Conversation.objects.filter(pk=left.pk).update(assignee=gone)
    gone.is_active = False
    gone.save(update_fields=["is_active"])

    loads = {r["user_id"]: r["load"] for r in agent_overview()}

    assert loads == {busy.pk: 2, idle.pk: 0}  # open + pending; an inactive user is not listed
