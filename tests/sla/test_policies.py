"""SLA policies (kefu.sla.policies): business hours, the most specific policy, deadlines."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from kefu.sla.models import SLAPolicy
from kefu.sla.policies import add_business_seconds, find_policy, ticket_deadlines

pytestmark = pytest.mark.django_db
SH = ZoneInfo("Asia/Shanghai")


def test_business_hours_skip_the_night_and_the_weekend():
    friday_5pm = datetime(2026, 11, 20, 17, 0, tzinfo=SH)
    assert add_business_seconds(friday_5pm, 4 * 3600) == datetime(2026, 11, 23, 12, 0, tzinfo=SH)
    saturday = datetime(2026, 11, 21, 10, 0, tzinfo=SH)
    assert add_business_seconds(saturday, 1800) == datetime(2026, 11, 23, 9, 30, tzinfo=SH)


def test_chat_policy_does_not_time_a_ticket():
    assert (
        find_policy(
            channel_kind="web", want="first_response_seconds", target="conversation"
        ).first_response_seconds
        == 60
    )
    assert find_policy(channel_kind="web", want="first_response_seconds", target="ticket") is None


def test_most_specific_policy_wins():
    SLAPolicy.objects.create(
        name="投诉P1",
        ticket_category="complaint",
        priority="P1",
        resolution_seconds=3600,
        applies_to="ticket",
    )
    chosen = find_policy(category="complaint", priority="P1", want="resolution_seconds", target="ticket")
    assert chosen.name == "投诉P1"


def test_ticket_deadlines_by_category_and_priority():
    start = timezone.now()
    complaint = ticket_deadlines(category="complaint", priority="P4", start=start)
    assert complaint.first_response_due == start + timedelta(hours=24)
    assert complaint.first_response_warn_at == start + timedelta(hours=24 * 0.8)
    p1 = ticket_deadlines(category="service", priority="P1", channel_kind="web", start=start)
    assert p1.first_response_due is None
    assert p1.due_at == start + timedelta(hours=4)


def test_conversation_first_response_due_from_channel(make_conversation):
    conv = make_conversation(answered=False)
    assert conv.first_response_due is not None
    assert timedelta(seconds=55) < conv.first_response_due - conv.created_at <= timedelta(seconds=61)
