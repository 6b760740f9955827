"""Shift planning through the API and the pages: forecast, requirement, roster, publishing, breaks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from django.test import Client

from .conftest import TARGET_MONDAY, TZ

pytestmark = pytest.mark.django_db


def client_for(user: Any) -> Client:
    c = Client()
    c.force_login(user)
    return c


def get(user: Any, path: str, **params: Any) -> Any:
    return client_for(user).get(f"/api/v1/staffing/{path}", params)


def post(user: Any, path: str, body: dict[str, Any]) -> Any:
    return client_for(user).post(f"/api/v1/staffing/{path}", body, content_type="application/json")


def test_forecast_reads_the_history_through_the_metrics_and_leaves_promotions_out(
    history: Any, monkeypatch: Any
):
    from kefu.analytics import metrics

    calls = []
    real = metrics.arrivals
    monkeypatch.setattr(
        metrics,
        "arrivals",
        lambda scope, bucket_minutes=30: calls.append(scope) or real(scope, bucket_minutes),
    )
    r = get(history.lead, "forecast", team_id=history.team.pk, start=TARGET_MONDAY.isoformat(), days=3)
    assert r.status_code == 200, r.content
    assert calls and calls[0].team_id == history.team.pk
    mon, tue, wed = r.json()["days"]
    assert mon["slots"][20]["contacts"] == 3.0 and mon["slots"][21]["contacts"] == 1.0
    assert mon["total"] == 4.0
    assert tue["slots"][28]["contacts"] == 2.0
    assert wed["total"] == 0.0  # 双11's 40 chats bent nothing: it was a promotion day
    assert mon["slots"][20]["open"] and not mon["slots"][40]["open"]


def test_a_promotion_multiplies_its_day(history: Any):
    r = post(history.boss, "promotions", {"name": "双12预热", "start_date": "2026-11-17", "multiplier": 3})
    assert r.status_code == 201, r.content
    tue = get(history.lead, "forecast", team_id=history.team.pk, start="2026-11-17", days=1).json()["days"][0]
    assert tue["slots"][28]["contacts"] == 6.0
    assert tue["special"] == "双12预热" and tue["multiplier"] == 3.0


def test_requirement_staffs_open_half_hours_with_erlang_c(history: Any):
    r = get(history.lead, "requirement", team_id=history.team.pk, start=TARGET_MONDAY.isoformat(), days=1)
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["aht_seconds"] == 1800 and body["aht_source"] == "override"
    slots = body["days"][0]["slots"]
    assert slots[20]["agents"] >= 3  # 3 chats of 30 min in half an hour: 3 Erlangs, falling toward 10:30
    assert slots[20]["service_level"] >= 0.8
    assert slots[40]["agents"] == 0  # 20:00, closed
    assert slots[12]["scheduled"] == 0


def test_requirement_uses_the_metrics_aht_when_none_is_set(history: Any):
    from kefu.staffing.models import PlanSettings

    PlanSettings.objects.filter(team=history.team).update(aht_seconds=None)
    body = get(
        history.lead, "requirement", team_id=history.team.pk, start=TARGET_MONDAY.isoformat(), days=1
    ).json()
    # No conversation of the history was answered: no AHT to measure, the default stands.
    assert body["aht_source"] == "default" and body["aht_seconds"] == 300


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"days": 0}, "days"),
        ({"days": 99}, "days"),
        ({"start": "1999-01-04"}, "start"),
        ({"start": "2026-13-01"}, "start"),
    ],
)
def test_bad_input_is_a_4xx_naming_the_field(history: Any, params: dict[str, Any], field: str):
    query = {"team_id": history.team.pk, "start": TARGET_MONDAY.isoformat(), **params}
    r = get(history.lead, "requirement", **query)
    assert 400 <= r.status_code < 500
    assert field in r.json()["fields"]


def test_bad_shift_and_promotion_name_the_field(history: Any):
    r = post(
        history.lead, "shifts", {"name": "夜班", "start": "22:00", "end": "06:00", "team_id": history.team.pk}
    )
    assert r.status_code == 400 and "end" in r.json()["fields"]
    r = post(history.boss, "promotions", {"name": "618", "start_date": "2026-06-18", "multiplier": -1})
    assert r.status_code == 400 and "multiplier" in r.json()["fields"]


def test_who_may_plan(history: Any):
    q = {"team_id": history.team.pk, "start": TARGET_MONDAY.isoformat()}
    assert get(history.wang, "requirement", **q).status_code == 403
    assert get(history.other_lead, "requirement", **q).status_code == 403  # not her team
    assert get(history.boss, "forecast", **q).status_code == 200
    # Leads plan shifts; parameters and promotions are the supervisors'.
    body = {"team_id": history.team.pk, "concurrency": 2}
    assert (
        client_for(history.lead)
        .put("/api/v1/staffing/settings", body, content_type="application/json")
        .status_code
        == 403
    )
    assert (
        client_for(history.boss)
        .put("/api/v1/staffing/settings", body, content_type="application/json")
        .status_code
        == 200
    )
    assert post(history.lead, "promotions", {"name": "618", "start_date": "2026-06-18"}).status_code == 403


def test_build_publish_and_the_agent_sees_her_shifts_and_breaks_show_to_the_lead(history: Any):
    from kefu.accounts.models import AgentStatus, StatusChange

    client_for(history.lead).put(
        f"/api/v1/staffing/availability/{history.li.pk}",
        {"weekdays": [1, 2, 3, 4]},
        content_type="application/json",
    )
    r = post(history.lead, "rosters", {"team_id": history.team.pk, "week_start": "2026-11-18"})
    assert r.status_code == 201, r.content
    roster = r.json()
    assert roster["week_start"] == "2026-11-16" and roster["status"] == "draft"
    monday = roster["days"][0]
    assert monday["required"][20] >= 3
    # Two agents (李雷 not on Mondays) cannot cover three needed at 10:00: the gap says so.
    assert monday["gap"][20] == monday["required"][20] - monday["covered"][20] > 0
    assert all(e["date"] != "2026-11-16" or e["user_id"] != history.li.pk for e in roster["entries"])
    # Not published yet: nothing in the agent's desk.
    assert get(history.wang, "my-shifts").json() == []
    assert post(history.wang, f"rosters/{roster['id']}/publish", {}).status_code == 403
    r = post(history.lead, f"rosters/{roster['id']}/publish", {})
    assert r.status_code == 200 and r.json()["status"] == "published"
    assert post(history.lead, f"rosters/{roster['id']}/publish", {}).status_code == 409

    mine = [e for e in roster["entries"] if e["user_id"] == history.wang.pk]
    assert mine
    # (The shifts of the week of 16 November are in the past on 2 December: look them up directly.)
    from kefu.staffing.models import RosterEntry

    assert RosterEntry.objects.filter(user=history.wang, roster__status="published").count() == len(mine)
    first = mine[0]
    day = datetime.fromisoformat(first["date"]).replace(tzinfo=TZ)
    StatusChange.objects.create(
        user=history.wang, from_status=AgentStatus.ONLINE, to_status=AgentStatus.BREAK, reason="meal",
        at=day.replace(hour=11, minute=30),
    )  # fmt: skip
    StatusChange.objects.create(
        user=history.wang, from_status=AgentStatus.BREAK, to_status=AgentStatus.ONLINE, at=day.replace(hour=12),
    )  # fmt: skip
    StatusChange.objects.create(
        user=history.wang, from_status=AgentStatus.ONLINE, to_status=AgentStatus.BREAK, reason="short_break",
        at=day.replace(hour=15, minute=10),
    )  # fmt: skip
    StatusChange.objects.create(
        user=history.wang, from_status=AgentStatus.BREAK, to_status=AgentStatus.ONLINE,
        at=day.replace(hour=15, minute=25),
    )  # fmt: skip
    breaks = get(history.lead, f"rosters/{roster['id']}/breaks").json()
    assert [(b["start"][11:16], b["outside_window"]) for b in breaks] == [("11:30", False), ("15:10", True)]
    assert get(history.wang, f"rosters/{roster['id']}/breaks").status_code == 403
    page = client_for(history.lead).get("/desk/staffing/", {"team": history.team.pk, "week": "2026-11-16"})
    assert page.status_code == 200
    assert "不在计划休息时段" in page.content.decode()


def test_the_published_roster_shows_in_the_agents_desk(history: Any, monkeypatch: Any):
    from django.utils import timezone

    monkeypatch.setattr(timezone, "localdate", lambda *a, **k: TARGET_MONDAY)
    roster = post(history.lead, "rosters", {"team_id": history.team.pk, "week_start": "2026-11-16"}).json()
    post(history.lead, f"rosters/{roster['id']}/publish", {})
    shifts = get(history.wang, "my-shifts").json()
    assert shifts and all(s["user_id"] == history.wang.pk for s in shifts)
    page = client_for(history.wang).get("/desk/staffing/me/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "我的排班" in html and shifts[0]["shift"] in html
    assert "11月16日" in html or "11月17日" in html
    # An agent who opens the planner lands on her shifts; the settings are not hers.
    assert client_for(history.wang).get("/desk/staffing/").url == "/desk/staffing/me/"
    assert client_for(history.wang).get("/desk/staffing/settings/").status_code == 403


def test_the_planner_and_settings_pages_for_a_lead(history: Any):
    lead = client_for(history.lead)
    page = lead.get("/desk/staffing/", {"team": history.team.pk, "week": "2026-11-16"})
    assert page.status_code == 200 and "生成排班" in page.content.decode()
    r = lead.post("/desk/staffing/", {"team": history.team.pk, "week": "2026-11-16", "action": "build"})
    assert r.status_code == 302
    page = lead.get("/desk/staffing/", {"team": history.team.pk, "week": "2026-11-16"})
    assert "重新生成草稿" in page.content.decode() and "缺" in page.content.decode()
    settings_page = lead.get("/desk/staffing/settings/", {"team": history.team.pk})
    assert settings_page.status_code == 200 and "早班" in settings_page.content.decode()
    bad = lead.post(
        "/desk/staffing/settings/",
        {
            "team": history.team.pk,
            "action": "shift",
            "name": "夜班",
            "start": "9点",
            "end": "18:00",
            "team_id": history.team.pk,
        },
    )
    assert bad.status_code == 400 and "时间格式应为 HH:MM" in bad.content.decode()


def _shift_id(name: str) -> int:
    from kefu.staffing.models import ShiftType

    return ShiftType.objects.get(name=name, team=None).pk


def _day(roster: dict[str, Any], iso: str) -> dict[str, Any]:
    return next(d for d in roster["days"] if d["date"] == iso)


def patch(user: Any, path: str, body: dict[str, Any]) -> Any:
    return client_for(user).patch(f"/api/v1/staffing/{path}", body, content_type="application/json")


def test_a_lead_adds_moves_and_removes_shifts_and_the_gap_follows(history: Any):
    roster = post(history.lead, "rosters", {"team_id": history.team.pk, "week_start": "2026-11-16"}).json()
    rid = roster["id"]
    # Take 王芳 off every shift of the week, then put her back by hand on Monday's early shift.
    for e in [e for e in roster["entries"] if e["user_id"] == history.wang.pk]:
        r = client_for(history.lead).delete(f"/api/v1/staffing/rosters/{rid}/entries/{e['id']}")
        assert r.status_code == 200, r.content
    before = _day(r.json(), "2026-11-16")
    r = post(
        history.lead,
        f"rosters/{rid}/entries",
        {"user_id": history.wang.pk, "date": "2026-11-16", "shift_id": _shift_id("早班")},
    )
    assert r.status_code == 201, r.content
    after = _day(r.json(), "2026-11-16")
    # 早班 08:00–16:30 covers the half hours 16..32: one more agent there, the gap one smaller.
    assert [after["covered"][s] - before["covered"][s] for s in (15, 16, 20, 32, 33)] == [0, 1, 1, 1, 0]
    assert all(after["gap"][s] == after["required"][s] - after["covered"][s] for s in range(48))
    entry = next(e for e in r.json()["entries"] if e["user_id"] == history.wang.pk)
    assert entry["by_hand"] and entry["shift"] == "早班"
    # Moved to Tuesday's late shift: Monday loses the cover, Tuesday evening gains it.
    r = patch(
        history.lead,
        f"rosters/{rid}/entries/{entry['id']}",
        {"date": "2026-11-17", "shift_id": _shift_id("晚班")},
    )
    assert r.status_code == 200, r.content
    assert _day(r.json(), "2026-11-16")["covered"][20] == before["covered"][20]
    moved = next(e for e in r.json()["entries"] if e["id"] == entry["id"])
    assert (moved["date"], moved["shift"], moved["start"]) == ("2026-11-17", "晚班", "15:30")
    # A rebuild keeps the lead's change and builds around it.
    rebuilt = post(history.lead, "rosters", {"team_id": history.team.pk, "week_start": "2026-11-16"}).json()
    kept = [e for e in rebuilt["entries"] if e["by_hand"]]
    assert [(e["user_id"], e["date"], e["shift"]) for e in kept] == [(history.wang.pk, "2026-11-17", "晚班")]
    audit = __import__("kefu.accounts.models", fromlist=["AuditLog"]).AuditLog
    assert audit.objects.filter(action="staffing.roster_edited", actor=history.lead).count() >= 3


def test_hand_edits_respect_availability_maximum_hours_and_one_shift_a_day(history: Any):
    lead = client_for(history.lead)
    lead.put(
        f"/api/v1/staffing/availability/{history.li.pk}",
        {"weekdays": [1, 2, 3, 4], "max_hours_per_week": 16},
        content_type="application/json",
    )
    roster = post(history.lead, "rosters", {"team_id": history.team.pk, "week_start": "2026-11-16"}).json()
    rid = roster["id"]
    for e in [e for e in roster["entries"] if e["user_id"] == history.li.pk]:
        lead.delete(f"/api/v1/staffing/rosters/{rid}/entries/{e['id']}")
    early = _shift_id("早班")
    add = lambda body: post(history.lead, f"rosters/{rid}/entries", body)  # noqa: E731
    # 李雷 does not work Mondays.
    r = add({"user_id": history.li.pk, "date": "2026-11-16", "shift_id": early})
    assert r.status_code == 400 and "周一" in r.json()["fields"]["date"]
    # Outside the roster's week.
    r = add({"user_id": history.li.pk, "date": "2026-11-24", "shift_id": early})
    assert r.status_code == 400 and "date" in r.json()["fields"]
    # 8.5 h Tuesday is fine; a second shift the same day is a conflict.
    assert add({"user_id": history.li.pk, "date": "2026-11-17", "shift_id": early}).status_code == 201
    r = add({"user_id": history.li.pk, "date": "2026-11-17", "shift_id": _shift_id("晚班")})
    assert r.status_code == 409 and "date" in r.json()["fields"]
    # Another 8.5 h would make 17 h of her 16.
    r = add({"user_id": history.li.pk, "date": "2026-11-18", "shift_id": early})
    assert r.status_code == 400 and "16 小时" in r.json()["fields"]["shift_id"]
    # Not a member of the team; a shift that does not exist.
    r = add({"user_id": history.other_lead.pk, "date": "2026-11-18", "shift_id": early})
    assert r.status_code == 400 and "user_id" in r.json()["fields"]
    r = add({"user_id": history.wang.pk, "date": "2026-11-18", "shift_id": 999999})
    assert r.status_code in (400, 409) and r.json()["fields"]
    # Another team's lead may not touch it; a missing entry is a 404.
    r = post(
        history.other_lead,
        f"rosters/{rid}/entries",
        {"user_id": history.wang.pk, "date": "2026-11-18", "shift_id": early},
    )
    assert r.status_code == 403
    assert lead.delete(f"/api/v1/staffing/rosters/{rid}/entries/999999").status_code == 404


def test_the_planner_page_edits_a_shift_by_hand(history: Any):
    from kefu.staffing.models import RosterEntry

    lead = client_for(history.lead)
    params = {"team": history.team.pk, "week": "2026-11-16"}
    lead.post("/desk/staffing/", {**params, "action": "build"})
    page = lead.get("/desk/staffing/", params).content.decode()
    assert "添加班次" in page and "换班" in page
    entry = RosterEntry.objects.filter(user=history.wang).order_by("date").first()
    assert entry is not None
    form = {**params, "roster_id": entry.roster_id, "entry_id": entry.pk}
    r = lead.post("/desk/staffing/", {**form, "action": "remove_entry"})
    assert r.status_code == 302 and not RosterEntry.objects.filter(pk=entry.pk).exists()
    r = lead.post(
        "/desk/staffing/",
        {
            **form,
            "action": "add_entry",
            "user_id": history.wang.pk,
            "date": "2026-11-16",
            "shift_id": _shift_id("中班"),
        },
    )
    assert r.status_code == 302
    added = RosterEntry.objects.get(user=history.wang, date="2026-11-16")
    assert added.by_hand and added.shift_name == "中班"
    bad = lead.post(
        "/desk/staffing/",
        {
            **form,
            "action": "add_entry",
            "user_id": history.wang.pk,
            "date": "2026-11-16",
            "shift_id": _shift_id("早班"),
        },
    )
    assert bad.status_code == 400 and "每人每天只排一个班次" in bad.content.decode()
    page = lead.get("/desk/staffing/", params).content.decode()
    assert "手工" in page
