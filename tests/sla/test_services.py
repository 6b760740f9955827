"""SLA (kefu.sla.services): default policies, the sweep that warns and breaches, policy admin, paused clocks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from kefu.conversations.models import Conversation, Message
from kefu.conversations.services import do_send_agent_message
from kefu.core.errors import InvalidInput, PermissionDenied
from kefu.sla.models import SLAPolicy
from kefu.sla.services import do_create_policy, do_sweep, do_update_policy
from kefu.tickets.models import Ticket
from kefu.tickets.services import do_change_status, do_create_ticket, do_send_customer_update
from kefu.webhooks.models import WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db


def test_default_policies_are_installed_by_migration():
    assert SLAPolicy.objects.filter(name="在线聊天首次响应", applies_to="conversation").exists()
    assert SLAPolicy.objects.filter(name="公开负面帖子公开回复", applies_to="public_post").exists()
    assert SLAPolicy.objects.count() == 12


def test_sweep_warns_then_breaches_an_unanswered_conversation(
    make_conversation, events, django_capture_on_commit_callbacks
):
    conv = make_conversation(answered=False)
    due = conv.first_response_due
    assert do_sweep(due - timedelta(seconds=30)).total == 0
    warned = do_sweep(due - timedelta(seconds=5))
    assert warned.conversation_warnings == 1
    assert do_sweep(due - timedelta(seconds=4)).total == 0
    breached = do_sweep(due + timedelta(seconds=1))
    assert breached.conversation_breaches == 1
    assert do_sweep(due + timedelta(seconds=30)).total == 0
    conv.refresh_from_db()
    assert conv.sla_warned_at is not None and conv.sla_breached_at is not None
    assert [e["event"] for e in events if "sla" in e["event"]] == [
        "conversation.sla_warning",
        "conversation.sla_breached",
    ]
    lines = Message.objects.filter(conversation=conv, meta__sla__isnull=False).values_list(
        "is_private", flat=True
    )
    assert list(lines) == [True, True]


def test_answered_in_time_never_breaches(make_conversation, desk):
    conv = make_conversation(answered=False)
    do_send_agent_message(agent=desk.agent, conversation_id=conv.pk, text="您好")
    assert do_sweep(conv.first_response_due + timedelta(hours=1)).total == 0
    assert Conversation.objects.get(pk=conv.pk).sla_breached_at is None


def test_a_late_answer_is_still_a_breach(make_conversation, desk):
    conv = make_conversation(answered=False)
    late = conv.first_response_due + timedelta(minutes=2)
    do_send_agent_message(agent=desk.agent, conversation_id=conv.pk, text="抱歉久等")
    Conversation.objects.filter(pk=conv.pk).update(first_response_at=late)
    assert do_sweep(late).conversation_breaches == 1


def test_breach_writes_webhook_delivery(make_conversation, django_capture_on_commit_callbacks):
    WebhookEndpoint.objects.create(url="http://127.0.0.1:9/hook", events=["conversation.sla_breached"])
    conv = make_conversation(answered=False)
    do_sweep(conv.first_response_due + timedelta(seconds=1))
    (delivery,) = WebhookDelivery.objects.all()
    assert delivery.event_type == "conversation.sla_breached"
    assert delivery.payload["data"]["conversation"]["id"] == conv.pk


def test_ticket_resolution_breach_is_recorded_once(shop, events, django_capture_on_commit_callbacks):
    ticket = do_create_ticket(
        actor=shop.agent, conversation_id=shop.conversation.pk, urgent=True, important=True
    )
    assert do_sweep(ticket.due_at - timedelta(hours=1)).ticket_warnings == 0
    assert do_sweep(ticket.due_at - timedelta(minutes=30)).ticket_warnings == 1
    result = do_sweep(ticket.due_at + timedelta(seconds=1))
    assert result.ticket_breaches == 1
    assert do_sweep(ticket.due_at + timedelta(minutes=5)).total == 0
    ticket.refresh_from_db()
    assert ticket.sla_breached_at is not None
    assert list(ticket.events.filter(kind__startswith="sla").values_list("kind", flat=True)) == [
        "sla_warning",
        "sla_breached",
    ]
    breach = [e for e in events if e["event"] == "ticket.sla_breached"][0]
    assert breach["data"]["kind"] == "resolution"


def test_ticket_resolved_in_time_never_breaches(shop):
    ticket = do_create_ticket(
        actor=shop.agent, conversation_id=shop.conversation.pk, urgent=True, important=True
    )
    do_change_status(actor=shop.agent, ticket_id=ticket.pk, status="in_progress")
    do_change_status(actor=shop.agent, ticket_id=ticket.pk, status="resolved")
    assert do_sweep(ticket.due_at + timedelta(days=1)).total == 0


def test_complaint_first_response_met_by_customer_update(shop):
    ticket = do_create_ticket(actor=shop.agent, conversation_id=shop.conversation.pk, category="complaint")
    assert ticket.first_response_due is not None
    do_send_customer_update(actor=shop.agent, ticket_id=ticket.pk, text="已受理您的投诉")
    result = do_sweep(ticket.first_response_due + timedelta(minutes=1))
    assert result.ticket_breaches == 0
    assert Ticket.objects.get(pk=ticket.pk).sla_breached_at is None


def test_unanswered_complaint_breaches_first_response(shop, events):
    ticket = do_create_ticket(actor=shop.agent, conversation_id=shop.conversation.pk, category="complaint")
    do_sweep(ticket.first_response_due + timedelta(minutes=1))
    assert [e["data"]["kind"] for e in events if e["event"] == "ticket.sla_breached"] == ["first_response"]


def test_policy_admin_is_checked_and_validated(shop, make_user):
    admin = make_user("root", role="admin")
    with pytest.raises(PermissionDenied):
        do_create_policy(actor=shop.agent, data={"name": "x", "first_response_seconds": 10})
    with pytest.raises(InvalidInput) as exc:
        do_create_policy(actor=admin, data={"name": "x", "channel_kind": "fax", "warn_ratio": 2})
    assert set(exc.value.fields) == {"channel_kind", "warn_ratio"}
    with pytest.raises(InvalidInput):
        do_create_policy(actor=admin, data={"name": "没有时限"})
    policy = do_create_policy(
        actor=admin, data={"name": "VIP 邮件", "channel_kind": "email", "first_response_seconds": 600}
    )
    policy = do_update_policy(actor=admin, policy_id=policy.pk, data={"is_active": False})
    assert policy.is_active is False


def test_install_defaults_command_restores_a_deleted_default():
    from io import StringIO

    from django.core.management import call_command

    SLAPolicy.objects.filter(name="P1 工单解决").delete()
    out = StringIO()
    call_command("sla", "install-defaults", stdout=out)
    assert "1" in out.getvalue()
    assert SLAPolicy.objects.filter(name="P1 工单解决", applies_to="ticket").exists()


def _started_waiting(ticket: Ticket, hours_ago: float) -> None:
    """Pretend the ticket entered 等待客户 ``hours_ago`` hours ago."""
    Ticket.objects.filter(pk=ticket.pk).update(sla_paused_at=timezone.now() - timedelta(hours=hours_ago))


def test_waiting_for_the_customer_stops_the_resolution_clock(shop, events):
    ticket = do_create_ticket(
        actor=shop.agent, conversation_id=shop.conversation.pk, urgent=True, important=True
    )
    due = ticket.due_at
    do_change_status(actor=shop.agent, ticket_id=ticket.pk, status="in_progress")
    ticket = do_change_status(actor=shop.agent, ticket_id=ticket.pk, status="waiting_customer")
    assert ticket.sla_paused_at is not None
    # Past the deadline while paused: no warning, no breach.
    assert do_sweep(due + timedelta(hours=2)).total == 0
    _started_waiting(ticket, hours_ago=3)
    ticket = do_change_status(actor=shop.agent, ticket_id=ticket.pk, status="in_progress")
    assert ticket.sla_paused_at is None
    assert ticket.sla_paused_seconds == pytest.approx(3 * 3600, abs=5)
    assert ticket.due_at - due == pytest.approx(timedelta(hours=3), abs=timedelta(seconds=5))
    # The clock runs again, from the moved deadline.
    assert do_sweep(due + timedelta(minutes=30)).ticket_breaches == 0
    assert do_sweep(ticket.due_at + timedelta(seconds=1)).ticket_breaches == 1


def test_a_change_of_priority_keeps_the_time_already_paused(shop):
    ticket = do_create_ticket(actor=shop.agent, conversation_id=shop.conversation.pk, important=True)
    do_change_status(actor=shop.agent, ticket_id=ticket.pk, status="in_progress")
    do_change_status(actor=shop.agent, ticket_id=ticket.pk, status="waiting_customer")
    _started_waiting(ticket, hours_ago=5)
    do_change_status(actor=shop.agent, ticket_id=ticket.pk, status="in_progress")
    from kefu.tickets.services import do_update_ticket

    ticket = do_update_ticket(actor=shop.agent, ticket_id=ticket.pk, urgent=True)
    assert ticket.priority == "P1"
    assert ticket.due_at - ticket.created_at == pytest.approx(
        timedelta(hours=4 + 5), abs=timedelta(seconds=5)
    )


def test_a_paused_ticket_resolved_late_counts_the_pause(shop):
    ticket = do_create_ticket(
        actor=shop.agent, conversation_id=shop.conversation.pk, urgent=True, important=True
    )
    do_change_status(actor=shop.agent, ticket_id=ticket.pk, status="in_progress")
    do_change_status(actor=shop.agent, ticket_id=ticket.pk, status="waiting_customer")
    _started_waiting(ticket, hours_ago=10)  # longer than the 4-hour window itself
    ticket = do_change_status(actor=shop.agent, ticket_id=ticket.pk, status="resolved")
    assert ticket.resolved_at < ticket.due_at
    assert do_sweep(timezone.now() + timedelta(days=1)).total == 0


def test_a_working_hours_email_is_warned_in_working_hours_not_over_the_weekend(
    make_conversation, make_channel, desk
):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    sh = ZoneInfo("Asia/Shanghai")
    email = make_channel("email", team=desk.team, name="售后邮箱")
    conv = make_conversation("发票抬头开错了，能重开吗？", answered=False, channel=email)
    # 邮件 4 个工作小时: Friday 17:00 → Monday 12:00 (default office hours); 80 % is Monday 11:12.
    friday = datetime(2026, 11, 20, 17, 0, tzinfo=sh)
    monday_noon = datetime(2026, 11, 23, 12, 0, tzinfo=sh)
    Conversation.objects.filter(pk=conv.pk).update(created_at=friday, first_response_due=monday_noon)
    # Wall-clock 80 % would be Sunday 22:36; before Monday's opening nothing is announced.
    assert do_sweep(datetime(2026, 11, 23, 8, 30, tzinfo=sh)).total == 0
    assert do_sweep(datetime(2026, 11, 23, 11, 10, tzinfo=sh)).total == 0
    assert do_sweep(datetime(2026, 11, 23, 11, 13, tzinfo=sh)).conversation_warnings == 1
