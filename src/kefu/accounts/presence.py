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

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from kefu.core.events import publish

from .models import AgentStatus, PresenceRule, StatusChange, StatusReason, Team, User


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
