"""Schedules, calendar days and a scope's open state as API and page dicts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from .models import CalendarDay, Schedule
from .week import WEEKDAY_LABELS, describe_week, format_hhmm, week_from_rows


def schedule_out(s: Schedule) -> dict[str, Any]:
    week = week_from_rows(s.week)
    return {
        "id": s.pk,
        "name": s.name,
        "team_id": s.team_id,
        "team": s.team.name if s.team is not None else None,
        "channel_id": s.channel_id,
        "channel": s.channel.name if s.channel is not None else None,
        "scope": s.scope_key,
        "week": [
            {"weekday": day, "start": format_hhmm(start), "end": format_hhmm(end)}
            for day, start, end in s.week
        ],
        "observe_holidays": s.observe_holidays,
        "description": describe_week(week),
        "updated_at": s.updated_at.isoformat() if s.updated_at else None,
    }


def day_out(d: CalendarDay) -> dict[str, Any]:
    has_hours = d.start_minute is not None and d.end_minute is not None
    return {
        "id": d.pk,
        "date": d.date.isoformat(),
        "weekday": d.date.weekday(),
        "weekday_label": WEEKDAY_LABELS[d.date.weekday()],
        "kind": d.kind,
        "kind_label": d.get_kind_display(),
        "name": d.name,
        "start": format_hhmm(d.start_minute) if has_hours and d.start_minute is not None else None,
        "end": format_hhmm(d.end_minute) if has_hours and d.end_minute is not None else None,
        "source": d.source,
        "source_label": d.get_source_display(),
    }


def _local(at: datetime | None) -> str | None:
    return timezone.localtime(at).isoformat() if at is not None else None


def state_out(
    *,
    open_now: bool,
    at: datetime,
    next_opening: datetime | None,
    closes_at: datetime | None,
    description: str,
    schedule: Schedule | None,
    day_name: str | None,
) -> dict[str, Any]:
    return {
        "open": open_now,
        "at": _local(at),
        "next_opening": _local(next_opening),
        "closes_at": _local(closes_at),
        "description": description,
        "schedule_id": schedule.pk if schedule is not None else None,
        "schedule": schedule.name if schedule is not None else "默认营业时间",
        "day": day_name,
    }
