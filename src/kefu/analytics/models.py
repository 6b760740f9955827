"""Targets an admin sets for the desk's figures (kefu.analytics.metrics reads them)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class MetricTarget(models.Model):
    """The target of one metric, desk-wide (no team) or for one team (which overrides it)."""

    name = models.CharField("指标", max_length=48)
    team = models.ForeignKey(
        "accounts.Team",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name="团队",
    )
    value = models.FloatField("目标值")
    updated_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = "指标目标"
        verbose_name_plural = verbose_name
        constraints = [
            models.UniqueConstraint(
                fields=["name"], condition=Q(team__isnull=True), name="metric_target_desk_unique"
            ),
            models.UniqueConstraint(
                fields=["name", "team"], condition=Q(team__isnull=False), name="metric_target_team_unique"
            ),
        ]
