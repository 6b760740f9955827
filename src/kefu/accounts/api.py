"""REST: the signed-in user, agent status, users, teams, the audit log and API tokens."""

from __future__ import annotations

from typing import Any

from ninja import Query, Router, Status
from pydantic import Field

from kefu.accounts.access import AuthedRequest
from kefu.accounts.presenters import audit_dict, team_dict, token_dict, user_dict
from kefu.core.apiutil import DEFAULT_LIMIT, MAX_LIMIT, StrictIn, page
from kefu.core.errors import NotFound

from . import access, services
from .models import APIToken, AuditLog, Role, Team, User

router = Router(tags=["accounts"])


# --- shapes --------------------------------------------------------------------------


class AgentStatusIn(StrictIn):
    status: str


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
    user = services.do_set_status(user=request.auth, status=payload.status)
    return {"id": user.pk, "status": user.status}


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
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    access.check_role(request.auth, Role.SUPERVISOR)
    qs = AuditLog.objects.select_related("actor")
    if action:
        qs = qs.filter(action=action)
    if actor_id:
        qs = qs.filter(actor_id=actor_id)
    return page(qs, limit=limit, offset=offset, present=audit_dict)


# --- tokens ----------------------------------------------------------------------------


@router.get("/tokens")
def list_tokens(request: AuthedRequest) -> dict[str, Any]:
    tokens = [token_dict(t) for t in APIToken.objects.filter(user=request.auth)]
    return {"count": len(tokens), "items": tokens}


@router.post("/tokens", response={201: dict[str, Any]})
def create_token(request: AuthedRequest, payload: TokenIn) -> Status[dict[str, Any]]:
    token, key = services.do_create_token(user=request.auth, name=payload.name, request=request)
    # The plain key is in this response only; it is never stored nor shown again.
    return Status(201, {**token_dict(token), "key": key})


@router.delete("/tokens/{token_id}", response={204: None})
def revoke_token(request: AuthedRequest, token_id: int) -> Status[None]:
    services.do_revoke_token(user=request.auth, token_id=token_id, request=request)
    return Status(204, None)
