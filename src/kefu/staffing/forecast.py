"""Contacts per half hour for coming days, from history: a weekday × half-hour profile and a trend.

Plain: no database, no Django. The history is what ``kefu.analytics.metrics.arrivals`` gives —
``(bucket start in local time, contacts)`` — over whole local days; the caller says which days
it covers and which to leave out (promotion days, holidays: they would bend the normal week).

The method (docs/staffing.md):

1. **Profile**: for each weekday and half hour, the mean of the contacts in that slot over the
   covered days of that weekday (a day with no contacts counts as zeros, not as missing).
2. **Trend**: each covered day's total divided by its weekday profile's total is that day's
   index (1.0 = an ordinary day of that weekday). A least-squares line through the indices
   against the day number is read at the forecast day; it needs ``MIN_TREND_DAYS`` covered days
   and is clamped to ``TREND_CLAMP`` so that a short or noisy history cannot run away.
3. **Special days**: a promotion's multiplier (双11 ×4 …) multiplies the day.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

MIN_TREND_DAYS = 21
TREND_CLAMP = (0.5, 2.0)


class ForecastError(ValueError):
    """Bad input; ``field`` names it, the message is Chinese."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def slots_per_day(bucket_minutes: int) -> int:
    if bucket_minutes <= 0 or (24 * 60) % bucket_minutes:
        raise ForecastError("bucket_minutes", "时段长度应能整除一天，例如 30")
    return 24 * 60 // bucket_minutes


@dataclass
class Profile:
    """Mean contacts per slot for each weekday (Mon=0), and how many days each mean is over."""

    slots: list[list[float]]
    days: list[int]

    def day_total(self, weekday: int) -> float:
        return sum(self.slots[weekday])


def weekday_profile(
    history: Iterable[tuple[datetime, int]],
    covered: Iterable[date],
    *,
    exclude: Iterable[date] = (),
    bucket_minutes: int = 30,
) -> Profile:
    """The weekday × slot means over the ``covered`` days not in ``exclude``."""
    n = slots_per_day(bucket_minutes)
    skip = set(exclude)
    days = sorted(set(covered) - skip)
    day_set = set(days)
    sums = [[0.0] * n for _ in range(7)]
    for at, count in history:
        d = at.date()
        if d not in day_set:
            continue
        slot = (at.hour * 60 + at.minute) // bucket_minutes
        sums[d.weekday()][slot] += count
    per_weekday = [0] * 7
    for d in days:
        per_weekday[d.weekday()] += 1
    slots = [[s / per_weekday[wd] if per_weekday[wd] else 0.0 for s in sums[wd]] for wd in range(7)]
    return Profile(slots=slots, days=per_weekday)


@dataclass
class Trend:
    """Index of a day = ``intercept + slope × (day - origin).days`` (clamped)."""

    origin: date
    intercept: float = 1.0
    slope: float = 0.0
    points: int = 0

    def index(self, day: date) -> float:
        if self.points < MIN_TREND_DAYS:
            return 1.0
        value = self.intercept + self.slope * (day - self.origin).days
        return min(max(value, TREND_CLAMP[0]), TREND_CLAMP[1])

    @property
    def weekly_change(self) -> float:
        """Relative change per week at the origin (0.02 = +2 % a week); 0 without enough days."""
        if self.points < MIN_TREND_DAYS or self.intercept <= 0:
            return 0.0
        return self.slope * 7 / self.intercept


def fit_trend(
    history: Iterable[tuple[datetime, int]],
    profile: Profile,
    covered: Iterable[date],
    *,
    exclude: Iterable[date] = (),
) -> Trend:
    """Least squares through each covered day's index (its total over its weekday's mean total)."""
    skip = set(exclude)
    days = sorted(set(covered) - skip)
    if not days:
        return Trend(origin=date.today())
    totals: dict[date, float] = defaultdict(float)
    day_set = set(days)
    for at, count in history:
        if at.date() in day_set:
            totals[at.date()] += count
    origin = days[0]
    xs, ys = [], []
    for d in days:
        mean = profile.day_total(d.weekday())
        if mean > 0:
            xs.append(float((d - origin).days))
            ys.append(totals[d] / mean)
    if len(xs) < 2:
        return Trend(origin=origin, points=len(xs))
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0
    return Trend(origin=origin, intercept=my - slope * mx, slope=slope, points=len(xs))


@dataclass
class DayForecast:
    day: date
    slots: list[float]
    base_index: float  # the trend's index
    multiplier: float = 1.0  # the promotion's
    special: str = ""  # the promotion's name
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(self.slots)


def forecast_days(
    history: Iterable[tuple[datetime, int]],
    covered: Iterable[date],
    days: Iterable[date],
    *,
    exclude: Iterable[date] = (),
    multipliers: Mapping[date, tuple[str, float]] | None = None,
    bucket_minutes: int = 30,
) -> list[DayForecast]:
    """Contacts per slot for each of ``days`` (see the module docstring)."""
    history = list(history)
    covered = list(covered)
    exclude = set(exclude)
    profile = weekday_profile(history, covered, exclude=exclude, bucket_minutes=bucket_minutes)
    trend = fit_trend(history, profile, covered, exclude=exclude)
    multipliers = multipliers or {}
    out = []
    for d in days:
        index = trend.index(d)
        name, mult = multipliers.get(d, ("", 1.0))
        if mult < 0:
            raise ForecastError("multiplier", "倍数不能为负")
        base = profile.slots[d.weekday()]
        notes = []
        if not profile.days[d.weekday()]:
            notes.append("历史中没有这一星期几的数据")
        out.append(
            DayForecast(
                day=d,
                slots=[v * index * mult for v in base],
                base_index=index,
                multiplier=mult,
                special=name,
                notes=notes,
            )
        )
    return out


def days_between(start: date, end: date) -> list[date]:
    """The dates of ``[start, end)``."""
    return [start + timedelta(days=i) for i in range((end - start).days)]
