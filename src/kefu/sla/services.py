"""SLA: due times from policies, warnings before a breach, breach events.

Timers are due times stored on the conversation or ticket; the worker's sweep
(``do_sweep``) finds what is due, so nothing depends on a process staying alive.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from kefu.conversations.models import Conversation

from .models import SLAPolicy

# Defaults from the practice this product encodes.
DEFAULT_POLICIES = [
    {"name": "在线聊天首次响应 60 秒", "channel_kind": "web", "first_response_seconds": 60},
    {"name": "App 首次响应 60 秒", "channel_kind": "app", "first_response_seconds": 60},
    {"name": "即时通讯首次响应 60 秒", "channel_kind": "im", "first_response_seconds": 60},
    {"name": "直播评论 30 秒内响应", "channel_kind": "live", "first_response_seconds": 30},
    {"name": "社交媒体首次响应 10 分钟", "channel_kind": "social", "first_response_seconds": 600},
    {"name": "邮件 4 个工作小时内回复", "channel_kind": "email", "first_response_seconds": 4 * 3600, "business_hours": True},
    {"name": "投诉 24 小时内受理", "ticket_category": "complaint", "first_response_seconds": 24 * 3600, "resolution_seconds": 72 * 3600},
    {"name": "P1 4 小时解决", "priority": "P1", "resolution_seconds": 4 * 3600},
    {"name": "P2 24 小时解决", "priority": "P2", "resolution_seconds": 24 * 3600},
    {"name": "P3 48 小时解决", "priority": "P3", "resolution_seconds": 48 * 3600},
    {"name": "P4 72 小时解决", "priority": "P4", "resolution_seconds": 72 * 3600},
]

WORK_START_HOUR = 9
WORK_END_HOUR = 18


def add_business_seconds(start: datetime, seconds: int) -> datetime:
    """Add working time (Mon–Fri 09:00–18:00 local) to ``start``."""
    local = timezone.localtime(start)
    remaining = timedelta(seconds=seconds)
    while remaining > timedelta(0):
        if local.weekday() >= 5:
            local = (local + timedelta(days=1)).replace(hour=WORK_START_HOUR, minute=0, second=0, microsecond=0)
            continue
        day_start = local.replace(hour=WORK_START_HOUR, minute=0, second=0, microsecond=0)
        day_end = local.replace(hour=WORK_END_HOUR, minute=0, second=0, microsecond=0)
        if local < day_start:
            local = day_start
        if local >= day_end:
            local = (local + timedelta(days=1)).replace(hour=WORK_START_HOUR, minute=0, second=0, microsecond=0)
            continue
        available = day_end - local
        step = min(available, remaining)
        local += step
        remaining -= step
    return local


def find_policy(*, channel_kind: str = "", category: str = "", priority: str = "", want: str) -> SLAPolicy | None:
    """The most specific active policy defining ``want`` (a seconds field name)."""
    best: tuple[int, SLAPolicy] | None = None
    for p in SLAPolicy.objects.filter(is_active=True, **{f"{want}__isnull": False}):
        if p.channel_kind and p.channel_kind != channel_kind:
            continue
        if p.ticket_category and p.ticket_category != category:
            continue
        if p.priority and p.priority != priority:
            continue
        specificity = bool(p.channel_kind) + bool(p.ticket_category) + bool(p.priority)
        if best is None or specificity > best[0]:
            best = (specificity, p)
    return best[1] if best else None


def due_after(policy: SLAPolicy, start: datetime, seconds: int) -> datetime:
    return add_business_seconds(start, seconds) if policy.business_hours else start + timedelta(seconds=seconds)


def do_start_conversation_sla(conversation: Conversation) -> None:
    """Set the first-response due time for a conversation not yet answered."""
    if conversation.first_response_at is not None or conversation.first_response_due is not None:
        return
    policy = find_policy(
        channel_kind=conversation.channel.kind, priority=conversation.priority, want="first_response_seconds"
    )
    if policy is None:
        return
    due = due_after(policy, timezone.now(), policy.first_response_seconds or 0)
    Conversation.objects.filter(pk=conversation.pk).update(first_response_due=due)
    conversation.first_response_due = due


def do_install_default_policies() -> int:
    created = 0
    for spec in DEFAULT_POLICIES:
        _, was_created = SLAPolicy.objects.get_or_create(name=spec["name"], defaults=spec)
        created += was_created
    return created
