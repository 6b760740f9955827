"""Complaints (投诉) handled within authority: the workflow on a complaint ticket,
compensation with per-role limits and approvals, and promises kept track of."""

from __future__ import annotations

from django.db import models

from kefu.accounts.models import Role


class Stage(models.TextChoices):
    INTAKE = "intake", "受理登记"
    ANALYSIS = "analysis", "分析与转办"
    TRACKING = "tracking", "跟踪处理"
    RESOLUTION = "resolution", "解决待确认"
    FOLLOW_UP = "follow_up", "回访"
    CLOSED = "closed", "已结案"


class Complaint(models.Model):
    ticket = models.OneToOneField("tickets.Ticket", on_delete=models.CASCADE, related_name="complaint")
    stage = models.CharField(max_length=12, choices=Stage.choices, default=Stage.INTAKE, db_index=True)
    # Intake: what happened, what the customer wants, evidence, how to reach them.
    what_happened = models.TextField("事情经过", blank=True)
    customer_request = models.TextField("客户诉求", blank=True)
    evidence = models.JSONField("证据", default=list, blank=True)
    contact_preference = models.CharField("联系方式偏好", max_length=128, blank=True)
    order = models.ForeignKey(
        "customers.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Progress updates to the customer at a set interval, even when nothing changed.
    update_interval_hours = models.PositiveIntegerField(default=24)
    last_update_at = models.DateTimeField(null=True, blank=True)
    next_update_due = models.DateTimeField(null=True, blank=True, db_index=True)
    resolution = models.TextField("处理结果", blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    customer_confirmed_at = models.DateTimeField(null=True, blank=True)
    follow_up_due = models.DateTimeField(null=True, blank=True, db_index=True)
    follow_up_done_at = models.DateTimeField(null=True, blank=True)
    follow_up_note = models.TextField(blank=True)
    # Repeated complaints by the same customer on the same matter are linked.
    repeat_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="repeats"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]


class CompensationKind(models.TextChoices):
    REFUND = "refund", "退款"
    EXCHANGE = "exchange", "换货"
    RESEND = "resend", "补发"
    COUPON = "coupon", "优惠券"
    GIFT = "gift", "赠品"
    EXPEDITED = "expedited", "加急配送"


class AuthorityLimit(models.Model):
    """How much compensation a role may grant on its own (元); configurable."""

    role = models.CharField(max_length=16, unique=True)
    max_amount = models.DecimalField(max_digits=10, decimal_places=2)

    def __str__(self) -> str:
        return f"{self.role} ≤ {self.max_amount}"


class CompensationRequest(models.Model):
    class Status(models.TextChoices):
        GRANTED = "granted", "已发放（权限内）"
        PENDING = "pending", "待审批"
        APPROVED = "approved", "已批准"
        REJECTED = "rejected", "已驳回"

    complaint = models.ForeignKey(
        Complaint, null=True, blank=True, on_delete=models.CASCADE, related_name="compensations"
    )
    conversation = models.ForeignKey(
        "conversations.Conversation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=10, choices=CompensationKind.choices)
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    reason = models.CharField(max_length=500)
    requested_by = models.ForeignKey("accounts.User", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, db_index=True)
    # The lowest role whose limit covers the amount decides.
    approver_role = models.CharField(max_length=16, blank=True)
    # The team the case belongs to: only its members (or supervisors and above, who see
    # every team) are asked to approve, and they may open the case to decide.
    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    @property
    def approver_role_label(self) -> str:
        """The deciding role as the desk names it (主管), not its code."""

        return Role(self.approver_role).label if self.approver_role in Role.values else self.approver_role


class Promise(models.Model):
    """Anything an agent commits to, with a due time (a callback at 15:00, a refund in 24 h)."""

    class Status(models.TextChoices):
        OPEN = "open", "待兑现"
        KEPT = "kept", "已兑现"
        BROKEN = "broken", "已逾期"
        CANCELLED = "cancelled", "已取消"

    owner = models.ForeignKey("accounts.User", on_delete=models.PROTECT, related_name="promises")
    conversation = models.ForeignKey(
        "conversations.Conversation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="promises",
    )
    complaint = models.ForeignKey(
        Complaint, null=True, blank=True, on_delete=models.SET_NULL, related_name="promises"
    )
    description = models.CharField(max_length=255)
    due_at = models.DateTimeField(db_index=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN, db_index=True)
    kept_at = models.DateTimeField(null=True, blank=True)
    # Set when the due time passed: the owner's lead is told and the customer hears first.
    broken_at = models.DateTimeField(null=True, blank=True)
    customer_told_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["due_at", "id"]
