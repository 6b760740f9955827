"""Star agents (星级客服): known inputs and weights give known stars and reasons; who sees whose."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def floor(shared_floor):
    return shared_floor


WEEK = "2026-W46"


def figure(name: str, value: float | None, unit: str, count: int = 10) -> Any:
    from kefu.analytics.metrics import Figure

    return Figure(name=name, label=name, value=value, unit=unit, count=count)


def known_figures(**overrides: Any) -> dict[str, Any]:
    figures = {
        "quality": figure("quality_score_mean", 85, "score"),
        "csat": figure("csat_mean", 4.1, "score"),
        "resolution": figure("resolution_rate", 81.0, "%"),
        "fcr": figure("fcr_rate", 60.0, "%"),
        "volume": figure("volume", 50, "count"),
    }
    figures.update(overrides)
    return figures


TARGETS = {"quality_score_mean": 85.0, "csat_mean": 4.5, "resolution_rate": 90.0, "fcr_rate": 80.0}


def test_known_figures_and_weights_give_known_stars_and_reasons(floor):
    from kefu.performance.periods import parse_period
    from kefu.performance.stars import rate, star_weights

    weights = star_weights()  # 30 / 25 / 20 / 15 / 10, at least 20 conversations, 100 a week
    rating = rate(floor.xiaomei, parse_period(WEEK), known_figures(), weights=weights, targets=TARGETS)
    parts = {c.key: (c.value, c.target, round(c.attainment, 4), c.points) for c in rating.components}
    assert parts == {
        "quality": (85.0, 85.0, 1.0, 30.0),  # on target: the full 30
        "csat": (4.1, 4.5, 0.8857, 22.14),  # (4.1 − 1) / (4.5 − 1) of 25
        "resolution": (81.0, 90.0, 0.9, 18.0),
        "fcr": (60.0, 80.0, 0.75, 11.25),
        "volume": (50.0, 100.0, 0.5, 5.0),  # half the week's target of 100
    }
    assert (rating.score, rating.stars, rating.volume) == (86.4, 4, 50)
    assert rating.reason == "综合得分 86.4 分"


def test_the_stars_follow_the_score_floors():
    from kefu.performance.stars import stars_for

    assert [stars_for(s) for s in (100, 90, 89.9, 80, 70, 60, 59.9, 0)] == [5, 5, 4, 4, 3, 2, 1, 1]


def test_other_weights_change_the_stars(floor):
    from kefu.performance.periods import parse_period
    from kefu.performance.stars import do_set_star_weights, rate

    weights = do_set_star_weights(
        actor=floor.admin,
        data={
            "quality": 100,
            "csat": 0,
            "resolution": 0,
            "fcr": 0,
            "volume": 0,
            "min_volume": 20,
            "volume_per_week": 100,
        },
    )
    rating = rate(floor.xiaomei, parse_period(WEEK), known_figures(), weights=weights, targets=TARGETS)
    assert (rating.score, rating.stars) == (100.0, 5)


def test_below_the_minimum_volume_there_is_no_rating_and_it_says_why(floor):
    from kefu.performance.periods import parse_period
    from kefu.performance.stars import rate, star_weights

    rating = rate(
        floor.xiaomei,
        parse_period(WEEK),
        known_figures(volume=figure("volume", 2, "count")),
        weights=star_weights(),
        targets=TARGETS,
    )
    assert rating.stars is None and rating.score is None and rating.components == []
    assert rating.reason == "本期接待 2 个会话，少于最低 20 个，不评星"


def test_a_component_without_data_shares_its_weight(floor):
    from kefu.performance.periods import parse_period
    from kefu.performance.stars import rate, star_weights

    rating = rate(
        floor.xiaomei,
        parse_period(WEEK),
        known_figures(csat=figure("csat_mean", None, "score", count=0)),
        weights=star_weights(),
        targets=TARGETS,
    )
    csat = next(c for c in rating.components if c.key == "csat")
    assert csat.points == 0 and csat.note == "本期无数据，权重分给其他各项"
    quality = next(c for c in rating.components if c.key == "quality")
    assert quality.effective_weight == 40.0  # 30 of the 75 that have data
    assert rating.score == 85.7  # (30 + 18 + 11.25 + 5) / 75 × 100


def test_a_month_scales_the_volume_target(floor):
    from kefu.performance.periods import parse_period
    from kefu.performance.stars import rate, star_weights

    rating = rate(
        floor.xiaomei, parse_period("2026-11"), known_figures(), weights=star_weights(), targets=TARGETS
    )
    volume = next(c for c in rating.components if c.key == "volume")
    assert volume.target == 428.6  # 100 a week × 30 days / 7


# --- weights: the admin's settings -----------------------------------------------------------

GOOD = {
    "quality": 40,
    "csat": 30,
    "resolution": 10,
    "fcr": 10,
    "volume": 10,
    "min_volume": 5,
    "volume_per_week": 6,
}


def test_the_admin_sets_the_weights_through_the_api(floor, client_for):
    client = client_for(floor.admin)
    response = client.put("/api/v1/stars/weights", GOOD, content_type="application/json")
    assert response.status_code == 200
    assert client.get("/api/v1/stars/weights").json()["quality"] == 40


@pytest.mark.parametrize(
    ("change", "field"),
    [({"quality": 50}, "quality"), ({"csat": -10, "quality": 80}, "csat"), ({"min_volume": 0}, "min_volume")],
)
def test_bad_weights_are_refused_naming_the_field(floor, client_for, change, field):
    response = client_for(floor.admin).put(
        "/api/v1/stars/weights", {**GOOD, **change}, content_type="application/json"
    )
    assert response.status_code == 400
    assert field in response.json()["fields"]


def test_only_admins_touch_the_weights(floor, client_for):
    client = client_for(floor.supervisor)
    assert client.get("/api/v1/stars/weights").status_code == 403
    assert client.put("/api/v1/stars/weights", GOOD, content_type="application/json").status_code == 403
    assert client.get("/desk/settings/stars/").status_code == 403


def test_the_settings_page_checks_the_sum_and_saves(floor, client_for):
    client = client_for(floor.admin)
    assert "/desk/settings/stars/" in client.get("/desk/settings/").content.decode()
    bad = client.post("/desk/settings/stars/", {**GOOD, "quality": 45})
    assert bad.status_code == 400 and "各项权重之和应为 100%，现在是 105%" in bad.content.decode()
    assert client.post("/desk/settings/stars/", GOOD).status_code == 302
    from kefu.performance.stars import star_weights

    assert (star_weights().quality, star_weights().min_volume, star_weights().updated_by) == (
        40,
        5,
        floor.admin,
    )


# --- ratings through the API and pages: who sees whose ------------------------------------------


@pytest.fixture
def low_minimum(floor):
    from kefu.performance.stars import do_set_star_weights

    do_set_star_weights(actor=floor.admin, data=GOOD)  # 5 conversations rate; 6 a week is the volume target


def ratings(client: Any, query: str = "") -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/stars?period={WEEK}{query}")
    assert response.status_code == 200, response.content
    return response.json()["ratings"]


def test_an_agent_sees_only_their_own_rating_with_its_reasons(floor, client_for, low_minimum):
    client = client_for(floor.xiaomei)
    (mine,) = ratings(client)
    assert mine["agent"]["name"] == "小美" and mine["rated"] and 1 <= mine["stars"] <= 5
    assert mine["volume"] == 6 and mine["period"] == WEEK
    volume = next(c for c in mine["components"] if c["key"] == "volume")
    assert (volume["value"], volume["target"], volume["attainment"], volume["points"]) == (6, 6.0, 1.0, 10.0)
    assert {c["key"] for c in mine["components"]} == {"quality", "csat", "resolution", "fcr", "volume"}
    # Asking for another team changes nothing: still only her own.
    assert [r["agent"]["name"] for r in ratings(client, f"&team={floor.other_team.pk}")] == ["小美"]
    page = client.get(f"/desk/stars/?period={WEEK}").content.decode()
    assert "小美" in page and "rating-reasons" in page and "阿强" not in page
    assert client.get(f"/desk/stars/{floor.aqiang.pk}/?period={WEEK}").status_code == 403
    assert client.get(f"/desk/stars/{floor.xiaomei.pk}/?period={WEEK}").status_code == 200


def test_a_lead_sees_their_team_and_not_the_other(floor, client_for, low_minimum):
    client = client_for(floor.lead)
    names = {r["agent"]["name"]: r for r in ratings(client)}
    assert set(names) == {"小美", "阿强", "李组长", "钱组长"}
    assert names["阿强"]["rated"] and names["阿强"]["volume"] == 6
    assert (
        not names["李组长"]["rated"]
        and names["李组长"]["reason"] == "本期接待 0 个会话，少于最低 5 个，不评星"
    )
    assert client.get(f"/api/v1/stars?period={WEEK}&team={floor.other_team.pk}").status_code == 403
    assert client.get(f"/desk/stars/{floor.xiaolin.pk}/?period={WEEK}").status_code == 403
    page = client.get(f"/desk/stars/{floor.aqiang.pk}/?period={WEEK}")
    assert page.status_code == 200 and "阿强" in page.content.decode()


def test_a_supervisor_sees_any_team(floor, client_for, low_minimum):
    client = client_for(floor.supervisor)
    assert {r["agent"]["name"] for r in ratings(client, f"&team={floor.other_team.pk}")} == {"赵组长", "小林"}
    assert client.get(f"/desk/stars/?period={WEEK}").status_code == 200


def test_the_default_minimum_gives_no_rating_on_six_conversations(floor, client_for):
    (mine,) = ratings(client_for(floor.xiaomei))
    assert not mine["rated"] and mine["stars"] is None
    assert mine["reason"] == "本期接待 6 个会话，少于最低 20 个，不评星"
    assert (
        "少于最低 20 个，不评星"
        in client_for(floor.xiaomei).get(f"/desk/stars/?period={WEEK}").content.decode()
    )


@pytest.mark.parametrize("period", ["2026-13", "本月", "2026-W99"])
def test_a_bad_period_is_a_400(floor, client_for, period):
    response = client_for(floor.xiaomei).get(f"/api/v1/stars?period={period}")
    assert response.status_code == 400 and "period" in response.json()["fields"]


def test_the_quality_and_fcr_targets_set_on_the_targets_page_drive_the_rating(floor, client_for, low_minimum):
    client = client_for(floor.xiaomei)
    (before,) = ratings(client)
    targets = {c["key"]: c["target"] for c in before["components"]}
    assert (targets["quality"], targets["fcr"]) == (85.0, 80.0)  # the handbook defaults of the metrics
    admin = client_for(floor.admin)
    saved = admin.post(
        "/desk/settings/targets/", {"t_quality_score_mean": "95", "t_fcr_rate": "60", "t_volume": ""}
    )
    assert saved.status_code == 302
    (after,) = ratings(client)
    targets = {c["key"]: c["target"] for c in after["components"]}
    assert (targets["quality"], targets["fcr"]) == (95.0, 60.0)
    # Cleared again: the defaults, not the rating's own numbers.
    r = admin.put(
        "/api/v1/metrics/targets",
        {"targets": {"quality_score_mean": None, "fcr_rate": None}},
        content_type="application/json",
    )
    assert r.status_code == 200
    (cleared,) = ratings(client)
    assert {c["key"]: c["target"] for c in cleared["components"]}["quality"] == 85.0
