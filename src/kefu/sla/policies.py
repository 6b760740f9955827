"""SLA, ground floor: which policy applies and when a clock is due.

Business-hours arithmetic on the calendar of the conversation's team and channel
(``kefu.hours.calendar``: weekly hours, public holidays closed, 调休 days open), the most
specific active policy for a conversation or a ticket, the first-response due time of a new conversation, and
a ticket's deadlines: set from the policies, moved by the time spent waiting for the
customer (the clock pauses in 等待客户) and never later than a department's own
deadline. The sweep that announces warnings and breaches is the top floor.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from kefu.conversations.models import Conversation
from kefu.hours.calendar import BusinessCalendar, calendar_for
from kefu.tickets.models import Ticket

from .models import SLAPolicy

DEFAULT_WARN_RATIO = 0.8


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose business hours a clock counts: a team on a channel (either may be None)."""

    team_id: int | None = None
    channel_id: int | None = None


def add_business_seconds(
    start: datetime, seconds: float, *, team: Any = None, channel: Any = None
) -> datetime:
    """Add open time of ``team`` on ``channel`` (their calendar, holidays and 调休 included) to ``start``."""
    return calendar_for(team, channel).add_seconds(start, seconds)


def due_after(
    policy: SLAPolicy, start: datetime, seconds: float, *, calendar: BusinessCalendar | None = None
) -> datetime:
    """``start`` plus the allowed time: open time for business-hours policies, else wall-clock."""
    if not policy.business_hours:
        return start + timedelta(seconds=seconds)
    return (calendar or calendar_for()).add_seconds(start, seconds)


def warn_after(
    policy: SLAPolicy, start: datetime, seconds: float, *, calendar: BusinessCalendar | None = None
) -> datetime:
    """When ``warn_ratio`` of the allowed time (working time for business-hours policies) has passed."""
    return due_after(policy, start, seconds * (policy.warn_ratio or DEFAULT_WARN_RATIO), calendar=calendar)


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
    calendar = calendar_for(conversation.team_id, conversation.channel_id) if policy.business_hours else None
    due = due_after(policy, timezone.now(), policy.first_response_seconds or 0, calendar=calendar)
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
    *,
    category: str,
    priority: str,
    channel_kind: str = "",
    start: datetime,
    resolution_only: bool = False,
    scope: Scope | None = None,
) -> TicketDeadlines:
    """Due and warning times for a ticket whose clock started at ``start``.

    Business-hours policies count the open time of ``scope`` (the team and channel of the
    ticket's conversation; the desk-wide hours when None).
    """
    policies = active_policies()
    kw = {"channel_kind": channel_kind, "category": category, "priority": priority, "target": "ticket"}
    fr = None if resolution_only else find_policy(want="first_response_seconds", policies=policies, **kw)
    res = find_policy(want="resolution_seconds", policies=policies, **kw)
    calendar = None
    if (fr is not None and fr.business_hours) or (res is not None and res.business_hours):
        scope = scope or Scope()
        calendar = calendar_for(scope.team_id, scope.channel_id)
    fr_due = fr_warn = res_due = res_warn = None
    if fr is not None:
        fr_due = due_after(fr, start, fr.first_response_seconds or 0, calendar=calendar)
        fr_warn = warn_after(fr, start, fr.first_response_seconds or 0, calendar=calendar)
    if res is not None:
        res_due = due_after(res, start, res.resolution_seconds or 0, calendar=calendar)
        res_warn = warn_after(res, start, res.resolution_seconds or 0, calendar=calendar)
    return TicketDeadlines(fr_due, fr_warn, res_due, res_warn, fr, res)


def apply_ticket_deadlines(
    ticket: Ticket,
    *,
    start: datetime,
    channel_kind: str | None = None,
    conversation: Conversation | None = None,
    resolution_only: bool = False,
) -> None:
    """Set a ticket's due and warning times from the policies, counting its clock from ``start``.

    The channel and the business hours are those of ``conversation``, else of the ticket's
    first linked conversation; ``channel_kind`` overrides the kind.
    """
    scope = Scope()
    kind = ""
    if conversation is not None:
        kind = conversation.channel.kind
        scope = Scope(conversation.team_id, conversation.channel_id)
    elif ticket.pk is not None:
        first = (
            Conversation.objects.filter(tickets=ticket)
            .order_by("id")
            .values_list("channel__kind", "team_id", "channel_id")
            .first()
        )
        if first is not None:
            kind, scope = first[0], Scope(first[1], first[2])
    d = ticket_deadlines(
        category=ticket.category,
        priority=ticket.priority,
        channel_kind=kind if channel_kind is None else channel_kind,
        start=start,
        resolution_only=resolution_only,
        scope=scope,
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
