"""Routing, ground floor: is anyone there for the customer, and how long will they wait.

``desk_state`` answers for a channel and the team that serves it: **open** (an agent
online has a free place), **busy** (agents are online, every place is taken: the
customer queues, with an estimate), or **closed** — nobody online, outside the team's
business hours (``off_hours``, with when it opens) or inside them (``nobody_online``).
Who is online decides: an agent working late serves customers whatever the hours say.
A closed desk never gives a queue estimate; a message left (留言) is answered by
``reply_by``, ``KEFU_LEAVE_MESSAGE_REPLY_MINUTES`` of business time from now, so in the
next opening when the desk is closed.

The two facts it reads come from their owners, each behind one function here:
who is online (``online_agents``: :mod:`kefu.accounts.presence`, less uncertified agents
when an admin requires a training certification, :mod:`kefu.training.certification`) and the business
calendar (``calendar``: :mod:`kefu.hours.calendar`). The estimate's arithmetic is
:mod:`kefu.routing.estimate`; the formula is in docs/offhours.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from kefu.accounts import presence
from kefu.accounts.models import Team, User
from kefu.channels.models import Channel
from kefu.conversations.models import Conversation
from kefu.hours.calendar import BusinessCalendar, calendar_for
from kefu.training.certification import routable

from . import estimate
from .models import RoutingRule

LOAD_STATUSES = (Conversation.Status.OPEN, Conversation.Status.PENDING)
WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
# A handling time is measured over at most this many recent conversations.
MAX_SAMPLES = 500


class State:
    OPEN = "open"
    BUSY = "busy"
    CLOSED = "closed"


class Reason:
    OFF_HOURS = "off_hours"
    NOBODY_ONLINE = "nobody_online"


# --- the two facts this module reads from their owners ----------------------------------


def online_agents(team_id: int | None) -> QuerySet[User]:
    """Agents who take new conversations now (of ``team_id``; ``None``: anyone): online within the grace."""
    return routable(presence.online_agents(team_id))


def calendar(team_id: int | None, channel_id: int | None) -> BusinessCalendar:
    """The business calendar of the team on the channel: ``is_open``, ``next_opening``, ``add_seconds``."""
    return calendar_for(team_id, channel_id)


# --- the numbers -------------------------------------------------------------------------


def channel_team(channel: Channel) -> Team | None:
    """The team a new conversation on ``channel`` is served by when nothing in its text says otherwise.

    The same order as ``assignment.choose_team`` without keywords or intent: a channel
    rule, the channel's own team, the general queue.
    """
    rule = (
        RoutingRule.objects.filter(is_active=True, channel=channel, keywords=[])
        .select_related("team")
        .order_by("order", "id")
        .first()
    )
    if rule is not None:
        return rule.team
    if channel.team_id is not None:
        return channel.team
    return Team.objects.filter(is_general=True).order_by("id").first()


def handle_time(team_id: int | None, now: datetime) -> estimate.HandleTime:
    """The median handling time (first agent reply → resolved) of recent conversations.

    Of the team when it has enough of them, else of the whole desk (``estimate.handle_time``).
    """
    since = now - timedelta(days=settings.KEFU_QUEUE_ESTIMATE_WINDOW_DAYS)
    recent = (
        Conversation.objects.filter(
            resolved_at__gte=since, resolved_at__lte=now, first_response_at__isnull=False
        )
        .order_by("-resolved_at")
        .values_list("team_id", "first_response_at", "resolved_at")[:MAX_SAMPLES]
    )
    desk: list[float] = []
    team: list[float] = []
    for row_team, answered, resolved in recent:
        if answered is None or resolved is None:  # filtered out; for the type checker
            continue
        seconds = (resolved - answered).total_seconds()
        desk.append(seconds)
        if team_id is not None and row_team == team_id:
            team.append(seconds)
    return estimate.handle_time(team if team_id is not None else desk, desk)


def places(team_id: int | None) -> tuple[int, int, int]:
    """``(agents online, places they may hold at once, places free)`` for a team."""
    load = Count("assigned_conversations", filter=Q(assigned_conversations__status__in=LOAD_STATUSES))
    rows = list(online_agents(team_id).annotate(load=load).values_list("max_concurrent", "load"))
    capacity = sum(limit for limit, _ in rows)
    free = sum(max(0, limit - used) for limit, used in rows)
    return len(rows), capacity, free


def waiting_count(team_id: int | None) -> int:
    qs = Conversation.objects.filter(assignee__isnull=True, status__in=LOAD_STATUSES, queued_at__isnull=False)
    if team_id is not None:
        qs = qs.filter(team_id=team_id)
    return qs.count()


# --- the state ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeskState:
    state: str
    reason: str
    now: datetime
    team_id: int | None
    channel_id: int | None
    online: int
    capacity: int
    free: int
    waiting: int
    handle: estimate.HandleTime
    opens_at: datetime | None  # closed off hours: when it opens (None: not within the horizon)
    hours: str
    reply_by: datetime
    reply_warn_at: datetime

    def wait_seconds(self, ahead: int) -> int | None:
        """The wait of a customer with ``ahead`` people before them; None when closed."""
        if self.state == State.CLOSED:
            return None
        return estimate.wait_seconds(
            ahead=ahead, capacity=self.capacity, free=self.free, handle_seconds=self.handle.seconds
        )

    def as_dict(self) -> dict[str, Any]:
        """The public view (chat page, widget, chat socket): no names, no counts of agents."""
        wait = self.wait_seconds(self.waiting)
        return {
            "state": self.state,
            "reason": self.reason,
            "label": state_label(self),
            "text": state_text(self),
            "hours": self.hours,
            "opens_at": self.opens_at.isoformat() if self.opens_at else None,
            "waiting": self.waiting if self.state == State.BUSY else 0,
            "estimated_wait_seconds": wait,
            "reply_by": self.reply_by.isoformat(),
            "reply_by_text": when_text(self.reply_by, self.now),
        }


def desk_state(*, channel: Channel | None, team_id: int | None, now: datetime | None = None) -> DeskState:
    """Open, busy or closed for customers of ``team_id`` on ``channel``, at ``now``.

    Who is online decides: an agent working late is there, and the customer is served
    (open or busy) whatever the hours say. With nobody online the desk is closed, and the
    hours say why (``off_hours`` and when it opens, or ``nobody_online`` within them) and
    by when a message left now is answered.
    """
    now = now or timezone.now()
    channel_id = channel.pk if channel is not None else None
    hours = calendar(team_id, channel_id)
    online, capacity, free = places(team_id)
    opens_at: datetime | None = None
    if capacity > 0:
        state, reason = (State.OPEN if free > 0 else State.BUSY), ""
    elif hours.is_open(now):
        state, reason = State.CLOSED, Reason.NOBODY_ONLINE
    else:
        state, reason = State.CLOSED, Reason.OFF_HOURS
        found = hours.next_opening(now)
        opens_at = timezone.localtime(found) if found is not None else None
    reply_span = settings.KEFU_LEAVE_MESSAGE_REPLY_MINUTES * 60
    return DeskState(
        state=state,
        reason=reason,
        now=now,
        team_id=team_id,
        channel_id=channel_id,
        online=online,
        capacity=capacity,
        free=free,
        waiting=waiting_count(team_id) if state == State.BUSY else 0,
        handle=handle_time(team_id, now) if state != State.CLOSED else estimate.HandleTime(0, 0, "none"),
        opens_at=opens_at,
        hours=hours.description,
        # The promise for a message left now, and when its ticket warns (80 % of it).
        reply_by=timezone.localtime(hours.add_seconds(now, reply_span)),
        reply_warn_at=timezone.localtime(hours.add_seconds(now, reply_span * 0.8)),
    )


def desk_state_for_conversation(conversation: Conversation, now: datetime | None = None) -> DeskState:
    return desk_state(channel=conversation.channel, team_id=conversation.team_id, now=now)


# --- what the customer reads ---------------------------------------------------------------


def when_text(at: datetime, now: datetime) -> str:
    """``今天 18:00``, ``明天 09:00``, ``后天 09:00`` or ``12月7日（周一）09:00`` (local time)."""
    local, today = timezone.localtime(at), timezone.localtime(now).date()
    clock = f"{local:%H:%M}"
    days = (local.date() - today).days
    if days == 0:
        return f"今天 {clock}"
    if days == 1:
        return f"明天 {clock}"
    if days == 2:
        return f"后天 {clock}"
    year = f"{local.year}年" if local.year != today.year else ""
    return f"{year}{local.month}月{local.day}日（{WEEKDAYS[local.weekday()]}）{clock}"


def state_label(state: DeskState) -> str:
    """The header badge: 客服在线 / 排队中 / 已下班 / 暂无客服在线."""
    if state.state == State.OPEN:
        return "客服在线"
    if state.state == State.BUSY:
        return "排队中"
    return "已下班" if state.reason == Reason.OFF_HOURS else "暂无客服在线"


def state_text(state: DeskState) -> str:
    """One honest sentence about the desk for a customer who has not written yet."""
    if state.state == State.OPEN:
        return "客服在线，发送消息即可开始咨询。"
    if state.state == State.BUSY:
        wait = state.wait_seconds(state.waiting)
        head = f"当前咨询人数较多，前面还有 {state.waiting} 位客户" if state.waiting else "当前客服都在忙"
        tail = f"，预计等待约 {estimate.wait_minutes(wait)} 分钟" if wait else ""
        return f"{head}{tail}。您也可以留言，我们会在 {when_text(state.reply_by, state.now)} 前回复您。"
    return closed_text(state) + f"您可以留言，我们会在 {when_text(state.reply_by, state.now)} 前回复您。"


def closed_text(state: DeskState) -> str:
    """Why nobody answers now and when someone will (one sentence, ends with 。)."""
    if state.reason == Reason.OFF_HOURS:
        hours = f"（工作时间：{state.hours}）" if state.hours else ""
        if state.opens_at is None:
            return f"现在是非工作时间{hours}。"
        return f"现在是非工作时间{hours}，客服将于 {when_text(state.opens_at, state.now)} 上线。"
    return "客服暂时都不在线。"


def queue_reply(state: DeskState, position: int) -> tuple[str, int | None]:
    """The queue-position reply for a desk with someone online, and the wait it states (seconds)."""
    ahead = max(0, position - 1)
    wait = state.wait_seconds(ahead)
    if not wait:
        return "您好，客服马上为您服务，请稍候。", wait
    minutes = estimate.wait_minutes(wait)
    if ahead:
        return f"您好，当前咨询人数较多，您前面还有 {ahead} 位客户，预计等待约 {minutes} 分钟，请稍候。", wait
    return f"您好，您已排在第 1 位，预计等待约 {minutes} 分钟，请稍候。", wait


def closed_reply(
    state: DeskState, *, can_leave_message: bool, ticket_number: str = "", by_email: bool = False
) -> str:
    """What a customer who wrote while the desk is closed reads (``by_email``: in a mail)."""
    by = when_text(state.reply_by, state.now)
    head = "您好，" + closed_text(state)
    if ticket_number:
        where = "回复您的邮件" if by_email else "在这里回复您"
        return f"{head}您的留言已登记（工单号 {ticket_number}），我们会在 {by} 前{where}。"
    if can_leave_message:
        return (
            f"{head}您可以点击「留言」留下手机号或邮箱，我们会在 {by} 前回复您；客服上线后也会在这里回复您。"
        )
    return f"{head}客服上线后会在这里回复您。"
