"""People who work the desk, their teams (skill groups), API tokens and the audit log."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import AbstractUser
from django.db import models


class Role(models.TextChoices):
    AGENT = "agent", "普通客服"
    SPECIALIST = "specialist", "专业客服"
    TEAM_LEAD = "team_lead", "组长"
    SUPERVISOR = "supervisor", "主管"
    MANAGER = "manager", "经理"
    ADMIN = "admin", "管理员"


# Roles ordered by seniority: a role may do what the roles before it may do.
ROLE_RANK = {
    Role.AGENT: 0,
    Role.SPECIALIST: 1,
    Role.TEAM_LEAD: 2,
    Role.SUPERVISOR: 3,
    Role.MANAGER: 4,
    Role.ADMIN: 5,
}


class AgentStatus(models.TextChoices):
    """Only ``online`` takes new conversations; ``busy`` and ``break`` keep serving their own."""

    ONLINE = "online", "在线"
    BUSY = "busy", "忙碌"
    BREAK = "break", "休息"
    OFFLINE = "offline", "离线"


class StatusReason(models.TextChoices):
    """Why an agent's status changed: chosen by the agent (a break) or set by kefu (going offline)."""

    NONE = "", "—"
    SHORT_BREAK = "short_break", "小休"
    MEAL = "meal", "用餐"
    TRAINING = "training", "培训"
    MEETING = "meeting", "会议"
    LOGOUT = "logout", "退出登录"
    IDLE_LOCK = "idle_lock", "空闲锁定"
    SESSION_EXPIRED = "session_expired", "会话过期"
    DISCONNECTED = "disconnected", "连接断开"
    DISABLED = "disabled", "账号停用"


# The reasons an agent may give for a break; the others are kefu's own.
BREAK_REASONS = (StatusReason.SHORT_BREAK, StatusReason.MEAL, StatusReason.TRAINING, StatusReason.MEETING)


class Team(models.Model):
    """A team is also a skill group: conversations queue per team."""

    name = models.CharField("名称", max_length=64, unique=True)
    description = models.CharField("说明", max_length=255, blank=True)
    is_general = models.BooleanField("通用队列", default=False, help_text="接收无法判断归属的会话")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "团队/技能组"
        verbose_name_plural = verbose_name

    def __str__(self) -> str:
        return self.name


def person_name(display_name: str, first_name: str, last_name: str, username: str) -> str:
    """How kefu names a person (``User.name``): the display name, else the full name, else the username."""
    return display_name or f"{first_name} {last_name}".strip() or username


def person_name_of(row: Mapping[str, Any], prefix: str) -> str:
    """``person_name`` of the user a ``values()`` row joins as ``prefix`` (``assignee``,
    ``owner``: the row holds ``<prefix>_id`` and ``<prefix>__display_name`` … ``__username``);
    "" when it joins nobody."""
    if not row[f"{prefix}_id"]:
        return ""
    return person_name(
        row[f"{prefix}__display_name"],
        row[f"{prefix}__first_name"],
        row[f"{prefix}__last_name"],
        row[f"{prefix}__username"],
    )


class User(AbstractUser):
    role = models.CharField("角色", max_length=16, choices=Role.choices, default=Role.AGENT)
    display_name = models.CharField("显示名", max_length=64, blank=True)
    employee_no = models.CharField("工号", max_length=32, blank=True)
    teams = models.ManyToManyField(Team, related_name="members", blank=True, verbose_name="团队")
    is_senior = models.BooleanField("资深客服", default=False)
    status = models.CharField("状态", max_length=8, choices=AgentStatus.choices, default=AgentStatus.OFFLINE)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    status_reason = models.CharField("状态原因", max_length=16, choices=StatusReason.choices, blank=True)
    # The last sign of life from the agent's desk (its socket's heartbeat): routing and
    # "who is online" count only agents seen within KEFU_PRESENCE_GRACE_SECONDS.
    last_seen_at = models.DateTimeField("最近在线", null=True, blank=True, db_index=True)
    max_concurrent = models.PositiveSmallIntegerField("最大同时接待数", default=5)
    last_assigned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "用户"
        verbose_name_plural = verbose_name

    @property
    def name(self) -> str:
        return person_name(self.display_name, self.first_name, self.last_name, self.username)

    @property
    def rank(self) -> int:
        return ROLE_RANK[Role(self.role)]

    def has_role_at_least(self, role: str) -> bool:
        return self.is_active and self.rank >= ROLE_RANK[Role(role)]

    @property
    def sees_all(self) -> bool:
        return self.has_role_at_least(Role.SUPERVISOR)


class Grant(models.TextChoices):
    """Permissions an admin hands to roles (``RoleGrant``) or to an integration's token (``APIToken.scopes``)."""

    ORDERS_WRITE = "orders.write", "写入订单与物流"


class RoleGrant(models.Model):
    """A role holds a grant; admins hold every grant without a row."""

    permission = models.CharField("权限", max_length=32, choices=Grant.choices)
    role = models.CharField("角色", max_length=16, choices=Role.choices)

    class Meta:
        ordering = ["permission", "role"]
        constraints = [models.UniqueConstraint(fields=["permission", "role"], name="role_grant_unique")]


class APIToken(models.Model):
    """A bearer token for integrations; only its SHA-256 is stored.

    ``scopes`` are grants the token carries whatever its user's role (an ERP's token
    with ``orders.write`` on an account that is otherwise an agent).
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=64)
    scopes = models.JSONField(default=list, blank=True)
    prefix = models.CharField(max_length=12, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]


class AuditLog(models.Model):
    class Action(models.TextChoices):
        LOGIN = "login", "登录"
        LOGIN_FAILED = "login_failed", "登录失败"
        LOGOUT = "logout", "退出"
        IDLE_LOCK = "idle_lock", "闲置锁屏"
        PASSWORD_CHANGE = "password_change", "修改密码"
        ROLE_CHANGE = "role_change", "角色变更"
        TEAM_CHANGE = "team_change", "团队变更"
        LIMIT_CHANGE = "limit_change", "接待上限变更"
        USER_CREATE = "user_create", "创建用户"
        TOKEN_CREATE = "token_create", "创建令牌"
        TOKEN_REVOKE = "token_revoke", "吊销令牌"
        REVEAL_PII = "reveal_pii", "查看明文个人信息"
        CUSTOMER_MERGE = "customer_merge", "合并客户"
        USER_UPDATE = "user_update", "修改用户资料"
        USER_DISABLE = "user_disable", "停用账号"
        USER_ENABLE = "user_enable", "启用账号"
        PASSWORD_RESET = "password_reset", "重置密码"
        TEAM_CREATE = "team_create", "创建团队"
        TEAM_UPDATE = "team_update", "修改团队"
        SETTINGS_CHANGE = "settings_change", "修改设置"
        CUSTOMER_LINK = "customer_link", "关联访客与客户"
        GRANT_CHANGE = "grant_change", "授权变更"
        OBSERVE = "observe", "静默旁听"

    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=32, choices=Action.choices)
    target_type = models.CharField(max_length=32, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]


class StatusChange(models.Model):
    """One change of an agent's status: the history online time and occupancy are computed from."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=8, choices=AgentStatus.choices)
    to_status = models.CharField(max_length=8, choices=AgentStatus.choices)
    reason = models.CharField(max_length=16, choices=StatusReason.choices, blank=True)
    # Who made the change: the agent, an admin, or nobody (kefu: a logout, the sweep).
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["user", "at"])]


class PresenceRule(models.Model):
    """What happens to an agent's open conversations while she is offline (one row, id 1)."""

    class OnOffline(models.TextChoices):
        KEEP = "keep", "保留给该客服"
        REQUEUE = "requeue", "超时后退回队列"

    on_offline = models.CharField(
        "离线后的会话", max_length=8, choices=OnOffline.choices, default=OnOffline.KEEP
    )
    requeue_after_minutes = models.PositiveIntegerField("离线多少分钟后退回", default=10)
    updated_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "在线规则"
        verbose_name_plural = verbose_name
