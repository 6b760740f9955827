"""Complaints (kefu.complaints.services): intake, the workflow, compensation and approval, promises, the sweep."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from kefu.accounts.models import AgentStatus, Role, User
from kefu.complaints import compensation, guards, promises, services
from kefu.complaints.models import CompensationRequest, Promise, Stage
from kefu.conversations.models import Message
from kefu.core.errors import InvalidInput, PermissionDenied
from kefu.tickets.models import Department, Ticket

pytestmark = pytest.mark.django_db

INTAKE = {
    "what_happened": "快递员态度恶劣，电话里骂人，还把包裹扔在门口导致保温杯摔坏",
    "customer_request": "要求道歉并换一个新的保温杯",
    "evidence": ["门口包裹照片", "通话录音截图"],
    "contact_preference": "电话，工作日18点后",
}


def test_intake_is_incomplete_until_all_four_are_filled(desk, complaint_conv):
    c = services.do_open_complaint(
        actor=desk.agent, conversation_id=complaint_conv.pk, data={"what_happened": "摔坏"}
    )
    assert c.ticket.category == Ticket.Category.COMPLAINT and c.ticket.priority == "P1"
    with pytest.raises(InvalidInput) as exc:
        services.do_advance(actor=desk.agent, complaint_id=c.pk)
    assert set(exc.value.extra["missing"]) == {"customer_request", "evidence", "contact_preference"}
    services.do_update_intake(actor=desk.agent, complaint_id=c.pk, data=INTAKE)
    assert services.do_advance(actor=desk.agent, complaint_id=c.pk).stage == Stage.ANALYSIS


def test_full_workflow_ends_with_a_written_resolution_and_a_follow_up(desk, complaint_conv):
    Department.objects.create(name="仓储物流部", required_fields=["order_no"], deadline_hours=24)
    c = services.do_open_complaint(actor=desk.agent, conversation_id=complaint_conv.pk, data=INTAKE)
    dept = Department.objects.get(name="仓储物流部")
    with pytest.raises(InvalidInput):
        services.do_transfer(actor=desk.agent, complaint_id=c.pk, department_id=dept.pk)
    c = services.do_transfer(
        actor=desk.agent, complaint_id=c.pk, department_id=dept.pk, fields={"order_no": "YJ001"}
    )
    assert c.stage == Stage.TRACKING
    services.do_send_progress(
        actor=desk.agent, complaint_id=c.pk, text="让您久等了，已联系快递公司核实，明天中午前回复您。"
    )
    c = services.do_resolve(
        actor=desk.agent,
        complaint_id=c.pk,
        resolution="非常抱歉给您带来不便，快递员已被约谈处罚，今天为您补发新杯子。",
    )
    written = Message.objects.filter(conversation=complaint_conv, text__contains="【投诉处理结果】").first()
    assert written is not None and not written.is_private
    c = services.do_confirm_resolution(actor=desk.agent, complaint_id=c.pk, confirmed=True)
    assert c.stage == Stage.FOLLOW_UP and c.follow_up_due > timezone.now()
    assert c.ticket.follow_ups.filter(done_at__isnull=True).exists()
    c = services.do_record_follow_up(actor=desk.agent, complaint_id=c.pk, note="客户表示已收到新杯子，满意")
    c.ticket.refresh_from_db()
    assert c.stage == Stage.CLOSED and c.ticket.status == Ticket.Status.CLOSED


def test_compensation_within_limit_is_granted_and_above_it_waits_for_approval(
    desk, complaint_conv, make_user
):
    small = compensation.do_request_compensation(
        actor=desk.agent, conversation_id=complaint_conv.pk, kind="coupon", amount="20", reason="致歉券"
    )
    assert small.status == CompensationRequest.Status.GRANTED
    big = compensation.do_request_compensation(
        actor=desk.agent, conversation_id=complaint_conv.pk, kind="refund", amount="300", reason="部分退款"
    )
    assert big.status == CompensationRequest.Status.PENDING and big.approver_role == Role.SUPERVISOR
    lead = make_user("lead1", role=Role.TEAM_LEAD, teams=(desk.team,))
    assert not compensation.pending_approvals(lead).filter(pk=big.pk).exists()
    with pytest.raises(PermissionDenied):
        compensation.do_decide_compensation(actor=lead, request_id=big.pk, approve=True)
    assert compensation.pending_approvals(desk.supervisor).filter(pk=big.pk).exists()
    compensation.do_decide_compensation(actor=desk.supervisor, request_id=big.pk, approve=True, note="同意")
    assert guards.approved_compensation(complaint_conv) == Decimal("320.00")


def test_missed_promise_escalates_and_the_customer_hears_first(desk, complaint_conv):
    promise = promises.do_make_promise(
        actor=desk.agent,
        conversation_id=complaint_conv.pk,
        description="回电告知快递核实结果",
        due_at=timezone.now() + timedelta(minutes=5),
    )
    result = services.do_sweep(timezone.now() + timedelta(minutes=10))
    promise.refresh_from_db()
    assert result["promises_broken"] == 1
    assert promise.status == Promise.Status.BROKEN and promise.customer_told_at is not None
    told = Message.objects.filter(
        conversation=complaint_conv, kind=Message.Kind.AUTO, text__contains="回电告知快递核实结果"
    )
    assert told.exists()
    assert services.do_sweep(timezone.now() + timedelta(minutes=20))["promises_broken"] == 0
    rates = promises.promise_rates()
    assert rates[0]["broken"] == 1 and rates[0]["kept_rate"] == 0


def test_kept_promise_counts_in_the_rates(desk, complaint_conv):
    p = promises.do_make_promise(
        actor=desk.agent,
        conversation_id=complaint_conv.pk,
        description="24小时内退款",
        due_at=timezone.now() + timedelta(hours=24),
    )
    promises.do_keep_promise(actor=desk.agent, promise_id=p.pk)
    assert promises.promise_rates()[0]["kept_rate"] == 1.0
    # Named as everywhere else (User.name): the display name, else the full name.
    User.objects.filter(pk=desk.agent.pk).update(display_name="", first_name="美", last_name="王")
    assert promises.promise_rates()[0]["name"] == User.objects.get(pk=desk.agent.pk).name == "美 王"


def test_progress_update_is_sent_when_due_even_without_news(desk, complaint_conv):
    c = services.do_open_complaint(actor=desk.agent, conversation_id=complaint_conv.pk, data=INTAKE)
    services.do_advance(actor=desk.agent, complaint_id=c.pk)
    later = timezone.now() + timedelta(hours=25)
    assert services.do_sweep(later)["progress_updates"] == 1
    assert Message.objects.filter(conversation=complaint_conv, text__contains="【投诉进度】").exists()
    assert services.do_sweep(later)["progress_updates"] == 0


def test_repeat_complaint_is_linked_and_goes_to_a_senior_person(desk, complaint_conv, make_team, make_user):
    team = make_team("投诉处理")
    senior = make_user("senior", role=Role.TEAM_LEAD, teams=(team,), status=AgentStatus.ONLINE)
    first = services.do_open_complaint(actor=desk.agent, conversation_id=complaint_conv.pk, data=INTAKE)
    again = services.do_open_complaint(
        actor=desk.agent,
        customer_id=complaint_conv.customer_id,
        data={**INTAKE, "what_happened": "又是这个快递员，态度恶劣，包裹扔在门口，杯子摔坏"},
    )
    again.ticket.refresh_from_db()
    assert again.repeat_of_id == first.pk
    assert again.ticket.assignee_id == senior.pk
