"""The wallboard (主管看板), top floor: the live board, its display tokens and a lead's actions.

The board reads what the other apps already know — queues and agents from
``routing.services``, SLA due times and emotion from the conversation rows and the
alerts of ``understanding`` — in a fixed number of queries whatever the size of the
floor (it is recomputed for every open board after desk events). Today's KPI tiles read
``analytics.metrics`` only.

Who sees what: supervisors and above every team; a team lead the teams they belong to;
a display token (a wall screen) the one team it was made for, or every team, with
customers' names masked and no actions. A lead's actions — take over, reassign, observe,
whisper — are refused outside their teams (``check_may_act``).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Exists, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from kefu.accounts.access import audit, check_role, client_ip, team_ids_of
from kefu.accounts.models import AgentStatus, AuditLog, Role, Team, User
from kefu.analytics import metrics
from kefu.conversations.models import Conversation
from kefu.conversations.presenters import message_dict
from kefu.conversations.services import do_transfer
from kefu.conversations.timeline import messages_after
from kefu.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied, Unauthorized
from kefu.core.events import publish, send_ephemeral
from kefu.core.fields import check_text
from kefu.core.masking import mask_text
from kefu.routing.assignment import waiting_queue
from kefu.routing.services import agent_overview, queue_overview
from kefu.sla.policies import TICKET_TIMERS, TicketTimer
from kefu.tickets.models import OPEN_TICKET_STATUSES, Ticket
from kefu.understanding.models import EmotionAlert
from kefu.understanding.reading import ALERT_LEVEL, ALERT_STATUSES

from .models import DisplayToken, Whisper

# A first-response timer is "about to breach" this long before its due time (or once the
# SLA sweep has warned, whichever is earlier); breached timers still unanswered stay on
# the board until someone answers.
SLA_WINDOW = timedelta(minutes=10)
# Rows per list panel: a wall screen shows the worst, not all.
PANEL_ROWS = 20
DISPLAY_PREFIX = "wb_"
STATUS_ORDER = (AgentStatus.ONLINE, AgentStatus.BUSY, AgentStatus.BREAK, AgentStatus.OFFLINE)
STATUS_LABELS = dict(AgentStatus.choices)
# Today's tiles, in this order (names of ``analytics.metrics.METRICS``; unknown ones are skipped).
KPI_TILES = (
    "volume",
    "first_response_mean",
    "first_response_within_target",
    "sla_conversation_first_response",
    "resolution_rate",
    "fcr_rate",
    "csat_mean",
    "complaint_count",
)


@dataclass(frozen=True)
class BoardScope:
    """Which teams a board shows (``None``: every team) and whether it is a wall screen."""

    team_ids: tuple[int, ...] | None
    display: bool = False

    def covers(self, team_id: int | None) -> bool:
        return self.team_ids is None or team_id in self.team_ids


# --- who sees what ------------------------------------------------------------------


def check_board_viewer(user: User) -> None:
    check_role(user, Role.TEAM_LEAD)


def scope_for(user: User, team_id: int | None = None) -> BoardScope:
    """The board ``user`` may see, narrowed to ``team_id`` when given (a team they may see)."""
    check_board_viewer(user)
    mine = None if user.sees_all else tuple(team_ids_of(user))
    if team_id is None:
        return BoardScope(mine)
    if mine is not None and team_id not in mine:
        raise PermissionDenied("组长只能查看本团队的看板", fields={"team_id": "不是您的团队"})
    if not Team.objects.filter(pk=team_id).exists():
        raise NotFound(f"团队 {team_id} 不存在", fields={"team_id": "不存在"})
    return BoardScope((team_id,))


def access_wallboard(user: User, team_id: int | None = None) -> dict[str, Any]:
    """The board as ``user`` may see it (team leads and above)."""
    return snapshot(scope_for(user, team_id))


# --- the snapshot -------------------------------------------------------------------


def mask_name(name: str) -> str:
    """A customer's name on a wall screen: its first character, the rest hidden."""
    name = mask_text(name.strip())
    if not name:
        return "客户"
    return name[0] + "*" * min(max(len(name) - 1, 1), 3)


def _customer_name(c: Conversation, scope: BoardScope) -> str:
    name = str(c.customer) if c.customer_id else ""
    return mask_name(name) if scope.display else mask_text(name)


def _conversation_row(c: Conversation, scope: BoardScope, now: datetime) -> dict[str, Any]:
    row: dict[str, Any] = {
        "conversation_id": c.pk,
        "team_id": c.team_id,
        "team": c.team.name if c.team_id and c.team else "",
        "customer": _customer_name(c, scope),
        "assignee_id": c.assignee_id,
        "assignee": c.assignee.name if c.assignee_id and c.assignee else None,
        "priority": c.priority,
        "status": c.status,
    }
    if not scope.display:
        row["subject"] = mask_text(c.subject)
    return row


def _queues(scope: BoardScope, now: datetime) -> dict[str, Any]:
    teams = [q for q in queue_overview() if scope.covers(cast(int, q["team_id"]))]
    # Routing's own queue, longest wait first (routing serves it by priority, VIP, then wait).
    waiting = waiting_queue(None).select_related("customer", "team", "assignee").order_by("queued_at", "id")
    if scope.team_ids is not None:
        waiting = waiting.filter(team_id__in=scope.team_ids)
    rows = []
    for c in waiting[:PANEL_ROWS]:
        assert c.queued_at is not None
        rows.append(
            {**_conversation_row(c, scope, now), "wait_seconds": int((now - c.queued_at).total_seconds())}
        )
    return {
        "teams": teams,
        "total": sum(cast(int, q["waiting"]) for q in teams),
        "longest_wait_seconds": max((cast(int, q["longest_wait_seconds"]) for q in teams), default=0),
        "oldest": rows,
    }


def _agents(scope: BoardScope, team_names: set[str]) -> dict[str, Any]:
    rows = []
    for a in agent_overview():
        teams = cast(list[str], a["teams"])
        if scope.team_ids is None:
            if not teams and not a["load"]:
                continue  # an administrator with no team serves no one
        elif not team_names & set(teams):
            continue
        rows.append({**a, "status_label": STATUS_LABELS.get(str(a["status"]), a["status"])})
    rank: dict[str, int] = {s.value: i for i, s in enumerate(STATUS_ORDER)}
    rows.sort(key=lambda a: (rank.get(str(a["status"]), 9), -cast(int, a["load"]), str(a["name"])))
    counts = {s.value: 0 for s in STATUS_ORDER}
    for a in rows:
        counts[str(a["status"])] = counts.get(str(a["status"]), 0) + 1
    return {
        "counts": counts,
        "labels": {s.value: s.label for s in STATUS_ORDER},
        "load": sum(cast(int, a["load"]) for a in rows),
        "capacity": sum(cast(int, a["max_concurrent"]) for a in rows if a["status"] != AgentStatus.OFFLINE),
        "items": rows,
    }


def _scoped(qs: Any, scope: BoardScope) -> Any:
    return qs if scope.team_ids is None else qs.filter(team_id__in=scope.team_ids)


def _sla(scope: BoardScope, now: datetime, team_names: dict[int, str]) -> list[dict[str, Any]]:
    """Every SLA timer about to breach or breached: conversations' first responses and
    tickets' timers together, the most overdue first."""
    rows = _conversation_sla(scope, now) + _ticket_sla(scope, now, team_names)
    rows.sort(
        key=lambda r: (r["seconds_left"], r["kind"], r["conversation_id"] or 0, r.get("ticket_id") or 0)
    )
    return rows[:PANEL_ROWS]


def _conversation_sla(scope: BoardScope, now: datetime) -> list[dict[str, Any]]:
    """Unanswered first responses due within the window, warned, or already breached."""
    qs = _scoped(
        Conversation.objects.filter(
            status__in=ALERT_STATUSES, first_response_at__isnull=True, first_response_due__isnull=False
        ).filter(Q(first_response_due__lte=now + SLA_WINDOW) | Q(sla_warned_at__isnull=False)),
        scope,
    ).select_related("customer", "team", "assignee")
    rows = []
    for c in qs.order_by("first_response_due", "id")[:PANEL_ROWS]:
        assert c.first_response_due is not None
        left = int((c.first_response_due - now).total_seconds())
        rows.append(
            {
                **_conversation_row(c, scope, now),
                "kind": "conversation",
                "timer": "first_response",
                "timer_label": "首次响应",
                "due_at": c.first_response_due.isoformat(),
                "seconds_left": left,
                "state": "breached" if left <= 0 or c.sla_breached_at else "near",
            }
        )
    return rows


def _ticket_timer_near(timer: TicketTimer, now: datetime) -> Q:
    """A ticket timer still running whose due time is within the window, whose warning time
    (the policy's warn ratio) has come, or that the sweep already warned of or breached."""
    running = Q(**{f"{timer.done_field}__isnull": True, f"{timer.due_field}__isnull": False})
    if timer.pausable:
        running &= Q(sla_paused_at__isnull=True)  # waiting for the customer: the clock stands
    near = (
        Q(**{f"{timer.due_field}__lte": now + SLA_WINDOW})
        | Q(**{f"{timer.warn_field}__lte": now})
        | Q(**{f"{timer.warned_field}__isnull": False})
        | Q(**{f"{timer.breached_field}__isnull": False})
    )
    return running & near


def _ticket_sla(scope: BoardScope, now: datetime, team_names: dict[int, str]) -> list[dict[str, Any]]:
    """Open tickets' SLA timers (first response, resolution) about to breach or breached.

    A ticket belongs to the team that hears of it (``tickets.records.team_id_of``): its
    department's team, else its own team (a message left), else its owner's first team.
    One query for every timer, whatever the number of tickets.
    """
    owner_team = (
        User.teams.through.objects.filter(user_id=OuterRef("owner_id"))
        .order_by("team_id")
        .values("team_id")[:1]
    )
    near = Q()
    for timer in TICKET_TIMERS:
        near |= _ticket_timer_near(timer, now)
    qs = (
        Ticket.objects.filter(status__in=OPEN_TICKET_STATUSES)
        .filter(near)
        .annotate(
            board_team_id=Coalesce(
                "department__team_id", "team_id", Subquery(owner_team), output_field=IntegerField()
            )
        )
        .select_related("customer", "assignee")
    )
    if scope.team_ids is not None:
        qs = qs.filter(board_team_id__in=scope.team_ids)
    rows: list[dict[str, Any]] = []
    for t in qs.order_by("first_response_due", "due_at", "id")[: PANEL_ROWS * len(TICKET_TIMERS)]:
        team_id = t.board_team_id  # type: ignore[attr-defined]
        for timer in TICKET_TIMERS:
            due = getattr(t, timer.due_field)
            if due is None or getattr(t, timer.done_field) is not None:
                continue
            if timer.pausable and t.sla_paused_at is not None:
                continue
            warn = getattr(t, timer.warn_field)
            warned = getattr(t, timer.warned_field)
            breached = getattr(t, timer.breached_field)
            if not (due <= now + SLA_WINDOW or (warn is not None and warn <= now) or warned or breached):
                continue
            left = int((due - now).total_seconds())
            row: dict[str, Any] = {
                "kind": "ticket",
                "conversation_id": None,
                "ticket_id": t.pk,
                "ticket_number": t.number,
                "team_id": team_id,
                "team": team_names.get(team_id, "") if team_id else "",
                "customer": mask_name(str(t.customer)) if scope.display else mask_text(str(t.customer)),
                "assignee_id": t.assignee_id,
                "assignee": t.assignee.name if t.assignee_id and t.assignee else None,
                "priority": t.priority,
                "status": t.status,
                "timer": timer.name,
                "timer_label": f"工单{timer.label}",
                "due_at": due.isoformat(),
                "seconds_left": left,
                "state": "breached" if left <= 0 or breached else "near",
            }
            if not scope.display:
                row["subject"] = mask_text(f"{t.number} {t.title}")
            rows.append(row)
    return rows


def _emotions(scope: BoardScope, now: datetime) -> list[dict[str, Any]]:
    """Active conversations at the alert level of emotion, or with an open complaint-risk alert."""
    open_risks = EmotionAlert.objects.filter(
        level=EmotionAlert.Level.COMPLAINT_RISK, acknowledged_at__isnull=True
    )
    risk = open_risks.filter(conversation=OuterRef("pk"))
    latest = EmotionAlert.objects.filter(conversation=OuterRef("pk")).order_by("-id")
    # Which rows qualify is asked of the few open complaint-risk alerts as one set (hashed once),
    # not by a probe per active conversation (a year's backlog of 30,000); the per-row EXISTS
    # only ranks the rows that qualify.
    at_risk = open_risks.values("conversation_id")
    ranked = (
        _scoped(Conversation.objects.filter(status__in=ALERT_STATUSES), scope)
        .filter(Q(emotion_score__gte=ALERT_LEVEL) | Q(pk__in=at_risk))
        .annotate(complaint_risk=Exists(risk))
        .order_by("-complaint_risk", "-emotion_score", "id")
    )
    # The twenty rows first (a subquery), then their customers, teams and agents: joining those
    # to every qualifying row before the sort read the whole customer table (a year: 270,000).
    qs = (
        Conversation.objects.filter(pk__in=ranked.values("pk")[:PANEL_ROWS])
        .annotate(complaint_risk=Exists(risk), alert_reason=latest.values("reason")[:1])
        .select_related("customer", "team", "assignee")
        .order_by("-complaint_risk", "-emotion_score", "id")
    )
    rows = []
    for c in qs:
        rows.append(
            {
                **_conversation_row(c, scope, now),
                "emotion_label": c.emotion_label,
                "emotion_score": round(c.emotion_score, 1),
                "emotion_trend": c.emotion_trend,
                "complaint_risk": bool(c.complaint_risk),  # type: ignore[attr-defined]
                "reason": mask_text(c.alert_reason or ""),  # type: ignore[attr-defined]
            }
        )
    return rows


def _tile_state(value: float | None, target: float | None, better: str) -> str:
    if value is None or target is None:
        return ""
    met = value <= target if better == "lower" else value >= target
    return "met" if met else "missed"


def kpi_tiles(scope: BoardScope, now: datetime, teams: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Today's KPI tiles (since local midnight) against their targets.

    Every figure and target comes from ``analytics.metrics`` (``compute``, ``compute_teams``
    and ``targets``): the board has no KPI query of its own. A board of every team shows the
    desk's figures; a lead of several teams sees one row of tiles per team. Every team's tiles
    come from one pass grouped by team, so a refresh costs the same however many teams there
    are. Today's figures move slowly and cost most of a snapshot, so the desk's tiles and the
    teams' are each kept for ``KEFU_WALLBOARD_KPI_SECONDS`` (shared by every board, in the
    cache all processes share).
    """
    if scope.team_ids is None:
        return [{**tile, "team": None} for tile in _cached_tiles("all", now, lambda: _desk_tiles(now))]
    by_team: dict[int, list[dict[str, Any]]] = {}
    for tile in _cached_tiles("teams", now, lambda: _every_team_tiles(now)):
        by_team.setdefault(tile["team_id"], []).append(tile)
    named = len(teams) > 1
    tiles: list[dict[str, Any]] = []
    for team in teams:
        found = by_team.get(team["id"])
        if found is None:  # a team made since the tiles were cached
            found = _tiles(team["id"], _today_figures(now, [team["id"]])[team["id"]])
        tiles += [{**tile, "team": team["name"] if named else None} for tile in found]
    return tiles


def _cached_tiles(what: str, now: datetime, make: Any) -> list[dict[str, Any]]:
    seconds = settings.KEFU_WALLBOARD_KPI_SECONDS
    today = timezone.localtime(now).date()
    key = f"wallboard:kpis:{what}:{today.isoformat()}"
    if seconds > 0:
        cached = cache.get(key)
        if cached is not None:
            return list(cached)
    tiles = make()
    if seconds > 0:
        cache.set(key, tiles, seconds)
    return cast(list[dict[str, Any]], tiles)


def _today(now: datetime) -> metrics.Scope:
    start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    return metrics.Scope(start=start, end=now)


def _names() -> list[str]:
    return [n for n in KPI_TILES if n in metrics.METRICS]


def _desk_tiles(now: datetime) -> list[dict[str, Any]]:
    with metrics.shared():  # one computation: today's calendars, targets and rollup bound read once
        return _tiles(None, metrics.compute(_today(now), _names()))


def _today_figures(now: datetime, team_ids: list[int]) -> dict[int, dict[str, metrics.Figure]]:
    return metrics.compute_teams(_today(now), team_ids, _names())


def _every_team_tiles(now: datetime) -> list[dict[str, Any]]:
    team_ids = list(Team.objects.order_by("id").values_list("pk", flat=True))
    with metrics.shared():  # the teams' targets read once, for the figures and the tiles
        figures = _today_figures(now, team_ids)
        return [tile for team_id in team_ids for tile in _tiles(team_id, figures[team_id])]


def _tiles(team_id: int | None, figures: dict[str, metrics.Figure]) -> list[dict[str, Any]]:
    goals = metrics.targets(team_id)
    tiles: list[dict[str, Any]] = []
    for name in _names():
        figure = figures.get(name)
        if figure is None:
            continue
        target = goals.get(name, figure.target)
        tiles.append(
            {
                "name": figure.name,
                "label": figure.label,
                "value": figure.value,
                "unit": figure.unit,
                "count": figure.count,
                "target": target,
                "better": figure.better,
                "state": _tile_state(figure.value, target, figure.better),
                "team_id": team_id,
            }
        )
    return tiles


def snapshot(scope: BoardScope, *, now: datetime | None = None) -> dict[str, Any]:
    """Everything the board shows, as JSON-ready data, in a bounded number of queries."""
    now = now or timezone.now()
    teams_qs = Team.objects.order_by("id")
    if scope.team_ids is not None:
        teams_qs = teams_qs.filter(pk__in=scope.team_ids)
    teams = list(teams_qs)
    team_rows = [{"id": t.pk, "name": t.name} for t in teams]
    queues = _queues(scope, now)
    return {
        "generated_at": now.isoformat(),
        "display": scope.display,
        "teams": team_rows,
        "queues": queues,
        "agents": _agents(scope, {str(t["name"]) for t in team_rows}),
        "sla": _sla(scope, now, {t.pk: t.name for t in teams}),
        "emotions": _emotions(scope, now),
        "kpis": kpi_tiles(scope, now, team_rows),
    }


# --- display tokens (wall screens) --------------------------------------------------


def _hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def check_display_admin(user: User) -> None:
    """Display tokens are made and revoked by supervisors and above (admins included)."""
    check_role(user, Role.SUPERVISOR)


def display_token_dict(t: DisplayToken) -> dict[str, Any]:
    return {
        "id": t.pk,
        "name": t.name,
        "team_id": t.team_id,
        "team": t.team.name if t.team_id and t.team else None,
        "prefix": t.prefix,
        "created_by": t.created_by.name if t.created_by_id and t.created_by else None,
        "created_at": t.created_at.isoformat(),
        "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None,
        "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None,
    }


def list_display_tokens(*, actor: User) -> list[DisplayToken]:
    check_display_admin(actor)
    return list(DisplayToken.objects.select_related("team", "created_by"))


def do_create_display_token(
    *, actor: User, name: str, team_id: int | None = None, request: Any = None
) -> tuple[DisplayToken, str]:
    """A read-only key for a wall screen; the plain key is returned once (audited)."""
    check_display_admin(actor)
    name = check_text(name, field="name", label="名称", max_len=64)
    team = None
    if team_id is not None:
        team = Team.objects.filter(pk=team_id).first()
        if team is None:
            raise NotFound(f"团队 {team_id} 不存在", fields={"team_id": "不存在"})
    key = DISPLAY_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = DisplayToken.objects.create(
            name=name, team=team, prefix=key[:12], key_hash=_hash_key(key), created_by=actor
        )
        audit(
            AuditLog.Action.TOKEN_CREATE,
            actor=actor,
            target=token,
            detail={"kind": "wallboard_display", "name": name, "team_id": team_id},
            ip=client_ip(request),
        )
    return token, key


def display_group(token_id: int) -> str:
    """The group of the wall screens showing one display token (told when it is revoked)."""
    return f"wallboard.display.{token_id}"


def do_revoke_display_token(*, actor: User, token_id: int, request: Any = None) -> DisplayToken:
    check_display_admin(actor)
    with transaction.atomic():
        token = DisplayToken.objects.select_for_update().filter(pk=token_id).first()
        if token is None:
            raise NotFound(f"投屏令牌 {token_id} 不存在")
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.revoked_by = actor
            token.save(update_fields=["revoked_at", "revoked_by"])
            audit(
                AuditLog.Action.TOKEN_REVOKE,
                actor=actor,
                target=token,
                detail={"kind": "wallboard_display", "name": token.name},
                ip=client_ip(request),
            )
            # Screens showing it close at once, not at their next refresh.
            group = display_group(token.pk)
            transaction.on_commit(lambda: send_ephemeral([group], "display.revoked", {}))
    return token


def authenticate_display(key: str | None) -> DisplayToken:
    """The live display token of ``key``; ``Unauthorized`` when unknown or revoked."""
    if not key or not isinstance(key, str) or not key.startswith(DISPLAY_PREFIX) or len(key) > 100:
        raise Unauthorized("投屏令牌无效或已吊销")
    token = DisplayToken.objects.filter(key_hash=_hash_key(key), revoked_at__isnull=True).first()
    if token is None:
        raise Unauthorized("投屏令牌无效或已吊销")
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        DisplayToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def display_scope(token: DisplayToken) -> BoardScope:
    return BoardScope(None if token.team_id is None else (token.team_id,), display=True)


def access_display_board(key: str | None) -> dict[str, Any]:
    """The board a wall screen's key shows (read-only, names masked)."""
    return snapshot(display_scope(authenticate_display(key)))


# --- a lead's actions ---------------------------------------------------------------


def check_may_act(actor: User, conversation: Conversation) -> None:
    """Team leads act on their own teams' conversations; supervisors and above on all."""
    check_role(actor, Role.TEAM_LEAD)
    if actor.sees_all:
        return
    if conversation.team_id is None or conversation.team_id not in team_ids_of(actor):
        raise PermissionDenied("组长只能处理本团队的会话")


def access_board_conversation(actor: User, conversation_id: int) -> Conversation:
    check_role(actor, Role.TEAM_LEAD)
    conversation = (
        Conversation.objects.select_related("customer", "team", "assignee", "channel")
        .filter(pk=conversation_id)
        .first()
    )
    if conversation is None:
        raise NotFound(f"会话 {conversation_id} 不存在")
    check_may_act(actor, conversation)
    return conversation


def do_take_over(*, actor: User, conversation_id: int, note: str = "") -> Conversation:
    """The lead serves the conversation from now on (a transfer to themselves, with its note)."""
    access_board_conversation(actor, conversation_id)
    return do_transfer(
        actor=actor,
        conversation_id=conversation_id,
        to_user=actor,
        note=note.strip() if isinstance(note, str) and note.strip() else f"{actor.name} 从主管看板接管",
    )


def do_reassign(*, actor: User, conversation_id: int, to_user_id: int, note: str = "") -> Conversation:
    """Give the conversation to another agent (a lead: one of the conversation's team)."""
    conversation = access_board_conversation(actor, conversation_id)
    to_user = User.objects.filter(pk=to_user_id, is_active=True).first()
    if to_user is None:
        raise InvalidInput("该客服不存在或已停用", fields={"to_user_id": "不存在或已停用"})
    if not actor.sees_all and not to_user.teams.filter(pk=conversation.team_id or 0).exists():
        # The lead may act here; the colleague chosen is the wrong one (a field error, 400).
        raise InvalidInput("组长只能改派给本团队的客服", fields={"to_user_id": "不在该会话的团队"})
    if to_user.pk == conversation.assignee_id:
        raise Conflict("会话已由该客服接待", fields={"to_user_id": "已是当前客服"})
    return do_transfer(
        actor=actor,
        conversation_id=conversation_id,
        to_user=to_user,
        note=note.strip() if isinstance(note, str) and note.strip() else f"{actor.name} 从主管看板改派",
    )


def do_observe_conversation(actor: User, conversation_id: int, *, request: Any = None) -> dict[str, Any]:
    """Join as a silent observer: the conversation and its messages, and an audit line.

    Nothing of the conversation changes and nothing is published — the customer and
    the agent are never told, and the observer's page sends no typing or read signal;
    later messages reach the observer through the desk socket's groups (the team's,
    or ``desk.all``). Who listened to which conversation, and when, is in the audit
    log (``observe``), which supervisors and admins read.
    """
    conversation = access_board_conversation(actor, conversation_id)
    audit(
        AuditLog.Action.OBSERVE,
        actor=actor,
        target=conversation,
        detail={
            "conversation_id": conversation.pk,
            "team_id": conversation.team_id,
            "assignee_id": conversation.assignee_id,
            "customer_id": conversation.customer_id,
        },
        ip=client_ip(request),
    )
    scope = BoardScope(None)
    now = timezone.now()
    return {
        "conversation": {
            **_conversation_row(conversation, scope, now),
            "emotion_label": conversation.emotion_label,
            "emotion_score": conversation.emotion_score,
            "channel": conversation.channel.name,
        },
        "messages": [message_dict(m) for m in messages_after(conversation, 0, public_only=False)],
    }


def whisper_dict(w: Whisper) -> dict[str, Any]:
    return {
        "id": w.pk,
        "conversation_id": w.conversation_id,
        "author_id": w.author_id,
        "author_name": w.author.name if w.author_id and w.author else None,
        "agent_id": w.agent_id,
        "text": mask_text(w.text),
        "created_at": w.created_at.isoformat(),
    }


def do_whisper(*, actor: User, conversation_id: int, text: str) -> Whisper:
    """A private word to the conversation's agent: stored apart from its messages and
    published to the agent (and its author) only — never to the team, never to the customer."""
    text = check_text(text, field="text", label="悄悄话", max_len=500)
    with transaction.atomic():
        conversation = access_board_conversation(actor, conversation_id)
        if conversation.assignee_id is None or conversation.assignee is None:
            raise Conflict("会话还没有接待客服，无法发送悄悄话")
        if conversation.assignee_id == actor.pk:
            raise Conflict("这是您自己接待的会话")
        whisper = Whisper.objects.create(
            conversation=conversation, author=actor, agent=conversation.assignee, text=text
        )
        publish(
            "conversation.whisper",
            {"whisper": whisper_dict(whisper)},
            user_ids=[conversation.assignee_id, actor.pk],
            conversation_id=conversation.pk,
            customer_data=None,
            webhook=False,
        )
    return whisper


def access_whispers(user: User, conversation_id: int) -> list[Whisper]:
    """The whispers ``user`` may read on a conversation: those to them, or written by them."""
    return list(
        Whisper.objects.select_related("author")
        .filter(conversation_id=conversation_id)
        .filter(Q(agent=user) | Q(author=user))
        .order_by("id")
    )
