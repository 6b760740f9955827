"""Routing, top floor: the supervisor's view of queues and agents, and routing rules.

Assignment and queues are the ground floor, :mod:`kefu.routing.assignment`.
"""

from __future__ import annotations

from typing import Any, cast

from django.db import transaction
from django.db.models import Count, Min
from django.utils import timezone

from kefu.accounts.access import audit, check_admin, check_role, client_ip, team_ids_of
from kefu.accounts.models import AuditLog, Role, Team, User
from kefu.accounts.presence import effective_status
from kefu.conversations.models import Priority
from kefu.core.errors import InvalidInput, NotFound
from kefu.core.events import publish
from kefu.core.fields import check_choice, check_text, check_text_list
from kefu.routing.assignment import load_annotation, waiting_queue

from .models import RoutingRule


def queue_overview() -> list[dict[str, object]]:
    """Per team: waiting count and longest wait (seconds), for the supervisor page.

    Two queries whatever the number of teams: the page polls this every few seconds.
    """
    now = timezone.now()
    # order_by() drops the queue's ordering, which would otherwise join the GROUP BY.
    stats = {
        row["team_id"]: (row["waiting"], row["oldest"])
        for row in waiting_queue(None)
        .order_by()
        .values("team_id")
        .annotate(waiting=Count("id"), oldest=Min("queued_at"))
    }
    rows: list[dict[str, object]] = []
    for team_id, name in Team.objects.order_by("id").values_list("id", "name"):
        waiting, oldest = stats.get(team_id, (0, None))
        rows.append(
            {
                "team_id": team_id,
                "team": name,
                "waiting": waiting,
                "longest_wait_seconds": int((now - oldest).total_seconds()) if oldest else 0,
            }
        )
    return rows


def agent_overview() -> list[dict[str, object]]:
    """Each active user's status as routing sees it (a desk gone past the grace is offline) and load."""
    now = timezone.now()
    agents = (
        User.objects.filter(is_active=True)
        .annotate(load=load_annotation())
        .prefetch_related("teams")
        .order_by("id")
    )
    return [
        {
            "user_id": a.pk,
            "name": a.name,
            "role": a.role,
            "status": effective_status(a, now=now),
            "status_reason": a.status_reason,
            "last_seen_at": a.last_seen_at.isoformat() if a.last_seen_at else None,
            "load": a.load,
            "max_concurrent": a.max_concurrent,
            "teams": [t.name for t in a.teams.all()],
        }
        for a in agents
    ]


def publish_agent_change(user: User) -> None:
    publish("agent.updated", {"user_id": user.pk, "status": user.status}, webhook=False)


def access_queue_overview(user: User) -> list[dict[str, object]]:
    """Queues a desk user may watch: all for supervisors and above, otherwise their own teams."""

    rows = queue_overview()
    if user.sees_all:
        return rows
    mine = set(team_ids_of(user))
    return [r for r in rows if r["team_id"] in mine]


def access_agent_overview(user: User) -> list[dict[str, object]]:
    """Agents' status and load: team leads see their teams' members, supervisors everyone."""

    check_role(user, Role.TEAM_LEAD)
    rows = agent_overview()
    if user.sees_all:
        return rows
    mine = set(user.teams.values_list("name", flat=True))
    return [r for r in rows if mine & set(cast(list[str], r["teams"]))]


def _check_rule(*, name: str, keywords: list[str], priority: str) -> tuple[str, list[str]]:
    name = check_text(name, field="name", label="规则名称", max_len=64)
    check_choice(priority, Priority.values, field="priority", label="优先级", blank=True)
    return name, check_text_list(keywords, field="keywords", max_items=100, max_len=64)


def do_create_routing_rule(
    *,
    actor: User,
    name: str,
    team: Team,
    channel_id: int | None = None,
    keywords: list[str] = [],  # noqa: B006 - read only
    priority: str = "",
    order: int = 100,
    is_active: bool = True,
    request: Any = None,
) -> RoutingRule:
    check_admin(actor)
    name, cleaned = _check_rule(name=name, keywords=keywords, priority=priority)
    if type(order) is not int or not 0 <= order <= 10_000:
        raise InvalidInput("顺序无效", fields={"order": "0 到 10000 之间的整数"})
    with transaction.atomic():
        rule = RoutingRule.objects.create(
            name=name,
            team=team,
            channel_id=channel_id,
            keywords=cleaned,
            priority=priority,
            order=order,
            is_active=is_active,
        )
        audit(
            AuditLog.Action.SETTINGS_CHANGE,
            actor=actor,
            target=rule,
            detail={"created": True, "name": name, "team": team.pk, "keywords": cleaned},
            ip=client_ip(request),
        )
    return rule


def do_set_routing_rule_active(
    *, actor: User, rule_id: int, is_active: bool, request: Any = None
) -> RoutingRule:
    check_admin(actor)
    rule = RoutingRule.objects.filter(pk=rule_id).first()
    if rule is None:
        raise NotFound(f"路由规则 {rule_id} 不存在")
    if rule.is_active != is_active:
        with transaction.atomic():
            RoutingRule.objects.filter(pk=rule.pk).update(is_active=is_active)
            rule.is_active = is_active
            audit(
                AuditLog.Action.SETTINGS_CHANGE,
                actor=actor,
                target=rule,
                detail={"is_active": [not is_active, is_active]},
                ip=client_ip(request),
            )
    return rule


def do_delete_routing_rule(*, actor: User, rule_id: int, request: Any = None) -> None:
    check_admin(actor)
    with transaction.atomic():
        rule = RoutingRule.objects.filter(pk=rule_id).first()
        if rule is None:
            raise NotFound(f"路由规则 {rule_id} 不存在")
        audit(
            AuditLog.Action.SETTINGS_CHANGE,
            actor=actor,
            target=rule,
            detail={"deleted": True, "name": rule.name},
            ip=client_ip(request),
        )
        rule.delete()
