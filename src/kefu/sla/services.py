"""SLA, top floor: policy and escalation-chain administration, and the sweep that
records warnings, breaches and escalation steps.

Timers are due times stored on the conversation or ticket; the worker's sweep
(``do_sweep``) finds what is due, so nothing depends on a process staying alive.
Each timer's warning and breach is claimed with a conditional UPDATE (``… IS NULL``),
each escalation step with a unique row (``EscalationNotice``): when two workers sweep
at once exactly one of them records and announces it. Which policy applies and the
deadline maths are the ground floor, :mod:`kefu.sla.policies`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.utils import DNS_NAME
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.tasks import task
from django.utils import timezone

from kefu.accounts.access import check_role
from kefu.accounts.models import Role, User
from kefu.channels.models import Channel
from kefu.conversations.models import Conversation, Priority
from kefu.conversations.presenters import conversation_dict
from kefu.conversations.timeline import add_activity
from kefu.core.errors import InvalidInput, NotFound
from kefu.core.events import publish
from kefu.core.fields import check_text
from kefu.core.masking import mask_text
from kefu.hours.calendar import BusinessCalendar
from kefu.sla.policies import (
    DEFAULT_WARN_RATIO,
    TICKET_TIMERS,
    TIMER_BY_NAME,
    TicketTimer,
    active_policies,
    cached_calendar,
    find_policy,
)
from kefu.tickets.models import Ticket, TicketEvent
from kefu.tickets.presenters import event_dict, ticket_dict
from kefu.tickets.records import OPEN_STATUSES, access_ticket, do_record_ticket_sla, log_event, team_id_of

from .models import EscalationNotice, EscalationStep, SLAPolicy, Timer
from .presenters import notice_dict, step_dict, step_text

# Defaults from the practice this product encodes (seeded by migration 0003, renamed by 0005).
# Names say what a policy is for; the durations are shown from the fields.
DEFAULT_POLICIES: list[dict[str, Any]] = [
    {
        "name": "在线聊天首次响应",
        "applies_to": "conversation",
        "channel_kind": "web",
        "first_response_seconds": 60,
    },
    {
        "name": "App 首次响应",
        "applies_to": "conversation",
        "channel_kind": "app",
        "first_response_seconds": 60,
    },
    {
        "name": "即时通讯首次响应",
        "applies_to": "conversation",
        "channel_kind": "im",
        "first_response_seconds": 60,
    },
    {
        "name": "直播评论响应",
        "applies_to": "conversation",
        "channel_kind": "live",
        "first_response_seconds": 30,
    },
    {
        "name": "社交媒体首次响应",
        "applies_to": "conversation",
        "channel_kind": "social",
        "first_response_seconds": 600,
    },
    {
        "name": "公开负面帖子公开回复",
        "applies_to": "public_post",
        "first_response_seconds": 30 * 60,
    },
    {
        "name": "邮件回复",
        "applies_to": "conversation",
        "channel_kind": "email",
        "first_response_seconds": 4 * 3600,
        "business_hours": True,
    },
    {
        "name": "投诉受理与解决",
        "applies_to": "ticket",
        "ticket_category": "complaint",
        "first_response_seconds": 24 * 3600,
        "resolution_seconds": 72 * 3600,
    },
    {"name": "P1 工单解决", "applies_to": "ticket", "priority": "P1", "resolution_seconds": 4 * 3600},
    {"name": "P2 工单解决", "applies_to": "ticket", "priority": "P2", "resolution_seconds": 24 * 3600},
    {"name": "P3 工单解决", "applies_to": "ticket", "priority": "P3", "resolution_seconds": 48 * 3600},
    {"name": "P4 工单解决", "applies_to": "ticket", "priority": "P4", "resolution_seconds": 72 * 3600},
]

log = logging.getLogger(__name__)

# The chain the demo shop uses (and the docs show): the assignee at the warning, the
# team lead at the breach, a supervisor two hours later, a manager after a day.
EXAMPLE_CHAIN: list[dict[str, Any]] = [
    {"anchor": "warning", "notify": "assignee"},
    {"anchor": "breach", "notify": "team_lead"},
    {"anchor": "breach", "after_seconds": 2 * 3600, "notify": "supervisor"},
    {"anchor": "breach", "after_seconds": 24 * 3600, "notify": "manager"},
]

# At most this many items per kind per sweep; the next sweep takes the rest.
SWEEP_BATCH = 500
MAX_SECONDS = 366 * 24 * 3600

CONVERSATION_ACTIVE = Conversation.ACTIVE_STATUSES


# --- policies ---------------------------------------------------------------------------


def do_install_default_policies() -> int:
    created = 0
    for spec in DEFAULT_POLICIES:
        _, was_created = SLAPolicy.objects.get_or_create(name=spec["name"], defaults=spec)
        created += was_created
    return created


# --- policy administration ------------------------------------------------------------


POLICY_FIELDS = (
    "name",
    "applies_to",
    "channel_kind",
    "ticket_category",
    "priority",
    "first_response_seconds",
    "resolution_seconds",
    "business_hours",
    "warn_ratio",
    "is_active",
)


def list_policies() -> list[tuple[SLAPolicy, list[EscalationStep]]]:
    """Every policy with its chain, in two queries."""
    policies = list(SLAPolicy.objects.prefetch_related("escalation_steps").order_by("id"))
    return [(p, list(p.escalation_steps.all())) for p in policies]


def check_policy_fields(data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    """Validate policy input; returns the cleaned values. Raises InvalidInput naming each bad field."""

    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    choices = {
        "applies_to": SLAPolicy.AppliesTo.values,
        "channel_kind": Channel.Kind.values,
        "ticket_category": Ticket.Category.values,
        "priority": Priority.values,
    }
    for key, value in data.items():
        if key not in POLICY_FIELDS:
            errors[key] = "未知字段"
        elif key == "name":
            try:
                clean[key] = check_text(value, field=key, label="策略名称", max_len=64)
            except InvalidInput as exc:
                errors.update(exc.fields)
        elif key in choices:
            value = value or ""
            if value and value not in choices[key]:
                errors[key] = f"应为 {', '.join(v for v in choices[key] if v)} 之一或留空"
            else:
                clean[key] = value
        elif key in ("first_response_seconds", "resolution_seconds"):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SECONDS
            ):
                errors[key] = f"1 到 {MAX_SECONDS} 之间的整数秒，或留空"
            else:
                clean[key] = value
        elif key == "warn_ratio":
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
                errors[key] = "0 到 1 之间的小数"
            else:
                clean[key] = float(value)
        elif key in ("business_hours", "is_active"):
            if not isinstance(value, bool):
                errors[key] = "必须是 true 或 false"
            else:
                clean[key] = value
    if not partial and "name" not in data:
        errors["name"] = "必填"
    if errors:
        raise InvalidInput("SLA 策略参数有误", fields=errors)
    return clean


def access_policy(policy_id: int, *, for_update: bool = False) -> SLAPolicy:
    qs = SLAPolicy.objects.select_for_update() if for_update else SLAPolicy.objects.all()
    try:
        return qs.get(pk=policy_id)
    except SLAPolicy.DoesNotExist as exc:
        raise NotFound(f"SLA 策略 {policy_id} 不存在") from exc


def _check_has_timer(policy: SLAPolicy) -> None:
    if policy.first_response_seconds is None and policy.resolution_seconds is None:
        raise InvalidInput(
            "首次响应时限与解决时限至少填一个",
            fields={"first_response_seconds": "与 resolution_seconds 至少填一个"},
        )


def check_policy_editor(actor: User) -> None:
    """Supervisors and admins edit SLA policies and their escalation chains."""
    check_role(actor, Role.SUPERVISOR)


def do_create_policy(*, actor: User, data: dict[str, Any]) -> SLAPolicy:
    check_policy_editor(actor)
    data = dict(data)
    steps = data.pop("escalation", None)
    policy = SLAPolicy(**check_policy_fields(data, partial=False))
    _check_has_timer(policy)
    clean_steps = check_escalation_steps(policy, steps or [])
    with transaction.atomic():
        policy.save()
        _replace_steps(policy, clean_steps)
    return policy


def do_update_policy(*, actor: User, policy_id: int, data: dict[str, Any]) -> SLAPolicy:
    """Change a policy's fields and, when ``escalation`` is given, replace its chain.

    The chain is checked against the changed policy either way: clearing a timer that
    a step follows is refused until the step goes too.
    """
    check_policy_editor(actor)
    data = dict(data)
    steps = data.pop("escalation", None)
    clean = check_policy_fields(data, partial=True)
    with transaction.atomic():
        policy = access_policy(policy_id, for_update=True)
        for key, value in clean.items():
            setattr(policy, key, value)
        _check_has_timer(policy)
        if steps is None:
            current = [step_dict(s) for s in policy.escalation_steps.all()]
            check_escalation_steps(
                policy, [{k: v for k, v in c.items() if k in STEP_FIELDS} for c in current]
            )
        else:
            _replace_steps(policy, check_escalation_steps(policy, steps))
        policy.save()
    return policy


def do_set_escalation(*, actor: User, policy_id: int, steps: Any) -> SLAPolicy:
    """Replace a policy's escalation chain (steps already fired for a ticket do not fire again)."""
    check_policy_editor(actor)
    with transaction.atomic():
        policy = access_policy(policy_id, for_update=True)
        _replace_steps(policy, check_escalation_steps(policy, steps))
    return policy


def do_delete_policy(*, actor: User, policy_id: int) -> None:
    check_policy_editor(actor)
    access_policy(policy_id).delete()


# --- escalation chains ------------------------------------------------------------------

STEP_FIELDS = ("timer", "anchor", "after_seconds", "notify", "email")
MAX_STEPS = 20


def _check_step(policy: SLAPolicy, raw: Any, where: str) -> tuple[dict[str, Any], dict[str, str]]:
    """One step's clean values and the errors, each named ``escalation[i].field``."""
    if not isinstance(raw, dict):
        return {}, {where: "应为对象"}
    errors: dict[str, str] = {}
    for key in raw:
        if key not in STEP_FIELDS:
            errors[f"{where}.{key}"] = "未知字段"
    timer = raw.get("timer") or ""
    anchor = raw.get("anchor")
    after = raw.get("after_seconds", 0)
    notify = raw.get("notify")
    email = raw.get("email", True)
    if timer not in ("", *Timer.values):
        errors[f"{where}.timer"] = f"应为 {', '.join(Timer.values)} 之一或留空（每个计时）"
    elif timer and getattr(policy, TIMER_BY_NAME[timer].seconds_field) is None:
        errors[f"{where}.timer"] = f"该策略没有设置{Timer(timer).label}时限"
    if anchor not in EscalationStep.Anchor.values:
        errors[f"{where}.anchor"] = "应为 warning（预警时）或 breach（超时时）"
    if isinstance(after, bool) or not isinstance(after, int) or not 0 <= after <= MAX_SECONDS:
        errors[f"{where}.after_seconds"] = f"0 到 {MAX_SECONDS} 之间的整数秒，不能为负"
    if notify not in EscalationStep.Notify.values:
        errors[f"{where}.notify"] = "未知角色，应为 " + "、".join(
            f"{v}（{label}）" for v, label in EscalationStep.Notify.choices
        )
    if not isinstance(email, bool):
        errors[f"{where}.email"] = "必须是 true 或 false"
    clean = {"timer": timer, "anchor": anchor, "after_seconds": after, "notify": notify, "email": email}
    return clean, errors


def check_escalation_steps(policy: SLAPolicy, steps: Any) -> list[dict[str, Any]]:
    """Validate a chain for ``policy``: known timers, anchors and roles, offsets ≥ 0, no duplicates."""
    if not isinstance(steps, list):
        raise InvalidInput("升级步骤格式有误", fields={"escalation": "应为数组"})
    if steps and policy.applies_to == SLAPolicy.AppliesTo.CONVERSATION:
        raise InvalidInput("升级链只用于工单", fields={"escalation": "会话策略不能设置升级步骤"})
    if len(steps) > MAX_STEPS:
        raise InvalidInput("升级步骤过多", fields={"escalation": f"最多 {MAX_STEPS} 步"})
    errors: dict[str, str] = {}
    clean: list[dict[str, Any]] = []
    seen: set[tuple[str, str, int, str]] = set()
    for i, raw in enumerate(steps):
        where = f"escalation[{i}]"
        step, step_errors = _check_step(policy, raw, where)
        errors.update(step_errors)
        if step_errors:
            continue
        timers = [step["timer"]] if step["timer"] else list(Timer.values)
        keys = {(t, step["anchor"], step["after_seconds"], step["notify"]) for t in timers}
        if keys & seen:
            errors[where] = "与前面的步骤重复（同一计时、同一时间、同一角色）"
        seen |= keys
        clean.append(step)
    if errors:
        raise InvalidInput("升级步骤有误", fields=errors)
    return clean


def _replace_steps(policy: SLAPolicy, steps: list[dict[str, Any]]) -> None:
    policy.escalation_steps.all().delete()
    EscalationStep.objects.bulk_create(EscalationStep(policy=policy, **step) for step in steps)


# --- the sweep ------------------------------------------------------------------------


@dataclass
class SweepResult:
    conversation_warnings: int = 0
    conversation_breaches: int = 0
    ticket_warnings: int = 0
    ticket_breaches: int = 0
    escalations: int = 0

    @property
    def total(self) -> int:
        return (
            self.conversation_warnings
            + self.conversation_breaches
            + self.ticket_warnings
            + self.ticket_breaches
            + self.escalations
        )


def _conversation_warn_at(
    conversation: Conversation,
    policies: list[SLAPolicy],
    calendars: dict[tuple[int | None, int | None], BusinessCalendar] | None = None,
) -> datetime:
    due = conversation.first_response_due
    assert due is not None
    policy = find_policy(
        channel_kind=conversation.channel.kind,
        priority=conversation.priority,
        want="first_response_seconds",
        target=SLAPolicy.AppliesTo.CONVERSATION,
        policies=policies,
    )
    if policy is not None and not policy.business_hours and policy.first_response_seconds:
        allowed = timedelta(seconds=policy.first_response_seconds)
        return due - allowed * (1 - (policy.warn_ratio or DEFAULT_WARN_RATIO))
    # The policy changed since the timer started (or counts working hours):
    # warn at the same fraction of the wall-clock time from the conversation's start.
    ratio = policy.warn_ratio if policy is not None else DEFAULT_WARN_RATIO
    start = min(conversation.created_at, due)
    if policy is not None and policy.business_hours:
        # The same fraction of the open time: an email due Monday 12:00 is not warned on Sunday.
        calendar = cached_calendar(calendars, conversation.team_id, conversation.channel_id)
        return calendar.add_seconds(start, calendar.seconds_between(start, due) * ratio)
    return start + (due - start) * ratio


def _mark_conversation(
    conv: Conversation, *, now: datetime, due: datetime, which: str, extra: dict[str, Any]
) -> bool:
    """Record a warning or a breach once (conditional UPDATE), with its activity line and event.

    ``which`` is "breached" or "warning"; returns False when another worker got there first.
    """

    field = "sla_breached_at" if which == "breached" else "sla_warned_at"
    with transaction.atomic():
        if not Conversation.objects.filter(pk=conv.pk, **{f"{field}__isnull": True}, **extra).update(
            **{field: now}
        ):
            return False
        setattr(conv, field, now)
        when = f"{timezone.localtime(due):%m-%d %H:%M:%S}"
        text = (
            f"首次响应已超时（应于 {when} 前回复）"
            if which == "breached"
            else f"首次响应即将超时（截止 {when}）"
        )
        add_activity(
            conv,
            text,
            meta={"sla": "breached" if which == "breached" else "warning", "due_at": due.isoformat()},
        )
        publish(
            f"conversation.sla_{which}",
            {
                "conversation": conversation_dict(conv, clear=True),
                "kind": "first_response",
                "due_at": due.isoformat(),
            },
            team_id=conv.team_id,
            user_ids=[conv.assignee_id],
            conversation_id=conv.pk,
        )
    return True


def _sweep_conversations(now: datetime, result: SweepResult) -> None:
    policies = active_policies()
    calendars: dict[tuple[int | None, int | None], BusinessCalendar] = {}
    # Unanswered active conversations (a late answer still counts as a breach);
    # already-warned ones only once their due time has passed.
    candidates = (
        Conversation.objects.select_related("channel", "customer")
        .filter(first_response_due__isnull=False, sla_breached_at__isnull=True)
        .filter(
            Q(first_response_at__isnull=True, status__in=CONVERSATION_ACTIVE)
            | Q(first_response_at__gt=F("first_response_due"))
        )
        .filter(Q(sla_warned_at__isnull=True) | Q(first_response_due__lte=now))
        .order_by("first_response_due", "id")[:SWEEP_BATCH]
    )
    for conv in candidates:
        due = conv.first_response_due
        assert due is not None
        if due <= now:
            if _mark_conversation(conv, now=now, due=due, which="breached", extra={}):
                result.conversation_breaches += 1
        elif conv.sla_warned_at is None and conv.first_response_at is None:
            if _conversation_warn_at(conv, policies, calendars) > now:
                continue
            if _mark_conversation(
                conv, now=now, due=due, which="warning", extra={"sla_breached_at__isnull": True}
            ):
                result.conversation_warnings += 1


def _running(timer: TicketTimer) -> Q:
    """The timer's clock is running: not met yet, the ticket open (and not waiting for the customer)."""
    q = Q(**{f"{timer.done_field}__isnull": True}, status__in=OPEN_STATUSES)
    if timer.pausable:
        q &= Q(sla_paused_at__isnull=True)
    return q


def _sweep_ticket_timer(timer: TicketTimer, now: datetime, result: SweepResult) -> None:
    # Missed: still running past the due time, or met only after it (a late answer).
    breached = (
        Ticket.objects.filter(**{f"{timer.breached_field}__isnull": True, f"{timer.due_field}__lte": now})
        .filter(_running(timer) | Q(**{f"{timer.done_field}__gt": F(timer.due_field)}))
        .values_list("pk", flat=True)
        .order_by(timer.due_field, "id")[:SWEEP_BATCH]
    )
    for pk in list(breached):
        if do_record_ticket_sla(pk, kind="breached", which=timer.name, now=now):
            result.ticket_breaches += 1
    warn = (
        Ticket.objects.filter(
            _running(timer),
            **{
                f"{timer.warned_field}__isnull": True,
                f"{timer.breached_field}__isnull": True,
                f"{timer.warn_field}__lte": now,
            },
        )
        .values_list("pk", flat=True)
        .order_by(timer.warn_field, "id")[:SWEEP_BATCH]
    )
    for pk in list(warn):
        if do_record_ticket_sla(pk, kind="warning", which=timer.name, now=now):
            result.ticket_warnings += 1


def _sweep_tickets(now: datetime, result: SweepResult) -> None:
    for timer in TICKET_TIMERS:
        _sweep_ticket_timer(timer, now, result)


# --- escalation ---------------------------------------------------------------------------

# The people each step's role means, within the ticket's team (``team_id_of``: the
# department's team while a department holds it, else the owner's first team).
# Supervisors and managers often belong to no team: if the team has none, every
# active one is notified. Team leads come only from the team.
TEAM_WIDE_FALLBACK = (EscalationStep.Notify.SUPERVISOR, EscalationStep.Notify.MANAGER)


def escalation_recipients(ticket: Ticket, notify: str) -> list[User]:
    """Who a step notifies for ``ticket``; an empty list when nobody has that role."""
    if notify in (EscalationStep.Notify.ASSIGNEE, EscalationStep.Notify.OWNER):
        user = ticket.assignee if notify == EscalationStep.Notify.ASSIGNEE else ticket.owner
        return [user] if user is not None and user.is_active else []
    active = User.objects.filter(role=notify, is_active=True).order_by("id")
    team_id = team_id_of(ticket)
    members = list(active.filter(teams__id=team_id)) if team_id else []
    if members or notify not in TEAM_WIDE_FALLBACK:
        return members
    return list(active)


def _email_state(user: User, step: EscalationStep) -> str:
    if not step.email or not settings.KEFU_SLA_EMAIL:
        return "off"
    return "queued" if user.email else "no_address"


def _trail_text(timer: TicketTimer, step: EscalationStep, people: list[User]) -> str:
    role = EscalationStep.Notify(step.notify).label
    head = f"超时升级（{timer.label} · {step_text(step)}）"
    if not people:
        return f"{head}：未找到{role}，无人可通知"
    return f"{head}：已通知{role} {'、'.join(u.name for u in people)}"


def do_record_escalation(
    ticket_id: int, *, timer: TicketTimer, step: EscalationStep, round_: int, now: datetime
) -> EscalationNotice | None:
    """Fire one step for one round of a ticket's timer, once; None when it already fired.

    The notice's unique constraint is the claim (a second worker's insert fails and
    rolls back to its savepoint). In the same transaction: the timeline line, the desk
    event to the people notified (after commit) and their emails as database tasks.
    """
    with transaction.atomic():
        ticket = (
            Ticket.objects.select_for_update(of=("self",))
            .select_related("assignee", "owner", "department")
            .get(pk=ticket_id)
        )
        if getattr(ticket, timer.round_field) != round_:
            return None  # a new deadline since the sweep looked: the next sweep decides
        people = escalation_recipients(ticket, step.notify)
        due = getattr(ticket, timer.due_field)
        try:
            with transaction.atomic():
                notice = EscalationNotice.objects.create(
                    ticket=ticket,
                    timer=timer.name,
                    round=round_,
                    step_key=step.key,
                    step=step,
                    anchor=step.anchor,
                    after_seconds=step.after_seconds,
                    notify=step.notify,
                    due_at=due,
                    recipients=[
                        {"id": u.pk, "name": u.name, "role": u.role, "email": _email_state(u, step)}
                        for u in people
                    ],
                    created_at=now,
                )
        except IntegrityError:
            return None
        text = _trail_text(timer, step, people)
        event = log_event(
            ticket,
            TicketEvent.Kind.SLA_ESCALATED,
            text,
            actor=None,
            detail={
                "which": timer.name,
                "round": round_,
                "notice_id": notice.pk,
                "notify": step.notify,
                "recipients": [u.pk for u in people],
                "due_at": due.isoformat() if due else None,
            },
        )
        notified = [u.pk for u in people]
        publish(
            "ticket.sla_escalated",
            {
                "ticket": ticket_dict(ticket, clear=True),
                "change": "sla_escalated",
                "kind": timer.name,
                "text": text,
                "notice": notice_dict(notice),
                "timeline_event": event_dict(event, clear=True),
                "notify_user_ids": notified,
            },
            team_id=team_id_of(ticket),
            user_ids=[ticket.owner_id, ticket.assignee_id, *notified],
            webhook=False,
        )
        if any(r["email"] == "queued" for r in notice.recipients):
            send_escalation_email.enqueue(notice.pk)
    return notice


def _due_steps(
    timer: TicketTimer, row: tuple[Any, ...], steps: list[EscalationStep], now: datetime
) -> list[EscalationStep]:
    """The steps whose time has come for one ticket row (pk, policy, round, warn, due, breached)."""
    _, _, _, warn_at, due_at, breached_at = row
    due_steps = []
    for step in steps:
        if step.timer and step.timer != timer.name:
            continue
        if step.anchor == EscalationStep.Anchor.WARNING:
            anchor = warn_at
        else:
            # A breach step waits for the breach to be announced first.
            anchor = due_at if breached_at is not None else None
        if anchor is not None and anchor + timedelta(seconds=step.after_seconds) <= now:
            due_steps.append(step)
    return due_steps


def _sweep_escalation_timer(
    timer: TicketTimer, chains: dict[int, list[EscalationStep]], now: datetime, result: SweepResult
) -> None:
    policy_ids = [pid for pid, steps in chains.items() if any(s.timer in ("", timer.name) for s in steps)]
    if not policy_ids:
        return
    rows = list(
        Ticket.objects.filter(_running(timer), **{f"{timer.policy_field}_id__in": policy_ids})
        .filter(Q(**{f"{timer.warn_field}__lte": now}) | Q(**{f"{timer.breached_field}__isnull": False}))
        .values_list(
            "pk",
            f"{timer.policy_field}_id",
            timer.round_field,
            timer.warn_field,
            timer.due_field,
            timer.breached_field,
        )
        .order_by("id")
    )
    for start in range(0, len(rows), SWEEP_BATCH):
        batch = rows[start : start + SWEEP_BATCH]
        fired = set(
            EscalationNotice.objects.filter(
                timer=timer.name, ticket_id__in=[r[0] for r in batch]
            ).values_list("ticket_id", "round", "step_key")
        )
        for row in batch:
            pk, policy_id, round_ = row[0], row[1], row[2]
            for step in _due_steps(timer, row, chains[policy_id], now):
                if (pk, round_, step.key) in fired:
                    continue
                if do_record_escalation(pk, timer=timer, step=step, round_=round_, now=now):
                    result.escalations += 1


def _sweep_escalations(now: datetime, result: SweepResult) -> None:
    """Fire the escalation steps that have come due, for every timer of every open ticket."""
    chains: dict[int, list[EscalationStep]] = {}
    for step in EscalationStep.objects.filter(policy__is_active=True).order_by("policy_id", "id"):
        chains.setdefault(step.policy_id, []).append(step)
    if not chains:
        return
    for timer in TICKET_TIMERS:
        _sweep_escalation_timer(timer, chains, now, result)


def _escalation_email(notice: EscalationNotice, ticket: Ticket, to: str, recipient_id: int) -> EmailMessage:
    path = f"/desk/tickets/{ticket.pk}/"
    role = EscalationStep.Notify(notice.notify).label
    due = f"{timezone.localtime(notice.due_at):%Y-%m-%d %H:%M}" if notice.due_at else "—"
    body = (
        f"工单 {ticket.number}「{mask_text(ticket.title)}」已升级到{role}：\n"
        f"{TIMER_BY_NAME[notice.timer].label}时限 {due}（{step_text(notice)}）。\n"
        f"状态：{ticket.get_status_display()}，优先级：{ticket.priority}\n\n"
        f"查看工单：{settings.KEFU_DESK_URL}{path}\n"
    )
    subject = f"【SLA升级】{ticket.number} {TIMER_BY_NAME[notice.timer].label}超时提醒"
    # The same Message-ID when a task cut off between sending and recording runs again
    # (kefu.ops.leases): mail systems take the second copy for the first.
    message_id = f"<kefu-escalation-{notice.pk}-{recipient_id}@{DNS_NAME}>"
    return EmailMessage(
        subject=subject,
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        headers={"Message-ID": message_id},
    )


def do_send_escalation_email(notice_id: int) -> int:
    """Email the people a notice lists whose email is still queued; returns how many were sent.

    Each address's state is written back (``sent`` or ``failed``), so a task run again
    after a crash sends only what is still queued.
    """
    from django.core.mail import mailers

    notice = EscalationNotice.objects.select_related("ticket").filter(pk=notice_id).first()
    if notice is None:
        return 0
    emails = dict(User.objects.filter(pk__in=[r["id"] for r in notice.recipients]).values_list("pk", "email"))
    sent = 0
    for recipient in notice.recipients:
        if recipient.get("email") != "queued":
            continue
        address = emails.get(recipient["id"])
        try:
            if not address:
                raise ValueError("no address")
            mailers.default.send_messages(
                [_escalation_email(notice, notice.ticket, address, recipient["id"])]
            )
            recipient["email"] = "sent"
            sent += 1
        except (OSError, ValueError) as exc:  # smtplib errors are OSErrors
            log.warning(
                "escalation email for notice %s to user %s failed: %s", notice.pk, recipient["id"], exc
            )
            recipient["email"] = "failed"
        EscalationNotice.objects.filter(pk=notice.pk).update(recipients=notice.recipients)
    return sent


@task()
def send_escalation_email(notice_id: int) -> int:
    return do_send_escalation_email(notice_id)


def access_ticket_escalations(user: User, ticket_id: int) -> list[EscalationNotice]:
    """The escalation trail of a ticket the user may see, oldest first."""
    ticket = access_ticket(user, ticket_id)
    return list(EscalationNotice.objects.filter(ticket=ticket).order_by("created_at", "id"))


def do_sweep(now: datetime | None = None) -> SweepResult:
    """Record and announce every SLA warning and breach due at ``now``; safe to run concurrently."""
    now = now or timezone.now()
    result = SweepResult()
    _sweep_conversations(now, result)
    _sweep_tickets(now, result)
    _sweep_escalations(now, result)
    return result


@task()
def sweep_sla() -> int:
    """A sweep now (the worker also runs one on its timer); returns how many were recorded."""
    return do_sweep().total
