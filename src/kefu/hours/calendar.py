"""Business hours, ground floor: is a team or channel open, when it opens and closes, business time.

Everything is computed in local time (``settings.TIME_ZONE``, Asia/Shanghai). The hours of
a ``(team, channel)`` come from the most specific ``Schedule`` (team + channel › channel ›
team › desk-wide) or, when nothing is configured, from ``settings.KEFU_DEFAULT_BUSINESS_HOURS``
(Monday to Friday 09:00–18:00). A schedule that observes holidays reads ``CalendarDay``:
holidays closed (or short hours), make-up working days (调休) open even on a weekend.

``calendar_for(team, channel)`` costs two queries and answers any number of questions;
the module functions (``is_open``, ``next_opening``, ``closes_at``, ``add_business_minutes``,
``business_minutes_between`` …) build one each call. ``team`` and ``channel`` are model
instances, ids or None.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from django.conf import settings
from django.utils import timezone

from .models import CalendarDay, Schedule
from .week import Interval, Week, check_week, describe_week, parse_hhmm, week_from_rows

# How far ahead to look for an opening before saying there is none.
HORIZON_DAYS = 400
# closes_at looks this far for the end of the current opening (an always-open desk has none).
CLOSE_HORIZON_DAYS = 31


def default_week() -> Week:
    """The hours used when no schedule is configured (``settings.KEFU_DEFAULT_BUSINESS_HOURS``)."""
    rows = getattr(settings, "KEFU_DEFAULT_BUSINESS_HOURS", ())
    return check_week(
        (day, parse_hhmm(start, field="default"), parse_hhmm(end, field="default"))
        for day, start, end in rows
    )


def scope_key(team_id: int | None, channel_id: int | None) -> str:
    if team_id and channel_id:
        return f"team:{team_id}/channel:{channel_id}"
    if channel_id:
        return f"channel:{channel_id}"
    if team_id:
        return f"team:{team_id}"
    return "desk"


def _id(obj: Any) -> int | None:
    if obj is None or isinstance(obj, int):
        return obj
    return int(obj.pk)


@dataclass(frozen=True, slots=True)
class DayRule:
    kind: str
    name: str
    hours: Interval | None


@dataclass
class BusinessCalendar:
    """The opening hours of one scope, with the holiday calendar it observes."""

    week: Week
    observe_holidays: bool = True
    days: dict[date, DayRule] = field(default_factory=dict)
    schedule: Schedule | None = None
    tz: tzinfo = field(default_factory=timezone.get_current_timezone)

    # --- the hours of one date --------------------------------------------------------

    def working_day_hours(self) -> list[Interval]:
        """A make-up working day without its own hours keeps those of the first working weekday."""
        for weekday in range(5):
            if self.week.get(weekday):
                return list(self.week[weekday])
        return []

    def hours_on(self, day: date) -> list[Interval]:
        rule = self.days.get(day) if self.observe_holidays else None
        if rule is None:
            return list(self.week.get(day.weekday(), []))
        if rule.hours is not None:
            return [rule.hours]
        return [] if rule.kind == CalendarDay.Kind.HOLIDAY else self.working_day_hours()

    def day_rule(self, day: date) -> DayRule | None:
        """The holiday or make-up working day this calendar applies on ``day``, if any."""
        return self.days.get(day) if self.observe_holidays else None

    @property
    def description(self) -> str:
        text = describe_week(self.week)
        return f"{text}；法定节假日休息，调休日上班" if self.observe_holidays else text

    # --- open windows -------------------------------------------------------------------

    def _local_midnight(self, day: date) -> datetime:
        return datetime(day.year, day.month, day.day, tzinfo=self.tz)

    def windows(
        self, start: datetime, end: datetime | None = None, *, days: int = HORIZON_DAYS
    ) -> Iterator[tuple[datetime, datetime]]:
        """Open stretches from ``start`` (clipped to ``[start, end)``), touching intervals merged.

        Looks ``days`` local days ahead when ``end`` is None.
        """
        day = timezone.localtime(start, self.tz).date()
        last = timezone.localtime(end, self.tz).date() if end is not None else day + timedelta(days=days)
        pending: tuple[datetime, datetime] | None = None
        while day <= last:
            midnight = self._local_midnight(day)
            for s, e in self.hours_on(day):
                opens = max(midnight + timedelta(minutes=s), start)
                closes = midnight + timedelta(minutes=e)
                if end is not None:
                    closes = min(closes, end)
                if closes <= opens:
                    continue
                if pending is not None and pending[1] >= opens:
                    pending = (pending[0], max(pending[1], closes))
                    continue
                if pending is not None:
                    yield pending
                pending = (opens, closes)
            day += timedelta(days=1)
        if pending is not None:
            yield pending

    def is_open(self, at: datetime) -> bool:
        for opens, _ in self.windows(at, days=1):
            return opens <= at
        return False

    def next_opening(self, at: datetime) -> datetime | None:
        """``at`` itself when open, else the start of the next opening; None within the horizon."""
        for opens, _ in self.windows(at):
            return opens
        return None

    def closes_at(self, at: datetime) -> datetime | None:
        """When the opening that ``at`` falls in ends; None when closed at ``at``, or open for a month on."""
        for opens, closes in self.windows(at, days=CLOSE_HORIZON_DAYS):
            if opens > at:
                return None
            horizon = self._local_midnight(
                timezone.localtime(at, self.tz).date() + timedelta(days=CLOSE_HORIZON_DAYS)
            )
            return None if closes >= horizon else closes
        return None

    # --- business time ------------------------------------------------------------------

    def add_seconds(self, start: datetime, seconds: float) -> datetime:
        """``start`` plus ``seconds`` of open time. A calendar that never opens counts wall-clock time."""
        remaining = timedelta(seconds=max(0.0, seconds))
        if not remaining:
            return timezone.localtime(start, self.tz)
        moved = start
        horizon = HORIZON_DAYS + int(remaining.total_seconds() // 3600) + 1
        for opens, closes in self.windows(start, days=horizon):
            if closes - opens >= remaining:
                return timezone.localtime(opens + remaining, self.tz)
            remaining -= closes - opens
            moved = closes
        if moved == start:
            return timezone.localtime(start + remaining, self.tz)
        return timezone.localtime(moved + remaining, self.tz)

    def seconds_between(self, start: datetime, end: datetime) -> float:
        """Open seconds in ``[start, end)``; 0 when ``end`` is not after ``start``."""
        if end <= start:
            return 0.0
        return sum((c - o).total_seconds() for o, c in self.windows(start, end))


def calendar_for(team: Any = None, channel: Any = None) -> BusinessCalendar:
    """The calendar of ``team`` on ``channel`` (either may be None): two queries."""
    team_id, channel_id = _id(team), _id(channel)
    keys = [scope_key(team_id, channel_id), scope_key(None, channel_id), scope_key(team_id, None), "desk"]
    found = {s.scope_key: s for s in Schedule.objects.filter(scope_key__in=set(keys))}
    schedule = next((found[k] for k in keys if k in found), None)
    if schedule is None:
        week, observe = default_week(), True
    else:
        week, observe = week_from_rows(schedule.week), schedule.observe_holidays
    days = load_days() if observe else {}
    return BusinessCalendar(week=week, observe_holidays=observe, days=days, schedule=schedule)


def load_days() -> dict[date, DayRule]:
    rules = {}
    for d, kind, name, s, e in CalendarDay.objects.values_list(
        "date", "kind", "name", "start_minute", "end_minute"
    ):
        hours = (s, e) if s is not None and e is not None else None
        rules[d] = DayRule(kind=kind, name=name, hours=hours)
    return rules


def _now(at: datetime | None) -> datetime:
    return at if at is not None else timezone.now()


def is_open(team: Any = None, channel: Any = None, at: datetime | None = None) -> bool:
    return calendar_for(team, channel).is_open(_now(at))


def next_opening(team: Any = None, channel: Any = None, at: datetime | None = None) -> datetime | None:
    """``at`` when open now, else when it next opens (local time); None if it never opens."""
    found = calendar_for(team, channel).next_opening(_now(at))
    return timezone.localtime(found) if found is not None else None


def closes_at(team: Any = None, channel: Any = None, at: datetime | None = None) -> datetime | None:
    """When the current opening ends (local time); None when closed now or always open."""
    found = calendar_for(team, channel).closes_at(_now(at))
    return timezone.localtime(found) if found is not None else None


def add_business_seconds(team: Any, channel: Any, start: datetime, seconds: float) -> datetime:
    return calendar_for(team, channel).add_seconds(start, seconds)


def add_business_minutes(team: Any, channel: Any, start: datetime, minutes: float) -> datetime:
    return calendar_for(team, channel).add_seconds(start, minutes * 60)


def business_seconds_between(team: Any, channel: Any, start: datetime, end: datetime) -> float:
    return calendar_for(team, channel).seconds_between(start, end)


def business_minutes_between(team: Any, channel: Any, start: datetime, end: datetime) -> float:
    return calendar_for(team, channel).seconds_between(start, end) / 60
