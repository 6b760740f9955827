"""One customer profile with many identities, and the orders a store pushes in."""

from __future__ import annotations

from django.db import models


class Customer(models.Model):
    name = models.CharField("姓名", max_length=128, blank=True)
    tags = models.JSONField("标签", default=list, blank=True)
    vip_level = models.PositiveSmallIntegerField("VIP等级", default=0)
    notes = models.TextField("备注", blank=True)
    preferences = models.JSONField("偏好", default=dict, blank=True)
    # Personal data: always masked in views and API unless revealed (audited).
    phone = models.CharField("手机号", max_length=32, blank=True)
    id_card = models.CharField("身份证号", max_length=32, blank=True)
    bank_card = models.CharField("银行卡号", max_length=32, blank=True)
    email = models.EmailField("邮箱", blank=True)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = "客户"
        verbose_name_plural = verbose_name
        indexes = [
            # The search box finds a customer by the phone number the agent pasted.
            models.Index(fields=["phone"], name="customer_phone"),
            # The rollup worker's once-a-minute pass: the profiles edited (or merged) since.
            models.Index(fields=["updated_at"], name="customer_updated"),
        ]

    def __str__(self) -> str:
        return self.name or f"客户#{self.pk}"

    @property
    def is_vip(self) -> bool:
        return self.vip_level > 0


class Identity(models.Model):
    class Kind(models.TextChoices):
        WEB = "web", "网页访客"
        EMAIL = "email", "邮箱"
        PHONE = "phone", "电话"
        WECHAT = "wechat", "微信OpenID"
        APP = "app", "App用户"
        SOCIAL = "social", "社交账号"
        LIVE = "live", "直播账号"
        EXTERNAL = "external", "外部平台"

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="identities")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    value = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "value"], name="identity_kind_value_unique")]
        # The search box looks a value up whatever its kind (a phone, an open id, an e-mail).
        indexes = [models.Index(fields=["value"], name="identity_value")]


class Order(models.Model):
    class Payment(models.TextChoices):
        UNPAID = "unpaid", "待付款"
        PAID = "paid", "已付款"
        REFUNDING = "refunding", "退款中"
        REFUNDED = "refunded", "已退款"
        CANCELLED = "cancelled", "已取消"

    class Shipping(models.TextChoices):
        PENDING = "pending", "待发货"
        SHIPPED = "shipped", "已发货"
        IN_TRANSIT = "in_transit", "运输中"
        DELIVERING = "delivering", "派送中"
        DELIVERED = "delivered", "已签收"
        RETURNING = "returning", "退货中"
        RETURNED = "returned", "已退回"

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="orders")
    order_no = models.CharField("订单号", max_length=64, unique=True)
    amount = models.DecimalField("金额", max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3, default="CNY")
    payment_status = models.CharField(
        "支付状态", max_length=16, choices=Payment.choices, default=Payment.PAID
    )
    shipping_status = models.CharField(
        "物流状态", max_length=16, choices=Shipping.choices, default=Shipping.PENDING
    )
    carrier = models.CharField("承运商", max_length=32, blank=True)
    tracking_no = models.CharField("运单号", max_length=64, blank=True)
    address = models.CharField("收货地址", max_length=255, blank=True)
    placed_at = models.DateTimeField("下单时间")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-placed_at", "-id"]


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    sku = models.CharField(max_length=64, blank=True)
    name = models.CharField(max_length=128)
    quantity = models.PositiveIntegerField(default=1)
    price = models.DecimalField(max_digits=12, decimal_places=2)


class LogisticsEvent(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="logistics")
    at = models.DateTimeField()
    location = models.CharField(max_length=128, blank=True)
    description = models.CharField(max_length=255)

    class Meta:
        ordering = ["-at", "-id"]
