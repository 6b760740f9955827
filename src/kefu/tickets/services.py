"""Tickets (工单): creation from a conversation, the status machine, department
transfer, the timeline, follow-up reminders and progress updates to the customer.

Every change is one transaction that also writes a ``TicketEvent`` (the timeline is
complete by construction) and publishes ``ticket.created`` / ``ticket.updated``
through ``kefu.core.events`` — to the department's team while a department holds the
ticket, otherwise to the owner's team, and always to the owner and the assignee.

The owner is the first-contact owner (首问负责制): the agent who first answered the
customer. Transfers move the work, never the ownership.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.db.models.functions import Length
from django.utils import timezone

from kefu.accounts.access import team_ids_of
from kefu.accounts.models import User
from kefu.conversations.models import Conversation, Message, Priority, priority_for
from kefu.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from kefu.core.events import publish

from .models import Department, FollowUp, Ticket, TicketEvent

Status = Ticket.Status
OPEN_STATUSES = (Status.NEW, Status.IN_PROGRESS, Status.WAITING_CUSTOMER, Status.WAITING_DEPARTMENT)

# The status machine. ``waiting_department`` is entered only by a transfer (which
# checks the department's required fields); resolved/closed → in_progress is a reopen.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    Status.NEW: (Status.IN_PROGRESS,),
    Status.IN_PROGRESS: (Status.WAITING_CUSTOMER, Status.RESOLVED),
    Status.WAITING_CUSTOMER: (Status.IN_PROGRESS, Status.RESOLVED),
    Status.WAITING_DEPARTMENT: (Status.IN_PROGRESS, Status.RESOLVED),
    Status.RESOLVED: (Status.CLOSED, Status.IN_PROGRESS),
    Status.CLOSED: (Status.IN_PROGRESS,),
}
TRANSFERABLE = (Status.NEW, Status.IN_PROGRESS, Status.WAITING_CUSTOMER, Status.WAITING_DEPARTMENT)

# Labels for the information departments commonly ask for; unknown keys show as-is.
FIELD_LABELS = {
    "order_no": "订单号",
    "evidence": "凭证（照片/视频链接）",
    "customer_request": "客户诉求",
    "tracking_no": "运单号",
    "amount": "涉及金额",
    "contact_phone": "联系电话",
    "address": "地址",
    "device": "设备/系统版本",
}
FIELD_KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
MAX_FIELD_VALUE = 2000
MAX_FIELDS = 30
MAX_TITLE = 200
MAX_TEXT = 5000

# The intent taxonomy (kefu.nlp.intent) mapped onto ticket categories; keywords when
# the conversation has no intent yet.
INTENT_CATEGORY = {
    "服务态度投诉": Ticket.Category.COMPLAINT,
    "账户与技术问题": Ticket.Category.TECHNICAL,
    "物流查询": Ticket.Category.AFTER_SALES,
    "物流延迟/催发货": Ticket.Category.AFTER_SALES,
    "退换货与退款": Ticket.Category.AFTER_SALES,
    "商品质量问题": Ticket.Category.AFTER_SALES,
    "发票": Ticket.Category.AFTER_SALES,
}
CATEGORY_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (Ticket.Category.COMPLAINT, ("投诉", "举报", "曝光", "12315", "态度差", "找你们领导")),
    (
        Ticket.Category.TECHNICAL,
        ("登录", "登陆", "验证码", "闪退", "报错", "打不开", "bug", "BUG", "卡顿", "账号"),
    ),
    (
        Ticket.Category.AFTER_SALES,
        (
            "退款",
            "退货",
            "换货",
            "破损",
            "质量",
            "坏了",
            "漏水",
            "物流",
            "快递",
            "发货",
            "发票",
            "少发",
            "错发",
        ),
    ),
)
PRIORITY_FLAGS = {
    Priority.P1: (True, True),
    Priority.P2: (False, True),
    Priority.P3: (True, False),
    Priority.P4: (False, False),
}
UNSET: Any = object()


# --- presentation ------------------------------------------------------------------------


def field_label(key: str) -> str:
    return FIELD_LABELS.get(key, key)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def ticket_dict(t: Ticket) -> dict[str, Any]:
    """The desk's and integrations' view of a ticket (no customer personal data)."""
    return {
        "id": t.pk,
        "number": t.number,
        "title": t.title,
        "description": t.description,
        "category": t.category,
        "status": t.status,
        "urgent": t.urgent,
        "important": t.important,
        "priority": t.priority,
        "customer_id": t.customer_id,
        "owner_id": t.owner_id,
        "assignee_id": t.assignee_id,
        "department_id": t.department_id,
        "fields": t.fields,
        "created_by_id": t.created_by_id,
        "created_at": _iso(t.created_at),
        "updated_at": _iso(t.updated_at),
        "first_response_due": _iso(t.first_response_due),
        "first_response_at": _iso(t.first_response_at),
        "due_at": _iso(t.due_at),
        "sla_warned_at": _iso(t.sla_warned_at),
        "sla_breached_at": _iso(t.sla_breached_at),
        "sla_breached": t.sla_breached_at is not None,
        "sla_paused": t.sla_paused_at is not None,
        "sla_paused_at": _iso(t.sla_paused_at),
        "sla_paused_seconds": t.sla_paused_seconds,
        "resolved_at": _iso(t.resolved_at),
        "closed_at": _iso(t.closed_at),
    }


def event_dict(e: TicketEvent) -> dict[str, Any]:
    return {
        "id": e.pk,
        "kind": e.kind,
        "kind_label": TicketEvent.Kind(e.kind).label,
        "actor_id": e.actor_id,
        "actor_name": e.actor.name if e.actor_id and e.actor else None,
        "text": e.text,
        "detail": e.detail,
        "created_at": _iso(e.created_at),
    }


def follow_up_dict(f: FollowUp) -> dict[str, Any]:
    return {
        "id": f.pk,
        "ticket_id": f.ticket_id,
        "owner_id": f.owner_id,
        "due_at": _iso(f.due_at),
        "note": f.note,
        "done_at": _iso(f.done_at),
        "notified_at": _iso(f.notified_at),
        "created_at": _iso(f.created_at),
    }


def department_dict(d: Department) -> dict[str, Any]:
    return {
        "id": d.pk,
        "name": d.name,
        "team_id": d.team_id,
        "required_fields": [{"key": k, "label": field_label(k)} for k in d.required_fields],
        "deadline_hours": d.deadline_hours,
    }


# --- validation ----------------------------------------------------------------------


def check_title(title: Any) -> str:
    if not isinstance(title, str) or not title.strip():
        raise InvalidInput("请填写工单标题", fields={"title": "不能为空"})
    title = title.strip()
    if len(title) > MAX_TITLE:
        raise InvalidInput(f"标题过长（最多 {MAX_TITLE} 字）", fields={"title": f"最多 {MAX_TITLE} 个字符"})
    return title


def check_long_text(value: Any, *, field: str, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput("内容必须是文字", fields={field: "必须是字符串"})
    value = value.strip()
    if required and not value:
        raise InvalidInput("内容不能为空", fields={field: "不能为空"})
    if len(value) > MAX_TEXT:
        raise InvalidInput(f"内容过长（最多 {MAX_TEXT} 字）", fields={field: f"最多 {MAX_TEXT} 个字符"})
    return value


def check_fields(fields: Any, *, name: str = "fields") -> dict[str, str]:
    """Extra ticket information: short snake_case keys, text values (blank = remove)."""
    if fields is None:
        return {}
    if not isinstance(fields, dict):
        raise InvalidInput("补充信息格式有误", fields={name: "应为对象"})
    if len(fields) > MAX_FIELDS:
        raise InvalidInput("补充信息过多", fields={name: f"最多 {MAX_FIELDS} 项"})
    clean: dict[str, str] = {}
    for key, value in fields.items():
        if not isinstance(key, str) or not FIELD_KEY_RE.match(key):
            raise InvalidInput(
                "补充信息的名称无效", fields={f"{name}.{key}": "小写字母、数字和下划线，最多32个字符"}
            )
        if value is None:
            value = ""
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise InvalidInput("补充信息的值必须是文字", fields={f"{name}.{key}": "必须是字符串"})
        value = str(value).strip()
        if len(value) > MAX_FIELD_VALUE:
            raise InvalidInput("补充信息过长", fields={f"{name}.{key}": f"最多 {MAX_FIELD_VALUE} 个字符"})
        clean[key] = value
    return clean


def _merge_fields(current: dict[str, Any], changes: dict[str, str]) -> dict[str, Any]:
    merged = dict(current)
    for key, value in changes.items():
        if value:
            merged[key] = value
        else:
            merged.pop(key, None)
    return merged


def check_status(status: Any) -> str:
    if status not in Status.values:
        raise InvalidInput(f"未知状态：{status}", fields={"status": f"应为 {', '.join(Status.values)} 之一"})
    return status


def check_category(category: Any) -> str:
    if category not in Ticket.Category.values:
        raise InvalidInput(
            f"未知类别：{category}", fields={"category": f"应为 {', '.join(Ticket.Category.values)} 之一"}
        )
    return category


def guess_category(*, intent: str = "", text: str = "") -> str:
    """A category from the conversation's intent, else from keywords in its text."""
    if intent in INTENT_CATEGORY:
        return INTENT_CATEGORY[intent]
    for category, words in CATEGORY_KEYWORDS:
        if any(w in text for w in words):
            return category
    return Ticket.Category.SERVICE


# --- access ------------------------------------------------------------------------------


def visible_tickets(user: User) -> QuerySet[Ticket]:
    """Supervisors and above see all; others what they own, handle, created, or their
    department team holds."""
    qs = Ticket.objects.select_related("customer", "owner", "assignee", "department")
    if user.sees_all:
        return qs
    return qs.filter(
        Q(owner=user) | Q(assignee=user) | Q(created_by=user) | Q(department__team_id__in=team_ids_of(user))
    )


def access_ticket(user: User, ticket_id: int, *, for_update: bool = False) -> Ticket:
    qs = visible_tickets(user)
    if for_update:
        qs = qs.select_for_update(of=("self",))
    try:
        return qs.get(pk=ticket_id)
    except Ticket.DoesNotExist as exc:
        if Ticket.objects.filter(pk=ticket_id).exists():
            raise PermissionDenied("您无权查看该工单") from exc
        raise NotFound(f"工单 {ticket_id} 不存在") from exc


def access_department(department_id: Any) -> Department:
    if isinstance(department_id, bool) or not isinstance(department_id, int):
        raise InvalidInput("请选择部门", fields={"department_id": "必填"})
    department = Department.objects.select_related("team").filter(pk=department_id).first()
    if department is None:
        raise InvalidInput("部门不存在", fields={"department_id": "不存在"})
    return department


def list_departments() -> QuerySet[Department]:
    return Department.objects.select_related("team").order_by("id")


def list_tickets(
    user: User,
    *,
    status: str | None = None,
    priority: str | None = None,
    category: str | None = None,
    owner: str | None = None,
    department_id: int | None = None,
    mine: bool = False,
) -> QuerySet[Ticket]:
    """Tickets the user may see, filtered. ``owner`` is "me" or a user id; ``mine`` means
    owned or assigned (owned-after-transfer included)."""
    qs = visible_tickets(user)
    if status:
        qs = qs.filter(status=check_status(status))
    if priority:
        if priority not in Priority.values:
            raise InvalidInput(
                f"未知优先级：{priority}", fields={"priority": f"应为 {', '.join(Priority.values)} 之一"}
            )
        qs = qs.filter(priority=priority)
    if category:
        qs = qs.filter(category=check_category(category))
    if owner:
        if owner == "me":
            qs = qs.filter(owner=user)
        elif owner.isdigit():
            qs = qs.filter(owner_id=int(owner))
        else:
            raise InvalidInput("owner 无效", fields={"owner": "应为 me 或用户 id"})
    if department_id is not None:
        qs = qs.filter(department_id=department_id)
    if mine:
        qs = qs.filter(Q(owner=user) | Q(assignee=user))
    return qs.order_by("-created_at", "-id")


def timeline(ticket: Ticket) -> list[TicketEvent]:
    return list(ticket.events.select_related("actor").order_by("created_at", "id"))


def tickets_for_conversation(user: User, conversation: Conversation) -> list[Ticket]:
    return list(visible_tickets(user).filter(conversations=conversation).order_by("-id")[:20])


@dataclass(frozen=True, slots=True)
class FollowUpList:
    overdue: list[FollowUp]
    due_today: list[FollowUp]
    upcoming: list[FollowUp]


def follow_ups_for(user: User, *, now: datetime | None = None, limit: int = 50) -> FollowUpList:
    """The user's open follow-up reminders: overdue, due today, later."""
    now = now or timezone.now()
    end_of_day = timezone.localtime(now).replace(hour=23, minute=59, second=59, microsecond=999999)
    items = list(
        FollowUp.objects.select_related("ticket")
        .filter(owner=user, done_at__isnull=True)
        .order_by("due_at", "id")[:limit]
    )
    return FollowUpList(
        overdue=[f for f in items if f.due_at <= now],
        due_today=[f for f in items if now < f.due_at <= end_of_day],
        upcoming=[f for f in items if f.due_at > end_of_day],
    )


# --- internals -------------------------------------------------------------------------


def _log(
    ticket: Ticket, kind: str, text: str, *, actor: User | None, detail: dict[str, Any] | None = None
) -> TicketEvent:
    return TicketEvent.objects.create(ticket=ticket, kind=kind, actor=actor, text=text, detail=detail or {})


def _team_id(ticket: Ticket) -> int | None:
    if ticket.department_id:
        team_id = Department.objects.filter(pk=ticket.department_id).values_list("team_id", flat=True).first()
        if team_id:
            return team_id
    if ticket.owner_id:
        return (
            User.teams.through.objects.filter(user_id=ticket.owner_id)
            .order_by("team_id")
            .values_list("team_id", flat=True)
            .first()
        )
    return None


def _publish(
    ticket: Ticket, event_type: str, *, change: str, event: TicketEvent | None, **extra: Any
) -> None:
    data = {"ticket": ticket_dict(ticket), "change": change, **extra}
    if event is not None:
        data["timeline_event"] = event_dict(event)
    publish(event_type, data, team_id=_team_id(ticket), user_ids=[ticket.owner_id, ticket.assignee_id])


def _updated(ticket: Ticket, change: str, event: TicketEvent | None, **extra: Any) -> None:
    _publish(ticket, "ticket.updated", change=change, event=event, **extra)


def _mark_first_response(ticket: Ticket, now: datetime) -> None:
    if ticket.first_response_at is None:
        ticket.first_response_at = now


def _apply_sla(
    ticket: Ticket, *, start: datetime, channel_kind: str | None = None, resolution_only: bool = False
) -> None:
    from kefu.sla.services import ticket_deadlines

    if channel_kind is None:
        channel_kind = (
            Conversation.objects.filter(tickets=ticket)
            .order_by("id")
            .values_list("channel__kind", flat=True)
            .first()
            or ""
        )
    d = ticket_deadlines(
        category=ticket.category,
        priority=ticket.priority,
        channel_kind=channel_kind,
        start=start,
        resolution_only=resolution_only,
    )
    if not resolution_only:
        ticket.first_response_due = d.first_response_due
        ticket.first_response_warn_at = d.first_response_warn_at
    # Time already spent waiting for the customer does not count against the window.
    paused = timedelta(seconds=ticket.sla_paused_seconds)
    ticket.due_at = d.due_at + paused if d.due_at else None
    ticket.due_warn_at = d.due_warn_at + paused if d.due_warn_at else None
    if ticket.department_id and ticket.status == Status.WAITING_DEPARTMENT:
        _apply_department_deadline(ticket, start=timezone.now())
    if ticket.sla_breached_at is None:
        # A new deadline deserves its own warning.
        ticket.sla_warned_at = None


def _pause_or_resume_sla(ticket: Ticket, *, old: str, new: str, now: datetime) -> None:
    """Stop the resolution clock on entering 等待客户; on leaving, move the deadline by the pause.

    While paused the sweep neither warns nor breaches on the resolution deadline
    (``kefu.sla.services``); the first response is already given by then.
    """
    if new == Status.WAITING_CUSTOMER and ticket.sla_paused_at is None:
        ticket.sla_paused_at = now
    elif old == Status.WAITING_CUSTOMER and new != old and ticket.sla_paused_at is not None:
        paused = max(now - ticket.sla_paused_at, timedelta(0))
        ticket.sla_paused_at = None
        ticket.sla_paused_seconds += int(paused.total_seconds())
        if ticket.due_at is not None:
            ticket.due_at += paused
        if ticket.due_warn_at is not None:
            ticket.due_warn_at += paused


def _apply_department_deadline(ticket: Ticket, *, start: datetime) -> None:
    """The department's deadline, never later than the SLA resolution time."""
    department = ticket.department
    if department is None or not department.deadline_hours:
        return
    hours = timedelta(hours=department.deadline_hours)
    deadline = start + hours
    if ticket.due_at is None or deadline < ticket.due_at:
        ticket.due_at = deadline
        ticket.due_warn_at = start + hours * 0.8


def _next_number(now: datetime) -> str:
    prefix = f"TK-{timezone.localtime(now):%Y%m%d}-"
    last = (
        Ticket.objects.filter(number__startswith=prefix)
        .order_by(Length("number").desc(), "-number")
        .values_list("number", flat=True)
        .first()
    )
    seq = int(last.rsplit("-", 1)[1]) + 1 if last else 1
    return f"{prefix}{seq:04d}"


def _insert_with_number(ticket: Ticket) -> None:
    """Save a new ticket under the next free number of the day.

    Two desks creating tickets at once compute the same next number; the unique
    constraint lets one win and the other retries (inside a savepoint, so the
    caller's transaction survives) with the number after it.
    """
    for attempt in range(20):
        ticket.number = _next_number(timezone.now())
        try:
            with transaction.atomic():
                ticket.save(force_insert=True)
            return
        except IntegrityError:
            if not Ticket.objects.filter(number=ticket.number).exists() or attempt == 19:
                raise
            ticket.pk = None
    raise Conflict("工单号分配失败，请重试")  # pragma: no cover


def _record_linked(ticket: Ticket, conversation: Conversation | None, order: Any) -> None:
    if conversation is not None:
        ticket.conversations.add(conversation)
    if order is not None:
        ticket.orders.add(order)


# --- writes ----------------------------------------------------------------------------


def do_create_ticket(
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
) -> Ticket:
    """Create a ticket — in one click from a conversation (pre-filled from it) or from fields.

    From a conversation: title from its subject or intent, the customer, the link to the
    conversation and to the customer's most recent order, a category guessed from the
    intent, urgency from the conversation's priority, and the first responder as owner.
    """
    from kefu.conversations.services import access_conversation
    from kefu.customers.models import Customer, Order

    fields = check_fields(fields)
    if category is not None:
        category = check_category(category)
    if title is not None:
        title = check_title(title)
    description = check_long_text(description, field="description") if description is not None else None
    for name, value in (("urgent", urgent), ("important", important)):
        if value is not None and not isinstance(value, bool):
            raise InvalidInput(f"{name} 必须是布尔值", fields={name: "必须是 true 或 false"})
    now = timezone.now()
    with transaction.atomic():
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
        order = Order.objects.filter(customer=customer).order_by("-placed_at", "-id").first()
        recent_text = ""
        if conversation is not None:
            texts = list(
                conversation.messages.filter(direction=Message.Direction.INCOMING, is_private=False)
                .exclude(text="")
                .order_by("-id")
                .values_list("text", flat=True)[:3]
            )
            recent_text = "\n".join(reversed(texts))
        if title is None:
            if conversation is None:
                raise InvalidInput("请填写工单标题", fields={"title": "不能为空"})
            title = (conversation.subject or conversation.intent or f"{customer}的咨询").strip()[
                :MAX_TITLE
            ] or "客户咨询"
        if description is None:
            description = recent_text[:MAX_TEXT]
        if category is None:
            category = guess_category(
                intent=conversation.intent if conversation else "",
                text=f"{title}\n{description}\n{recent_text}",
            )
        default_urgent, default_important = PRIORITY_FLAGS[
            Priority(conversation.priority if conversation else "P4")
        ]
        urgent = default_urgent if urgent is None else urgent
        important = default_important if important is None else important
        ticket_fields: dict[str, Any] = {}
        if order is not None:
            ticket_fields["order_no"] = order.order_no
        ticket_fields = _merge_fields(ticket_fields, fields)
        owner = (
            conversation.first_responder if conversation and conversation.first_responder_id else None
        ) or actor
        ticket = Ticket(
            title=title,
            description=description,
            category=category,
            urgent=urgent,
            important=important,
            priority=priority_for(urgent=urgent, important=important),
            customer=customer,
            owner=owner,
            assignee=actor,
            fields=ticket_fields,
            created_by=actor,
        )
        _apply_sla(ticket, start=now, channel_kind=conversation.channel.kind if conversation else "")
        _insert_with_number(ticket)
        _record_linked(ticket, conversation, order)
        event = _log(
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
            from kefu.conversations.services import add_activity

            add_activity(
                conversation,
                f"{actor.name} 创建了工单 {ticket.number}",
                actor=actor,
                meta={"ticket_id": ticket.pk},
            )
        _publish(ticket, "ticket.created", change="created", event=event)
    return ticket


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
    changes: dict[str, Any] = {}
    if title is not UNSET:
        changes["title"] = check_title(title)
    if description is not UNSET:
        changes["description"] = check_long_text(description, field="description")
    if category is not UNSET:
        changes["category"] = check_category(category)
    for name, value in (("urgent", urgent), ("important", important)):
        if value is not UNSET:
            if not isinstance(value, bool):
                raise InvalidInput(f"{name} 必须是布尔值", fields={name: "必须是 true 或 false"})
            changes[name] = value
    field_changes = check_fields(fields) if fields is not UNSET else None
    new_assignee: User | None | Any = UNSET
    if assignee_id is not UNSET:
        if assignee_id is None:
            new_assignee = None
        else:
            if isinstance(assignee_id, bool) or not isinstance(assignee_id, int):
                raise InvalidInput("处理人无效", fields={"assignee_id": "应为用户 id"})
            new_assignee = User.objects.filter(pk=assignee_id, is_active=True).first()
            if new_assignee is None:
                raise InvalidInput("处理人不存在或已停用", fields={"assignee_id": "不存在或已停用"})
    with transaction.atomic():
        ticket = access_ticket(actor, ticket_id, for_update=True)
        events: list[TicketEvent] = []
        labels = {
            "title": "标题",
            "description": "描述",
            "category": "类别",
            "urgent": "紧急",
            "important": "重要",
        }
        changed = {k: v for k, v in changes.items() if getattr(ticket, k) != v}
        for key, value in changed.items():
            old = getattr(ticket, key)
            setattr(ticket, key, value)
            shown_old, shown_new = old, value
            if key == "category":
                shown_old, shown_new = Ticket.Category(old).label, Ticket.Category(value).label
            elif key in ("urgent", "important"):
                shown_old, shown_new = ("是" if old else "否"), ("是" if value else "否")
            text = (
                f"{actor.name} 修改了{labels[key]}"
                if key == "description"
                else (f"{actor.name} 将{labels[key]}由「{shown_old}」改为「{shown_new}」")
            )
            events.append(
                _log(
                    ticket,
                    TicketEvent.Kind.FIELD,
                    text,
                    actor=actor,
                    detail={"field": key, "from": old, "to": value},
                )
            )
        old_priority = ticket.priority
        ticket.priority = priority_for(urgent=ticket.urgent, important=ticket.important)
        if ticket.priority != old_priority:
            events.append(
                _log(
                    ticket,
                    TicketEvent.Kind.FIELD,
                    f"优先级由 {old_priority} 变为 {ticket.priority}",
                    actor=actor,
                    detail={"field": "priority", "from": old_priority, "to": ticket.priority},
                )
            )
        if ticket.priority != old_priority or "category" in changed:
            if ticket.status in OPEN_STATUSES:
                _apply_sla(ticket, start=ticket.created_at)
        if field_changes:
            merged = _merge_fields(ticket.fields, field_changes)
            if merged != ticket.fields:
                diff = {k: v for k, v in field_changes.items() if ticket.fields.get(k, "") != v}
                ticket.fields = merged
                events.append(
                    _log(
                        ticket,
                        TicketEvent.Kind.FIELD,
                        f"{actor.name} 更新了补充信息：{'、'.join(field_label(k) for k in diff)}",
                        actor=actor,
                        detail={"field": "fields", "changes": diff},
                    )
                )
        if new_assignee is not UNSET and (new_assignee.pk if new_assignee else None) != ticket.assignee_id:
            previous = ticket.assignee_id
            ticket.assignee = new_assignee
            events.append(
                _log(
                    ticket,
                    TicketEvent.Kind.ASSIGNED,
                    f"{actor.name} 将工单指派给 {new_assignee.name}"
                    if new_assignee
                    else f"{actor.name} 取消了指派",
                    actor=actor,
                    detail={"from": previous, "to": new_assignee.pk if new_assignee else None},
                )
            )
        if not events:
            return ticket
        ticket.save()
        _updated(
            ticket,
            "edited",
            events[-1],
            events=[event_dict(e) for e in events],
            previous_priority=old_priority,
        )
    return ticket


def do_change_status(*, actor: User, ticket_id: int, status: str, note: str = "") -> Ticket:
    """Move a ticket along the status machine; a wrong move is a Conflict naming the allowed ones."""
    status = check_status(status)
    note = check_long_text(note, field="note")
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
        _pause_or_resume_sla(ticket, old=old, new=status, now=now)
        if status == Status.RESOLVED:
            ticket.resolved_at = now
        elif status == Status.CLOSED:
            ticket.closed_at = now
        if reopened:
            # A reopened ticket gets a fresh resolution window from now.
            ticket.resolved_at = None
            ticket.closed_at = None
            ticket.sla_paused_seconds = 0
            _apply_sla(ticket, start=now, resolution_only=True)
        _mark_first_response(ticket, now)
        ticket.save()
        verb = (
            "重新打开了工单" if reopened else f"将状态由「{Status(old).label}」改为「{Status(status).label}」"
        )
        event = _log(
            ticket,
            TicketEvent.Kind.STATUS,
            f"{actor.name} {verb}" + (f"：{note}" if note else ""),
            actor=actor,
            detail={"from": old, "to": status, "note": note, "reopened": reopened},
        )
        _updated(ticket, "status", event, **{"from": old, "to": status})
    return ticket


def do_resume_waiting_tickets(conversation: Conversation) -> list[Ticket]:
    """The customer answered: tickets waiting for them (等待客户) go back to 处理中.

    Tickets linked to this conversation, or, when none is, the customer's own tickets
    (a reply often arrives in a new conversation after the old one closed). The
    resolution clock resumes and the deadline moves by the pause; the timeline says
    the customer replied. Runs inside the message's transaction.
    """
    # One query on the usual path (the customer has no ticket waiting for them).
    candidates = list(
        Ticket.objects.filter(status=Status.WAITING_CUSTOMER, customer_id=conversation.customer_id)
        .order_by("id")
        .values_list("pk", flat=True)
    )
    if not candidates:
        return []
    linked = list(
        Ticket.conversations.through.objects.filter(
            ticket_id__in=candidates, conversation_id=conversation.pk
        ).values_list("ticket_id", flat=True)
    )
    tickets = list(
        Ticket.objects.select_for_update()
        .filter(pk__in=linked or candidates, status=Status.WAITING_CUSTOMER)
        .order_by("id")
    )
    now = timezone.now()
    for ticket in tickets:
        _pause_or_resume_sla(ticket, old=ticket.status, new=Status.IN_PROGRESS, now=now)
        ticket.status = Status.IN_PROGRESS
        ticket.save()
        event = _log(
            ticket,
            TicketEvent.Kind.STATUS,
            "客户已回复，工单由「等待客户」恢复为「处理中」",
            actor=None,
            detail={"from": Status.WAITING_CUSTOMER, "to": Status.IN_PROGRESS, "customer_replied": True},
        )
        _updated(ticket, "status", event, **{"from": Status.WAITING_CUSTOMER, "to": Status.IN_PROGRESS})
    return tickets


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
    note = check_long_text(note, field="note")
    with transaction.atomic():
        ticket = access_ticket(actor, ticket_id, for_update=True)
        if ticket.status not in TRANSFERABLE:
            raise Conflict(
                f"工单已{Status(ticket.status).label}，无法转部门；请先重新打开",
                extra={"allowed": list(TRANSITIONS[ticket.status]), "current": ticket.status},
            )
        merged = _merge_fields(ticket.fields, given)
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
        _pause_or_resume_sla(ticket, old=ticket.status, new=Status.WAITING_DEPARTMENT, now=now)
        ticket.status = Status.WAITING_DEPARTMENT
        _mark_first_response(ticket, now)
        _apply_department_deadline(ticket, start=now)
        ticket.save()
        event = _log(
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
        _updated(ticket, "transferred", event, department=department_dict(department))
    return ticket


def do_add_comment(*, actor: User, ticket_id: int, text: str) -> TicketEvent:
    """An internal comment on the timeline (never shown to the customer)."""
    text = check_long_text(text, field="text", required=True)
    with transaction.atomic():
        ticket = access_ticket(actor, ticket_id, for_update=True)
        event = _log(ticket, TicketEvent.Kind.COMMENT, text, actor=actor)
        Ticket.objects.filter(pk=ticket.pk).update(updated_at=timezone.now())
        _updated(ticket, "comment", event)
    return event


def do_send_customer_update(*, actor: User, ticket_id: int, text: str) -> Message:
    """Tell the customer how the ticket is progressing, in its linked conversation.

    The latest active linked conversation is used, or the latest one is reopened;
    sending goes through ``conversations.services`` so its access rules apply.
    """
    from kefu.conversations.services import check_text, do_send_agent_message
    from kefu.conversations.services import do_set_status as do_set_conversation_status

    text = check_text(text)
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
            agent=actor, conversation_id=target.pk, text=f"【工单 {ticket.number} 进展】{text}"
        )
        now = timezone.now()
        _mark_first_response(ticket, now)
        ticket.save(update_fields=["first_response_at", "updated_at"])
        event = _log(
            ticket,
            TicketEvent.Kind.CUSTOMER_UPDATE,
            text,
            actor=actor,
            detail={"conversation_id": target.pk, "message_id": message.pk},
        )
        _updated(ticket, "customer_update", event)
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
        event = _log(
            ticket,
            TicketEvent.Kind.FOLLOW_UP,
            f"{actor.name} 设置了跟进提醒（{timezone.localtime(due_at):%m-%d %H:%M}）：{note}",
            actor=actor,
            detail={"follow_up_id": follow_up.pk, "action": "created", "due_at": _iso(due_at)},
        )
        _updated(ticket, "follow_up", event, follow_up=follow_up_dict(follow_up))
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
        event = _log(
            ticket,
            TicketEvent.Kind.FOLLOW_UP,
            f"{actor.name} 完成了跟进：{follow_up.note}",
            actor=actor,
            detail={"follow_up_id": follow_up.pk, "action": "done"},
        )
        _updated(ticket, "follow_up", event, follow_up=follow_up_dict(follow_up))
    return follow_up


# --- timers (called by the worker) ---------------------------------------------------------


SLA_TEXT = {
    ("warning", "first_response"): "首次响应即将超时",
    ("warning", "resolution"): "即将超过解决时限",
    ("breached", "first_response"): "首次响应已超时",
    ("breached", "resolution"): "已超过解决时限",
}


def do_record_ticket_sla(ticket_id: int, *, kind: str, which: str, now: datetime) -> bool:
    """Record an SLA warning or breach once; returns False when another sweep got there first.

    The conditional UPDATE is the claim: of two workers, only one changes the row.
    """
    field = "sla_warned_at" if kind == "warning" else "sla_breached_at"
    with transaction.atomic():
        claim = Ticket.objects.filter(pk=ticket_id, **{f"{field}__isnull": True})
        if kind == "warning":
            claim = claim.filter(sla_breached_at__isnull=True)
        if not claim.update(**{field: now}):
            return False
        ticket = Ticket.objects.select_related("department").get(pk=ticket_id)
        due = ticket.first_response_due if which == "first_response" else ticket.due_at
        text = SLA_TEXT[(kind, which)]
        if due is not None:
            text += f"（截止 {timezone.localtime(due):%m-%d %H:%M}）"
        event = _log(
            ticket,
            TicketEvent.Kind.SLA_WARNING if kind == "warning" else TicketEvent.Kind.SLA_BREACHED,
            text,
            actor=None,
            detail={"which": which, "due_at": _iso(due)},
        )
        _publish(
            ticket, f"ticket.sla_{kind}", change=f"sla_{kind}", event=event, kind=which, due_at=_iso(due)
        )
    return True


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
                {"ticket": ticket_dict(ticket), "follow_up": follow_up_dict(follow_up)},
                user_ids=[follow_up.owner_id],
                webhook=False,
            )
            sent += 1
    return sent
