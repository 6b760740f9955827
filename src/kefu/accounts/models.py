"""People who work the desk, their teams (skill groups), API tokens and the audit log."""

from __future__ import annotations

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
    ONLINE = "online", "在线"
    AWAY = "away", "离开"
    BREAK = "break", "小休"
    OFFLINE = "offline", "离线"


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


class User(AbstractUser):
    role = models.CharField("角色", max_length=16, choices=Role.choices, default=Role.AGENT)
    display_name = models.CharField("显示名", max_length=64, blank=True)
    employee_no = models.CharField("工号", max_length=32, blank=True)
    teams = models.ManyToManyField(Team, related_name="members", blank=True, verbose_name="团队")
    is_senior = models.BooleanField("资深客服", default=False)
    status = models.CharField("状态", max_length=8, choices=AgentStatus.choices, default=AgentStatus.OFFLINE)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    max_concurrent = models.PositiveSmallIntegerField("最大同时接待数", default=5)
    last_assigned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "用户"
        verbose_name_plural = verbose_name

    @property
    def name(self) -> str:
        return self.display_name or self.get_full_name() or self.username

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
        GRANT_CHANGE = "grant_change", "授权变更"

    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=32, choices=Action.choices)
    target_type = models.CharField(max_length=32, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
