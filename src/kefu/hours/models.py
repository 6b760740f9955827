"""Weekly opening hours per team and channel, and the calendar of holidays and 调休 days."""

from __future__ import annotations

from django.db import models


class Schedule(models.Model):
    """A week of opening hours for a scope: the whole desk, a team, a channel, or a team on a channel.

    The most specific schedule wins (team + channel › channel › team › desk-wide); with none,
    the built-in default of ``settings.KEFU_DEFAULT_BUSINESS_HOURS``.
    """

    name = models.CharField("名称", max_length=64)
    team = models.ForeignKey(
        "accounts.Team",
        verbose_name="团队",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    channel = models.ForeignKey(
        "inboxes.Channel",
        verbose_name="渠道",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    # "desk", "team:3", "channel:5" or "team:3/channel:5": one schedule per scope, on every database.
    scope_key = models.CharField(max_length=48, unique=True)
    # [[weekday 0=Mon..6=Sun, start minute, end minute], …]; see kefu.hours.week.
    week = models.JSONField("每周时段", default=list)
    observe_holidays = models.BooleanField("节假日休息", default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "营业时间"
        verbose_name_plural = verbose_name

    def __str__(self) -> str:
        return self.name


class CalendarDay(models.Model):
    """A date that differs from the weekly hours: a public holiday, or a make-up working day (调休上班).

    A holiday is closed, or open only ``start_minute``–``end_minute`` when they are set (e.g. a
    short 除夕). A working day is open ``start_minute``–``end_minute``, or, when they are blank,
    the hours of the schedule's first working weekday (Monday, else Tuesday …).
    Only schedules that observe holidays read these days.
    """

    class Kind(models.TextChoices):
        HOLIDAY = "holiday", "放假"
        WORKDAY = "workday", "调休上班"

    class Source(models.TextChoices):
        OFFICIAL = "official", "国务院办公厅通知"
        CUSTOM = "custom", "自定义"

    date = models.DateField("日期", unique=True)
    kind = models.CharField("类型", max_length=8, choices=Kind.choices)
    name = models.CharField("名称", max_length=32)
    start_minute = models.PositiveSmallIntegerField(null=True, blank=True)
    end_minute = models.PositiveSmallIntegerField(null=True, blank=True)
    source = models.CharField("来源", max_length=8, choices=Source.choices, default=Source.CUSTOM)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["date"]
        verbose_name = "节假日与调休"
        verbose_name_plural = verbose_name

    def __str__(self) -> str:
        return f"{self.date} {self.name}（{self.get_kind_display()}）"
