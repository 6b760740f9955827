"""Tickets, top floor: creating, editing, moving through statuses, transferring to a
department, updating the customer, follow-ups.

Every write is one transaction with its timeline event and its ``ticket.*`` event
(published after commit); reads, checks and the timeline helpers are the ground floor,
:mod:`kefu.tickets.records`, and the deadline maths is :mod:`kefu.sla.policies`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from django.db import transaction
from django.utils import timezone

from kefu.accounts.access import apply_changes, audit, check_admin, client_ip
from kefu.accounts.models import AuditLog, Team, User
from kefu.complaints.cases import check_no_second_case, do_attach_complaint
from kefu.conversations.models import Conversation, Message, Priority, priority_for
from kefu.conversations.services import do_send_agent_message
from kefu.conversations.services import do_set_status as do_set_conversation_status
from kefu.conversations.timeline import access_conversation, add_activity
from kefu.core.errors import Conflict, InvalidInput, NotFound
from kefu.core.events import publish
from kefu.core.fields import check_message, check_text
from kefu.core.labels import field_label
from kefu.core.masking import mask_text
from kefu.customers.models import Customer, Order
from kefu.sla.policies import apply_department_deadline, apply_ticket_deadlines, pause_or_resume_ticket_clock
from kefu.tickets.models import TRANSITIONS
from kefu.tickets.presenters import _iso, department_dict, event_dict, follow_up_dict, ticket_dict
from kefu.tickets.records import (
    FIELD_KEY_RE,
    MAX_TEXT,
    MAX_TITLE,
    OPEN_STATUSES,
    PRIORITY_FLAGS,
    TRANSFERABLE,
    Status,
    access_department,
    access_ticket,
    check_category,
    check_fields,
    check_status,
    guess_category,
    insert_with_number,
    link_records,
    log_event,
    mark_first_response,
    merge_fields,
    publish_ticket,
    publish_updated,
)

from .models import Department, FollowUp, Ticket, TicketEvent

UNSET: Any = object()


# --- writes ----------------------------------------------------------------------------


def _check_flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"{name} 必须是布尔值", fields={name: "必须是 true 或 false"})
    return value


# The checks of the fields a person sets, shared by creating and editing a ticket.
_FIELD_CHECKS: dict[str, Callable[[Any], Any]] = {
    "title": lambda value: check_text(value, field="title", label="工单标题", max_len=MAX_TITLE),
    "description": lambda value: check_text(value, field="description", max_len=MAX_TEXT, required=False),
    "category": check_category,
    "urgent": partial(_check_flag, "urgent"),
    "important": partial(_check_flag, "important"),
}


def _checked(values: dict[str, Any], *, absent: Any) -> dict[str, Any]:
    """Each given value through its field's check, in order; values that are ``absent`` are left out."""
    return {name: _FIELD_CHECKS[name](value) for name, value in values.items() if value is not absent}


@dataclass(frozen=True, slots=True)
class CreatedTicket:
    """A new ticket and what was written with it, so that its answer reads nothing back.

    A new ticket has no follow-ups yet, and its timeline is the one ``created`` event.
    """

    ticket: Ticket
    conversation_ids: list[int]
    orders: list[Order]
    timeline: list[TicketEvent]


def do_create_ticket(*, actor: User, **values: Any) -> Ticket:
    """``do_create_ticket_with_parts`` for callers that need only the ticket."""
    return do_create_ticket_with_parts(actor=actor, **values).ticket


def do_create_ticket_with_parts(
    *,
    actor: User,
    conversation_id: int | None = None,
    customer_id: int | None = None,
    title: str | None = None,
    description: str | None = None,
    category: str | None = None,
    urgent: bool | None = None,
    important: bool | None = None,
    fields: dict[str, Any] | None = None,
) -> CreatedTicket:
    """Create a ticket — in one click from a conversation (pre-filled from it) or from fields.

    From a conversation: title from its subject or intent, the customer, the link to the
    conversation and to the customer's most recent order, a category guessed from the
    intent, urgency from the conversation's priority, and the first responder as owner.
    """

    fields = check_fields(fields)
    given = _checked(
        {
            "category": category,
            "title": title,
            "description": description,
            "urgent": urgent,
            "important": important,
        },
        absent=None,
    )
    now = timezone.now()
    with transaction.atomic():
        conversation, customer = _ticket_origin(
            actor, conversation_id=conversation_id, customer_id=customer_id
        )
        order = Order.objects.filter(customer=customer).order_by("-placed_at", "-id").first()
        prefilled = _prefilled(given, conversation, customer)
        is_complaint = prefilled["category"] == Ticket.Category.COMPLAINT
        if is_complaint:
            # A 投诉 ticket and its complaint are one case: never a second one for a conversation.
            check_no_second_case(conversation.pk if conversation else None)
        ticket_fields: dict[str, Any] = {}
        if order is not None:
            ticket_fields["order_no"] = order.order_no
        ticket_fields = merge_fields(ticket_fields, fields)
        owner = (
            conversation.first_responder if conversation and conversation.first_responder_id else None
        ) or actor
        ticket = Ticket(
            **prefilled,
            priority=priority_for(urgent=prefilled["urgent"], important=prefilled["important"]),
            customer=customer,
            owner=owner,
            assignee=actor,
            fields=ticket_fields,
            created_by=actor,
        )
        apply_ticket_deadlines(ticket, start=now, conversation=conversation)
        insert_with_number(ticket)
        link_records(ticket, conversation, order)
        if is_complaint:
            do_attach_complaint(ticket)
        event = log_event(
            ticket,
            TicketEvent.Kind.CREATED,
            f"{actor.name} 创建了工单 {ticket.number}",
            actor=actor,
            detail={
                "conversation_id": conversation.pk if conversation else None,
                "order_no": order.order_no if order else None,
                "owner_id": owner.pk,
            },
        )
        if conversation is not None:
            add_activity(
                conversation,
                f"{actor.name} 创建了工单 {ticket.number}",
                actor=actor,
                meta={"ticket_id": ticket.pk},
            )
        publish_ticket(ticket, "ticket.created", change="created", event=event)
    return CreatedTicket(
        ticket=ticket,
        conversation_ids=[conversation.pk] if conversation is not None else [],
        orders=[order] if order is not None else [],
        timeline=[event],
    )


def _ticket_origin(
    actor: User, *, conversation_id: int | None, customer_id: int | None
) -> tuple[Conversation | None, Customer]:
    """The conversation a new ticket comes from, if any, and its customer (the one it was merged into)."""
    conversation = None
    if conversation_id is not None:
        conversation = access_conversation(actor, conversation_id)
        customer = conversation.customer
    elif customer_id is not None:
        found = Customer.objects.filter(pk=customer_id).first()
        if found is None:
            raise InvalidInput("客户不存在", fields={"customer_id": "不存在"})
        customer = found
    else:
        raise InvalidInput("请指定会话或客户", fields={"conversation_id": "与 customer_id 至少填一个"})
    if customer.merged_into_id:
        customer = Customer.objects.get(pk=customer.merged_into_id)
    return conversation, customer


def _prefilled(
    given: dict[str, Any], conversation: Conversation | None, customer: Customer
) -> dict[str, Any]:
    """Title, description, category and urgency of a new ticket: as given, else from the conversation."""
    recent_text = _recent_customer_text(conversation)
    title = given.get("title")
    if title is None:
        if conversation is None:
            raise InvalidInput("请填写工单标题", fields={"title": "不能为空"})
        title = (conversation.subject or conversation.intent or f"{customer}的咨询").strip()[
            :MAX_TITLE
        ] or "客户咨询"
    description = given["description"] if "description" in given else recent_text[:MAX_TEXT]
    category = given.get("category")
    if category is None:
        category = guess_category(
            intent=conversation.intent if conversation else "",
            text=f"{title}\n{description}\n{recent_text}",
        )
    default_urgent, default_important = PRIORITY_FLAGS[
        Priority(conversation.priority if conversation else "P4")
    ]
    return {
        "title": title,
        "description": description,
        "category": category,
        "urgent": given.get("urgent", default_urgent),
        "important": given.get("important", default_important),
    }


def _recent_customer_text(conversation: Conversation | None) -> str:
    """The customer's last three public messages, oldest first (empty without a conversation)."""
    if conversation is None:
        return ""
    texts = list(
        conversation.messages.filter(direction=Message.Direction.INCOMING, is_private=False)
        .exclude(text="")
        .order_by("-id")
        .values_list("text", flat=True)[:3]
    )
    return "\n".join(reversed(texts))


def do_update_ticket(
    *,
    actor: User,
    ticket_id: int,
    title: Any = UNSET,
    description: Any = UNSET,
    category: Any = UNSET,
    urgent: Any = UNSET,
    important: Any = UNSET,
    fields: Any = UNSET,
    assignee_id: Any = UNSET,
) -> Ticket:
    """Edit a ticket; each changed aspect becomes one timeline line. A new priority or
    category recomputes the SLA deadlines from the ticket's creation."""
    changes = _checked(
        {
            "title": title,
            "description": description,
            "category": category,
            "urgent": urgent,
            "important": important,
        },
        absent=UNSET,
    )
    field_changes = check_fields(fields) if fields is not UNSET else None
    new_assignee = _check_assignee(assignee_id) if assignee_id is not UNSET else UNSET
    with transaction.atomic():
        ticket = access_ticket(actor, ticket_id, for_update=True)
        changed = {
            k: v
            for k, v in changes.items()
            if getattr(ticket, k) != v and not _sent_back_masked(ticket, k, v)
        }
        events = [_log_edit(ticket, key, value, actor=actor) for key, value in changed.items()]
        old_priority = ticket.priority
        ticket.priority = priority_for(urgent=ticket.urgent, important=ticket.important)
        if ticket.priority != old_priority:
            events.append(
                log_event(
                    ticket,
                    TicketEvent.Kind.FIELD,
                    f"优先级由 {old_priority} 变为 {ticket.priority}",
                    actor=actor,
                    detail={"field": "priority", "from": old_priority, "to": ticket.priority},
                )
            )
        if (ticket.priority != old_priority or "category" in changed) and ticket.status in OPEN_STATUSES:
            apply_ticket_deadlines(ticket, start=ticket.created_at)
        events.extend(
            event
            for event in (
                _merge_extra_fields(ticket, field_changes, actor=actor),
                _reassign(ticket, new_assignee, actor=actor),
            )
            if event is not None
        )
        if not events:
            return ticket
        if changed.get("category") == Ticket.Category.COMPLAINT:
            for conversation_id in ticket.conversations.values_list("id", flat=True):
                check_no_second_case(conversation_id, exclude_ticket_id=ticket.pk)
        ticket.save()
        if changed.get("category") == Ticket.Category.COMPLAINT:
            do_attach_complaint(ticket)
        publish_updated(
            ticket,
            "edited",
            events[-1],
            events=[event_dict(e, clear=True) for e in events],
            previous_priority=old_priority,
        )
    return ticket


def _sent_back_masked(ticket: Ticket, key: str, value: Any) -> bool:
    """A title or description saved as the desk showed it (masked) keeps the stored original."""
    current = getattr(ticket, key)
    return key in ("title", "description") and isinstance(current, str) and value == mask_text(current)


def _check_assignee(assignee_id: Any) -> User | None:
    """The active user to assign a ticket to (``None`` takes the assignment away)."""
    if assignee_id is None:
        return None
    if isinstance(assignee_id, bool) or not isinstance(assignee_id, int):
        raise InvalidInput("处理人无效", fields={"assignee_id": "应为用户 id"})
    assignee = User.objects.filter(pk=assignee_id, is_active=True).first()
    if assignee is None:
        raise InvalidInput("处理人不存在或已停用", fields={"assignee_id": "不存在或已停用"})
    return assignee


_EDIT_LABELS = {
    "title": "标题",
    "description": "描述",
    "category": "类别",
    "urgent": "紧急",
    "important": "重要",
}


def _shown(key: str, value: Any) -> Any:
    """An edited value as the timeline shows it."""
    if key == "category":
        return Ticket.Category(value).label
    if key in ("urgent", "important"):
        return "是" if value else "否"
    return value


def _log_edit(ticket: Ticket, key: str, value: Any, *, actor: User) -> TicketEvent:
    """Set one field and write its timeline line (a description is not quoted: it may be long)."""
    old = getattr(ticket, key)
    setattr(ticket, key, value)
    text = (
        f"{actor.name} 修改了{_EDIT_LABELS[key]}"
        if key == "description"
        else f"{actor.name} 将{_EDIT_LABELS[key]}由「{_shown(key, old)}」改为「{_shown(key, value)}」"
    )
    return log_event(
        ticket, TicketEvent.Kind.FIELD, text, actor=actor, detail={"field": key, "from": old, "to": value}
    )


def _merge_extra_fields(ticket: Ticket, changes: dict[str, str] | None, *, actor: User) -> TicketEvent | None:
    """Merge the extra information into the ticket; one timeline line names what changed."""
    if not changes:
        return None
    merged = merge_fields(ticket.fields, changes)
    if merged == ticket.fields:
        return None
    diff = {k: v for k, v in changes.items() if ticket.fields.get(k, "") != v}
    ticket.fields = merged
    return log_event(
        ticket,
        TicketEvent.Kind.FIELD,
        f"{actor.name} 更新了补充信息：{'、'.join(field_label(k) for k in diff)}",
        actor=actor,
        detail={"field": "fields", "changes": diff},
    )


def _reassign(ticket: Ticket, assignee: User | None | Any, *, actor: User) -> TicketEvent | None:
    """Hand the ticket to ``assignee`` (``UNSET`` leaves it); logged only when it changes hands."""
    if assignee is UNSET or (assignee.pk if assignee else None) == ticket.assignee_id:
        return None
    previous = ticket.assignee_id
    ticket.assignee = assignee
    return log_event(
        ticket,
        TicketEvent.Kind.ASSIGNED,
        f"{actor.name} 将工单指派给 {assignee.name}" if assignee else f"{actor.name} 取消了指派",
        actor=actor,
        detail={"from": previous, "to": assignee.pk if assignee else None},
    )


def do_change_status(*, actor: User, ticket_id: int, status: str, note: str = "") -> Ticket:
    """Move a ticket along the status machine; a wrong move is a Conflict naming the allowed ones."""
    status = check_status(status)
    note = check_text(note, field="note", max_len=MAX_TEXT, required=False)
    with transaction.atomic():
        ticket = access_ticket(actor, ticket_id, for_update=True)
        old = ticket.status
        if old == status:
            return ticket
        allowed = TRANSITIONS[old]
        if status not in allowed:
            hint = "；转部门请使用“转部门”" if status == Status.WAITING_DEPARTMENT else ""
            raise Conflict(
                f"工单状态不能由「{Status(old).label}」变为「{Status(status).label}」，"
                f"可选：{'、'.join(Status(s).label for s in allowed)}{hint}",
                fields={"status": f"可选 {', '.join(allowed)}"},
                extra={"allowed": list(allowed), "current": old},
            )
        now = timezone.now()
        reopened = old in (Status.RESOLVED, Status.CLOSED) and status == Status.IN_PROGRESS
        ticket.status = status
        pause_or_resume_ticket_clock(ticket, old=old, new=status, now=now)
        if status == Status.RESOLVED:
            ticket.resolved_at = now
        elif status == Status.CLOSED:
            ticket.closed_at = now
        if reopened:
            # A reopened ticket gets a fresh resolution window from now.
            ticket.resolved_at = None
            ticket.closed_at = None
            ticket.sla_paused_seconds = 0
            apply_ticket_deadlines(ticket, start=now, resolution_only=True)
        mark_first_response(ticket, now)
        ticket.save()
        verb = (
            "重新打开了工单" if reopened else f"将状态由「{Status(old).label}」改为「{Status(status).label}」"
        )
        event = log_event(
            ticket,
            TicketEvent.Kind.STATUS,
            f"{actor.name} {verb}" + (f"：{note}" if note else ""),
            actor=actor,
            detail={"from": old, "to": status, "note": note, "reopened": reopened},
        )
        publish_updated(ticket, "status", event, **{"from": old, "to": status})
    return ticket


def do_transfer_ticket(
    *, actor: User, ticket_id: int, department_id: Any, fields: Any = None, note: str = ""
) -> Ticket:
    """Hand a ticket to a responsible department.

    The department's ``required_fields`` must all be present in the ticket's fields
    or in ``fields`` given now; otherwise nothing changes and the error lists what is
    missing. Ownership stays with the first-contact owner.
    """
    department = access_department(department_id)
    given = check_fields(fields)
    note = check_text(note, field="note", max_len=MAX_TEXT, required=False)
    with transaction.atomic():
        ticket = access_ticket(actor, ticket_id, for_update=True)
        if ticket.status not in TRANSFERABLE:
            raise Conflict(
                f"工单已{Status(ticket.status).label}，无法转部门；请先重新打开",
                extra={"allowed": list(TRANSITIONS[ticket.status]), "current": ticket.status},
            )
        merged = merge_fields(ticket.fields, given)
        missing = [k for k in department.required_fields if not str(merged.get(k, "")).strip()]
        if missing:
            raise InvalidInput(
                f"转交「{department.name}」还缺少：{'、'.join(field_label(k) for k in missing)}",
                fields={k: f"{field_label(k)}为必填" for k in missing},
                extra={"missing": missing, "department_id": department.pk},
            )
        now = timezone.now()
        previous = {"department_id": ticket.department_id, "status": ticket.status}
        ticket.fields = merged
        ticket.department = department
        pause_or_resume_ticket_clock(ticket, old=ticket.status, new=Status.WAITING_DEPARTMENT, now=now)
        ticket.status = Status.WAITING_DEPARTMENT
        mark_first_response(ticket, now)
        apply_department_deadline(ticket, start=now)
        ticket.save()
        event = log_event(
            ticket,
            TicketEvent.Kind.TRANSFERRED,
            f"{actor.name} 将工单转交「{department.name}」" + (f"：{note}" if note else ""),
            actor=actor,
            detail={
                "department_id": department.pk,
                "department": department.name,
                "note": note,
                "fields": {k: merged.get(k) for k in department.required_fields},
                "due_at": _iso(ticket.due_at),
                "from": previous,
            },
        )
        publish_updated(ticket, "transferred", event, department=department_dict(department))
    return ticket


def do_add_comment(*, actor: User, ticket_id: int, text: str) -> TicketEvent:
    """An internal comment on the timeline (never shown to the customer)."""
    text = check_text(text, field="text", max_len=MAX_TEXT)
    with transaction.atomic():
        ticket = access_ticket(actor, ticket_id, for_update=True)
        event = log_event(ticket, TicketEvent.Kind.COMMENT, text, actor=actor)
        Ticket.objects.filter(pk=ticket.pk).update(updated_at=timezone.now())
        publish_updated(ticket, "comment", event)
    return event


def do_send_customer_update(
    *, actor: User, ticket_id: int, text: str, confirm_findings: bool = False
) -> Message:
    """Tell the customer how the ticket is progressing, in its linked conversation.

    The latest active linked conversation is used, or the latest one is reopened;
    sending goes through ``conversations.services`` so its access rules and the
    pre-send quality check apply (``confirm_findings`` as there).
    """

    text = check_message(text)
    with transaction.atomic():
        ticket = access_ticket(actor, ticket_id, for_update=True)
        conversations = list(ticket.conversations.order_by("-id")[:20])
        if not conversations:
            raise Conflict("该工单没有关联会话，无法通知客户", fields={"text": "工单未关联会话"})
        target = next((c for c in conversations if c.is_active), conversations[0])
        if not target.is_active:
            do_set_conversation_status(
                actor=actor, conversation_id=target.pk, status=Conversation.Status.OPEN
            )
        message, _ = do_send_agent_message(
            agent=actor,
            conversation_id=target.pk,
            text=f"【工单 {ticket.number} 进展】{text}",
            confirm_findings=confirm_findings,
        )
        now = timezone.now()
        mark_first_response(ticket, now)
        ticket.save(update_fields=["first_response_at", "updated_at"])
        event = log_event(
            ticket,
            TicketEvent.Kind.CUSTOMER_UPDATE,
            text,
            actor=actor,
            detail={"conversation_id": target.pk, "message_id": message.pk},
        )
        publish_updated(ticket, "customer_update", event)
    return message


def check_due(due_at: Any) -> datetime:
    if not isinstance(due_at, datetime):
        raise InvalidInput("请填写提醒时间", fields={"due_at": "必填，ISO 时间"})
    if timezone.is_naive(due_at):
        due_at = timezone.make_aware(due_at)
    return due_at


def do_add_follow_up(*, actor: User, ticket_id: int, due_at: Any, note: str) -> FollowUp:
    """A reminder on the owner's list (the actor's, when the ticket has no owner)."""
    due_at = check_due(due_at)
    note = (note or "").strip() if isinstance(note, str) else ""
    if not note or len(note) > 255:
        raise InvalidInput("请填写跟进内容", fields={"note": "必填，最多255个字符"})
    with transaction.atomic():
        ticket = access_ticket(actor, ticket_id, for_update=True)
        follow_up = FollowUp.objects.create(
            ticket=ticket, owner=ticket.owner or actor, due_at=due_at, note=note
        )
        event = log_event(
            ticket,
            TicketEvent.Kind.FOLLOW_UP,
            f"{actor.name} 设置了跟进提醒（{timezone.localtime(due_at):%m-%d %H:%M}）：{note}",
            actor=actor,
            detail={"follow_up_id": follow_up.pk, "action": "created", "due_at": _iso(due_at)},
        )
        publish_updated(ticket, "follow_up", event, follow_up=follow_up_dict(follow_up, clear=True))
    return follow_up


def do_complete_follow_up(*, actor: User, follow_up_id: int) -> FollowUp:
    with transaction.atomic():
        follow_up = FollowUp.objects.filter(pk=follow_up_id).first()
        if follow_up is None:
            raise NotFound(f"跟进提醒 {follow_up_id} 不存在")
        ticket = access_ticket(actor, follow_up.ticket_id, for_update=True)
        if follow_up.done_at is not None:
            return follow_up
        follow_up.done_at = timezone.now()
        follow_up.save(update_fields=["done_at"])
        event = log_event(
            ticket,
            TicketEvent.Kind.FOLLOW_UP,
            f"{actor.name} 完成了跟进：{follow_up.note}",
            actor=actor,
            detail={"follow_up_id": follow_up.pk, "action": "done"},
        )
        publish_updated(ticket, "follow_up", event, follow_up=follow_up_dict(follow_up, clear=True))
    return follow_up


# --- timers (called by the worker) ---------------------------------------------------------


def do_notify_due_follow_ups(now: datetime | None = None, *, limit: int = 200) -> int:
    """Remind owners of follow-ups that came due; each reminder is sent once."""
    now = now or timezone.now()
    due = list(
        FollowUp.objects.filter(done_at__isnull=True, notified_at__isnull=True, due_at__lte=now)
        .values_list("pk", flat=True)
        .order_by("due_at", "id")[:limit]
    )
    sent = 0
    for pk in due:
        with transaction.atomic():
            if not FollowUp.objects.filter(pk=pk, notified_at__isnull=True, done_at__isnull=True).update(
                notified_at=now
            ):
                continue
            follow_up = FollowUp.objects.select_related("ticket").get(pk=pk)
            ticket = follow_up.ticket
            publish(
                "ticket.follow_up_due",
                {
                    "ticket": ticket_dict(ticket, clear=True),
                    "follow_up": follow_up_dict(follow_up, clear=True),
                },
                user_ids=[follow_up.owner_id],
                webhook=False,
            )
            sent += 1
    return sent


# --- departments (settings) -------------------------------------------------------------


def _check_department(
    *, name: Any, required_fields: Any, deadline_hours: Any, department: Department | None
) -> tuple[str, list[str], int]:
    name = check_text(name, field="name", label="部门名称", max_len=64)
    same_name = Department.objects.filter(name=name)
    if department is not None:
        same_name = same_name.exclude(pk=department.pk)
    if same_name.exists():
        raise Conflict(f"部门 {name} 已存在", fields={"name": "已有同名部门"})
    if not isinstance(required_fields, list | tuple) or len(required_fields) > 20:
        raise InvalidInput("必填信息格式有误", fields={"required_fields": "最多 20 项"})
    keys: list[str] = []
    for key in required_fields:
        if not isinstance(key, str) or not FIELD_KEY_RE.match(key):
            raise InvalidInput("必填信息的名称无效", fields={"required_fields": "小写字母、数字和下划线"})
        if key not in keys:
            keys.append(key)
    if type(deadline_hours) is not int or not 1 <= deadline_hours <= 720:
        raise InvalidInput("处理时限无效", fields={"deadline_hours": "1 到 720 之间的整数（小时）"})
    return name, keys, deadline_hours


def do_save_department(
    *,
    actor: User,
    department: Department | None,
    name: str,
    team: Team | None,
    required_fields: list[str],
    deadline_hours: int,
    request: Any = None,
) -> Department:
    """Create (``department=None``) or change a department; audited with what changed."""
    check_admin(actor)
    name, keys, hours = _check_department(
        name=name, required_fields=required_fields, deadline_hours=deadline_hours, department=department
    )
    values = {"name": name, "team": team, "required_fields": keys, "deadline_hours": hours}
    with transaction.atomic():
        if department is None:
            department = Department.objects.create(**values)
            changes: dict[str, Any] = {"created": True}
        else:
            changes = apply_changes(department, values)
        if changes:
            audit(
                AuditLog.Action.SETTINGS_CHANGE,
                actor=actor,
                target=department,
                detail=changes,
                ip=client_ip(request),
            )
    return department
