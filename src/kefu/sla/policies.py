"""SLA, ground floor: which policy applies and when a clock is due.

Business-hours arithmetic (Mon–Fri 09:00–18:00 local), the most specific active policy
for a conversation or a ticket, the first-response due time of a new conversation, and
a ticket's deadlines: set from the policies, moved by the time spent waiting for the
customer (the clock pauses in 等待客户) and never later than a department's own
deadline. The sweep that announces warnings and breaches is the top floor.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from kefu.conversations.models import Conversation
from kefu.tickets.models import Ticket

from .models import SLAPolicy

WORK_START_HOUR = 9
WORK_END_HOUR = 18
DEFAULT_WARN_RATIO = 0.8


def add_business_seconds(start: datetime, seconds: float) -> datetime:
    """Add working time (Mon–Fri 09:00–18:00 local) to ``start``."""
    local = timezone.localtime(start)
    remaining = timedelta(seconds=max(0.0, seconds))
    while remaining > timedelta(0):
        if local.weekday() >= 5:
            local = (local + timedelta(days=1)).replace(
                hour=WORK_START_HOUR, minute=0, second=0, microsecond=0
            )
            continue
        day_start = local.replace(hour=WORK_START_HOUR, minute=0, second=0, microsecond=0)
        day_end = local.replace(hour=WORK_END_HOUR, minute=0, second=0, microsecond=0)
        if local < day_start:
            local = day_start
        if local >= day_end:
            local = (local + timedelta(days=1)).replace(
                hour=WORK_START_HOUR, minute=0, second=0, microsecond=0
            )
            continue
        step = min(day_end - local, remaining)
        local += step
        remaining -= step
    return local


def due_after(policy: SLAPolicy, start: datetime, seconds: float) -> datetime:
    return (
        add_business_seconds(start, seconds) if policy.business_hours else start + timedelta(seconds=seconds)
    )


def warn_after(policy: SLAPolicy, start: datetime, seconds: float) -> datetime:
    """When ``warn_ratio`` of the allowed time (working time for business-hours policies) has passed."""
    return due_after(policy, start, seconds * (policy.warn_ratio or DEFAULT_WARN_RATIO))


def active_policies() -> list[SLAPolicy]:
    return list(SLAPolicy.objects.filter(is_active=True).order_by("id"))


def find_policy(
    *,
    channel_kind: str = "",
    category: str = "",
    priority: str = "",
    want: str,
    target: str = "",
    policies: Iterable[SLAPolicy] | None = None,
) -> SLAPolicy | None:
    """The most specific active policy defining ``want`` (a seconds field name).

    ``target`` ("conversation" or "ticket") skips policies meant for the other kind;
    ties go to the older policy. ``policies`` lets a sweep match from one query.
    """
    if want not in ("first_response_seconds", "resolution_seconds"):
        raise ValueError(want)
    best: tuple[int, SLAPolicy] | None = None
    for p in active_policies() if policies is None else policies:
        if not p.is_active or getattr(p, want) is None:
            continue
        if target and p.applies_to and p.applies_to != target:
            continue
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


def do_start_conversation_sla(conversation: Conversation) -> None:
    """Set the first-response due time for a conversation not yet answered."""
    if conversation.first_response_at is not None or conversation.first_response_due is not None:
        return
    policy = find_policy(
        channel_kind=conversation.channel.kind,
        priority=conversation.priority,
        want="first_response_seconds",
        target=SLAPolicy.AppliesTo.CONVERSATION,
    )
    if policy is None:
        return
    due = due_after(policy, timezone.now(), policy.first_response_seconds or 0)
    Conversation.objects.filter(pk=conversation.pk).update(first_response_due=due)
    conversation.first_response_due = due


@dataclass(frozen=True, slots=True)
class TicketTimer:
    """One clock of a ticket and the row fields that hold it.

    The sweep, the claims and the escalation chain loop over ``TICKET_TIMERS``, so a
    new timer is a new entry (and its fields), not a new copy of the sweep.
    """

    name: str
    label: str
    seconds_field: str  # the policy's allowed time
    due_field: str
    warn_field: str  # when the warning is due
    done_field: str  # set when the timer is met (or missed)
    warned_field: str
    breached_field: str
    round_field: str
    policy_field: str
    # Stopped while the ticket waits for the customer (``sla_paused_at``).
    pausable: bool


FIRST_RESPONSE = TicketTimer(
    name="first_response",
    label="首次响应",
    seconds_field="first_response_seconds",
    due_field="first_response_due",
    warn_field="first_response_warn_at",
    done_field="first_response_at",
    warned_field="first_response_warned_at",
    breached_field="first_response_breached_at",
    round_field="first_response_round",
    policy_field="first_response_policy",
    pausable=False,
)
RESOLUTION = TicketTimer(
    name="resolution",
    label="解决",
    seconds_field="resolution_seconds",
    due_field="due_at",
    warn_field="due_warn_at",
    done_field="resolved_at",
    warned_field="resolution_warned_at",
    breached_field="resolution_breached_at",
    round_field="resolution_round",
    policy_field="resolution_policy",
    pausable=True,
)
TICKET_TIMERS: tuple[TicketTimer, ...] = (FIRST_RESPONSE, RESOLUTION)
TIMER_BY_NAME = {t.name: t for t in TICKET_TIMERS}


def summarize_ticket_sla(ticket: Ticket) -> None:
    """The summary fields from the timers: the latest warning, the earliest breach standing."""
    warned = [w for t in TICKET_TIMERS if (w := getattr(ticket, t.warned_field)) is not None]
    breached = [b for t in TICKET_TIMERS if (b := getattr(ticket, t.breached_field)) is not None]
    ticket.sla_warned_at = max(warned) if warned else None
    ticket.sla_breached_at = min(breached) if breached else None


def rearm_timer(ticket: Ticket, timer: TicketTimer, *, fresh: bool) -> None:
    """A new deadline for ``timer``: its own warning again, and a new round for its chain.

    ``fresh`` (a reopen: a new window) forgets the breach too; otherwise a breach
    already recorded stands and the timer keeps its round.
    """
    if fresh:
        setattr(ticket, timer.breached_field, None)
    elif getattr(ticket, timer.breached_field) is not None:
        return
    setattr(ticket, timer.warned_field, None)
    setattr(ticket, timer.round_field, getattr(ticket, timer.round_field) + 1)


@dataclass(frozen=True, slots=True)
class TicketDeadlines:
    first_response_due: datetime | None
    first_response_warn_at: datetime | None
    due_at: datetime | None
    due_warn_at: datetime | None
    first_response_policy: SLAPolicy | None = None
    resolution_policy: SLAPolicy | None = None


def ticket_deadlines(
    *, category: str, priority: str, channel_kind: str = "", start: datetime, resolution_only: bool = False
) -> TicketDeadlines:
    """Due and warning times for a ticket whose clock started at ``start``."""
    policies = active_policies()
    kw = {"channel_kind": channel_kind, "category": category, "priority": priority, "target": "ticket"}
    fr_due = fr_warn = res_due = res_warn = None
    fr = None
    if not resolution_only:
        fr = find_policy(want="first_response_seconds", policies=policies, **kw)
        if fr is not None:
            fr_due = due_after(fr, start, fr.first_response_seconds or 0)
            fr_warn = warn_after(fr, start, fr.first_response_seconds or 0)
    res = find_policy(want="resolution_seconds", policies=policies, **kw)
    if res is not None:
        res_due = due_after(res, start, res.resolution_seconds or 0)
        res_warn = warn_after(res, start, res.resolution_seconds or 0)
    return TicketDeadlines(fr_due, fr_warn, res_due, res_warn, fr, res)


def apply_ticket_deadlines(
    ticket: Ticket, *, start: datetime, channel_kind: str | None = None, resolution_only: bool = False
) -> None:
    """Set a ticket's due and warning times from the policies, counting its clock from ``start``."""
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
    new_row = ticket.pk is None
    if not resolution_only:
        ticket.first_response_due = d.first_response_due
        ticket.first_response_warn_at = d.first_response_warn_at
        ticket.first_response_policy = d.first_response_policy
    # Time already spent waiting for the customer does not count against the window.
    paused = timedelta(seconds=ticket.sla_paused_seconds)
    ticket.due_at = d.due_at + paused if d.due_at else None
    ticket.due_warn_at = d.due_warn_at + paused if d.due_warn_at else None
    ticket.resolution_policy = d.resolution_policy
    if ticket.department_id and ticket.status == Ticket.Status.WAITING_DEPARTMENT:
        apply_department_deadline(ticket, start=timezone.now())
    if not new_row:
        # A new deadline deserves its own warning (and its own escalation round); a
        # reopen opens a new resolution window, so its old breach no longer stands.
        if not resolution_only:
            rearm_timer(ticket, FIRST_RESPONSE, fresh=False)
        rearm_timer(ticket, RESOLUTION, fresh=resolution_only)
        summarize_ticket_sla(ticket)


def pause_or_resume_ticket_clock(ticket: Ticket, *, old: str, new: str, now: datetime) -> None:
    """Stop the resolution clock on entering 等待客户; on leaving, move the deadline by the pause.

    While paused the sweep neither warns nor breaches on the resolution deadline
    (``kefu.sla.services``); the first response is already given by then.
    """
    if new == Ticket.Status.WAITING_CUSTOMER and ticket.sla_paused_at is None:
        ticket.sla_paused_at = now
    elif old == Ticket.Status.WAITING_CUSTOMER and new != old and ticket.sla_paused_at is not None:
        paused = max(now - ticket.sla_paused_at, timedelta(0))
        ticket.sla_paused_at = None
        ticket.sla_paused_seconds += int(paused.total_seconds())
        if ticket.due_at is not None:
            ticket.due_at += paused
        if ticket.due_warn_at is not None:
            ticket.due_warn_at += paused


def apply_department_deadline(ticket: Ticket, *, start: datetime) -> None:
    """The department's deadline, never later than the SLA resolution time."""
    department = ticket.department
    if department is None or not department.deadline_hours:
        return
    hours = timedelta(hours=department.deadline_hours)
    deadline = start + hours
    if ticket.due_at is None or deadline < ticket.due_at:
        ticket.due_at = deadline
        ticket.due_warn_at = start + hours * 0.8
