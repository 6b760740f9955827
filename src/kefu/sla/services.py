"""SLA, top floor: policy administration and the sweep that records warnings and breaches.

Timers are due times stored on the conversation or ticket; the worker's sweep
(``do_sweep``) finds what is due, so nothing depends on a process staying alive.
Each warning and breach is claimed with a conditional UPDATE (``… IS NULL``): when
two workers sweep at once exactly one of them records and announces it. Which policy
applies and the deadline maths are the ground floor, :mod:`kefu.sla.policies`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import BooleanField, ExpressionWrapper, F, Q
from django.tasks import task
from django.utils import timezone

from kefu.accounts.access import check_admin
from kefu.accounts.models import User
from kefu.channels.models import Channel
from kefu.conversations.models import Conversation, Priority
from kefu.conversations.presenters import conversation_dict
from kefu.conversations.timeline import add_activity
from kefu.core.errors import InvalidInput, NotFound
from kefu.core.events import publish
from kefu.core.fields import check_text
from kefu.sla.policies import DEFAULT_WARN_RATIO, active_policies, find_policy
from kefu.tickets.models import Ticket
from kefu.tickets.records import OPEN_STATUSES, do_record_ticket_sla

from .models import SLAPolicy

# Defaults from the practice this product encodes (also seeded by migration 0003).
DEFAULT_POLICIES: list[dict[str, Any]] = [
    {
        "name": "在线聊天首次响应 60 秒",
        "applies_to": "conversation",
        "channel_kind": "web",
        "first_response_seconds": 60,
    },
    {
        "name": "App 首次响应 60 秒",
        "applies_to": "conversation",
        "channel_kind": "app",
        "first_response_seconds": 60,
    },
    {
        "name": "即时通讯首次响应 60 秒",
        "applies_to": "conversation",
        "channel_kind": "im",
        "first_response_seconds": 60,
    },
    {
        "name": "直播评论 30 秒内响应",
        "applies_to": "conversation",
        "channel_kind": "live",
        "first_response_seconds": 30,
    },
    {
        "name": "社交媒体首次响应 10 分钟",
        "applies_to": "conversation",
        "channel_kind": "social",
        "first_response_seconds": 600,
    },
    {
        "name": "邮件 4 个工作小时内回复",
        "applies_to": "conversation",
        "channel_kind": "email",
        "first_response_seconds": 4 * 3600,
        "business_hours": True,
    },
    {
        "name": "投诉 24 小时内受理",
        "applies_to": "ticket",
        "ticket_category": "complaint",
        "first_response_seconds": 24 * 3600,
        "resolution_seconds": 72 * 3600,
    },
    {"name": "P1 4 小时解决", "applies_to": "ticket", "priority": "P1", "resolution_seconds": 4 * 3600},
    {"name": "P2 24 小时解决", "applies_to": "ticket", "priority": "P2", "resolution_seconds": 24 * 3600},
    {"name": "P3 48 小时解决", "applies_to": "ticket", "priority": "P3", "resolution_seconds": 48 * 3600},
    {"name": "P4 72 小时解决", "applies_to": "ticket", "priority": "P4", "resolution_seconds": 72 * 3600},
]

# At most this many items per kind per sweep; the next sweep takes the rest.
SWEEP_BATCH = 500
MAX_SECONDS = 366 * 24 * 3600

CONVERSATION_ACTIVE = (Conversation.Status.OPEN, Conversation.Status.PENDING, Conversation.Status.SNOOZED)


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


def access_policy(policy_id: int) -> SLAPolicy:
    try:
        return SLAPolicy.objects.get(pk=policy_id)
    except SLAPolicy.DoesNotExist as exc:
        raise NotFound(f"SLA 策略 {policy_id} 不存在") from exc


def _check_has_timer(policy: SLAPolicy) -> None:
    if policy.first_response_seconds is None and policy.resolution_seconds is None:
        raise InvalidInput(
            "首次响应时限与解决时限至少填一个",
            fields={"first_response_seconds": "与 resolution_seconds 至少填一个"},
        )


def do_create_policy(*, actor: User, data: dict[str, Any]) -> SLAPolicy:
    check_admin(actor)
    policy = SLAPolicy(**check_policy_fields(data, partial=False))
    _check_has_timer(policy)
    policy.save()
    return policy


def do_update_policy(*, actor: User, policy_id: int, data: dict[str, Any]) -> SLAPolicy:
    check_admin(actor)
    clean = check_policy_fields(data, partial=True)
    with transaction.atomic():
        policy = access_policy(policy_id)
        for key, value in clean.items():
            setattr(policy, key, value)
        _check_has_timer(policy)
        policy.save()
    return policy


def do_delete_policy(*, actor: User, policy_id: int) -> None:
    check_admin(actor)
    access_policy(policy_id).delete()


# --- the sweep ------------------------------------------------------------------------


@dataclass
class SweepResult:
    conversation_warnings: int = 0
    conversation_breaches: int = 0
    ticket_warnings: int = 0
    ticket_breaches: int = 0

    @property
    def total(self) -> int:
        return (
            self.conversation_warnings
            + self.conversation_breaches
            + self.ticket_warnings
            + self.ticket_breaches
        )


def _conversation_warn_at(conversation: Conversation, policies: list[SLAPolicy]) -> datetime:
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
            if _conversation_warn_at(conv, policies) > now:
                continue
            if _mark_conversation(
                conv, now=now, due=due, which="warning", extra={"sla_breached_at__isnull": True}
            ):
                result.conversation_warnings += 1


def _sweep_tickets(now: datetime, result: SweepResult) -> None:

    first_response_breached = Q(first_response_due__lte=now) & (
        Q(first_response_at__isnull=True, status__in=OPEN_STATUSES)
        | Q(first_response_at__gt=F("first_response_due"))
    )
    # A ticket waiting for the customer has its resolution clock stopped (sla_paused_at).
    resolution_breached = Q(due_at__lte=now) & (
        Q(resolved_at__isnull=True, status__in=OPEN_STATUSES, sla_paused_at__isnull=True)
        | Q(resolved_at__gt=F("due_at"))
    )
    breached = (
        Ticket.objects.filter(sla_breached_at__isnull=True)
        .filter(first_response_breached | resolution_breached)
        .annotate(fr_breached=ExpressionWrapper(first_response_breached, output_field=BooleanField()))
        .values_list("pk", "fr_breached")
        .order_by("id")[:SWEEP_BATCH]
    )
    for pk, fr in list(breached):
        if do_record_ticket_sla(pk, kind="breached", which="first_response" if fr else "resolution", now=now):
            result.ticket_breaches += 1
    warn = (
        Ticket.objects.filter(
            sla_warned_at__isnull=True, sla_breached_at__isnull=True, status__in=OPEN_STATUSES
        )
        .filter(
            Q(first_response_at__isnull=True, first_response_warn_at__lte=now)
            | Q(due_warn_at__lte=now, sla_paused_at__isnull=True)
        )
        .annotate(
            fr_warn=ExpressionWrapper(
                Q(first_response_at__isnull=True, first_response_warn_at__lte=now),
                output_field=BooleanField(),
            )
        )
        .values_list("pk", "fr_warn")
        .order_by("id")[:SWEEP_BATCH]
    )
    for pk, fr in list(warn):
        if do_record_ticket_sla(pk, kind="warning", which="first_response" if fr else "resolution", now=now):
            result.ticket_warnings += 1


def do_sweep(now: datetime | None = None) -> SweepResult:
    """Record and announce every SLA warning and breach due at ``now``; safe to run concurrently."""
    now = now or timezone.now()
    result = SweepResult()
    _sweep_conversations(now, result)
    _sweep_tickets(now, result)
    return result


@task()
def sweep_sla() -> int:
    """A sweep now (the worker also runs one on its timer); returns how many were recorded."""
    return do_sweep().total
