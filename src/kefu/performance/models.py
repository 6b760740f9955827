"""The weekly review's mailings and the star rating's weights (one row)."""

from __future__ import annotations

from django.db import models


class StarWeights(models.Model):
    """How much each component counts in a star rating, in per cent (they sum to 100).

    One row (pk=1); ``stars.star_weights()`` returns it, created with the defaults.
    """

    quality = models.PositiveSmallIntegerField("质检得分权重", default=30)
    csat = models.PositiveSmallIntegerField("满意度权重", default=25)
    resolution = models.PositiveSmallIntegerField("解决率权重", default=20)
    fcr = models.PositiveSmallIntegerField("一次解决率权重", default=15)
    volume = models.PositiveSmallIntegerField("接待量权重", default=10)
    # Below this many conversations in the period an agent is not rated at all.
    min_volume = models.PositiveIntegerField("最低接待量", default=20)
    # The volume component's target for a week; a month's is scaled by its days.
    volume_per_week = models.PositiveIntegerField("每周目标接待量", default=100)
    updated_by = models.ForeignKey("accounts.User", null=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(null=True, blank=True)


class ReviewMailing(models.Model):
    """The weekly review emailed to one team's leads for one week: at most one row per team and week.

    The unique constraint is what makes the schedule idempotent; ``status`` moves
    pending → sending → sent by conditional updates, so a task run twice sends once.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "待发送"
        SENDING = "sending", "发送中"
        SENT = "sent", "已发送"
        NO_RECIPIENTS = "no_recipients", "无收件人"
        FAILED = "failed", "发送失败"

    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="+")
    week_start = models.DateField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    # [{"id": user id, "email": address, "state": "queued" | "sent" | "failed"}]
    recipients = models.JSONField(default=list, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-week_start", "team_id"]
        constraints = [
            models.UniqueConstraint(fields=["team", "week_start"], name="review_mailing_once_per_team_week")
        ]
