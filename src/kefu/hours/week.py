"""Opening hours as plain data: minutes of the day, a week of intervals, their checks.

An interval is ``(start, end)`` in minutes after local midnight, ``0 <= start < end <= 1440``
(``1440`` is 24:00: an interval never crosses midnight; split it in two). A week maps
Monday=0 … Sunday=6 to its sorted, non-overlapping intervals. No database, no Django.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

DAY_MINUTES = 24 * 60
WEEKDAY_LABELS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")

Interval = tuple[int, int]
Week = dict[int, list[Interval]]

_HHMM = re.compile(r"(\d{1,2}):(\d{2})")


class WeekError(ValueError):
    """Bad opening hours; ``field`` says where (``week.3.end``), the message is Chinese."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def parse_hhmm(text: object, *, field: str) -> int:
    """``"09:30"`` → 570; ``"24:00"`` → 1440 (end of day)."""
    m = _HHMM.fullmatch(text.strip()) if isinstance(text, str) else None
    if m is None:
        raise WeekError(field, "时间格式应为 HH:MM，例如 09:00")
    hours, minutes = int(m.group(1)), int(m.group(2))
    if minutes >= 60 or hours > 24 or (hours == 24 and minutes):
        raise WeekError(field, "时间应在 00:00 到 24:00 之间")
    return hours * 60 + minutes


def format_hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def check_interval(start: int, end: int, *, field: str) -> Interval:
    if not 0 <= start < DAY_MINUTES or not 0 < end <= DAY_MINUTES:
        raise WeekError(field, "时间应在 00:00 到 24:00 之间")
    if end <= start:
        raise WeekError(f"{field}.end", "结束时间必须晚于开始时间（跨零点请拆成两段）")
    return (start, end)


def check_week(rows: Iterable[tuple[Any, int, int]], *, field: str = "week") -> Week:
    """Build a week from ``(weekday, start, end)`` rows; refuses bad days and overlaps."""
    week: Week = {d: [] for d in range(7)}
    for i, (day, start, end) in enumerate(rows):
        where = f"{field}.{i}"
        if isinstance(day, bool) or not isinstance(day, int) or not 0 <= day <= 6:
            raise WeekError(f"{where}.weekday", "星期应为 0（周一）到 6（周日）")
        week[day].append(check_interval(start, end, field=where))
    for day, intervals in week.items():
        intervals.sort()
        for (s1, e1), (s2, e2) in zip(intervals, intervals[1:], strict=False):
            if s2 < e1:
                raise WeekError(
                    field,
                    f"{WEEKDAY_LABELS[day]}的时段 {format_hhmm(s1)}–{format_hhmm(e1)} 与 "
                    f"{format_hhmm(s2)}–{format_hhmm(e2)} 重叠",
                )
    return week


def week_rows(week: Mapping[int, Iterable[Interval]]) -> list[list[int]]:
    """The stored form: ``[[weekday, start, end], …]`` sorted."""
    return [[day, s, e] for day in sorted(week) for s, e in sorted(week[day])]


def week_from_rows(rows: Iterable[Iterable[int]]) -> Week:
    week: Week = {d: [] for d in range(7)}
    for day, start, end in rows:
        week[int(day)].append((int(start), int(end)))
    for intervals in week.values():
        intervals.sort()
    return week


def describe_week(week: Mapping[int, list[Interval]]) -> str:
    """「周一至周五 09:00–18:00；周六、周日 休息」: consecutive days with equal hours grouped."""
    parts: list[str] = []
    day = 0
    while day < 7:
        hours = week.get(day, [])
        last = day
        while last + 1 < 7 and week.get(last + 1, []) == hours:
            last += 1
        days = WEEKDAY_LABELS[day] if last == day else f"{WEEKDAY_LABELS[day]}至{WEEKDAY_LABELS[last]}"
        if last == day + 1:
            days = f"{WEEKDAY_LABELS[day]}、{WEEKDAY_LABELS[last]}"
        text = "、".join(f"{format_hhmm(s)}–{format_hhmm(e)}" for s, e in hours) or "休息"
        parts.append(f"{days} {text}")
        day = last + 1
    return "；".join(parts)
