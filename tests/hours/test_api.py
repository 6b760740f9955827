"""REST: /api/v1/hours/… — desk users read, supervisors and admins edit; bad input is a 4xx naming the field."""

from __future__ import annotations

import pytest

from kefu.accounts.models import AuditLog
from kefu.hours.models import CalendarDay, Schedule

pytestmark = pytest.mark.django_db

WEEKDAYS_9_TO_6 = [{"weekday": d, "start": "09:00", "end": "18:00"} for d in range(5)]


def send(client, method, url, data=None):
    return getattr(client, method)(url, data or {}, content_type="application/json")


@pytest.fixture
def supervisor_client(client, desk):
    client.force_login(desk.supervisor)
    return client


def test_agents_read_but_cannot_change_hours(client, desk):
    client.force_login(desk.agent)
    assert client.get("/api/v1/hours/schedules").status_code == 200
    assert len(client.get("/api/v1/hours/days?year=2026").json()) == 33 + 6
    body = {"name": "售前", "team_id": desk.team.pk, "week": WEEKDAYS_9_TO_6}
    assert send(client, "post", "/api/v1/hours/schedules", body).status_code == 403
    day = CalendarDay.objects.get(date="2026-10-01")
    assert send(client, "delete", f"/api/v1/hours/days/{day.pk}").status_code == 403
    assert (
        send(
            client, "post", "/api/v1/hours/days", {"date": "2026-12-31", "kind": "holiday", "name": "年会"}
        ).status_code
        == 403
    )


def test_a_team_lead_cannot_change_hours_either(client, make_user):
    client.force_login(make_user("zuzhang", role="team_lead"))
    assert (
        send(
            client, "post", "/api/v1/hours/days", {"date": "2026-12-31", "kind": "holiday", "name": "年会"}
        ).status_code
        == 403
    )


def test_anonymous_gets_401(client):
    assert client.get("/api/v1/hours/schedules").status_code == 401
    assert client.get("/api/v1/hours/status").status_code == 401


def test_a_supervisor_creates_edits_and_deletes_a_team_schedule(supervisor_client, desk):
    c = supervisor_client
    created = send(
        c,
        "post",
        "/api/v1/hours/schedules",
        {
            "name": "售前咨询 每天",
            "team_id": desk.team.pk,
            "week": [{"weekday": d, "start": "09:00", "end": "21:00"} for d in range(7)],
        },
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["scope"] == f"team:{desk.team.pk}" and body["team"] == "售前咨询"
    assert body["description"] == "周一至周日 09:00–21:00"
    sid = body["id"]
    patched = send(
        c,
        "patch",
        f"/api/v1/hours/schedules/{sid}",
        {"observe_holidays": False, "channel_id": desk.channel.pk},
    )
    assert patched.status_code == 200, patched.json()
    assert patched.json()["scope"] == f"team:{desk.team.pk}/channel:{desk.channel.pk}"
    assert patched.json()["observe_holidays"] is False
    assert AuditLog.objects.filter(action="hours.schedule_updated", actor=desk.supervisor).exists()
    assert send(c, "delete", f"/api/v1/hours/schedules/{sid}").status_code == 204
    assert send(c, "get", f"/api/v1/hours/schedules/{sid}").status_code == 404


def test_a_second_schedule_for_the_same_scope_is_a_conflict(supervisor_client, desk):
    body = {"name": "售前", "team_id": desk.team.pk, "week": WEEKDAYS_9_TO_6}
    assert send(supervisor_client, "post", "/api/v1/hours/schedules", body).status_code == 201
    again = send(supervisor_client, "post", "/api/v1/hours/schedules", {**body, "name": "售前2"})
    assert again.status_code == 409
    assert "team_id" in again.json()["fields"]
    assert Schedule.objects.count() == 1


@pytest.mark.parametrize(
    ("week", "field"),
    [
        (
            [
                {"weekday": 0, "start": "09:00", "end": "12:00"},
                {"weekday": 0, "start": "11:00", "end": "18:00"},
            ],
            "week",
        ),
        ([{"weekday": 1, "start": "18:00", "end": "09:00"}], "week.0.end"),
        ([{"weekday": 2, "start": "09:00", "end": "09:00"}], "week.0.end"),
        ([{"weekday": 7, "start": "09:00", "end": "18:00"}], "week.0.weekday"),
        ([{"weekday": 3, "start": "9点", "end": "18:00"}], "week.0.start"),
        ([{"weekday": 3, "start": "09:00", "end": "24:30"}], "week.0.end"),
        ([{"weekday": 3, "start": "25:00", "end": "26:00"}], "week.0.start"),
    ],
)
def test_bad_weekly_hours_are_refused_naming_the_interval(supervisor_client, week, field):
    r = send(supervisor_client, "post", "/api/v1/hours/schedules", {"name": "售后", "week": week})
    assert r.status_code == 400, r.json()
    assert field in r.json()["fields"]
    assert Schedule.objects.count() == 0


def test_overlap_message_names_the_day_and_both_intervals(supervisor_client):
    week = [
        {"weekday": 5, "start": "09:00", "end": "12:00"},
        {"weekday": 5, "start": "11:30", "end": "18:00"},
    ]
    r = send(supervisor_client, "post", "/api/v1/hours/schedules", {"name": "周六", "week": week})
    assert "周六的时段 09:00–12:00 与 11:30–18:00 重叠" in r.json()["detail"]


def test_unknown_team_channel_and_fields(supervisor_client):
    base = {"name": "x", "week": WEEKDAYS_9_TO_6}
    r = send(supervisor_client, "post", "/api/v1/hours/schedules", {**base, "team_id": 99999})
    assert r.status_code == 400 and "team_id" in r.json()["fields"]
    r = send(supervisor_client, "post", "/api/v1/hours/schedules", {**base, "channel_id": 99999})
    assert r.status_code == 400 and "channel_id" in r.json()["fields"]
    r = send(supervisor_client, "post", "/api/v1/hours/schedules", {**base, "timezone": "UTC"})
    assert r.status_code == 422
    r = send(supervisor_client, "post", "/api/v1/hours/schedules", {**base, "name": "a\x00b" * 40})
    assert r.status_code == 400 and "name" in r.json()["fields"]


def test_a_supervisor_adds_a_company_day_off_and_a_half_day(supervisor_client):
    c = supervisor_client
    r = send(
        c,
        "post",
        "/api/v1/hours/days",
        {"date": "2026-12-31", "kind": "holiday", "name": "年终盘点", "start": "09:00", "end": "12:00"},
    )
    assert r.status_code == 201, r.json()
    assert r.json()["start"] == "09:00" and r.json()["source"] == "custom" and r.json()["weekday"] == 3
    day_id = r.json()["id"]
    status = c.get("/api/v1/hours/status", {"at": "2026-12-31T14:00:00+08:00"}).json()
    assert status["open"] is False and status["day"] == "年终盘点"
    # Clearing the hours makes it a whole day off.
    r = send(c, "patch", f"/api/v1/hours/days/{day_id}", {"start": None, "end": None})
    assert r.status_code == 200 and r.json()["start"] is None
    assert c.get("/api/v1/hours/status", {"at": "2026-12-31T10:00:00+08:00"}).json()["open"] is False


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"date": "2026-02-30", "kind": "holiday", "name": "不存在"}, "date", 400),
        ({"date": "31/12/2026", "kind": "holiday", "name": "格式"}, "date", 400),
        ({"date": "2026-12-31", "kind": "weekend", "name": "类型"}, "kind", 400),
        (
            {"date": "2026-12-31", "kind": "workday", "name": "", "start": "09:00", "end": "18:00"},
            "name",
            400,
        ),
        (
            {"date": "2026-12-31", "kind": "workday", "name": "反了", "start": "18:00", "end": "09:00"},
            "end",
            400,
        ),
        ({"date": "2026-12-31", "kind": "workday", "name": "缺结束", "start": "09:00"}, "end", 400),
        ({"date": "2026-10-01", "kind": "workday", "name": "重复"}, "date", 409),
    ],
)
def test_bad_calendar_days_are_refused_naming_the_field(supervisor_client, body, field, status):
    r = send(supervisor_client, "post", "/api/v1/hours/days", body)
    assert r.status_code == status, r.json()
    assert field in r.json()["fields"]


def test_status_answers_when_the_desk_opens_after_the_spring_festival(supervisor_client):
    r = supervisor_client.get("/api/v1/hours/status", {"at": "2026-02-16T10:00:00+08:00"})
    body = r.json()
    assert body["open"] is False and body["day"] == "春节"
    assert body["next_opening"] == "2026-02-24T09:00:00+08:00"
    assert body["schedule"] == "默认营业时间"
    open_body = supervisor_client.get("/api/v1/hours/status", {"at": "2026-02-28T10:00:00+08:00"}).json()
    assert open_body["open"] is True and open_body["day"] == "春节调休上班"
    assert open_body["closes_at"] == "2026-02-28T18:00:00+08:00"


def test_status_refuses_absurd_instants(supervisor_client):
    r = supervisor_client.get("/api/v1/hours/status", {"at": "9999-12-31T23:59:00+08:00"})
    assert r.status_code == 400 and "at" in r.json()["fields"]
    assert supervisor_client.get("/api/v1/hours/status", {"at": "明天"}).status_code == 422
    assert supervisor_client.get("/api/v1/hours/days", {"year": 99999}).status_code == 400


def test_ids_beyond_any_row_are_404_not_500(supervisor_client):
    huge = 2**63
    assert supervisor_client.get(f"/api/v1/hours/schedules/{huge}").status_code == 404
    assert send(supervisor_client, "delete", f"/api/v1/hours/days/{huge}").status_code == 404
    r = supervisor_client.get("/api/v1/hours/status", {"team_id": huge, "channel_id": huge})
    assert r.status_code == 200 and r.json()["schedule"] == "默认营业时间"
    r = send(supervisor_client, "post", "/api/v1/hours/schedules", {"name": "x", "team_id": huge, "week": []})
    assert r.status_code == 400 and "team_id" in r.json()["fields"]
