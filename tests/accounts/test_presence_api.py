"""Presence through the API and the settings page: status with a reason, history, online time, the rule."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from kefu.accounts.models import AgentStatus, PresenceRule, Role, StatusChange, User
from kefu.accounts.presence import do_change_status, online_time

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")


def post(client: Any, url: str, data: dict[str, Any]) -> Any:
    return client.post(url, data, content_type="application/json")


def put(client: Any, url: str, data: dict[str, Any]) -> Any:
    return client.put(url, data, content_type="application/json")


@pytest.fixture
def org(make_team: Any, make_user: Any) -> SimpleNamespace:
    pre, after = make_team("售前咨询", is_general=True), make_team("售后服务")
    return SimpleNamespace(
        pre=pre,
        after=after,
        xiaomei=make_user("xiaomei", teams=(pre,), status=AgentStatus.ONLINE, display_name="小美"),
        xiaoli=make_user("xiaoli", teams=(after,), status=AgentStatus.ONLINE, display_name="小李"),
        lead=make_user("zuzhang", role=Role.TEAM_LEAD, teams=(pre,), display_name="李组长"),
        supervisor=make_user("zhuguan", role=Role.SUPERVISOR, display_name="王主管"),
        admin=make_user("admin1", role=Role.ADMIN, display_name="管理员"),
    )


def _at(day: str, hm: str) -> datetime:
    return datetime.fromisoformat(f"{day}T{hm}").replace(tzinfo=SHANGHAI)


# --- status with a reason ----------------------------------------------------------------


def test_an_agent_takes_a_meal_break_and_it_is_recorded(client: Any, org: Any) -> None:
    client.force_login(org.xiaomei)
    r = post(client, "/api/v1/me/status", {"status": "break", "reason": "meal"})
    assert r.status_code == 200
    assert r.json() == {"id": org.xiaomei.pk, "status": "break", "reason": "meal"}
    change = StatusChange.objects.get(user=org.xiaomei)
    assert (change.from_status, change.to_status, change.reason, change.actor) == (
        "online",
        "break",
        "meal",
        org.xiaomei,
    )


def test_a_break_without_a_reason_is_a_short_break(client: Any, org: Any) -> None:
    client.force_login(org.xiaomei)
    assert post(client, "/api/v1/me/status", {"status": "break"}).json()["reason"] == "short_break"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "online", "reason": "meal"}, "reason"),
        ({"status": "break", "reason": "睡觉"}, "reason"),
        ({"status": "break", "reason": "logout"}, "reason"),  # kefu's own reasons are not for agents
        ({"status": "away"}, "status"),
    ],
)
def test_a_wrong_status_or_reason_is_a_400_naming_the_field(
    client: Any, org: Any, body: Any, field: str
) -> None:
    client.force_login(org.xiaomei)
    r = post(client, "/api/v1/me/status", body)
    assert r.status_code == 400
    assert field in r.json()["fields"]
    assert not StatusChange.objects.exists()


def test_the_heartbeat_endpoint_keeps_an_api_client_seen(client: Any, org: Any) -> None:
    User.objects.filter(pk=org.xiaomei.pk).update(last_seen_at=timezone.now() - timedelta(hours=2))
    client.force_login(org.xiaomei)
    assert client.post("/api/v1/me/heartbeat").status_code == 204
    org.xiaomei.refresh_from_db()
    assert org.xiaomei.last_seen_at > timezone.now() - timedelta(seconds=5)


# --- history ------------------------------------------------------------------------------


def _history(client: Any, **params: Any) -> Any:
    return client.get("/api/v1/presence/history", params)


@pytest.fixture
def changes(org: Any) -> None:
    do_change_status(org.xiaomei.pk, "break", reason="training", actor=org.xiaomei)
    do_change_status(org.xiaoli.pk, "offline", reason="logout")


def test_a_team_lead_sees_her_teams_history_only(client: Any, org: Any, changes: None) -> None:
    client.force_login(org.lead)
    body = _history(client).json()
    assert [(i["user_name"], i["to_status"], i["reason_label"]) for i in body["items"]] == [
        ("小美", "break", "培训")
    ]
    assert _history(client, team_id=org.after.pk).status_code == 403
    assert _history(client, user_id=org.xiaoli.pk).status_code == 403


def test_a_supervisor_sees_everyones_history_newest_first(client: Any, org: Any, changes: None) -> None:
    client.force_login(org.supervisor)
    items = _history(client).json()["items"]
    assert [i["user_name"] for i in items] == ["小李", "小美"]
    assert items[0]["actor_id"] is None and items[0]["reason"] == "logout"
    assert [i["user_name"] for i in _history(client, team_id=org.after.pk).json()["items"]] == ["小李"]
    future = (timezone.now() + timedelta(minutes=1)).isoformat()
    assert _history(client, since=future).json()["count"] == 0


def test_an_agent_sees_only_her_own_history(client: Any, org: Any, changes: None) -> None:
    client.force_login(org.xiaomei)
    assert [i["user_name"] for i in _history(client).json()["items"]] == ["小美"]
    assert _history(client, user_id=org.xiaoli.pk).status_code == 403
    assert _history(client, team_id=org.pre.pk).status_code == 403


def test_history_needs_credentials(client: Any) -> None:
    assert client.get("/api/v1/presence/history").status_code == 401


# --- online time ----------------------------------------------------------------------------


@pytest.fixture
def a_working_day(org: Any) -> None:
    """小美 on 2026-11-30: online 09:00, lunch 12:00–13:00, training 15:00–15:30, signs out 18:00."""
    day = "2026-11-30"
    User.objects.filter(pk=org.xiaomei.pk).update(status=AgentStatus.OFFLINE)
    for hm, status, reason in [
        ("09:00", "online", ""),
        ("12:00", "break", "meal"),
        ("13:00", "online", ""),
        ("15:00", "break", "training"),
        ("15:30", "busy", ""),
        ("16:00", "online", ""),
        ("18:00", "offline", "logout"),
    ]:
        do_change_status(org.xiaomei.pk, status, reason=reason, now=_at(day, hm))


def test_online_time_per_day_from_the_history(org: Any, a_working_day: None) -> None:
    (row,) = online_time([org.xiaomei], date(2026, 11, 30), date(2026, 11, 30), tz=SHANGHAI)
    d = row.as_dict()
    assert d["online_seconds"] == (3 + 2 + 2) * 3600
    assert d["break_seconds"] == 90 * 60
    assert d["busy_seconds"] == 30 * 60
    assert d["at_desk_seconds"] == 9 * 3600
    assert d["break_reasons"] == {"meal": 3600, "training": 1800}


def test_online_time_splits_a_night_shift_at_midnight(org: Any) -> None:
    User.objects.filter(pk=org.xiaomei.pk).update(status=AgentStatus.OFFLINE)
    do_change_status(org.xiaomei.pk, "online", now=_at("2026-11-30", "22:30"))
    do_change_status(org.xiaomei.pk, "offline", reason="disconnected", now=_at("2026-12-01", "01:00"))
    rows = online_time([org.xiaomei], date(2026, 11, 30), date(2026, 12, 1), tz=SHANGHAI)
    assert [(r.day.isoformat(), r.as_dict()["online_seconds"]) for r in rows] == [
        ("2026-11-30", 90 * 60),
        ("2026-12-01", 60 * 60),
    ]


def test_online_time_api_for_a_team_lead(client: Any, org: Any, a_working_day: None) -> None:
    client.force_login(org.lead)
    r = client.get("/api/v1/presence/online-time", {"date_from": "2026-11-29", "date_to": "2026-11-30"})
    assert r.status_code == 200
    rows = {(i["name"], i["date"]): i for i in r.json()["items"]}
    assert set(rows) == {
        ("小美", "2026-11-29"),
        ("小美", "2026-11-30"),
        ("李组长", "2026-11-29"),
        ("李组长", "2026-11-30"),
    }
    assert rows[("小美", "2026-11-30")]["online_seconds"] == 7 * 3600
    assert rows[("小美", "2026-11-29")]["at_desk_seconds"] == 0
    other = {"date_from": "2026-11-30", "date_to": "2026-11-30", "team_id": org.after.pk}
    assert client.get("/api/v1/presence/online-time", other).status_code == 403


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"date_from": "2026-11-30", "date_to": "2026-11-01"}, 400, "date_to"),
        ({"date_from": "2026-01-01", "date_to": "2026-12-01"}, 400, "date_to"),
        ({"date_from": "2026-13-01", "date_to": "2026-12-01"}, 422, "date_from"),
        ({"date_to": "2026-12-01"}, 422, "date_from"),
    ],
)
def test_online_time_refuses_bad_ranges_naming_the_field(
    client: Any, org: Any, params: Any, status: int, field: str
) -> None:
    client.force_login(org.supervisor)
    r = client.get("/api/v1/presence/online-time", params)
    assert r.status_code == status
    assert field in r.json()["fields"]


# --- the rule ---------------------------------------------------------------------------------


def test_an_admin_sets_the_rule_and_a_team_lead_reads_it(client: Any, org: Any) -> None:
    client.force_login(org.admin)
    r = put(client, "/api/v1/presence/rule", {"on_offline": "requeue", "requeue_after_minutes": 15})
    assert r.status_code == 200
    assert r.json()["on_offline"] == "requeue" and r.json()["updated_by"] == "管理员"
    client.force_login(org.lead)
    assert client.get("/api/v1/presence/rule").json()["requeue_after_minutes"] == 15
    rule = PresenceRule.objects.get()
    assert (rule.on_offline, rule.requeue_after_minutes) == ("requeue", 15)


def test_only_an_admin_may_change_the_rule(client: Any, org: Any) -> None:
    client.force_login(org.supervisor)
    assert (
        put(
            client, "/api/v1/presence/rule", {"on_offline": "requeue", "requeue_after_minutes": 5}
        ).status_code
        == 403
    )
    client.force_login(org.xiaomei)
    assert client.get("/api/v1/presence/rule").status_code == 403
    assert PresenceRule.objects.filter(on_offline="requeue").count() == 0


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"on_offline": "delete", "requeue_after_minutes": 5}, 400, "on_offline"),
        ({"on_offline": "requeue", "requeue_after_minutes": -1}, 422, "requeue_after_minutes"),
        ({"on_offline": "requeue", "requeue_after_minutes": 100000}, 422, "requeue_after_minutes"),
        ({"on_offline": "requeue"}, 422, "requeue_after_minutes"),
    ],
)
def test_a_bad_rule_names_the_field(client: Any, org: Any, body: Any, status: int, field: str) -> None:
    client.force_login(org.admin)
    r = put(client, "/api/v1/presence/rule", body)
    assert r.status_code == status
    assert field in r.json()["fields"]


# --- the settings page ------------------------------------------------------------------------


def test_the_page_lets_an_admin_set_the_rule(client: Any, org: Any) -> None:
    client.force_login(org.admin)
    page = client.get("/desk/settings/presence/")
    assert page.status_code == 200
    text = page.content.decode()
    for words in ("在线与离线", "离线客服的会话", "超时后退回队列", "在线时长", "最近的状态变化"):
        assert words in text
    r = client.post("/desk/settings/presence/", {"on_offline": "requeue", "requeue_after_minutes": "20"})
    assert r.status_code == 302
    assert "在线规则已保存" in client.get(r["Location"]).content.decode()
    assert PresenceRule.objects.get().requeue_after_minutes == 20


def test_the_page_explains_a_bad_number_in_chinese(client: Any, org: Any) -> None:
    client.force_login(org.admin)
    r = client.post("/desk/settings/presence/", {"on_offline": "requeue", "requeue_after_minutes": "-3"})
    assert r.status_code == 200
    assert "不能小于 0" in r.content.decode()
    assert not PresenceRule.objects.filter(on_offline="requeue").exists()


def test_a_team_lead_sees_the_page_read_only_with_her_team(
    client: Any, org: Any, a_working_day: None, changes: None
) -> None:
    client.force_login(org.lead)
    r = client.get("/desk/settings/presence/", {"date": "2026-11-30"})
    text = r.content.decode()
    assert r.status_code == 200
    assert "只有管理员可以修改此规则" in text
    assert "7小时00分" in text and "用餐 1小时00分" in text
    assert "小李" not in text  # another team
    assert (
        client.post(
            "/desk/settings/presence/", {"on_offline": "requeue", "requeue_after_minutes": "1"}
        ).status_code
        == 403
    )


def test_an_agent_may_not_open_the_page(client: Any, org: Any) -> None:
    client.force_login(org.xiaomei)
    r = client.get("/desk/settings/presence/")
    assert r.status_code == 403
    assert "组长" in r.content.decode()


def test_a_bad_date_on_the_page_shows_today_and_says_so(client: Any, org: Any) -> None:
    client.force_login(org.supervisor)
    r = client.get("/desk/settings/presence/", {"date": "明天"})
    assert r.status_code == 200
    assert "日期格式应为 YYYY-MM-DD" in r.content.decode()
