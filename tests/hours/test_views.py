"""The page /desk/settings/hours/: supervisors and admins see and edit hours and the holiday calendar."""

from __future__ import annotations

import pytest

from kefu.hours.models import CalendarDay, Schedule

pytestmark = pytest.mark.django_db
URL = "/desk/settings/hours/"


def test_agents_and_team_leads_may_not_open_the_page(client, desk, make_user):
    client.force_login(desk.agent)
    assert client.get(URL).status_code == 403
    client.force_login(make_user("zuzhang", role="team_lead"))
    assert client.post(URL, {"action": "install_holidays"}).status_code == 403


def test_the_page_shows_the_default_and_the_years_holidays(client, desk):
    client.force_login(desk.supervisor)
    page = client.get(URL, {"year": 2026}).content.decode()
    assert "周一至周五 09:00–18:00；周六、周日 休息" in page
    assert 'data-date="2026-02-14"' in page and "春节调休上班" in page
    assert "国务院办公厅通知" in page


def test_a_supervisor_sets_a_teams_split_shift_through_the_form(client, desk):
    client.force_login(desk.supervisor)
    form = {
        "action": "create_schedule",
        "name": "售前 午休",
        "team_id": str(desk.team.pk),
        "observe_holidays": "on",
    }
    form |= {f"day{d}": "09:00-12:00，13:30-21:00" for d in range(7)}
    r = client.post(URL, form)
    assert r.status_code == 302
    schedule = Schedule.objects.get()
    assert schedule.week[:2] == [[0, 540, 720], [0, 810, 1260]]
    assert schedule.observe_holidays is True
    page = client.get(r["Location"]).content.decode()
    assert "营业时间已添加" in page and "周一至周日 09:00–12:00、13:30–21:00" in page


def test_a_bad_form_shows_a_chinese_error_and_saves_nothing(client, desk):
    client.force_login(desk.supervisor)
    form = {"action": "create_schedule", "name": "售后", "day0": "09:00-12:00, 11:00-18:00"}
    r = client.post(URL, form)
    assert r.status_code == 400
    assert "周一的时段 09:00–12:00 与 11:00–18:00 重叠" in r.content.decode()
    r = client.post(URL, {"action": "create_schedule", "name": "售后", "day2": "九点到六点"})
    assert r.status_code == 400 and "时间格式应为 HH:MM" in r.content.decode()
    assert Schedule.objects.count() == 0


def test_a_supervisor_adds_edits_and_removes_a_company_day(client, desk):
    client.force_login(desk.supervisor)
    r = client.post(
        URL,
        {"action": "create_day", "date": "2026-12-31", "kind": "holiday", "name": "年终盘点", "year": "2026"},
    )
    assert r.status_code == 302 and r["Location"].endswith("?year=2026")
    day = CalendarDay.objects.get(date="2026-12-31")
    assert day.source == "custom"
    edit = client.get(URL, {"year": 2026, "edit_day": day.pk}).content.decode()
    assert "修改 2026-12-31" in edit
    client.post(
        URL,
        {
            "action": "update_day",
            "id": day.pk,
            "date": "2026-12-31",
            "kind": "holiday",
            "name": "年终盘点",
            "start": "09:00",
            "end": "12:00",
        },
    )
    day.refresh_from_db()
    assert (day.start_minute, day.end_minute) == (540, 720)
    r = client.post(URL, {"action": "create_day", "date": "2026-13-01", "kind": "holiday", "name": "错"})
    assert r.status_code == 400 and "日期格式应为 YYYY-MM-DD" in r.content.decode()
    client.post(URL, {"action": "delete_day", "id": day.pk})
    assert not CalendarDay.objects.filter(date="2026-12-31").exists()


def test_deleted_official_dates_come_back_from_the_button(client, desk):
    client.force_login(desk.supervisor)
    CalendarDay.objects.filter(date__year=2025).delete()
    r = client.post(URL, {"action": "install_holidays", "year": "2025"}, follow=True)
    assert "已补充 33 个法定节假日与调休日期" in r.content.decode()
    assert CalendarDay.objects.filter(date__year=2025).count() == 33
