"""Tickets, ground floor: reading tickets, their checks, timeline and events, and the
small writes other apps ask for.

Permission-checked reads (``visible_tickets``, ``access_ticket``), the status machine
(``TRANSITIONS``), field checks, numbering (``TK-YYYYMMDD-NNNN``, settled by the unique
constraint), the timeline (``log_event``) and the ``ticket.*`` events. Other apps'
pipelines call ``do_resume_waiting_tickets`` (a customer replied) and the SLA sweep
``do_record_ticket_sla``; the ticket pipelines are the top floor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, Length
from django.utils import timezone

from kefu.accounts.access import team_ids_of
from kefu.accounts.models import ROLE_RANK, Role, User
from kefu.complaints.models import CompensationRequest
from kefu.conversations.models import Conversation, Message, Priority, priority_for
from kefu.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from kefu.core.events import publish
from kefu.core.fields import check_characters
from kefu.core.params import whole
from kefu.sla.policies import TIMER_BY_NAME, apply_ticket_deadlines, pause_or_resume_ticket_clock

from .models import OPEN_TICKET_STATUSES, Department, FollowUp, Ticket, TicketEvent, TicketNumberCounter
from .presenters import _iso, event_dict, ticket_dict

Status = Ticket.Status
OPEN_STATUSES = OPEN_TICKET_STATUSES
TRANSFERABLE = (Status.NEW, Status.IN_PROGRESS, Status.WAITING_CUSTOMER, Status.WAITING_DEPARTMENT)
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
        value = check_characters(str(value), field=f"{name}.{key}").strip()
        if len(value) > MAX_FIELD_VALUE:
            raise InvalidInput("补充信息过长", fields={f"{name}.{key}": f"最多 {MAX_FIELD_VALUE} 个字符"})
        clean[key] = value
    return clean


def merge_fields(current: dict[str, Any], changes: dict[str, str]) -> dict[str, Any]:
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


def visible_tickets(user: User) -> QuerySet[Ticket]:
    """Supervisors and above see all; others what they own, handle, created, or their
    department team holds, or whose team they belong to; team leads also their team
    members' tickets (SLA escalations send them there); and a complaint they are asked to
    approve compensation for (its team is theirs and their role suffices), or decided."""
    qs = Ticket.objects.select_related("customer", "owner", "assignee", "department", "team")
    if user.sees_all:
        return qs
    teams = team_ids_of(user)
    roles = [r for r in Role.values if ROLE_RANK[Role(r)] <= user.rank]
    approving = CompensationRequest.objects.filter(
        Q(status=CompensationRequest.Status.PENDING, team_id__in=teams, approver_role__in=roles)
        | Q(decided_by=user),
        complaint__isnull=False,
    ).values("complaint__ticket_id")
    mine = (
        Q(owner=user)
        | Q(assignee=user)
        | Q(created_by=user)
        | Q(department__team_id__in=teams)
        | Q(team_id__in=teams)
        | Q(pk__in=Subquery(approving))
    )
    if user.role == Role.TEAM_LEAD and teams:
        # A subquery, not a join: no duplicate rows, and select_for_update stays allowed.
        members = User.teams.through.objects.filter(team_id__in=teams).values("user_id")
        mine |= Q(owner_id__in=members) | Q(assignee_id__in=members)
    return qs.filter(mine)


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


# How a ticket list may be sorted (each then by id, so a keyset page is well defined);
# each has an index with the status in front (migration 0006) for the status filter.
SORTS: dict[str, str] = {"-created_at": "最新创建", "created_at": "最早创建", "-updated_at": "最近更新"}
DEFAULT_SORT = "-created_at"


def check_sort(sort: str) -> str:
    if sort not in SORTS:
        raise InvalidInput(f"未知排序：{sort}", fields={"sort": f"应为 {', '.join(SORTS)} 之一"})
    return sort


def list_tickets(
    user: User,
    *,
    status: str | None = None,
    priority: str | None = None,
    category: str | None = None,
    owner: str | None = None,
    department_id: int | None = None,
    mine: bool = False,
    sort: str = DEFAULT_SORT,
) -> QuerySet[Ticket]:
    """Tickets the user may see, filtered and sorted (``SORTS``, then id). ``owner`` is "me"
    or a user id; ``mine`` means owned or assigned (owned-after-transfer included)."""
    check_sort(sort)
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
        elif (owner_id := whole(owner)) is not None:
            qs = qs.filter(owner_id=owner_id)
        else:
            raise InvalidInput("owner 无效", fields={"owner": "应为 me 或用户 id"})
    if department_id is not None:
        qs = qs.filter(department_id=department_id)
    if mine:
        qs = qs.filter(Q(owner=user) | Q(assignee=user))
    return qs.order_by(sort, "-id" if sort.startswith("-") else "id")


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


def log_event(
    ticket: Ticket, kind: str, text: str, *, actor: User | None, detail: dict[str, Any] | None = None
) -> TicketEvent:
    return TicketEvent.objects.create(ticket=ticket, kind=kind, actor=actor, text=text, detail=detail or {})


def team_id_of(ticket: Ticket) -> int | None:
    """The team that hears of a ticket: its department's, else its own (a message left), else its owner's."""
    if ticket.department_id:
        team_id = Department.objects.filter(pk=ticket.department_id).values_list("team_id", flat=True).first()
        if team_id:
            return team_id
    if ticket.team_id:
        return ticket.team_id
    if ticket.owner_id:
        return (
            User.teams.through.objects.filter(user_id=ticket.owner_id)
            .order_by("team_id")
            .values_list("team_id", flat=True)
            .first()
        )
    return None


def publish_ticket(
    ticket: Ticket, event_type: str, *, change: str, event: TicketEvent | None, **extra: Any
) -> None:
    data = {"ticket": ticket_dict(ticket, clear=True), "change": change, **extra}
    if event is not None:
        data["timeline_event"] = event_dict(event, clear=True)
    publish(event_type, data, team_id=team_id_of(ticket), user_ids=[ticket.owner_id, ticket.assignee_id])


def publish_updated(ticket: Ticket, change: str, event: TicketEvent | None, **extra: Any) -> None:
    publish_ticket(ticket, "ticket.updated", change=change, event=event, **extra)


def mark_first_response(ticket: Ticket, now: datetime) -> None:
    if ticket.first_response_at is None:
        ticket.first_response_at = now


def take_ticket_number(day: date) -> int:
    """The next number of ``day``, in one upsert of its counter row.

    Precondition: inside the creating transaction. The row stays locked until it ends, so
    a concurrent creation (another thread or process) waits and takes the number after;
    a rolled-back creation gives its number back.
    """
    quote = connection.ops.quote_name
    table, day_col, last = quote(TicketNumberCounter._meta.db_table), quote("day"), quote("last")
    with connection.cursor() as cursor:
        # The same statement on PostgreSQL and SQLite (3.35+: ON CONFLICT … RETURNING).
        cursor.execute(
            f"INSERT INTO {table} ({day_col}, {last}) VALUES (%s, 1) "
            f"ON CONFLICT ({day_col}) DO UPDATE SET {last} = {table}.{last} + 1 RETURNING {last}",
            [connection.ops.adapt_datefield_value(day)],
        )
        row = cursor.fetchone()
    return int(row[0])


def _catch_up_counter(day: date, prefix: str) -> None:
    """Raise ``day``'s counter past numbers written without it (an import, ``kefu generate``)."""
    last = (
        Ticket.objects.filter(number__startswith=prefix)
        .order_by(Length("number").desc(), "-number")
        .values_list("number", flat=True)
        .first()
    )
    if last:
        TicketNumberCounter.objects.filter(day=day, last__lt=int(last.rsplit("-", 1)[1])).update(
            last=int(last.rsplit("-", 1)[1])
        )


def insert_with_number(ticket: Ticket) -> None:
    """Save a new ticket under the next number of the day (``TK-20261203-0042``).

    Precondition: inside a transaction (``take_ticket_number``). The unique constraint
    still guards the number: one taken by a row the counter did not count moves the
    counter past the day's numbers and the save is tried again, inside a savepoint so
    the caller's transaction survives.
    """
    day = timezone.localdate(timezone.now())
    prefix = f"TK-{day:%Y%m%d}-"
    for _attempt in range(3):
        ticket.number = f"{prefix}{take_ticket_number(day):04d}"
        try:
            with transaction.atomic():
                ticket.save(force_insert=True)
            return
        except IntegrityError:
            if not Ticket.objects.filter(number=ticket.number).exists():
                raise
            ticket.pk = None
            _catch_up_counter(day, prefix)
    raise Conflict("工单号分配失败，请重试")  # pragma: no cover


def link_records(ticket: Ticket, conversation: Conversation | None, order: Any) -> None:
    if conversation is not None:
        ticket.conversations.add(conversation)
    if order is not None:
        ticket.orders.add(order)


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
        pause_or_resume_ticket_clock(ticket, old=ticket.status, new=Status.IN_PROGRESS, now=now)
        ticket.status = Status.IN_PROGRESS
        ticket.save()
        event = log_event(
            ticket,
            TicketEvent.Kind.STATUS,
            "客户已回复，工单由「等待客户」恢复为「处理中」",
            actor=None,
            detail={"from": Status.WAITING_CUSTOMER, "to": Status.IN_PROGRESS, "customer_replied": True},
        )
        publish_updated(
            ticket, "status", event, **{"from": Status.WAITING_CUSTOMER, "to": Status.IN_PROGRESS}
        )
    return tickets


SLA_TEXT = {
    ("warning", "first_response"): "首次响应即将超时",
    ("warning", "resolution"): "即将超过解决时限",
    ("breached", "first_response"): "首次响应已超时",
    ("breached", "resolution"): "已超过解决时限",
}


def do_record_ticket_sla(ticket_id: int, *, kind: str, which: str, now: datetime) -> bool:
    """Record one timer's SLA warning or breach once; returns False when another sweep got there first.

    The conditional UPDATE on the timer's own field is the claim: of two workers, only
    one changes the row, and each timer (``which``) announces its own warning and breach.
    """
    timer = TIMER_BY_NAME[which]
    field = timer.warned_field if kind == "warning" else timer.breached_field
    with transaction.atomic():
        claim = Ticket.objects.filter(pk=ticket_id, **{f"{field}__isnull": True})
        if kind == "warning":
            claim = claim.filter(**{f"{timer.breached_field}__isnull": True})
            summary: dict[str, Any] = {"sla_warned_at": now}
        else:
            summary = {"sla_breached_at": Coalesce("sla_breached_at", Value(now))}
        if not claim.update(**{field: now}, **summary):
            return False
        ticket = Ticket.objects.select_related("department").get(pk=ticket_id)
        due = getattr(ticket, timer.due_field)
        text = SLA_TEXT[(kind, which)]
        if due is not None:
            text += f"（截止 {timezone.localtime(due):%m-%d %H:%M}）"
        event = log_event(
            ticket,
            TicketEvent.Kind.SLA_WARNING if kind == "warning" else TicketEvent.Kind.SLA_BREACHED,
            text,
            actor=None,
            detail={"which": which, "due_at": _iso(due), "round": getattr(ticket, timer.round_field)},
        )
        publish_ticket(
            ticket, f"ticket.sla_{kind}", change=f"sla_{kind}", event=event, kind=which, due_at=_iso(due)
        )
    return True


# --- messages left while nobody could take the chat (留言) ---------------------------------


@dataclass(frozen=True, slots=True)
class LeftMessage:
    """A customer's message left while the desk was closed or busy, and the promise made for it."""

    conversation: Conversation
    message: Message
    reply_by: datetime
    warn_at: datetime
    contact: str = ""  # how to reach them, masked (「手机 138****5678」), for the timeline


def do_open_left_message_ticket(left: LeftMessage) -> Ticket:
    """The ticket of a message left (留言): the conversation's team answers for it, by ``reply_by``.

    Nobody owns it yet: the team sees it (``visible_tickets``) and hears of it; the
    first agent who answers the customer becomes its owner (``do_answer_left_messages``).
    Its first response is due by the promise made to the customer (business time from
    now, ``routing.availability.reply_by``), its resolution by the SLA policies. Runs
    in the message's transaction.
    """
    conversation, message = left.conversation, left.message
    customer = conversation.customer
    text = message.text or "（图片）"
    urgent, important = PRIORITY_FLAGS[Priority(conversation.priority)]
    ticket = Ticket(
        title=f"客户留言：{text[:60]}",
        description=text[:MAX_TEXT],
        category=guess_category(intent=conversation.intent, text=text),
        urgent=urgent,
        important=important,
        priority=priority_for(urgent=urgent, important=important),
        customer_id=customer.merged_into_id or customer.pk,
        team_id=conversation.team_id,
        source=Ticket.Source.LEFT_MESSAGE,
    )
    now = timezone.now()
    apply_ticket_deadlines(ticket, start=now, channel_kind=conversation.channel.kind)
    ticket.first_response_due = left.reply_by
    ticket.first_response_warn_at = left.warn_at
    insert_with_number(ticket)
    link_records(ticket, conversation, None)
    contact = f"，联系方式：{left.contact}" if left.contact else ""
    event = log_event(
        ticket,
        TicketEvent.Kind.CREATED,
        f"客户留言{contact}；已告知客户将在 {timezone.localtime(left.reply_by):%Y-%m-%d %H:%M} 前回复",
        actor=None,
        detail={
            "conversation_id": conversation.pk,
            "message_id": message.pk,
            "reply_by": left.reply_by.isoformat(),
            "source": Ticket.Source.LEFT_MESSAGE,
        },
    )
    publish_ticket(ticket, "ticket.created", change="created", event=event)
    return ticket


def open_left_message_ticket(conversation: Conversation, *, any_status: bool = False) -> Ticket | None:
    """The conversation's latest ticket of a message left (留言) still open (or in any status)."""
    qs = Ticket.objects.filter(conversations=conversation, source=Ticket.Source.LEFT_MESSAGE)
    if not any_status:
        qs = qs.filter(status__in=OPEN_STATUSES)
    return qs.order_by("-id").first()


def do_answer_left_messages(conversation: Conversation, *, agent: User, now: datetime) -> list[Ticket]:
    """An agent answered the customer in the conversation: its open messages left (留言) are answered.

    The first response is recorded (the SLA stops warning), and a ticket nobody owned
    becomes the agent's (首问负责制). Runs inside the reply's transaction.
    """
    tickets = list(
        Ticket.objects.select_for_update()
        .filter(
            conversations=conversation,
            source=Ticket.Source.LEFT_MESSAGE,
            status__in=OPEN_STATUSES,
            first_response_at__isnull=True,
        )
        .order_by("id")
    )
    for ticket in tickets:
        ticket.first_response_at = now
        ticket.owner_id = ticket.owner_id or agent.pk
        ticket.assignee_id = ticket.assignee_id or agent.pk
        if ticket.status == Status.NEW:
            ticket.status = Status.IN_PROGRESS
        ticket.save(update_fields=["first_response_at", "owner", "assignee", "status", "updated_at"])
        event = log_event(
            ticket,
            TicketEvent.Kind.CUSTOMER_UPDATE,
            f"{agent.name} 在会话中回复了客户留言",
            actor=agent,
            detail={"conversation_id": conversation.pk, "owner_id": ticket.owner_id},
        )
        publish_updated(ticket, "answered", event)
    return tickets
