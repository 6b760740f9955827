"""REST: the signed-in user, agent status and presence, users, teams, the audit log and API tokens."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from ninja import Query, Router, Status
from pydantic import Field

from kefu.accounts.access import AuthedRequest
from kefu.accounts.presenters import (
    audit_dict,
    grant_dict,
    presence_rule_dict,
    status_change_dict,
    team_dict,
    token_dict,
    user_dict,
)
from kefu.core.apiutil import DEFAULT_LIMIT, MAX_LIMIT, StrictIn, page
from kefu.core.errors import NotFound

from . import access, presence, services
from .models import APIToken, Role, StatusChange, Team, User

router = Router(tags=["accounts"])


# --- shapes --------------------------------------------------------------------------


class AgentStatusIn(StrictIn):
    status: str
    reason: str | None = Field(
        None, description="only with status break: short_break, meal, training, meeting"
    )


class PresenceRuleIn(StrictIn):
    on_offline: str = Field(description="keep (stay with her) or requeue (back to the queue after N minutes)")
    requeue_after_minutes: int = Field(ge=0, le=services.MAX_REQUEUE_MINUTES)


class UserIn(StrictIn):
    username: str = Field(min_length=1, max_length=150)
    password: str
    role: str = Role.AGENT
    display_name: str = Field("", max_length=64)
    team_ids: list[int] = []
    is_senior: bool = False
    max_concurrent: int = Field(5, ge=1, le=50)


class UserPatch(StrictIn):
    role: str | None = None
    team_ids: list[int] | None = None
    max_concurrent: int | None = Field(None, ge=1, le=50)


class TeamIn(StrictIn):
    name: str
    description: str = ""
    is_general: bool = False


class TokenIn(StrictIn):
    name: str
    scopes: list[str] = []
    user_id: int | None = Field(None, ge=1, le=2**62)


class GrantIn(StrictIn):
    roles: list[str]


def _teams(team_ids: list[int]) -> list[Team]:
    teams = list(Team.objects.filter(pk__in=team_ids))
    missing = set(team_ids) - {t.pk for t in teams}
    if missing:
        raise NotFound(
            f"团队 {', '.join(str(i) for i in sorted(missing))} 不存在", fields={"team_ids": "含不存在的团队"}
        )
    return teams


# --- me --------------------------------------------------------------------------------


@router.get("/me")
def me(request: AuthedRequest) -> dict[str, Any]:
    user = User.objects.prefetch_related("teams").get(pk=request.auth.pk)
    return {**user_dict(user), "can_reveal_pii": access.can_reveal_pii(user), "sees_all": user.sees_all}


@router.post("/me/status")
def set_my_status(request: AuthedRequest, payload: AgentStatusIn) -> dict[str, Any]:
    user = services.do_set_status(user=request.auth, status=payload.status, reason=payload.reason)
    return {"id": user.pk, "status": user.status, "reason": user.status_reason}


@router.post("/me/heartbeat", response={204: None})
def heartbeat(request: AuthedRequest) -> Status[None]:
    """For clients without the desk socket: "I am at my desk" (send more often than the grace)."""
    presence.do_heartbeat(request.auth.pk)
    return Status(204, None)


# --- presence: history, online time, the offline rule ----------------------------------


@router.get("/presence/history")
def list_status_history(
    request: AuthedRequest,
    user_id: int | None = Query(None, ge=1),
    team_id: int | None = Query(None, ge=1),
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    """Status changes, newest first: team leads see their teams' members, supervisors everyone."""
    users = presence.access_history_users(request.auth, team_id=team_id, user_id=user_id)
    qs = StatusChange.objects.filter(user__in=users).select_related("user", "actor")
    if since is not None:
        qs = qs.filter(at__gte=since)
    if until is not None:
        qs = qs.filter(at__lt=until)
    return page(qs, limit=limit, offset=offset, present=status_change_dict)


@router.get("/presence/online-time")
def online_time(
    request: AuthedRequest,
    date_from: date,
    date_to: date,
    user_id: int | None = Query(None, ge=1),
    team_id: int | None = Query(None, ge=1),
) -> dict[str, Any]:
    """Seconds per agent per local day in each status (docs/presence.md#online-time)."""
    presence.check_day_range(date_from, date_to)
    users = list(
        presence.access_history_users(request.auth, team_id=team_id, user_id=user_id)
        .filter(is_active=True)
        .order_by("id")
    )
    names = {u.pk: u.name for u in users}
    rows = [
        {**row.as_dict(), "name": names[row.user_id]}
        for row in presence.online_time(users, date_from, date_to)
    ]
    return {
        "date_from": date_from.isoformat(),
        "date_to": date_to.isoformat(),
        "count": len(rows),
        "items": rows,
    }


@router.get("/presence/rule")
def get_presence_rule(request: AuthedRequest) -> dict[str, Any]:
    access.check_role(request.auth, Role.TEAM_LEAD)
    return presence_rule_dict(presence.presence_rule())


@router.put("/presence/rule")
def set_presence_rule(request: AuthedRequest, payload: PresenceRuleIn) -> dict[str, Any]:
    rule = services.do_set_presence_rule(
        actor=request.auth,
        on_offline=payload.on_offline,
        requeue_after_minutes=payload.requeue_after_minutes,
        request=request,
    )
    return presence_rule_dict(rule)


# --- users and teams ----------------------------------------------------------------


@router.get("/users")
def list_users(
    request: AuthedRequest,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    access.check_role(request.auth, Role.TEAM_LEAD)
    return page(access.list_agents(), limit=limit, offset=offset, present=user_dict)


@router.post("/users", response={201: dict[str, Any]})
def create_user(request: AuthedRequest, payload: UserIn) -> Status[dict[str, Any]]:
    access.check_admin(request.auth)
    user = services.do_create_user(
        username=payload.username,
        password=payload.password,
        role=payload.role,
        display_name=payload.display_name,
        teams=_teams(payload.team_ids),
        actor=request.auth,
        is_senior=payload.is_senior,
        max_concurrent=payload.max_concurrent,
    )
    return Status(201, user_dict(User.objects.prefetch_related("teams").get(pk=user.pk)))


@router.patch("/users/{user_id}")
def update_user(request: AuthedRequest, user_id: int, payload: UserPatch) -> dict[str, Any]:
    access.check_admin(request.auth)
    user = access.access_user(user_id)
    if payload.role is not None and payload.role != user.role:
        services.do_change_role(actor=request.auth, user=user, role=payload.role, request=request)
    if payload.team_ids is not None:
        services.do_set_teams(actor=request.auth, user=user, teams=_teams(payload.team_ids), request=request)
    if payload.max_concurrent is not None:
        services.do_set_max_concurrent(
            actor=request.auth, user=user, max_concurrent=payload.max_concurrent, request=request
        )
    return user_dict(User.objects.prefetch_related("teams").get(pk=user.pk))


@router.get("/teams")
def list_teams(request: AuthedRequest) -> dict[str, Any]:
    teams = [team_dict(t) for t in Team.objects.order_by("id")]
    return {"count": len(teams), "items": teams}


@router.post("/teams", response={201: dict[str, Any]})
def create_team(request: AuthedRequest, payload: TeamIn) -> Status[dict[str, Any]]:
    team = services.do_create_team(
        actor=request.auth, name=payload.name, description=payload.description, is_general=payload.is_general
    )
    return Status(201, team_dict(team))


# --- audit -----------------------------------------------------------------------------


@router.get("/audit")
def list_audit(
    request: AuthedRequest,
    action: str | None = None,
    actor_id: int | None = None,
    customer_id: int | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    """Supervisors and above; ``date_from``/``date_to`` are days (YYYY-MM-DD), both included."""
    qs = services.access_audit_log(
        request.auth,
        action=action,
        actor_id=actor_id,
        customer_id=customer_id,
        date_from=date_from,
        date_to=date_to,
    )
    return page(qs, limit=limit, offset=offset, present=audit_dict)


# --- tokens ----------------------------------------------------------------------------


@router.get("/tokens")
def list_tokens(request: AuthedRequest) -> dict[str, Any]:
    tokens = [token_dict(t) for t in APIToken.objects.filter(user=request.auth)]
    return {"count": len(tokens), "items": tokens}


@router.post("/tokens", response={201: dict[str, Any]})
def create_token(request: AuthedRequest, payload: TokenIn) -> Status[dict[str, Any]]:
    for_user = access.access_user(payload.user_id) if payload.user_id is not None else None
    token, key = services.do_create_token(
        user=request.auth, name=payload.name, scopes=payload.scopes, for_user=for_user, request=request
    )
    # The plain key is in this response only; it is never stored nor shown again.
    return Status(201, {**token_dict(token), "key": key})


@router.delete("/tokens/{token_id}", response={204: None})
def revoke_token(request: AuthedRequest, token_id: int) -> Status[None]:
    services.do_revoke_token(user=request.auth, token_id=token_id, request=request)
    return Status(204, None)


# --- grants ---------------------------------------------------------------------------


@router.get("/grants")
def list_grants(request: AuthedRequest) -> dict[str, Any]:
    """Each grant (e.g. `orders.write`) and the roles holding it; admins hold every grant."""
    return {"items": [grant_dict(p, roles) for p, roles in services.role_grants(actor=request.auth).items()]}


@router.put("/grants/{permission}")
def set_grant(request: AuthedRequest, permission: str, payload: GrantIn) -> dict[str, Any]:
    """Give a grant to exactly these roles (admin only, audited)."""
    roles = services.do_set_role_grant(
        actor=request.auth, permission=permission, roles=payload.roles, request=request
    )
    return grant_dict(permission, roles)
