"""Weeks and months of the desk's calendar: parsed from ``2026-W48`` / ``2026-11`` / a date,
as half-open ``[start, end)`` bounds in the desk's time zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.utils import timezone

from kefu.core.errors import InvalidInput

_WEEK = re.compile(r"(\d{4})-?W(\d{1,2})", re.IGNORECASE)
_MONTH = re.compile(r"(\d{4})-(\d{1,2})")
_DATE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}")


@dataclass(frozen=True)
class Period:
    kind: str  # "week" | "month"
    first_day: date
    last_day: date  # inclusive

    @property
    def key(self) -> str:
        if self.kind == "week":
            year, week, _ = self.first_day.isocalendar()
            return f"{year}-W{week:02d}"
        return f"{self.first_day:%Y-%m}"

    @property
    def start(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.first_day, time.min))

    @property
    def end(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.last_day + timedelta(days=1), time.min))

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    @property
    def label(self) -> str:
        if self.kind == "week":
            year, week, _ = self.first_day.isocalendar()
            return (
                f"{year}年第{week}周（{self.first_day.month}月{self.first_day.day}日–"
                f"{self.last_day.month}月{self.last_day.day}日）"
            )
        return f"{self.first_day.year}年{self.first_day.month}月"

    def previous(self) -> Period:
        if self.kind == "week":
            return week_of(self.first_day - timedelta(days=7))
        return month_of(self.first_day - timedelta(days=1))

    def is_complete(self, now: datetime | None = None) -> bool:
        return self.end <= (now or timezone.now())


def week_of(day: date) -> Period:
    monday = day - timedelta(days=day.weekday())
    return Period("week", monday, monday + timedelta(days=6))


def month_of(day: date) -> Period:
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return Period("month", first, following - timedelta(days=1))


def today() -> date:
    return timezone.localdate()


def _week(text: str, field: str) -> Period | None:
    if m := _WEEK.fullmatch(text):
        try:
            return week_of(date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1))
        except ValueError:
            raise InvalidInput(f"没有这一周：{text}", fields={field: "周数无效"}) from None
    if _DATE.fullmatch(text):
        try:
            return week_of(date.fromisoformat("-".join(f"{int(p):02d}" for p in text.split("-"))))
        except ValueError:
            raise InvalidInput(f"日期无效：{text}", fields={field: "日期无效"}) from None
    return None


def parse_week(text: str | None, *, field: str = "week") -> Period:
    """``2026-W48`` or any date in the week; blank = the last complete week."""
    text = (text or "").strip()
    if not text:
        return week_of(today() - timedelta(days=7))
    period = _week(text, field)
    if period is None:
        raise InvalidInput("周的格式应为 2026-W48 或该周内的日期", fields={field: "格式应为 2026-W48"})
    return period


def parse_period(text: str | None, *, field: str = "period") -> Period:
    """A week (``2026-W48`` or a date) or a month (``2026-11``); blank = the current month."""
    text = (text or "").strip()
    if not text:
        return month_of(today())
    period = _week(text, field)
    if period is not None:
        return period
    if m := _MONTH.fullmatch(text):
        year, month = int(m.group(1)), int(m.group(2))
        if 1 <= month <= 12 and 2000 <= year <= 2100:
            return month_of(date(year, month, 1))
    raise InvalidInput(
        "周期的格式应为 2026-11（月）或 2026-W48（周）", fields={field: "格式应为 2026-11 或 2026-W48"}
    )
