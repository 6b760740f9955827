"""The reports page /desk/reports/ and its drill-down: who may see what, filters, real figures."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from kefu.analytics import metrics

from .reports_shop import build_shop

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(make_team: Any, make_user: Any, make_channel: Any) -> Any:
    return build_shop(make_team, make_user, make_channel)


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _volume(response: Any) -> dict[str, Any]:
    [tile] = [k for k in response.context["report"]["kpis"] if k["name"] == "volume"]
    return tile


def test_a_lead_sees_their_teams_figures_with_the_previous_period(shop: Any) -> None:
    response = _client(shop.lead).get("/desk/reports/", {"period": "7d"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "关键指标" in html and "会话量热力图" in html and 'href="/desk/reports/"' in html
    filters = response.context["filters"]
    assert filters.scope.team_id == shop.after_sales.pk
    volume = _volume(response)
    assert volume["value"] == metrics.compute(filters.scope, ["volume"])["volume"].value == 3
    assert volume["previous"] == 0
    # The tables carry the figures without JavaScript: three conversations, two on one channel.
    by_channel = {
        r["label"]: r["values"]["volume"] for r in response.context["report"]["breakdowns"][0]["rows"]
    }
    assert sum(by_channel.values()) == 3
    assert f"{shop.web.name}" in html


def test_a_supervisor_sees_the_whole_desk_or_one_team(shop: Any) -> None:
    client = _client(shop.supervisor)
    assert _volume(client.get("/desk/reports/", {"period": "7d"}))["value"] == 4
    one_team = client.get("/desk/reports/", {"period": "7d", "team": shop.pre_sales.pk})
    assert _volume(one_team)["value"] == 1
    assert _volume(client.get("/desk/reports/", {"period": "today"}))["value"] == 0


def test_agents_get_a_403_page_and_no_link(shop: Any) -> None:
    client = _client(shop.agent)
    response = client.get("/desk/reports/")
    assert response.status_code == 403
    assert "报表仅对组长" in response.content.decode()
    assert 'href="/desk/reports/"' not in client.get("/desk/tickets/").content.decode()
    assert client.get("/desk/reports/conversations/", {"metric": "volume"}).status_code == 403


def test_a_lead_may_not_choose_another_team_or_its_agent(shop: Any) -> None:
    client = _client(shop.lead)
    assert client.get("/desk/reports/", {"team": shop.pre_sales.pk}).status_code == 403
    assert client.get("/desk/reports/", {"agent": shop.other_agent.pk}).status_code == 403


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"period": "custom", "start": "2026-13-01", "end": "2026-12-01"}, "start"),
        ({"period": "custom", "start": "2026-11-10", "end": "2026-11-01"}, "end"),
        ({"period": "custom", "start": "2026-11-10"}, "end"),
        ({"period": "year"}, "period"),
        ({"team": "售后"}, "team"),
        ({"channel": "99999"}, "channel"),
        ({"intent": "不存在的意图"}, "intent"),
    ],
)
def test_bad_filters_are_a_readable_400_page(shop: Any, params: dict[str, str], field: str) -> None:
    response = _client(shop.supervisor).get("/desk/reports/", params)
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="kefu-report-error"' in html and f"<li>{field}：" in html
    assert '<form method="get" class="filters report-filters"' in html  # to correct the filters at once


def test_bad_dates_are_a_422_in_the_api_naming_the_field(shop: Any) -> None:
    response = _client(shop.supervisor).get("/api/v1/reports", {"period": "custom", "start": "2026-02-30"})
    assert response.status_code == 422
    assert "start" in response.json()["fields"]
    reversed_days = {"period": "custom", "start": "2026-11-10", "end": "2026-11-01"}
    response = _client(shop.supervisor).get("/api/v1/reports", reversed_days)
    assert response.status_code == 400 and response.json()["fields"] == {"end": "不能早于开始日期"}


def test_the_drill_down_lists_only_conversations_the_viewer_may_see(shop: Any) -> None:
    params = {"period": "7d", "metric": "volume"}
    lead_page = _client(shop.lead).get("/desk/reports/conversations/", params)
    assert lead_page.status_code == 200
    lead_ids = {c["id"] for c in lead_page.context["result"]["items"]}
    after_sales_ids = {c.pk for c in shop.conversations if c.team_id == shop.after_sales.pk}
    assert lead_ids == after_sales_ids
    assert f"/desk/c/{shop.conversations[0].pk}/" in lead_page.content.decode()

    # The supervisor's whole-desk figure has a conversation of another team; a lead asking the
    # API for the same ids through the channel gets only those of their own team.
    everything = _client(shop.supervisor).get("/api/v1/reports/conversations", params).json()
    assert {c["id"] for c in everything["items"]} == {c.pk for c in shop.conversations}
    by_web = {**params, "by": "channel", "key": str(shop.web.pk)}
    seen = _client(shop.lead).get("/api/v1/reports/conversations", by_web).json()
    assert {c["id"] for c in seen["items"]} == {
        c.pk for c in shop.conversations if c.channel_id == shop.web.pk and c.team_id == shop.after_sales.pk
    }
    assert seen["total"] == len(seen["items"])


def test_a_heat_map_cell_drills_down_to_its_weekday_and_hour(shop: Any) -> None:
    from django.utils import timezone

    first = shop.conversations[0]
    first.refresh_from_db()
    when = timezone.localtime(first.created_at)
    response = _client(shop.lead).get(
        "/api/v1/reports/conversations",
        {"period": "7d", "metric": "volume", "by": "weekday,hour", "key": f"{when.weekday()},{when.hour}"},
    )
    assert response.status_code == 200
    assert first.pk in {c["id"] for c in response.json()["items"]}
    bad = _client(shop.lead).get("/api/v1/reports/conversations", {"by": "weekday,hour", "key": "1"})
    assert bad.status_code == 400 and "key" in bad.json()["fields"]


def test_the_trend_of_both_periods_is_each_periods_volume_per_day(week: Any) -> None:
    from datetime import date

    from kefu.analytics import reports

    filters = reports.parse_filters(
        week.boss, period="custom", start=date(2026, 11, 5), end=date(2026, 11, 7)
    )
    trend = reports.build_report(filters)["trend"]
    for scope, first, got in (
        (filters.scope, 5, trend["current"]),
        (filters.previous, 2, trend["previous"]),
    ):
        per_day = {key: f.value for key, _, f in metrics.breakdown(scope, "volume", "day")}
        assert got == [per_day.get(f"2026-11-{first + i:02d}", 0) for i in range(3)]
    assert sum(trend["current"]) > 0 and sum(trend["previous"]) > 0
    assert trend["previous"] != trend["current"]
