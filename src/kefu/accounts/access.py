"""Accounts, ground floor: who is asking and what they may do.

Every app asks here (``check_role``, ``check_admin``, ``can_reveal_pii``,
``team_ids_of``) instead of comparing roles itself, and records sensitive actions with
``audit``. Nothing here imports another kefu app except ``core``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpRequest

from kefu.core.errors import NotFound, PermissionDenied

from .models import AuditLog, Grant, Role, RoleGrant, Team, User


def audit(
    action: str,
    *,
    actor: User | None,
    target: Any = None,
    detail: dict[str, Any] | None = None,
    ip: str | None = None,
) -> AuditLog:
    return AuditLog.objects.create(
        actor=actor if actor is not None and actor.pk else None,
        action=action,
        target_type=type(target).__name__.lower() if target is not None else "",
        target_id=str(getattr(target, "pk", "") or "") if target is not None else "",
        detail=detail or {},
        ip=ip,
    )


def apply_changes(obj: Any, values: dict[str, Any]) -> dict[str, list[Any]]:
    """Set and save the fields of ``obj`` whose value differs; returns ``{field: [before, after]}``
    as the audit log's JSON holds it (a related row by its id)."""

    def plain(value: Any) -> Any:
        return value.pk if hasattr(value, "_meta") else value

    changes = {
        key: [plain(getattr(obj, key)), plain(value)]
        for key, value in values.items()
        if getattr(obj, key) != value
    }
    for key in changes:
        setattr(obj, key, values[key])
    if changes:
        obj.save(update_fields=list(changes))
    return changes


def client_ip(request: Any) -> str | None:
    return request.META.get("REMOTE_ADDR") if request is not None else None


def check_desk_user(user: User) -> None:
    """Any signed-in, active desk user."""
    if not user.is_authenticated or not user.is_active:
        raise PermissionDenied("请先登录")


def check_role(user: User, role: str) -> None:
    if not user.is_authenticated or not user.has_role_at_least(role):
        raise PermissionDenied(f"需要{Role(role).label}及以上权限")


def check_admin(user: User) -> None:
    check_role(user, Role.ADMIN)


def can_reveal_pii(user: User) -> bool:
    return user.is_authenticated and user.is_active and user.role in settings.KEFU_PII_REVEAL_ROLES


def has_grant(user: User, permission: str) -> bool:
    """Whether ``user`` holds ``permission``: admins always; other roles when an admin granted
    it to their role; an integration when the token it signed in with carries it as a scope."""
    if not user.is_authenticated or not user.is_active:
        return False
    if permission in getattr(user, "api_scopes", ()):
        return True
    if user.role == Role.ADMIN:
        return True
    return RoleGrant.objects.filter(permission=permission, role=user.role).exists()


def check_grant(user: User, permission: str) -> None:
    if not has_grant(user, permission):
        raise PermissionDenied(
            f"您无权{Grant(permission).label}：需要管理员授权的角色，或带 {permission} 权限的集成令牌"
        )


def team_ids_of(user: User) -> list[int]:
    return list(user.teams.values_list("id", flat=True))


def access_user(user_id: int) -> User:
    try:
        return User.objects.get(pk=user_id)
    except User.DoesNotExist as exc:
        raise NotFound(f"用户 {user_id} 不存在") from exc


def access_team(team_id: int) -> Team:
    try:
        return Team.objects.get(pk=team_id)
    except Team.DoesNotExist as exc:
        raise NotFound(f"团队 {team_id} 不存在") from exc


def list_agents() -> QuerySet[User]:
    return User.objects.filter(is_active=True).prefetch_related("teams").order_by("id")


class AuthedRequest(HttpRequest):
    """For type checkers: a request the API authenticated (``auth``) or a ``login_required`` page (``user``)."""

    user: User  # type: ignore[assignment]
    auth: User
