"""Accounts, ground floor: who is online, and the one writer of an agent's status.

An agent is *online* — routed to, and counted when a customer asks whether anyone is
there — when her status is ``online`` **and** her desk was seen within
``KEFU_PRESENCE_GRACE_SECONDS``. The desk socket writes ``last_seen_at`` every
``KEFU_PRESENCE_HEARTBEAT_SECONDS``; every server process and the worker read the same
column, so nothing depends on one process staying alive: a closed browser, a killed
server or a lost network simply stops the heartbeat. The worker's sweep
(``accounts.services.do_sweep_presence``) then records her as offline (连接断开).

Every status change goes through ``do_change_status``: the user row is locked the way
routing locks it (``FOR NO KEY UPDATE``), so an assignment counting her as online and a
change taking her offline never interleave; the change is recorded in ``StatusChange``
and announced (``agent.status_changed``) after the commit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from kefu.core.errors import InvalidInput, PermissionDenied
from kefu.core.events import publish

from .access import team_ids_of
from .models import AgentStatus, PresenceRule, Role, StatusChange, StatusReason, Team, User


def grace() -> timedelta:
    return timedelta(seconds=settings.KEFU_PRESENCE_GRACE_SECONDS)


def seen_since(now: datetime | None = None) -> datetime:
    """The oldest heartbeat that still counts."""
    return (now or timezone.now()) - grace()


def seen_recently(now: datetime | None = None) -> Q:
    """Users whose desk was seen within the grace (a filter on ``User``)."""
    return Q(last_seen_at__gte=seen_since(now))


def _team_id(team: Team | int | None) -> int | None:
    return team.pk if isinstance(team, Team) else team


def online_agents(team: Team | int | None = None, *, now: datetime | None = None) -> QuerySet[User]:
    """Active users who take new conversations now: status ``online`` and seen within the grace.

    ``team`` (a team or its id) limits them to its members; ``None`` is everyone.
    """
    qs = User.objects.filter(seen_recently(now), is_active=True, status=AgentStatus.ONLINE)
    team_id = _team_id(team)
    if team_id is not None:
        qs = qs.filter(teams__id=team_id)
    return qs


def present_agents(team: Team | int | None = None, *, now: datetime | None = None) -> QuerySet[User]:
    """Active users at their desk in any status but offline (online, busy, on a break)."""
    qs = User.objects.filter(seen_recently(now), is_active=True).exclude(status=AgentStatus.OFFLINE)
    team_id = _team_id(team)
    if team_id is not None:
        qs = qs.filter(teams__id=team_id)
    return qs


def is_anyone_online(team: Team | int | None = None, *, now: datetime | None = None) -> bool:
    """Whether someone (of ``team``) would take a new conversation now."""
    return online_agents(team, now=now).exists()


def is_online(user: User, *, now: datetime | None = None) -> bool:
    """``user`` as ``online_agents`` sees her (from the instance, no query)."""
    return (
        user.is_active
        and user.status == AgentStatus.ONLINE
        and user.last_seen_at is not None
        and user.last_seen_at >= seen_since(now)
    )


def effective_status(user: User, *, now: datetime | None = None) -> str:
    """The status as others should see it: a desk not seen within the grace is offline."""
    if user.status == AgentStatus.OFFLINE:
        return AgentStatus.OFFLINE
    if not user.is_active or user.last_seen_at is None or user.last_seen_at < seen_since(now):
        return AgentStatus.OFFLINE
    return user.status


def do_heartbeat(user_id: int, *, now: datetime | None = None) -> None:
    """The desk is open: note it (one UPDATE, called by the desk socket)."""
    User.objects.filter(pk=user_id).update(last_seen_at=now or timezone.now())


def do_change_status(
    user_id: int,
    status: str,
    *,
    reason: str = StatusReason.NONE,
    actor: User | None = None,
    now: datetime | None = None,
    seen: bool = False,
    only_if: Q | None = None,
) -> StatusChange | None:
    """Set an agent's status and record the change; returns it, or None when nothing changed.

    ``only_if`` is a condition on the user row checked under its lock (e.g. "still not
    seen since the cutoff"), so a sweep never overrides a change made meanwhile.
    ``seen`` also counts this as a heartbeat (the agent herself acted). Callers
    validate ``status`` and ``reason``.
    """
    now = now or timezone.now()
    with transaction.atomic():
        locked = User.objects.select_for_update(no_key=True).filter(pk=user_id)
        if only_if is not None:
            locked = locked.filter(only_if)
        user = locked.first()
        if user is None:
            return None
        updates: dict[str, object] = {"last_seen_at": now} if seen else {}
        if user.status == status and user.status_reason == reason:
            if updates:
                User.objects.filter(pk=user_id).update(**updates)
            return None
        User.objects.filter(pk=user_id).update(
            status=status, status_reason=reason, status_changed_at=now, **updates
        )
        change = StatusChange.objects.create(
            user_id=user_id,
            from_status=user.status,
            to_status=status,
            reason=reason,
            actor=actor if actor is not None and actor.pk else None,
            at=now,
        )
        publish(
            "agent.status_changed",
            {
                "user_id": user_id,
                "name": user.name,
                "status": status,
                "from": user.status,
                "reason": reason,
                "reason_label": StatusReason(reason).label if reason else "",
                "actor_id": change.actor_id,
            },
            # Her teams hear it too: a lead's board (and a team's wall screen) shows her
            # new status at once instead of at its next timed refresh.
            team_ids=User.teams.through.objects.filter(user_id=user_id).values_list("team_id", flat=True),
            user_ids=[user_id],
            webhook=False,
        )
    return change


def do_go_offline(
    user_id: int,
    *,
    reason: str,
    now: datetime | None = None,
    unless_changed_after: datetime | None = None,
) -> StatusChange | None:
    """Take an agent offline for a system reason (logout, idle lock, expired session, lost desk).

    ``unless_changed_after``: leave her alone if she changed her status after that
    moment (she signed in again elsewhere and chose a status there).
    """
    only_if = ~Q(status=AgentStatus.OFFLINE)
    if unless_changed_after is not None:
        only_if &= Q(status_changed_at__isnull=True) | Q(status_changed_at__lte=unless_changed_after)
    return do_change_status(user_id, AgentStatus.OFFLINE, reason=reason, now=now, only_if=only_if)


def presence_rule() -> PresenceRule:
    """The admin's rule for an offline agent's open conversations (created with its defaults)."""
    rule, _created = PresenceRule.objects.get_or_create(pk=1)
    return rule


# --- the status history: who may read it, and online time per day -----------------------

# The longest span one online-time question may cover.
MAX_ONLINE_TIME_DAYS = 92


def access_history_users(
    viewer: User, *, team_id: int | None = None, user_id: int | None = None
) -> QuerySet[User]:
    """The users whose status history ``viewer`` may read: supervisors and above everyone, team
    leads the members of their teams, anyone else only herself; narrowed by ``team_id`` / ``user_id``.

    Asking for a team or a user out of reach is refused (403), not answered with nothing.
    """
    users = User.objects.all()
    if not viewer.sees_all:
        if viewer.has_role_at_least(Role.TEAM_LEAD):
            mine = team_ids_of(viewer)
            if team_id is not None and team_id not in mine:
                raise PermissionDenied("只能查看本团队成员的状态记录")
            users = users.filter(Q(teams__id__in=mine) | Q(pk=viewer.pk)).distinct()
        else:
            if (user_id is not None and user_id != viewer.pk) or team_id is not None:
                raise PermissionDenied("只能查看自己的状态记录")
            users = users.filter(pk=viewer.pk)
    if team_id is not None:
        users = users.filter(teams__id=team_id)
    if user_id is not None:
        if not users.filter(pk=user_id).exists():
            raise PermissionDenied("无权查看该客服的状态记录")
        users = users.filter(pk=user_id)
    return users


@dataclass
class DayPresence:
    """One agent's time on one local day, in seconds, by status (and breaks by reason)."""

    user_id: int
    day: date
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(AgentStatus.values, 0.0))
    break_reasons: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        s = self.seconds
        return {
            "user_id": self.user_id,
            "date": self.day.isoformat(),
            "online_seconds": round(s[AgentStatus.ONLINE]),
            "busy_seconds": round(s[AgentStatus.BUSY]),
            "break_seconds": round(s[AgentStatus.BREAK]),
            # Online + busy + break: at the desk, the denominator of occupancy.
            "at_desk_seconds": round(s[AgentStatus.ONLINE] + s[AgentStatus.BUSY] + s[AgentStatus.BREAK]),
            "break_reasons": {k: round(v) for k, v in sorted(self.break_reasons.items())},
        }


def check_day_range(date_from: date, date_to: date) -> None:
    if date_to < date_from:
        raise InvalidInput("结束日期早于开始日期", fields={"date_to": "不能早于 date_from"})
    if (date_to - date_from).days >= MAX_ONLINE_TIME_DAYS:
        raise InvalidInput(
            f"一次最多查询 {MAX_ONLINE_TIME_DAYS} 天",
            fields={"date_to": f"与 date_from 相差不超过 {MAX_ONLINE_TIME_DAYS - 1} 天"},
        )


def online_time(
    users: Iterable[User],
    date_from: date,
    date_to: date,
    *,
    now: datetime | None = None,
    tz: tzinfo | None = None,
) -> list[DayPresence]:
    """Time each user spent in each status on each local day from ``date_from`` to ``date_to``.

    Computed from the status history (``StatusChange``): the status before the range is
    the last change before it (or the first change's ``from_status``; a user with no
    history at all keeps her current status). Time after ``now`` is not counted. Two
    queries, whatever the number of users and days. Rows for days with no time at the
    desk are included (all zeros), so a team's table has every agent and day.
    """
    tz = tz or timezone.get_current_timezone()
    now = now or timezone.now()
    start = timezone.make_aware(datetime.combine(date_from, time.min), tz)
    end = min(timezone.make_aware(datetime.combine(date_to + timedelta(days=1), time.min), tz), now)
    users = list(users)
    ids = [u.pk for u in users]
    before: dict[int, str] = {}
    # The last change before the range, per user (the newest wins as rows are walked in order).
    for row in (
        StatusChange.objects.filter(user_id__in=ids, at__lt=start)
        .order_by("user_id", "at", "id")
        .values("user_id", "to_status", "reason")
    ):
        before[row["user_id"]] = row["to_status"] + "\0" + row["reason"]
    changes: dict[int, list[tuple[datetime, str, str, str]]] = defaultdict(list)
    for c in (
        StatusChange.objects.filter(user_id__in=ids, at__gte=start, at__lt=end)
        .order_by("at", "id")
        .values_list("user_id", "at", "from_status", "to_status", "reason")
    ):
        changes[c[0]].append((c[1], c[2], c[3], c[4]))
    days = [date_from + timedelta(days=i) for i in range((date_to - date_from).days + 1)]
    out: list[DayPresence] = []
    for user in users:
        rows = {d: DayPresence(user.pk, d) for d in days}
        mine = changes.get(user.pk, [])
        if user.pk in before:
            status, reason = before[user.pk].split("\0")
        elif mine:
            status, reason = mine[0][1], ""
        else:
            status, reason = user.status, user.status_reason
        cursor = start
        for at, _from, to, why in [*mine, (end, "", "", "")]:
            _add_span(rows, cursor, at, status, reason, tz)
            cursor, status, reason = at, to, why
        out.extend(rows[d] for d in days)
    return out


def _add_span(
    rows: dict[date, DayPresence], start: datetime, end: datetime, status: str, reason: str, tz: tzinfo
) -> None:
    """Add ``[start, end)`` in ``status`` to the days it covers, split at local midnight."""
    while start < end:
        local = timezone.localtime(start, tz)
        midnight = timezone.make_aware(datetime.combine(local.date() + timedelta(days=1), time.min), tz)
        stop = min(end, midnight)
        row = rows.get(local.date())
        if row is not None and status in row.seconds:
            seconds = (stop - start).total_seconds()
            row.seconds[status] += seconds
            if status == AgentStatus.BREAK:
                key = reason or StatusReason.SHORT_BREAK
                row.break_reasons[key] = row.break_reasons.get(key, 0.0) + seconds
        start = stop
