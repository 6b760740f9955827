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


# --- business hours from the team and channel calendar (kefu.hours) ---------------------


def _after_sales_policy(hours: int) -> SLAPolicy:
    # Category and priority: more specific than the default "P4 72 小时解决".
    return SLAPolicy.objects.create(
        name=f"售后工单 {hours} 个工作小时解决",
        applies_to="ticket",
        ticket_category="after_sales",
        priority="P4",
        resolution_seconds=hours * 3600,
        business_hours=True,
    )


def test_a_business_hours_deadline_skips_national_day():
    _after_sales_policy(16)
    # Wed 2026-09-30 15:00: 3 h that day, 10-01…10-07 off, Thu 10-08 9 h, Fri 10-09 4 h.
    d = ticket_deadlines(category="after_sales", priority="P4", start=datetime(2026, 9, 30, 15, 0, tzinfo=SH))
    assert d.due_at == datetime(2026, 10, 9, 13, 0, tzinfo=SH)


def test_a_business_hours_deadline_counts_the_make_up_saturday():
    _after_sales_policy(24)
    # 3 + 9 + 9 = 21 h by Friday 10-09 18:00; Saturday 10-10 is 调休上班: due 12:00 that day.
    d = ticket_deadlines(category="after_sales", priority="P4", start=datetime(2026, 9, 30, 15, 0, tzinfo=SH))
    assert d.due_at == datetime(2026, 10, 10, 12, 0, tzinfo=SH)
    assert d.due_warn_at == add_business_seconds(datetime(2026, 9, 30, 15, 0, tzinfo=SH), 24 * 3600 * 0.8)


def test_wall_clock_policies_ignore_the_calendar():
    start = datetime(2026, 10, 1, 10, 0, tzinfo=SH)
    p2 = ticket_deadlines(category="service", priority="P2", start=start)
    assert p2.due_at == start + timedelta(hours=24)


def test_a_ticket_counts_the_hours_of_its_conversations_team(make_conversation, make_team, desk):
    from kefu.hours.models import Schedule
    from kefu.sla.policies import apply_ticket_deadlines
    from kefu.tickets.models import Ticket

    _after_sales_policy(4)
    Schedule.objects.create(
        name="售前每天 9-21",
        team=desk.team,
        scope_key=f"team:{desk.team.pk}",
        week=[[d, 9 * 60, 21 * 60] for d in range(7)],
    )
    conv = make_conversation("发票什么时候能开好？")
    ticket = Ticket(category="after_sales", priority="P4")
    start = datetime(2026, 10, 9, 19, 0, tzinfo=SH)  # Friday evening before the 调休 Saturday
    apply_ticket_deadlines(ticket, start=start, conversation=conv)
    # The team works until 21:00 (2 h), then Saturday 10-10 from 09:00: due 11:00.
    assert ticket.due_at == datetime(2026, 10, 10, 11, 0, tzinfo=SH)
    other = Ticket(category="after_sales", priority="P4")
    apply_ticket_deadlines(other, start=start)  # no conversation: the default office hours
    assert other.due_at == datetime(2026, 10, 10, 13, 0, tzinfo=SH)


def test_an_email_conversation_due_time_follows_its_channels_calendar(desk, make_channel, monkeypatch):
    from django.utils import timezone as dj_timezone

    from kefu.conversations.services import do_receive_customer_message
    from kefu.hours.models import Schedule

    email = make_channel("email", team=desk.team, name="售后邮箱")
    Schedule.objects.create(
        name="邮箱 周一至周六 9-18",
        channel=email,
        scope_key=f"channel:{email.pk}",
        week=[[d, 9 * 60, 18 * 60] for d in range(6)],
    )
    # Tuesday 2026-09-29 16:00 + 4 working hours: 2 h that day, 2 h on Wednesday → 11:00 on 09-30.
    monkeypatch.setattr(dj_timezone, "now", lambda: datetime(2026, 9, 29, 16, 0, tzinfo=SH))
    msg, _ = do_receive_customer_message(
        channel=email, identities=[("email", "buyer@example.com")], text="请问发票开了吗？订单 SO-20260929-3"
    )
    conv = msg.conversation
    conv.refresh_from_db()
    assert conv.first_response_due == datetime(2026, 9, 30, 11, 0, tzinfo=SH)
