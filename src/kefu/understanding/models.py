"""The desk's side of text understanding: the intent taxonomy admins edit, the
examples agents' corrections create, the shop dictionary and emotion alerts."""

from __future__ import annotations

from django.db import models


class Intent(models.Model):
    name = models.CharField("意图", max_length=32, unique=True)
    description = models.CharField("说明", max_length=255, blank=True)
    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, verbose_name="处理团队"
    )
    default_priority = models.CharField("默认优先级", max_length=2, default="P4")
    is_active = models.BooleanField(default=True)
    order = models.PositiveIntegerField(default=100)

    class Meta:
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return self.name


class IntentExample(models.Model):
    class Source(models.TextChoices):
        CORRECTION = "correction", "客服纠正"
        ADMIN = "admin", "管理员添加"

    text = models.CharField(max_length=500)
    intent = models.CharField(max_length=32)
    source = models.CharField(max_length=12, choices=Source.choices, default=Source.CORRECTION)
    conversation = models.ForeignKey(
        "conversations.Conversation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey("accounts.User", null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]


class ShopWord(models.Model):
    """Words of the shop (product names, brands, terms) for segmentation and search."""

    class Kind(models.TextChoices):
        PRODUCT = "product", "商品名"
        TERM = "term", "术语"

    word = models.CharField(max_length=32, unique=True)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.PRODUCT)
    created_at = models.DateTimeField(auto_now_add=True)


class EmotionAlert(models.Model):
    """Raised when a conversation reaches 7 or its emotion rises by 3 (情绪预警), or when the
    customer threatens to take the matter outside the shop (投诉风险, once per conversation)."""

    class Level(models.TextChoices):
        EMOTION = "emotion", "情绪预警"
        COMPLAINT_RISK = "complaint_risk", "投诉风险"

    conversation = models.ForeignKey(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="emotion_alerts"
    )
    level = models.CharField(max_length=16, choices=Level.choices, default=Level.EMOTION)
    score = models.FloatField()
    previous_score = models.FloatField()
    label = models.CharField(max_length=16)
    reason = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)
    acknowledged_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["acknowledged_at", "conversation"], name="alert_open_idx")]
