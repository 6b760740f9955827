"""Complaints handled within authority.

A complaint is a ticket (category ``complaint``) with a workflow the handbooks teach:
intake (what happened, what the customer wants, evidence, how to reach them) →
analysis and transfer to the responsible department → tracking with progress
updates at a set interval even when nothing changed → resolution confirmed by the
customer → a follow-up visit (回访) a few days later.

Compensation is granted within each role's limit; above it, a request waits for the
lowest role whose limit covers it, and until then no reply may tell the customer it is
granted. Promises an agent makes are registered with a due time; the worker's sweep
escalates a missed one and tells the customer before they have to ask.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Case, IntegerField, Q, Value, When
from django.utils import timezone

from kefu.accounts.access import team_ids_of
from kefu.accounts.models import Role, Team, User
from kefu.complaints.access import access_complaint
from kefu.complaints.cases import do_attach_complaint, open_case_ticket
from kefu.complaints.stages import INTAKE_LABELS, STAGE_ORDER, intake_missing
from kefu.conversations.models import Conversation
from kefu.conversations.timeline import access_conversation, do_send_auto_reply
from kefu.core.errors import Conflict, InvalidInput
from kefu.core.events import publish
from kefu.core.fields import check_text, check_text_list
from kefu.tickets.models import Ticket
from kefu.tickets.records import access_ticket, visible_tickets
from kefu.tickets.services import (
    do_add_comment,
    do_add_follow_up,
    do_change_status,
    do_create_ticket,
    do_send_customer_update,
    do_transfer_ticket,
    do_update_ticket,
)

from .models import Complaint, Promise, Stage

REPEAT_WINDOW = timedelta(days=90)
FOLLOW_UP_AFTER = timedelta(days=3)


# --- authority -----------------------------------------------------------------------


# --- access --------------------------------------------------------------------------


# --- intake --------------------------------------------------------------------------


def _clean_intake(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, limit in (("what_happened", 5000), ("customer_request", 2000), ("contact_preference", 128)):
        if key in data and data[key] is not None:
            out[key] = check_text(
                data[key], field=key, label=INTAKE_LABELS[key], max_len=limit, required=False
            )
    if "evidence" in data and data["evidence"] is not None:
        out["evidence"] = check_text_list(
            data["evidence"], field="evidence", label="证据", max_items=20, max_len=500
        )
    if "update_interval_hours" in data and data["update_interval_hours"] is not None:
        hours = data["update_interval_hours"]
        if not isinstance(hours, int) or isinstance(hours, bool) or not 1 <= hours <= 168:
            raise InvalidInput("进度同步间隔无效", fields={"update_interval_hours": "1 到 168 小时"})
        out["update_interval_hours"] = hours
    return out


def _similar(a: str, b: str) -> float:
    def grams(s: str) -> set[str]:
        s = re.sub(r"\s+", "", s)
        return {s[i : i + 2] for i in range(len(s) - 1)}

    ga, gb = grams(a), grams(b)
    return len(ga & gb) / len(ga | gb) if ga and gb else 0.0


def find_repeat(
    customer_id: int, *, order_id: int | None, what_happened: str, exclude_id: int | None = None
) -> Complaint | None:
    """An earlier complaint by this customer on the same matter (same order, or similar story)."""
    since = timezone.now() - REPEAT_WINDOW
    earlier = (
        Complaint.objects.filter(ticket__customer_id=customer_id, created_at__gte=since)
        .exclude(pk=exclude_id or 0)
        .order_by("created_at")
    )
    for c in earlier:
        if (order_id and c.order_id == order_id) or _similar(c.what_happened, what_happened) >= 0.3:
            return c.repeat_of or c
    return None


def _senior_for(ticket: Ticket) -> User | None:
    """A team lead or senior agent of the complaints team (or the owner's team)."""

    team = Team.objects.filter(name="投诉处理").first()
    team_ids = [team.pk] if team else (team_ids_of(ticket.owner) if ticket.owner else [])
    return (
        User.objects.filter(is_active=True, teams__id__in=team_ids)
        .filter(Q(role=Role.TEAM_LEAD) | Q(is_senior=True) | Q(role=Role.SPECIALIST))
        .annotate(
            preference=Case(
                When(role=Role.TEAM_LEAD, then=Value(0)),
                When(role=Role.SPECIALIST, then=Value(1)),
                default=Value(2),
                output_field=IntegerField(),
            )
        )
        .order_by("preference", "-is_senior", "id")
        .first()
    )


def do_open_complaint(
    *,
    actor: User,
    conversation_id: int | None = None,
    customer_id: int | None = None,
    title: str | None = None,
    order_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> Complaint:
    """Register a complaint (see ``do_open_case``); the complaint, new or the open one."""
    complaint, _ = do_open_case(
        actor=actor,
        conversation_id=conversation_id,
        customer_id=customer_id,
        title=title,
        order_id=order_id,
        data=data,
    )
    return complaint


def _existing_case(actor: User, conversation_id: int, intake: dict[str, Any]) -> Complaint | None:
    """The conversation's open complaint, with the intake fields it still lacks filled in."""
    access_conversation(actor, conversation_id)
    ticket = open_case_ticket(conversation_id)
    if ticket is None:
        return None
    if not visible_tickets(actor).filter(pk=ticket.pk).exists():
        raise Conflict(
            f"该会话已有投诉工单 {ticket.number}，由{ticket.assignee.name if ticket.assignee else '同事'}处理",
            fields={"conversation_id": "已有未结案的投诉"},
            extra={"ticket_id": ticket.pk, "ticket_number": ticket.number},
        )
    complaint = do_attach_complaint(ticket)
    blanks = {k: v for k, v in intake.items() if v and not getattr(complaint, k)}
    if blanks:
        for key, value in blanks.items():
            setattr(complaint, key, value)
        complaint.save()
    return complaint


def do_open_case(
    *,
    actor: User,
    conversation_id: int | None = None,
    customer_id: int | None = None,
    title: str | None = None,
    order_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> tuple[Complaint, bool]:
    """Register a complaint: a complaint ticket plus the intake; repeats are linked and
    routed to a senior person. Where the conversation already has an open complaint
    ticket, that case is the complaint (``created`` is False): one case, one ticket."""

    intake = _clean_intake(data or {})
    if title is None and conversation_id is None:
        title = "投诉：" + (intake.get("what_happened") or "客户投诉")[:40]
    with transaction.atomic():
        if conversation_id is not None:
            existing = _existing_case(actor, conversation_id, intake)
            if existing is not None:
                return existing, False
        ticket = do_create_ticket(
            actor=actor,
            conversation_id=conversation_id,
            customer_id=customer_id,
            title=title,
            category=Ticket.Category.COMPLAINT,
            urgent=True,
            important=True,
        )
        order = None
        if order_id is not None:
            order = ticket.customer.orders.filter(pk=order_id).first()
            if order is None:
                raise InvalidInput("订单不属于该客户", fields={"order_id": "不存在或不属于该客户"})
        else:
            order = ticket.orders.first()
        now = timezone.now()
        # do_create_ticket attached the case's complaint; the intake fills it.
        complaint = do_attach_complaint(ticket)
        complaint.order = order
        complaint.next_update_due = now + timedelta(hours=intake.get("update_interval_hours", 24))
        for key, value in intake.items():
            setattr(complaint, key, value)
        complaint.save()
        repeat = find_repeat(
            ticket.customer_id,
            order_id=order.pk if order else None,
            what_happened=complaint.what_happened,
            exclude_id=complaint.pk,
        )
        if repeat is not None:
            complaint.repeat_of = repeat
            complaint.save(update_fields=["repeat_of", "updated_at"])
            senior = _senior_for(ticket)
            if senior is not None:
                do_update_ticket(actor=actor, ticket_id=ticket.pk, assignee_id=senior.pk)
            publish(
                "complaint.repeated",
                {
                    "complaint_id": complaint.pk,
                    "ticket_id": ticket.pk,
                    "repeat_of": repeat.pk,
                    "customer_name": ticket.customer.name,
                    "assignee_id": senior.pk if senior else None,
                },
                user_ids=[senior.pk if senior else None, ticket.owner_id],
                webhook=False,
            )
    return complaint, True


def do_open_complaint_from_ticket(
    *, actor: User, ticket_id: int, data: dict[str, Any] | None = None
) -> tuple[Complaint, bool]:
    """Register a ticket as a complaint: it becomes a 投诉 ticket (P1) with its complaint.

    The intake given fills what the complaint lacks (事情经过 defaults to the ticket's
    description); ``created`` is False when the ticket was a complaint already.
    """
    intake = _clean_intake(data or {})
    with transaction.atomic():
        ticket = access_ticket(actor, ticket_id, for_update=True)
        if ticket.status == Ticket.Status.CLOSED:
            raise Conflict("工单已关闭，不能登记为投诉", fields={"ticket_id": "已关闭"})
        created = not Complaint.objects.filter(ticket=ticket).exists()
        if ticket.category != Ticket.Category.COMPLAINT:
            ticket = do_update_ticket(
                actor=actor,
                ticket_id=ticket.pk,
                category=Ticket.Category.COMPLAINT,
                urgent=True,
                important=True,
            )
        complaint = do_attach_complaint(ticket)
        intake["what_happened"] = intake.get("what_happened") or ticket.description[:5000]
        blanks = {k: v for k, v in intake.items() if v and not getattr(complaint, k)}
        for key, value in blanks.items():
            setattr(complaint, key, value)
        if blanks:
            complaint.save()
    return complaint, created


def do_update_intake(*, actor: User, complaint_id: int, data: dict[str, Any]) -> Complaint:
    fields = _clean_intake(data)
    with transaction.atomic():
        complaint = access_complaint(actor, complaint_id, for_update=True)
        if complaint.stage == Stage.CLOSED:
            raise Conflict("投诉已结案")
        for key, value in fields.items():
            setattr(complaint, key, value)
        complaint.save()
    return complaint


# --- workflow ------------------------------------------------------------------------


def do_advance(*, actor: User, complaint_id: int, note: str = "") -> Complaint:
    """Intake → analysis → tracking (see do_transfer for the usual way) → … one step."""

    with transaction.atomic():
        complaint = access_complaint(actor, complaint_id, for_update=True)
        stage = Stage(complaint.stage)
        if stage == Stage.INTAKE:
            missing = intake_missing(complaint)
            if missing:
                raise InvalidInput(
                    "受理信息不完整：" + "、".join(INTAKE_LABELS[m] for m in missing),
                    fields={m: "必填" for m in missing},
                    extra={"missing": missing},
                )
        elif stage in (Stage.TRACKING, Stage.RESOLUTION, Stage.FOLLOW_UP, Stage.CLOSED):
            raise Conflict("请使用对应操作：解决需要书面结果，回访需要记录", fields={"stage": stage})
        nxt = STAGE_ORDER[STAGE_ORDER.index(stage) + 1]
        complaint.stage = nxt
        complaint.save(update_fields=["stage", "updated_at"])
        do_add_comment(
            actor=actor, ticket_id=complaint.ticket_id, text=f"投诉进入「{nxt.label}」阶段。{note}".strip()
        )
    return complaint


def do_transfer(
    *, actor: User, complaint_id: int, department_id: Any, fields: Any = None, note: str = ""
) -> Complaint:
    """Transfer to the responsible department with a deadline; tracking begins."""

    with transaction.atomic():
        complaint = access_complaint(actor, complaint_id, for_update=True)
        if complaint.stage == Stage.INTAKE:
            missing = intake_missing(complaint)
            if missing:
                raise InvalidInput(
                    "受理信息不完整，不能转办：" + "、".join(INTAKE_LABELS[m] for m in missing),
                    fields={m: "必填" for m in missing},
                    extra={"missing": missing},
                )
        if complaint.stage not in (Stage.INTAKE, Stage.ANALYSIS, Stage.TRACKING):
            raise Conflict("当前阶段不能转办", fields={"stage": complaint.stage})
        do_transfer_ticket(
            actor=actor, ticket_id=complaint.ticket_id, department_id=department_id, fields=fields, note=note
        )
        complaint.stage = Stage.TRACKING
        complaint.save(update_fields=["stage", "updated_at"])
    return complaint


def do_send_progress(
    *, actor: User, complaint_id: int, text: str, confirm_findings: bool = False
) -> Complaint:
    """Tell the customer where things stand; the next update falls due one interval later."""

    with transaction.atomic():
        complaint = access_complaint(actor, complaint_id, for_update=True)
        do_send_customer_update(
            actor=actor, ticket_id=complaint.ticket_id, text=text, confirm_findings=confirm_findings
        )
        now = timezone.now()
        complaint.last_update_at = now
        complaint.next_update_due = now + timedelta(hours=complaint.update_interval_hours)
        complaint.save(update_fields=["last_update_at", "next_update_due", "updated_at"])
    return complaint


def do_resolve(
    *, actor: User, complaint_id: int, resolution: str, confirm_findings: bool = False
) -> Complaint:
    """Record the written resolution and send it to the customer; their confirmation is next."""

    resolution = check_text(resolution, field="resolution", label="书面处理结果", max_len=3000)
    with transaction.atomic():
        complaint = access_complaint(actor, complaint_id, for_update=True)
        if complaint.stage not in (Stage.ANALYSIS, Stage.TRACKING, Stage.RESOLUTION):
            raise Conflict("投诉需在分析或跟踪阶段才能给出处理结果", fields={"stage": complaint.stage})
        complaint.resolution = resolution
        complaint.resolved_at = timezone.now()
        complaint.stage = Stage.RESOLUTION
        complaint.next_update_due = None
        complaint.save()
        # The written resolution goes to the customer so nothing rests on memory.
        do_send_customer_update(
            actor=actor,
            ticket_id=complaint.ticket_id,
            text=f"【投诉处理结果】{resolution}\n如您对处理结果满意请回复“确认”，如有疑问请随时告诉我们。",
            confirm_findings=confirm_findings,
        )
    return complaint


def do_confirm_resolution(*, actor: User, complaint_id: int, confirmed: bool, note: str = "") -> Complaint:
    """The customer confirmed (or not); a follow-up visit is scheduled on the owner's list."""

    with transaction.atomic():
        complaint = access_complaint(actor, complaint_id, for_update=True)
        if complaint.stage != Stage.RESOLUTION:
            raise Conflict("投诉尚未给出处理结果", fields={"stage": complaint.stage})
        if not confirmed:
            complaint.stage = Stage.TRACKING
            complaint.next_update_due = timezone.now() + timedelta(hours=complaint.update_interval_hours)
            complaint.save()
            do_add_comment(
                actor=actor,
                ticket_id=complaint.ticket_id,
                text=f"客户对处理结果不满意，继续跟进。{note}".strip(),
            )
            return complaint
        now = timezone.now()
        complaint.customer_confirmed_at = now
        complaint.stage = Stage.FOLLOW_UP
        complaint.follow_up_due = now + FOLLOW_UP_AFTER
        complaint.save()
        ticket = complaint.ticket
        if ticket.status != Ticket.Status.RESOLVED:
            if ticket.status == Ticket.Status.NEW:
                do_change_status(actor=actor, ticket_id=ticket.pk, status=Ticket.Status.IN_PROGRESS)
            do_change_status(
                actor=actor, ticket_id=ticket.pk, status=Ticket.Status.RESOLVED, note="客户确认处理结果"
            )
        do_add_follow_up(
            actor=actor,
            ticket_id=ticket.pk,
            due_at=complaint.follow_up_due,
            note="投诉回访：确认问题已解决、客户满意",
        )
    return complaint


def do_record_follow_up(*, actor: User, complaint_id: int, note: str) -> Complaint:

    note = check_text(note, field="note", label="回访记录", max_len=2000)
    with transaction.atomic():
        complaint = access_complaint(actor, complaint_id, for_update=True)
        if complaint.stage != Stage.FOLLOW_UP:
            raise Conflict("投诉不在回访阶段", fields={"stage": complaint.stage})
        complaint.follow_up_note = note
        complaint.follow_up_done_at = timezone.now()
        complaint.stage = Stage.CLOSED
        complaint.save()
        for f in complaint.ticket.follow_ups.filter(done_at__isnull=True):
            f.done_at = timezone.now()
            f.save(update_fields=["done_at"])
        do_add_comment(actor=actor, ticket_id=complaint.ticket_id, text=f"回访：{note}")
        if complaint.ticket.status == Ticket.Status.RESOLVED:
            do_change_status(
                actor=actor, ticket_id=complaint.ticket_id, status=Ticket.Status.CLOSED, note="回访完成，结案"
            )
    return complaint


def do_reopen_after_follow_up(*, actor: User, complaint_id: int, note: str) -> Complaint:
    """The 回访 found the customer still unhappy: back to tracking, the ticket worked on again."""

    note = check_text(note, field="note", label="回访记录", max_len=2000)
    with transaction.atomic():
        complaint = access_complaint(actor, complaint_id, for_update=True)
        if complaint.stage != Stage.FOLLOW_UP:
            raise Conflict("投诉不在回访阶段", fields={"stage": complaint.stage})
        complaint.stage = Stage.TRACKING
        complaint.follow_up_note = note
        complaint.follow_up_due = None
        complaint.customer_confirmed_at = None
        complaint.next_update_due = timezone.now() + timedelta(hours=complaint.update_interval_hours)
        complaint.save()
        for f in complaint.ticket.follow_ups.filter(done_at__isnull=True):
            f.done_at = timezone.now()
            f.save(update_fields=["done_at"])
        if complaint.ticket.status in (Ticket.Status.RESOLVED, Ticket.Status.CLOSED):
            do_change_status(
                actor=actor,
                ticket_id=complaint.ticket_id,
                status=Ticket.Status.IN_PROGRESS,
                note="回访时客户仍不满意，重新处理",
            )
        do_add_comment(
            actor=actor, ticket_id=complaint.ticket_id, text=f"回访：客户仍不满意，投诉重新打开。{note}"
        )
    return complaint


# --- compensation --------------------------------------------------------------------


# --- promises ------------------------------------------------------------------------


# --- the worker's sweep --------------------------------------------------------------


def do_sweep(now: datetime | None = None) -> dict[str, int]:
    """Missed promises (escalate, tell the customer) and due progress updates.

    Each item is claimed with a conditional UPDATE, so two workers never act twice.
    """

    now = now or timezone.now()
    broken = 0
    for promise in Promise.objects.filter(status=Promise.Status.OPEN, due_at__lte=now).select_related(
        "owner", "conversation"
    )[:200]:
        with transaction.atomic():
            if not Promise.objects.filter(pk=promise.pk, status=Promise.Status.OPEN).update(
                status=Promise.Status.BROKEN, broken_at=now
            ):
                continue
            broken += 1
            leads = list(
                User.objects.filter(
                    is_active=True, role=Role.TEAM_LEAD, teams__id__in=team_ids_of(promise.owner)
                ).values_list("id", flat=True)
            )
            publish(
                "promise.missed",
                {
                    "promise_id": promise.pk,
                    "owner": promise.owner.name,
                    "description": promise.description,
                    "due_at": promise.due_at.isoformat(),
                    "conversation_id": promise.conversation_id,
                },
                user_ids=[promise.owner_id, *leads],
                webhook=False,
            )
            conversation = promise.conversation
            if conversation is not None and conversation.status != Conversation.Status.CLOSED:
                local = timezone.localtime(promise.due_at)
                do_send_auto_reply(
                    conversation,
                    f"非常抱歉，我们原定于{local:%m月%d日 %H:%M}前为您“{promise.description}”，目前还在加急处理中。"
                    "负责的同事和主管已收到提醒，会尽快给您确切答复，给您带来不便深表歉意。",
                    meta={"promise_id": promise.pk},
                )
                Promise.objects.filter(pk=promise.pk).update(customer_told_at=now)
    updates = 0
    due = Complaint.objects.filter(
        stage__in=(Stage.ANALYSIS, Stage.TRACKING), next_update_due__lte=now
    ).select_related("ticket")[:200]
    for complaint in due:
        with transaction.atomic():
            nxt = now + timedelta(hours=complaint.update_interval_hours)
            if not Complaint.objects.filter(
                pk=complaint.pk, next_update_due=complaint.next_update_due
            ).update(next_update_due=nxt, last_update_at=now):
                continue
            conversation = complaint.ticket.conversations.order_by("-id").first()
            if conversation is None:
                continue
            updates += 1
            department = complaint.ticket.department
            dept = department.name if department is not None else "客服团队"
            do_send_auto_reply(
                conversation,
                f"【投诉进度】您反映的问题（工单 {complaint.ticket.number}）正在由{dept}处理，"
                f"目前处于「{Stage(complaint.stage).label}」阶段。有新进展我们会第一时间告诉您，"
                f"最迟 {timezone.localtime(nxt):%m月%d日 %H:%M} 前再次向您同步。",
                meta={"complaint_id": complaint.pk},
            )
    return {"promises_broken": broken, "progress_updates": updates}
