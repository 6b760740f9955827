"""Channels (inboxes): where customers write in. Every channel normalises into
conversations and messages; this app keeps only what a channel needs to talk."""

from __future__ import annotations

import secrets

from django.core.exceptions import ValidationError
from django.db import models

from kefu.core import netguard
from kefu.core.errors import InvalidInput


def _new_secret() -> str:
    return secrets.token_urlsafe(32)


def new_channel_secret() -> str:
    """A fresh HMAC secret (the field default; also a rotation's)."""
    return _new_secret()


class Channel(models.Model):
    class Kind(models.TextChoices):
        WEB = "web", "网页聊天"
        APP = "app", "App"
        EMAIL = "email", "邮件"
        IM = "im", "即时通讯"
        SOCIAL = "social", "社交媒体"
        LIVE = "live", "直播评论"
        PHONE = "phone", "电话"

    name = models.CharField("名称", max_length=64, unique=True)
    kind = models.CharField("类型", max_length=8, choices=Kind.choices)
    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, verbose_name="默认团队"
    )
    is_active = models.BooleanField("启用", default=True)
    # HMAC secret for inbound webhooks and for signing outbound deliveries.
    secret = models.CharField(max_length=128, default=_new_secret)
    outbound_url = models.URLField("回推地址", blank=True)
    email_address = models.EmailField("收件地址", blank=True)
    config = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "渠道"
        verbose_name_plural = verbose_name

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        if self.outbound_url:
            try:
                netguard.check_public_url(self.outbound_url, field_name="outbound_url")
            except InvalidInput as exc:
                raise ValidationError({"outbound_url": exc.message}) from exc


class InboundNonce(models.Model):
    """Delivery ids already accepted from a platform; a replay finds its id here."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE)
    nonce = models.CharField(max_length=128)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["channel", "nonce"], name="inbound_nonce_unique")]


class OutboundDelivery(models.Model):
    """An agent message on its way to an external platform (webhook or SMTP)."""

    class Status(models.TextChoices):
        PENDING = "pending", "待发送"
        SENT = "sent", "已发送"
        FAILED = "failed", "失败"

    message = models.OneToOneField("conversations.Message", on_delete=models.CASCADE, related_name="delivery")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
