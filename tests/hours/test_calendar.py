"""Business hours (kefu.hours.calendar): weekly hours, scopes, holidays and 调休, business time."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from kefu.hours import calendar
from kefu.hours.calendar import (
    add_business_minutes,
    business_minutes_between,
    calendar_for,
    closes_at,
    is_open,
    next_opening,
)
from kefu.hours.holidays_cn import official_days
from kefu.hours.models import CalendarDay, Schedule

pytestmark = pytest.mark.django_db
SH = ZoneInfo("Asia/Shanghai")


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)


def every_day(start: int, end: int) -> list[list[int]]:
    return [[d, start, end] for d in range(7)]


def make_schedule(name: str, *, team=None, channel=None, week=None, observe_holidays=True) -> Schedule:
    return Schedule.objects.create(
        name=name,
        team=team,
        channel=channel,
        scope_key=calendar.scope_key(team.pk if team else None, channel.pk if channel else None),
        week=week if week is not None else every_day(9 * 60, 21 * 60),
        observe_holidays=observe_holidays,
    )


# --- the official calendar ---------------------------------------------------------------


def test_the_migration_loaded_the_2026_spring_festival_and_its_two_make_up_saturdays():
    days = {d.date: d for d in CalendarDay.objects.filter(date__range=(date(2026, 2, 13), date(2026, 3, 1)))}
    holidays = sorted(d for d, row in days.items() if row.kind == "holiday")
    assert holidays == [date(2026, 2, 15) + timedelta(days=i) for i in range(9)]  # 腊月二十八 … 正月初七
    workdays = sorted(d for d, row in days.items() if row.kind == "workday")
    assert workdays == [date(2026, 2, 14), date(2026, 2, 28)]
    assert all(d.weekday() == 5 for d in workdays)  # both Saturdays
    assert days[date(2026, 2, 15)].name == "春节" and days[date(2026, 2, 15)].source == "official"


def test_every_official_make_up_day_falls_on_a_weekend_and_no_date_is_listed_twice():
    rows = official_days()
    assert len({d for d, _, _ in rows}) == len(rows)
    assert all(d.weekday() >= 5 for d, kind, _ in rows if kind == "workday")
    by_year = {y: sum(1 for d, k, _ in rows if d.year == y and k == "holiday") for y in (2025, 2026)}
    # 2025: 1+8+3+5+3+8; 2026: 3+9+3+5+3+3+7
    assert by_year == {2025: 28, 2026: 33}
    assert CalendarDay.objects.count() == len(rows)


# --- the default week --------------------------------------------------------------------


def test_without_any_schedule_the_desk_keeps_weekday_office_hours():
    assert is_open(at=at(2026, 11, 25, 10, 0))  # Wednesday
    assert not is_open(at=at(2026, 11, 25, 18, 0))  # closing time is exclusive
    assert not is_open(at=at(2026, 11, 28, 10, 0))  # Saturday
    assert next_opening(at=at(2026, 11, 27, 19, 30)) == at(2026, 11, 30, 9, 0)


def test_the_built_in_default_follows_the_setting(settings):
    settings.KEFU_DEFAULT_BUSINESS_HOURS = [(d, "00:00", "24:00") for d in range(7)]
    assert is_open(at=at(2026, 11, 28, 3, 0))
    # Open day and night: no closing within the horizon.
    assert closes_at(at=at(2026, 11, 28, 3, 0)) is None


# --- scopes --------------------------------------------------------------------------------


def test_the_most_specific_schedule_wins(make_team, make_channel):
    after_sales, presales = make_team("售后组"), make_team("售前组")
    web, email = make_channel("web", name="官网"), make_channel("email", name="售后邮箱")
    make_schedule("全局", week=every_day(9 * 60, 21 * 60))
    make_schedule("售后组", team=after_sales, week=every_day(10 * 60, 19 * 60))
    make_schedule("邮箱", channel=email, week=[[d, 9 * 60, 17 * 60] for d in range(5)])
    make_schedule(
        "售后组邮箱", team=after_sales, channel=email, week=[[d, 8 * 60, 12 * 60] for d in range(5)]
    )
    evening = at(2026, 11, 25, 20, 0)
    assert is_open(presales, web, evening)  # desk-wide 09–21
    assert not is_open(after_sales, web, evening)  # the team's 10–19
    assert not is_open(presales, email, at(2026, 11, 25, 17, 30))  # the channel's 09–17
    assert not is_open(after_sales, email, at(2026, 11, 25, 13, 0))  # team on channel: 08–12
    assert is_open(after_sales.pk, email.pk, at(2026, 11, 25, 8, 30))  # ids work too
    assert calendar_for(after_sales, email).schedule.name == "售后组邮箱"


def test_split_shifts_close_over_lunch_and_report_when_they_close():
    make_schedule("午休", week=[[d, 540, 720] for d in range(7)] + [[d, 810, 1080] for d in range(7)])
    assert closes_at(at=at(2026, 11, 25, 11, 0)) == at(2026, 11, 25, 12, 0)
    assert not is_open(at=at(2026, 11, 25, 12, 30))
    assert next_opening(at=at(2026, 11, 25, 12, 30)) == at(2026, 11, 25, 13, 30)
    assert closes_at(at=at(2026, 11, 25, 12, 30)) is None  # closed


def test_a_night_shift_across_midnight_is_one_opening():
    make_schedule("夜班", week=[[d, 20 * 60, 1440] for d in range(7)] + [[d, 0, 2 * 60] for d in range(7)])
    assert is_open(at=at(2026, 11, 25, 23, 30))
    assert closes_at(at=at(2026, 11, 25, 23, 30)) == at(2026, 11, 26, 2, 0)


def test_an_empty_week_never_opens_and_counts_wall_clock_time():
    make_schedule("停用", week=[])
    start = at(2026, 11, 25, 10, 0)
    assert not is_open(at=start)
    assert next_opening(at=start) is None
    assert add_business_minutes(None, None, start, 30) == start + timedelta(minutes=30)


# --- holidays and 调休 ---------------------------------------------------------------------


def test_national_day_is_closed_and_the_make_up_saturday_is_open():
    make_schedule("工作日", week=[[d, 540, 1080] for d in range(5)])
    assert not is_open(at=at(2026, 10, 1, 10, 0))  # 国庆节, a Thursday
    assert not is_open(at=at(2026, 10, 7, 10, 0))  # last day off, a Wednesday
    assert is_open(at=at(2026, 10, 8, 10, 0))
    assert is_open(at=at(2026, 10, 10, 10, 0))  # Saturday, 调休上班
    assert is_open(at=at(2026, 9, 20, 10, 0))  # Sunday, 调休上班
    assert next_opening(at=at(2026, 9, 30, 18, 30)) == at(2026, 10, 8, 9, 0)


def test_a_make_up_day_keeps_the_first_working_weekdays_hours_unless_it_has_its_own():
    make_schedule(
        "分时", week=[[0, 600, 1200], [1, 540, 1080], [2, 540, 1080], [3, 540, 1080], [4, 540, 1080]]
    )
    assert next_opening(at=at(2026, 10, 10, 8, 0)) == at(2026, 10, 10, 10, 0)  # Monday's 10–20
    CalendarDay.objects.filter(date=date(2026, 10, 10)).update(start_minute=13 * 60, end_minute=17 * 60)
    assert next_opening(at=at(2026, 10, 10, 8, 0)) == at(2026, 10, 10, 13, 0)
    assert closes_at(at=at(2026, 10, 10, 14, 0)) == at(2026, 10, 10, 17, 0)


def test_a_holiday_with_hours_opens_only_then():
    CalendarDay.objects.create(
        date=date(2026, 12, 31), kind="holiday", name="年终盘点", start_minute=540, end_minute=720
    )
    assert is_open(at=at(2026, 12, 31, 11, 0))
    assert not is_open(at=at(2026, 12, 31, 14, 0))


def test_a_desk_that_works_through_holidays_ignores_them():
    make_schedule("电商客服", week=every_day(9 * 60, 24 * 60), observe_holidays=False)
    assert is_open(at=at(2026, 2, 17, 10, 0))  # 正月初一
    assert calendar_for().day_rule(date(2026, 2, 17)) is None


def test_a_team_that_observes_holidays_beside_one_that_does_not(make_team):
    shop, office = make_team("直播客服"), make_team("财务组")
    make_schedule("直播", team=shop, week=every_day(9 * 60, 21 * 60), observe_holidays=False)
    make_schedule("财务", team=office, week=[[d, 540, 1080] for d in range(5)])
    first_of_may = at(2026, 5, 1, 10, 0)
    assert is_open(shop, None, first_of_may)
    assert not is_open(office, None, first_of_may)
    assert next_opening(office, None, first_of_may) == at(2026, 5, 6, 9, 0)


# --- business time -------------------------------------------------------------------------


def test_business_minutes_skip_the_spring_festival_and_count_the_make_up_saturday():
    # Default week Mon–Fri 09–18. Friday 2026-02-13 17:00 + 2 working hours:
    # 1 h that Friday, then Saturday 02-14 is 调休上班 → due 10:00 that Saturday.
    assert add_business_minutes(None, None, at(2026, 2, 13, 17, 0), 120) == at(2026, 2, 14, 10, 0)
    # From that Saturday 17:00 + 2 h: 1 h left that day, then 02-15…02-23 are off → 02-24 10:00.
    assert add_business_minutes(None, None, at(2026, 2, 14, 17, 0), 120) == at(2026, 2, 24, 10, 0)


def test_business_minutes_between_two_instants_skip_national_day():
    start, end = at(2026, 9, 30, 17, 0), at(2026, 10, 8, 10, 0)
    assert business_minutes_between(None, None, start, end) == 120
    assert business_minutes_between(None, None, end, start) == 0


def test_adding_and_measuring_business_time_agree():
    start = at(2026, 9, 18, 16, 20)
    for minutes in (1, 45, 9 * 60, 3 * 9 * 60 + 7, 40 * 60):
        due = add_business_minutes(None, None, start, minutes)
        assert business_minutes_between(None, None, start, due) == pytest.approx(minutes)


def test_business_time_starting_outside_hours_starts_at_the_next_opening():
    assert add_business_minutes(None, None, at(2026, 11, 21, 23, 0), 30) == at(2026, 11, 23, 9, 30)


def test_a_calendar_answers_without_further_queries(django_assert_num_queries):
    with django_assert_num_queries(2):
        cal = calendar_for()
    with django_assert_num_queries(0):
        cal.is_open(at(2026, 10, 1, 10, 0))
        cal.add_seconds(at(2026, 9, 30, 17, 0), 3 * 3600)
        cal.next_opening(at(2026, 10, 1, 10, 0))
