"""Proactive service (主动服务): rules, the events that trigger them, what was sent, statements."""

from __future__ import annotations

from django.db import models


class Kind(models.TextChoices):
    ORDER_SHIPPED = "order_shipped", "发货通知"
    LOGISTICS_STALLED = "logistics_stalled", "物流停滞致歉"
    REFUND_COMPLETED = "refund_completed", "退款到账通知"
    PAGE_LINGER = "page_linger", "浏览停留邀请"


class PageKind(models.TextChoices):
    PRODUCT = "product", "商品页"
    CHECKOUT = "checkout", "结算页"


class Rule(models.Model):
    """What an admin configured: when to speak first, with which script, how often at most."""

    name = models.CharField("名称", max_length=64)
    kind = models.CharField("类型", max_length=20, choices=Kind.choices)
    # None = every customer; a team = only customers that team serves (their latest conversation's team).
    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    reply = models.ForeignKey("replies.CannedReply", on_delete=models.PROTECT, related_name="+")
    is_enabled = models.BooleanField("启用", default=True)
    daily_limit = models.PositiveSmallIntegerField("每客户每天上限", default=3)
    stall_hours = models.PositiveSmallIntegerField("停滞小时数", default=48)
    estimate_days = models.PositiveSmallIntegerField("新预计送达（天后）", default=2)
    linger_seconds = models.PositiveSmallIntegerField("停留秒数", default=30)
    page_kinds = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey("accounts.User", null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "id"]

    def __str__(self) -> str:
        return self.name


class Trigger(models.Model):
    """An order event worth telling the customer about, recorded in the order's transaction.

    ``key`` is unique: the same event delivered twice (a store pushing an order again,
    a stall seen by two sweeps) is one row, so it is answered once.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "待处理"
        DONE = "done", "已处理"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    key = models.CharField(max_length=128, unique=True)
    order = models.ForeignKey("customers.Order", on_delete=models.CASCADE, related_name="+")
    # A stall belongs to one rule (each has its own hours) and to the last logistics event seen.
    rule = models.ForeignKey(Rule, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    ref = models.BigIntegerField(default=0)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING, db_index=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]


class Statement(models.Model):
    """One apology for a delay that hits many customers at once, approved once before it goes out."""

    class Status(models.TextChoices):
        DRAFT = "draft", "待审批"
        APPROVED = "approved", "已审批，发送中"
        SENT = "sent", "已发送"
        CANCELLED = "cancelled", "已撤销"

    class Reason(models.TextChoices):
        WEATHER = "weather", "天气"
        PEAK = "peak", "大促高峰"
        CARRIER = "carrier", "承运商"
        OTHER = "other", "其他"

    title = models.CharField("标题", max_length=64)
    reason = models.CharField("原因", max_length=10, choices=Reason.choices)
    text = models.TextField("内容")
    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    order_nos = models.JSONField(default=list, blank=True)
    carrier = models.CharField("承运商", max_length=32, blank=True)
    new_estimate = models.DateField("新预计送达", null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT, db_index=True)
    created_by = models.ForeignKey("accounts.User", null=True, on_delete=models.SET_NULL, related_name="+")
    approved_by = models.ForeignKey("accounts.User", null=True, on_delete=models.SET_NULL, related_name="+")
    approved_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    recipient_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]


class Notice(models.Model):
    """One proactive message to one customer: sent, skipped (and why) or waiting to go.

    ``dedupe_key`` is unique — one per rule and event, per statement and customer, per
    rule, visitor and page — which is what keeps a redelivered event or a restarted
    worker from sending twice.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "待发送"
        SENT = "sent", "已发送"
        SKIPPED = "skipped", "未发送"

    dedupe_key = models.CharField(max_length=160, unique=True)
    kind = models.CharField(max_length=20)
    rule = models.ForeignKey(Rule, null=True, blank=True, on_delete=models.SET_NULL, related_name="notices")
    statement = models.ForeignKey(
        Statement, null=True, blank=True, on_delete=models.CASCADE, related_name="notices"
    )
    trigger = models.ForeignKey(Trigger, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    customer = models.ForeignKey(
        "customers.Customer", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    order = models.ForeignKey(
        "customers.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    visitor_id = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING, db_index=True)
    reason = models.CharField(max_length=255, blank=True)
    channel_kind = models.CharField(max_length=8, blank=True)
    conversation = models.ForeignKey(
        "conversations.Conversation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    message = models.ForeignKey(
        "conversations.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["customer", "status", "created_at"], name="proactive_notice_limit")]


class PageVisit(models.Model):
    """Where a web visitor is now (the widget reports it) and when their chat was last open."""

    channel = models.ForeignKey("inboxes.Channel", on_delete=models.CASCADE, related_name="+")
    visitor_id = models.CharField(max_length=64)
    url = models.CharField(max_length=512, blank=True)
    page_kind = models.CharField(max_length=10, blank=True)
    page_since = models.DateTimeField(null=True, blank=True)
    seen_at = models.DateTimeField(null=True, blank=True)
    chat_seen_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "visitor_id"], name="proactive_pagevisit_unique")
        ]
