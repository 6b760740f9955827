"""Shift planning: planning parameters, promotion days, shift types, availability, rosters."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class PlanSettings(models.Model):
    """A team's planning parameters: the service-level target, chat concurrency, shrinkage, AHT."""

    team = models.OneToOneField(
        "accounts.Team", on_delete=models.CASCADE, related_name="+", verbose_name="团队"
    )
    service_level = models.FloatField("服务水平目标", default=0.8)
    answer_seconds = models.PositiveIntegerField("应答时限（秒）", default=20)
    concurrency = models.PositiveSmallIntegerField("同时接待数", default=3)
    shrinkage = models.FloatField("损耗率", default=0.3)
    # None: the AHT of the last weeks from kefu.analytics.metrics.
    aht_seconds = models.PositiveIntegerField("平均处理时长（秒）", null=True, blank=True)
    history_weeks = models.PositiveSmallIntegerField("历史周数", default=8)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "排班参数"
        verbose_name_plural = verbose_name


class Promotion(models.Model):
    """Promotion days (618, 双11 …): left out of the history profile, multiplied in the forecast."""

    name = models.CharField("名称", max_length=32)
    start_date = models.DateField("开始日期")
    end_date = models.DateField("结束日期")
    multiplier = models.FloatField("预计倍数", default=2.0)
    # None: every team.
    team = models.ForeignKey(
        "accounts.Team",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name="团队",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["start_date", "id"]
        verbose_name = "大促日"
        verbose_name_plural = verbose_name


class ShiftType(models.Model):
    """A shift (早班 08:00–16:30 …) and the window its break is taken in; minutes after midnight."""

    name = models.CharField("名称", max_length=16)
    start_minute = models.PositiveSmallIntegerField()
    end_minute = models.PositiveSmallIntegerField()
    break_start_minute = models.PositiveSmallIntegerField(null=True, blank=True)
    break_end_minute = models.PositiveSmallIntegerField(null=True, blank=True)
    # None: every team.
    team = models.ForeignKey(
        "accounts.Team",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name="团队",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["start_minute", "end_minute", "id"]
        verbose_name = "班次"
        verbose_name_plural = verbose_name


class Availability(models.Model):
    """When an agent can work: weekdays (Mon=0) and a weekly maximum of hours."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    weekdays = models.JSONField("可上班的星期", default=list)
    max_hours_per_week = models.PositiveSmallIntegerField("每周最多工时", default=40)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "可排班时间"
        verbose_name_plural = verbose_name


class Roster(models.Model):
    """A team's roster for one week (Monday first): a draft until published to the agents."""

    class Status(models.TextChoices):
        DRAFT = "draft", "草稿"
        PUBLISHED = "published", "已发布"

    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="+", verbose_name="团队")
    week_start = models.DateField("周一")
    status = models.CharField("状态", max_length=12, choices=Status.choices, default=Status.DRAFT)
    # {"YYYY-MM-DD": [agents scheduled per half hour × 48]} and the parameters behind it.
    requirement = models.JSONField(default=dict)
    parameters = models.JSONField(default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-week_start", "team_id"]
        constraints = [models.UniqueConstraint(fields=["team", "week_start"], name="roster_team_week")]
        verbose_name = "排班表"
        verbose_name_plural = verbose_name


class RosterEntry(models.Model):
    """One agent's shift on one date (the shift's times copied: editing a shift type later changes no roster)."""

    roster = models.ForeignKey(Roster, on_delete=models.CASCADE, related_name="entries")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    date = models.DateField("日期")
    shift_name = models.CharField("班次", max_length=16)
    start_minute = models.PositiveSmallIntegerField()
    end_minute = models.PositiveSmallIntegerField()
    break_start_minute = models.PositiveSmallIntegerField(null=True, blank=True)
    break_end_minute = models.PositiveSmallIntegerField(null=True, blank=True)
    # Added or moved by a lead (手工调整): a rebuild keeps it and builds around it.
    by_hand = models.BooleanField("手工调整", default=False)

    class Meta:
        ordering = ["date", "start_minute", "user_id"]
        constraints = [
            models.UniqueConstraint(fields=["roster", "user", "date"], name="roster_entry_one_a_day")
        ]
        indexes = [models.Index(fields=["user", "date"])]
