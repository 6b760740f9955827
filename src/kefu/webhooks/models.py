"""Outbound webhooks: endpoints that subscribe to events, and the delivery log."""

from __future__ import annotations

import secrets

from django.db import models


def _new_secret() -> str:
    return secrets.token_urlsafe(32)


class WebhookEndpoint(models.Model):
    url = models.URLField()
    secret = models.CharField(max_length=128, default=_new_secret)
    events = models.JSONField(default=list, help_text="订阅的事件，如 message.created；空表示全部")
    is_active = models.BooleanField(default=True)
    # Trusted integrations (the shop's own back office) get message texts as typed;
    # any other endpoint gets phone, ID-card and bank-card numbers masked.
    trusted = models.BooleanField(default=False, help_text="受信任的集成可收到未脱敏的消息文本")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "待发送"
        SUCCEEDED = "succeeded", "成功"
        FAILED = "failed", "失败"

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.CharField(max_length=32)
    event_type = models.CharField(max_length=64)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["endpoint", "event_id"], name="webhook_delivery_once")]
