"""Accounts, top floor: users, roles, teams, API tokens and agent status.

Permission checks and the audit log are the ground floor, :mod:`kefu.accounts.access`.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from kefu.accounts.access import audit, check_admin, check_role, client_ip, team_ids_of
from kefu.core import ratelimit
from kefu.core.errors import Conflict, InvalidInput, NotFound, Unauthorized
from kefu.core.events import notify_access_changed
from kefu.core.fields import check_text
from kefu.routing.assignment import LOAD_STATUSES, do_drain_queues_on_commit, do_return_to_queue

from . import presence
from .models import (
    BREAK_REASONS,
    ROLE_RANK,
    AgentStatus,
    APIToken,
    AuditLog,
    Grant,
    PresenceRule,
    Role,
    RoleGrant,
    StatusReason,
    Team,
    User,
)

TOKEN_PREFIX = "kefu_"


# --- audit -------------------------------------------------------------------------


def _check_day(value: Any, *, field: str) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise InvalidInput("日期格式有误", fields={field: "应为 YYYY-MM-DD，如 2026-12-02"}) from exc


def access_audit_log(
    user: User,
    *,
    action: str | None = None,
    actor_id: int | None = None,
    customer_id: int | None = None,
    date_from: Any = None,
    date_to: Any = None,
) -> QuerySet[AuditLog]:
    """The audit log, newest first, for supervisors and above; days are whole local days, inclusive."""
    check_role(user, Role.SUPERVISOR)
    qs = AuditLog.objects.select_related("actor").order_by("-created_at", "-id")
    if action:
        if action not in AuditLog.Action.values:
            raise InvalidInput(
                f"未知操作：{action}", fields={"action": "应为 " + ", ".join(AuditLog.Action.values)}
            )
        qs = qs.filter(action=action)
    if actor_id is not None:
        qs = qs.filter(actor_id=actor_id)
    if customer_id is not None:
        qs = qs.filter(target_type="customer", target_id=str(customer_id))
    first, last = _check_day(date_from, field="date_from"), _check_day(date_to, field="date_to")
    if first and last and first > last:
        raise InvalidInput("开始日期晚于结束日期", fields={"date_from": "不能晚于 date_to"})
    tz = timezone.get_current_timezone()
    if first:
        qs = qs.filter(created_at__gte=datetime.combine(first, time.min, tzinfo=tz))
    if last:
        qs = qs.filter(created_at__lt=datetime.combine(last + timedelta(days=1), time.min, tzinfo=tz))
    return qs


def check_login_rate(*, username: str, ip: str | None) -> ratelimit.Reservation:
    """Count a sign-in attempt per account on this address, per account and per address.

    Raises ``RateLimited`` without looking at the password. Release the reservation
    when the password was right: only failures count, so agents who sign in all day
    are never held up, while guessing stops after a few tries.
    """
    account = username.strip().casefold()
    address = ratelimit.address_key(ip)
    return ratelimit.take(
        ("login", f"{account}\0{address or ''}"),
        ("login_user", account),
        ("login_ip", address),
        message="登录失败次数过多，请 {wait}后再试。",
    )


# --- users and teams ----------------------------------------------------------------


def do_create_user(
    *,
    username: str,
    password: str,
    role: str = Role.AGENT,
    display_name: str = "",
    teams: Iterable[Team] = (),
    actor: User | None = None,
    is_senior: bool = False,
    max_concurrent: int = 5,
) -> User:
    if role not in Role.values:
        raise InvalidInput(f"未知角色：{role}", fields={"role": f"应为 {', '.join(Role.values)} 之一"})
    if not username or len(username) > 150:
        raise InvalidInput("用户名无效", fields={"username": "必填，最多150个字符"})
    if User.objects.filter(username=username).exists():
        raise Conflict(f"用户名 {username} 已存在", fields={"username": "已存在"})
    try:
        validate_password(password, User(username=username))
    except ValidationError as exc:
        raise InvalidInput("密码不符合要求", fields={"password": "；".join(exc.messages)}) from exc
    with transaction.atomic():
        user = User.objects.create_user(
            username=username,
            password=password,
            role=role,
            display_name=display_name,
            is_senior=is_senior,
            max_concurrent=max_concurrent,
            is_staff=role == Role.ADMIN,
            is_superuser=role == Role.ADMIN,
        )
        if teams:
            user.teams.set(list(teams))
        audit(AuditLog.Action.USER_CREATE, actor=actor, target=user, detail={"role": role})
    return user


def do_add_user_with_password(
    *,
    actor: User,
    username: str,
    role: str,
    display_name: str = "",
    employee_no: str = "",
    teams: Iterable[Team] = (),
    is_senior: bool = False,
    max_concurrent: int = 5,
    request: Any = None,
) -> tuple[User, str]:
    """An admin adds a desk user; kefu picks the first password and returns it (shown once)."""
    check_admin(actor)
    username = check_text(username, field="username", label="用户名", max_len=150)
    display_name = check_text(display_name, field="display_name", label="显示名", max_len=64, required=False)
    employee_no = check_text(employee_no, field="employee_no", label="工号", max_len=32, required=False)
    if type(max_concurrent) is not int or not 1 <= max_concurrent <= 50:
        raise InvalidInput("最大同时接待数无效", fields={"max_concurrent": "1 到 50 之间的整数"})
    password = _new_password()
    with transaction.atomic():
        user = do_create_user(
            username=username,
            password=password,
            role=role,
            display_name=display_name,
            teams=teams,
            actor=actor,
            is_senior=is_senior,
            max_concurrent=max_concurrent,
        )
        if employee_no:
            User.objects.filter(pk=user.pk).update(employee_no=employee_no)
            user.employee_no = employee_no
    return user, password


def do_change_role(*, actor: User, user: User, role: str, request: Any = None) -> User:
    check_admin(actor)
    if role not in Role.values:
        raise InvalidInput(f"未知角色：{role}", fields={"role": "无效"})
    old = user.role
    with transaction.atomic():
        user.role = role
        user.is_staff = user.is_superuser = role == Role.ADMIN
        user.save(update_fields=["role", "is_staff", "is_superuser"])
        audit(
            AuditLog.Action.ROLE_CHANGE,
            actor=actor,
            target=user,
            detail={"from": old, "to": role},
            ip=client_ip(request),
        )
        notify_access_changed(user.pk)
    return user


def do_set_teams(*, actor: User, user: User, teams: Iterable[Team], request: Any = None) -> User:
    check_admin(actor)
    teams = list(teams)
    with transaction.atomic():
        before = sorted(team_ids_of(user))
        user.teams.set(teams)
        audit(
            AuditLog.Action.TEAM_CHANGE,
            actor=actor,
            target=user,
            detail={"from": before, "to": sorted(t.pk for t in teams)},
            ip=client_ip(request),
        )
        notify_access_changed(user.pk)
        if {t.pk for t in teams} - set(before):
            do_drain_queues_on_commit(agent_id=user.pk)  # a new team's waiting customers
    return user


def do_set_max_concurrent(*, actor: User, user: User, max_concurrent: int, request: Any = None) -> User:
    """Change how many conversations an agent serves at once; raising it offers them waiting ones."""
    check_admin(actor)
    if type(max_concurrent) is not int or not 1 <= max_concurrent <= 50:
        raise InvalidInput("最大同时接待数无效", fields={"max_concurrent": "1 到 50 之间的整数"})
    with transaction.atomic():
        # The router's lock on the agent row: an assignment counting their load waits.
        old = (
            User.objects.select_for_update(no_key=True)
            .values_list("max_concurrent", flat=True)
            .get(pk=user.pk)
        )
        user.max_concurrent = max_concurrent
        if max_concurrent == old:
            return user
        User.objects.filter(pk=user.pk).update(max_concurrent=max_concurrent)
        audit(
            AuditLog.Action.LIMIT_CHANGE,
            actor=actor,
            target=user,
            detail={"from": old, "to": max_concurrent},
            ip=client_ip(request),
        )
        if max_concurrent > old:
            do_drain_queues_on_commit(agent_id=user.pk)
    return user


def do_edit_user(
    *,
    actor: User,
    user: User,
    display_name: str,
    employee_no: str,
    role: str,
    teams: Iterable[Team],
    max_concurrent: int,
    is_senior: bool,
    request: Any = None,
) -> User:
    """Apply the settings page's user form: each changed part audited as its own action."""
    check_admin(actor)
    display_name = check_text(display_name, field="display_name", label="显示名", max_len=64, required=False)
    employee_no = check_text(employee_no, field="employee_no", label="工号", max_len=32, required=False)
    if type(is_senior) is not bool:
        raise InvalidInput("资深客服标记无效", fields={"is_senior": "应为是或否"})
    teams = list(teams)
    with transaction.atomic():
        changes = {
            key: [getattr(user, key), value]
            for key, value in (
                ("display_name", display_name),
                ("employee_no", employee_no),
                ("is_senior", is_senior),
            )
            if getattr(user, key) != value
        }
        if changes:
            for key, (_old, value) in changes.items():
                setattr(user, key, value)
            user.save(update_fields=list(changes))
            audit(
                AuditLog.Action.USER_UPDATE, actor=actor, target=user, detail=changes, ip=client_ip(request)
            )
        if role != user.role:
            do_change_role(actor=actor, user=user, role=role, request=request)
        if sorted(t.pk for t in teams) != sorted(team_ids_of(user)):
            do_set_teams(actor=actor, user=user, teams=teams, request=request)
        do_set_max_concurrent(actor=actor, user=user, max_concurrent=max_concurrent, request=request)
    return user


def do_set_active(*, actor: User, user: User, is_active: bool, request: Any = None) -> User:
    """Disable or enable an account; a disabled one goes offline and loses its sessions and tokens' use."""
    check_admin(actor)
    if user.pk == actor.pk and not is_active:
        raise InvalidInput("不能停用自己的账号", fields={"is_active": "不能停用自己的账号"})
    if user.is_active == is_active:
        return user
    with transaction.atomic():
        user.is_active = is_active
        user.save(update_fields=["is_active"])
        action = AuditLog.Action.USER_ENABLE if is_active else AuditLog.Action.USER_DISABLE
        audit(action, actor=actor, target=user, ip=client_ip(request))
        if not is_active:
            # Recorded in her status history as 账号停用; her open conversations then
            # follow the admin's presence rule like any offline agent's.
            presence.do_go_offline(user.pk, reason=StatusReason.DISABLED)
            user.status = AgentStatus.OFFLINE
        # Open desk sockets re-check the account at once and close (the login backend
        # already refuses inactive users on every page and API request).
        notify_access_changed(user.pk)
    return user


def do_reset_password(*, actor: User, user: User, request: Any = None) -> str:
    """Give ``user`` a new random password and return it (shown once, never stored in clear).

    The user's sessions end: Django ties a session to the password hash.
    """
    check_admin(actor)
    password = _new_password()
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        audit(AuditLog.Action.PASSWORD_RESET, actor=actor, target=user, ip=client_ip(request))
        notify_access_changed(user.pk)
    return password


# No 0/O, 1/l/I: the password is read out or typed from a screen.
_PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def _new_password() -> str:
    return "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(12))


def _check_team_fields(name: Any, description: Any, *, team: Team | None = None) -> tuple[str, str]:
    name = check_text(name, field="name", label="团队名称", max_len=64)
    same_name = Team.objects.filter(name=name)
    if team is not None:
        same_name = same_name.exclude(pk=team.pk)
    if same_name.exists():
        raise Conflict(f"团队 {name} 已存在", fields={"name": "已有同名团队"})
    return name, check_text(description, field="description", max_len=255, required=False)


def do_create_team(
    *, actor: User, name: str, description: str = "", is_general: bool = False, request: Any = None
) -> Team:
    check_admin(actor)
    name, description = _check_team_fields(name, description)
    with transaction.atomic():
        team = Team.objects.create(name=name, description=description, is_general=is_general)
        audit(
            AuditLog.Action.TEAM_CREATE,
            actor=actor,
            target=team,
            detail={"name": name},
            ip=client_ip(request),
        )
    return team


def do_update_team(
    *, actor: User, team: Team, name: str, description: str, is_general: bool, request: Any = None
) -> Team:
    check_admin(actor)
    name, description = _check_team_fields(name, description, team=team)
    changes = {
        key: [getattr(team, key), value]
        for key, value in (("name", name), ("description", description), ("is_general", is_general))
        if getattr(team, key) != value
    }
    if not changes:
        return team
    with transaction.atomic():
        for key, (_old, value) in changes.items():
            setattr(team, key, value)
        team.save(update_fields=list(changes))
        audit(AuditLog.Action.TEAM_UPDATE, actor=actor, target=team, detail=changes, ip=client_ip(request))
    return team


def check_status_reason(status: str, reason: str | None) -> str:
    """The reason an agent gives with her status: only a break has one (小休 when none is named)."""
    if status not in AgentStatus.values:
        raise InvalidInput(
            f"未知状态：{status}", fields={"status": f"应为 {', '.join(AgentStatus.values)} 之一"}
        )
    if status != AgentStatus.BREAK:
        if reason:
            raise InvalidInput("只有休息需要原因", fields={"reason": "仅在状态为 break 时填写"})
        return StatusReason.NONE
    if not reason:
        return StatusReason.SHORT_BREAK
    if reason not in BREAK_REASONS:
        allowed = "、".join(f"{r.value}（{r.label}）" for r in BREAK_REASONS)
        raise InvalidInput(f"未知的休息原因：{reason}", fields={"reason": f"应为 {allowed} 之一"})
    return reason


def do_set_status(*, user: User, status: str, reason: str | None = None) -> User:
    """An agent changes her own status (the desk's switcher); going online may pull waiting conversations.

    Recorded in the status history; choosing a status is also a sign of life
    (``last_seen_at``), so an agent who goes online is routed to at once.
    """
    reason = check_status_reason(status, reason)
    with transaction.atomic():
        presence.do_change_status(user.pk, status, reason=reason, actor=user, seen=True)
        user.status, user.status_reason = status, reason
        if status == AgentStatus.ONLINE:
            do_drain_queues_on_commit(agent_id=user.pk)
    return user


# --- presence: the sweep and the admin's rule ------------------------------------------

MAX_REQUEUE_MINUTES = 24 * 60


def do_sweep_presence(now: datetime | None = None) -> int:
    """The worker's presence sweep: agents whose desk is gone past the grace go offline; returns how many.

    Each is taken offline under her row's lock only if still unseen since the cutoff
    (a heartbeat that arrived meanwhile wins), and recorded with the reason 连接断开 as
    of her last heartbeat (or 账号停用, now, for a disabled account). Safe from several
    workers at once.
    """
    now = now or timezone.now()
    unseen = Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=presence.seen_since(now))
    gone = Q(is_active=False) | unseen
    rows = (
        User.objects.filter(gone)
        .exclude(status=AgentStatus.OFFLINE)
        .values_list("pk", "is_active", "last_seen_at", "status_changed_at")
    )
    count = 0
    for user_id, active, seen, changed in list(rows):
        reason = StatusReason.DISCONNECTED if active else StatusReason.DISABLED
        # A lost desk is recorded as of its last heartbeat, when she was last there:
        # online time stops then, and "N minutes offline" counts from then.
        at = max((t for t in (seen, changed) if t is not None), default=now) if active else now
        only_if = gone & ~Q(status=AgentStatus.OFFLINE)
        if presence.do_change_status(
            user_id, AgentStatus.OFFLINE, reason=reason, now=min(at, now), only_if=only_if
        ):
            count += 1
    return count


def do_return_offline_agents_conversations(now: datetime | None = None) -> int:
    """Enforce the presence rule: conversations of agents offline for N minutes go back to the queue.

    Returns how many conversations moved; nothing when the rule keeps them with her.
    """
    now = now or timezone.now()
    rule = presence.presence_rule()
    if rule.on_offline != PresenceRule.OnOffline.REQUEUE:
        return 0
    since = now - timedelta(minutes=rule.requeue_after_minutes)
    agents = (
        User.objects.filter(
            status=AgentStatus.OFFLINE,
            status_changed_at__lte=since,
            assigned_conversations__status__in=LOAD_STATUSES,
        )
        .distinct()
        .only("pk", "display_name", "username", "first_name", "last_name")
    )
    moved = 0
    for agent in list(agents):
        note = f"{agent.name} 已离线超过 {rule.requeue_after_minutes} 分钟，会话退回队列"
        moved += do_return_to_queue(agent.pk, offline_since=since, note=note)
    return moved


def do_set_presence_rule(
    *, actor: User, on_offline: str, requeue_after_minutes: int, request: Any = None
) -> PresenceRule:
    """An admin decides what happens to an offline agent's open conversations."""
    check_admin(actor)
    if on_offline not in PresenceRule.OnOffline.values:
        raise InvalidInput(
            f"未知规则：{on_offline}",
            fields={"on_offline": f"应为 {', '.join(PresenceRule.OnOffline.values)} 之一"},
        )
    if type(requeue_after_minutes) is not int or not 0 <= requeue_after_minutes <= MAX_REQUEUE_MINUTES:
        raise InvalidInput(
            "退回队列的分钟数无效",
            fields={"requeue_after_minutes": f"0 到 {MAX_REQUEUE_MINUTES} 之间的整数"},
        )
    with transaction.atomic():
        rule = presence.presence_rule()
        rule.on_offline = on_offline
        rule.requeue_after_minutes = requeue_after_minutes
        rule.updated_by = actor
        rule.updated_at = timezone.now()
        rule.save()
    return rule


# --- API tokens ---------------------------------------------------------------------


def _hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def check_scopes(scopes: Any) -> list[str]:
    if not isinstance(scopes, list) or not all(isinstance(x, str) for x in scopes):
        raise InvalidInput("令牌权限无效", fields={"scopes": "应为权限名称的列表"})
    unknown = sorted(set(scopes) - set(Grant.values))
    if unknown:
        raise InvalidInput(
            f"未知的令牌权限：{', '.join(unknown)}", fields={"scopes": f"可选：{', '.join(Grant.values)}"}
        )
    return sorted(set(scopes))


def do_create_token(
    *,
    user: User,
    name: str,
    scopes: Any = (),
    for_user: User | None = None,
    request: Any = None,
) -> tuple[APIToken, str]:
    """Create a token; the plain key is returned once and never stored.

    A token for another user (an integration's account) or with ``scopes`` is an admin's to make:
    a scope lends its grant to whoever holds the key.
    """
    name = (name or "").strip()
    if not name or len(name) > 64:
        raise InvalidInput("令牌名称无效", fields={"name": "必填，最多64个字符"})
    clean_scopes = check_scopes(list(scopes))
    owner = for_user or user
    if clean_scopes or owner.pk != user.pk:
        check_admin(user)
    key = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = APIToken.objects.create(
            user=owner, name=name, scopes=clean_scopes, prefix=key[:12], key_hash=_hash_key(key)
        )
        audit(
            AuditLog.Action.TOKEN_CREATE,
            actor=user,
            target=token,
            detail={"name": name, "user_id": owner.pk, "scopes": clean_scopes},
            ip=client_ip(request),
        )
    return token, key


def do_revoke_token(*, user: User, token_id: int, request: Any = None) -> None:
    token = APIToken.objects.filter(pk=token_id, user=user, revoked_at__isnull=True).first()
    if token is None:
        raise NotFound("令牌不存在")
    with transaction.atomic():
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit(AuditLog.Action.TOKEN_REVOKE, actor=user, target=token, ip=client_ip(request))


def authenticate_token(key: str) -> User:
    token = (
        APIToken.objects.select_related("user")
        .filter(key_hash=_hash_key(key), revoked_at__isnull=True)
        .first()
    )
    if token is None or not token.user.is_active:
        raise Unauthorized("令牌无效或已吊销")
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        APIToken.objects.filter(pk=token.pk).update(last_used_at=now)
    user = token.user
    user.api_scopes = frozenset(token.scopes)  # type: ignore[attr-defined]  # read by access.has_grant, this request only
    return user


# --- grants --------------------------------------------------------------------------


def role_grants(*, actor: User) -> dict[str, list[str]]:
    """Each grant and the roles an admin gave it to (admins hold them all); for admins."""
    check_admin(actor)
    held: dict[str, list[str]] = {p: [] for p in Grant.values}
    for permission, role in RoleGrant.objects.values_list("permission", "role"):
        held.setdefault(permission, []).append(role)
    return {p: sorted(roles, key=lambda r: ROLE_RANK[Role(r)]) for p, roles in held.items()}


def do_set_role_grant(*, actor: User, permission: str, roles: Any, request: Any = None) -> list[str]:
    """Give ``permission`` to exactly ``roles``; audited with before and after."""
    check_admin(actor)
    if permission not in Grant.values:
        raise NotFound(f"权限 {permission} 不存在")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise InvalidInput("角色无效", fields={"roles": "应为角色名称的列表"})
    unknown = sorted(set(roles) - set(Role.values))
    if unknown:
        raise InvalidInput(
            f"未知角色：{', '.join(unknown)}", fields={"roles": f"可选：{', '.join(Role.values)}"}
        )
    wanted = sorted(set(roles) - {Role.ADMIN}, key=lambda r: ROLE_RANK[Role(r)])
    with transaction.atomic():
        before = sorted(RoleGrant.objects.filter(permission=permission).values_list("role", flat=True))
        RoleGrant.objects.filter(permission=permission).exclude(role__in=wanted).delete()
        for role in wanted:
            RoleGrant.objects.get_or_create(permission=permission, role=role)
        audit(
            AuditLog.Action.GRANT_CHANGE,
            actor=actor,
            detail={"permission": permission, "before": before, "after": wanted},
            ip=client_ip(request),
        )
    return wanted
