"""The bot's hours follow the business calendar: holidays, 调休 make-up working days, the desk's hours."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from kefu.bot.gate import within_hours
from kefu.bot.models import BotSession, BotSetting
from kefu.bot.services import do_save_setting
from kefu.hours.models import CalendarDay

from .conftest import chat

pytestmark = pytest.mark.django_db

SH = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int, month: int = 10) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=SH)


@pytest.fixture
def golden_week(settings: Any) -> None:
    """Mon–Fri 09:00–18:00; 10-01 (Thu) a holiday, 10-10 (Sat) a make-up working day."""
    settings.KEFU_DEFAULT_BUSINESS_HOURS = tuple((d, "09:00", "18:00") for d in range(5))
    CalendarDay.objects.filter(date__in=[date(2026, 10, 1), date(2026, 10, 10)]).delete()
    CalendarDay.objects.create(date=date(2026, 10, 1), kind=CalendarDay.Kind.HOLIDAY, name="国庆节")
    CalendarDay.objects.create(date=date(2026, 10, 10), kind=CalendarDay.Kind.WORKDAY, name="国庆调休上班")


def setting(bot: Any, **kw: Any) -> BotSetting:
    return do_save_setting(actor=bot.admin, channel_id=bot.channel.pk, team_id=None, data=kw)


def test_working_days_skip_holidays_and_include_make_up_days(bot: Any, golden_week: None) -> None:
    s = setting(bot, days="working_days", start_time=time(8), end_time=time(22))
    assert within_hours(s, at(12, 10))  # Monday
    assert not within_hours(s, at(1, 10))  # 国庆节, a Thursday
    assert within_hours(s, at(10, 10))  # 调休 Saturday
    assert not within_hours(s, at(11, 10))  # Sunday
    assert not within_hours(s, at(12, 23))  # Monday, outside the window


def test_rest_days_are_the_opposite(bot: Any, golden_week: None) -> None:
    s = setting(bot, days="rest_days", start_time=None, end_time=None)
    assert not within_hours(s, at(12, 10))
    assert within_hours(s, at(1, 10))
    assert not within_hours(s, at(10, 10))
    assert within_hours(s, at(11, 3))


def test_a_night_window_belongs_to_the_day_it_starts(bot: Any, golden_week: None) -> None:
    s = setting(bot, days="working_days", start_time=time(22), end_time=time(8))
    assert within_hours(s, at(10, 23))  # 调休 Saturday night
    assert within_hours(s, at(11, 2))  # …until Sunday 08:00
    assert not within_hours(s, at(11, 23))  # Sunday night is not a working day's
    assert not within_hours(s, at(2, 2))  # the night after the holiday


def test_desk_closed_follows_the_desks_hours(bot: Any, golden_week: None) -> None:
    s = setting(bot, days="desk_closed")
    assert not within_hours(s, at(12, 10))
    assert within_hours(s, at(12, 19))
    assert within_hours(s, at(1, 10))  # holiday: the desk is closed
    assert not within_hours(s, at(10, 10))  # 调休: the desk is open


def test_every_day_keeps_the_plain_window(bot: Any, golden_week: None) -> None:
    s = setting(bot, start_time=time(9), end_time=time(18))
    assert s.days == BotSetting.Days.EVERY_DAY
    assert within_hours(s, at(1, 10)) and not within_hours(s, at(1, 19))


def test_a_holiday_today_sends_the_chat_to_agents_when_the_bot_works_working_days(bot: Any) -> None:
    today = timezone.localdate()
    CalendarDay.objects.filter(date=today).delete()
    CalendarDay.objects.create(date=today, kind=CalendarDay.Kind.HOLIDAY, name="元旦")
    setting(bot, days="working_days")
    m = chat(bot.channel, "v-holiday", "怎么开发票")
    assert not BotSession.objects.filter(conversation_id=m.conversation_id).exists()
    setting(bot, days="rest_days")
    m = chat(bot.channel, "v-holiday-2", "怎么开发票")
    assert BotSession.objects.get(conversation_id=m.conversation_id).state == BotSession.State.ACTIVE


def test_bad_days_are_refused_naming_the_field(client: Any, bot: Any) -> None:
    client.force_login(bot.admin)
    r = client.put(
        "/api/v1/bot/settings",
        data={"channel_id": bot.channel.pk, "days": "weekends"},
        content_type="application/json",
    )
    assert r.status_code in (400, 422) and "days" in r.content.decode()
    r = client.put(
        "/api/v1/bot/settings",
        data={"channel_id": bot.channel.pk, "days": "desk_closed"},
        content_type="application/json",
    )
    assert r.status_code == 200 and r.json()["days"] == "desk_closed"


def test_the_settings_form_saves_the_days(client: Any, bot: Any) -> None:
    client.force_login(bot.admin)
    r = client.post(
        "/desk/settings/bot/",
        {"channel": bot.im.pk, "team": "", "enabled": "on", "days": "working_days", "greeting": "您好",
         "vip_level": 1, "threshold": 0.9},
    )  # fmt: skip
    assert r.status_code == 302
    assert BotSetting.objects.get(channel=bot.im, team=None).days == "working_days"
    page = client.get("/desk/settings/bot/").content.decode()
    assert "工作日（按营业日历" in page
