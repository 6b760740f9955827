"""Accounts: users, teams and API tokens as the API and pages show them."""

from __future__ import annotations

from typing import Any

from kefu.core.labels import field_label

from .models import APIToken, AuditLog, Grant, PresenceRule, Role, StatusChange, StatusReason, Team, User


def user_dict(u: User) -> dict[str, Any]:
    """Callers prefetch ``teams``."""
    return {
        "id": u.pk,
        "username": u.username,
        "name": u.name,
        "display_name": u.display_name,
        "employee_no": u.employee_no,
        "role": u.role,
        "status": u.status,
        "status_reason": u.status_reason,
        "last_seen_at": u.last_seen_at.isoformat() if u.last_seen_at else None,
        "is_active": u.is_active,
        "is_senior": u.is_senior,
        "max_concurrent": u.max_concurrent,
        "teams": [{"id": t.pk, "name": t.name} for t in u.teams.all()],
    }


def team_dict(t: Team) -> dict[str, Any]:
    return {"id": t.pk, "name": t.name, "description": t.description, "is_general": t.is_general}


def token_dict(t: APIToken) -> dict[str, Any]:
    return {
        "id": t.pk,
        "name": t.name,
        "user_id": t.user_id,
        "scopes": list(t.scopes),
        "prefix": t.prefix,
        "created_at": t.created_at.isoformat(),
        "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None,
        "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None,
    }


def audit_dict(a: AuditLog) -> dict[str, Any]:
    return {
        "id": a.pk,
        "action": a.action,
        "action_label": a.get_action_display(),
        "actor_id": a.actor_id,
        "actor_name": a.actor.name if a.actor else None,
        "target_type": a.target_type,
        "target_id": a.target_id,
        "detail": a.detail,
        "ip": a.ip,
        "created_at": a.created_at.isoformat(),
    }


def grant_dict(permission: str, roles: list[str]) -> dict[str, Any]:
    return {
        "permission": permission,
        "label": Grant(permission).label,
        "roles": roles,
        "role_labels": [Role(r).label for r in roles],
    }


def status_change_dict(c: StatusChange) -> dict[str, Any]:
    """Callers select ``user`` and ``actor``."""
    return {
        "id": c.pk,
        "user_id": c.user_id,
        "user_name": c.user.name,
        "from_status": c.from_status,
        "to_status": c.to_status,
        "reason": c.reason,
        "reason_label": StatusReason(c.reason).label if c.reason else "",
        # None: kefu changed it (a logout, an idle lock, the presence sweep).
        "actor_id": c.actor_id,
        "actor_name": c.actor.name if c.actor else None,
        "at": c.at.isoformat(),
    }


def presence_rule_dict(r: PresenceRule) -> dict[str, Any]:
    return {
        "on_offline": r.on_offline,
        "requeue_after_minutes": r.requeue_after_minutes,
        "updated_by": r.updated_by.name if r.updated_by else None,
        "updated_at": r.updated_at.isoformat() if r.updated_at else None,
    }


_TARGET_NAMES = {"customer": "客户", "user": "用户", "apitoken": "令牌", "team": "团队"}


def audit_row(a: AuditLog) -> dict[str, Any]:
    """One audit row as the audit page shows it: who, what, on what, in Chinese."""
    detail = a.detail or {}
    what = ""
    link = ""
    if a.action == AuditLog.Action.REVEAL_PII:
        field = detail.get("field", "")
        if field == "message":
            what = f"消息原文（会话 #{detail.get('conversation_id')}，消息 #{detail.get('message_id')}）"
            link = f"/desk/c/{detail.get('conversation_id')}/"
        else:
            what = field_label(field) + (f"（订单 {detail['order_no']}）" if detail.get("order_no") else "")
    elif a.action == AuditLog.Action.CUSTOMER_MERGE:
        what = f"客户 #{detail.get('source_id')} 并入 #{detail.get('target_id')}"
    elif detail:
        what = "，".join(f"{field_label(k)}：{v}" for k, v in detail.items())
    target = ""
    if a.target_type:
        target = f"{_TARGET_NAMES.get(a.target_type, a.target_type)} #{a.target_id}"
        if a.target_type == "customer" and not link:
            link = f"/desk/customers/{a.target_id}/"
    return {
        "at": a.created_at,
        "actor": a.actor.name if a.actor else "—",
        "action": a.get_action_display(),
        "target": target,
        "what": what,
        "link": link,
        "ip": a.ip or "",
    }
