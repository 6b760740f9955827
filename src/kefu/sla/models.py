"""SLA policies per channel kind, category and priority."""

from __future__ import annotations

from django.db import models


class SLAPolicy(models.Model):
    """The most specific active policy wins (channel kind, category, priority each
    either set or blank = any)."""

    class AppliesTo(models.TextChoices):
        ANY = "", "全部"
        CONVERSATION = "conversation", "会话"
        TICKET = "ticket", "工单"

    name = models.CharField(max_length=64)
    # A chat's "60 seconds" is not a ticket's first response time: policies say what they time.
    applies_to = models.CharField(max_length=12, choices=AppliesTo.choices, blank=True, default="")
    channel_kind = models.CharField(max_length=8, blank=True)
    ticket_category = models.CharField(max_length=16, blank=True)
    priority = models.CharField(max_length=2, blank=True)
    first_response_seconds = models.PositiveIntegerField(null=True, blank=True)
    resolution_seconds = models.PositiveIntegerField(null=True, blank=True)
    # Count only working hours (Mon–Fri 09:00–18:00 local) — used for email.
    business_hours = models.BooleanField(default=False)
    # Warn when this fraction of the allowed time has passed.
    warn_ratio = models.FloatField(default=0.8)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "SLA策略"
        verbose_name_plural = verbose_name
