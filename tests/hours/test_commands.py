"""``kefu hours install-holidays`` and ``kefu hours status``."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from kefu.hours.models import CalendarDay

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("hours", *args, stdout=out)
    return out.getvalue()


def test_install_holidays_adds_back_only_what_is_missing():
    CalendarDay.objects.filter(date__year=2026, name="国庆节").delete()
    CalendarDay.objects.filter(date="2026-02-14").update(start_minute=600, end_minute=960)
    assert run("install-holidays") == "已补充 7 个法定节假日与调休日期\n"
    assert CalendarDay.objects.get(date="2026-02-14").start_minute == 600  # the admin's edit stays
    assert run("install-holidays") == "已补充 0 个法定节假日与调休日期\n"


def test_status_describes_the_desks_hours(settings):
    settings.KEFU_DEFAULT_BUSINESS_HOURS = []
    assert run("status") == "休息中（无营业时间）；周一至周日 休息；法定节假日休息，调休日上班\n"
