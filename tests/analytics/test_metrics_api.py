"""Every figure of the hand-built week (tests/analytics/conftest.py), read through /api/v1/metrics."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from .conftest import END, START, at

PERIOD = {"start": START.isoformat(), "end": END.isoformat()}


def get(user: Any, path: str, **params: Any) -> Any:
    client = Client()
    client.force_login(user)
    query = {**PERIOD, **{k: v for k, v in params.items() if v is not None}}
    return client.get(f"/api/v1{path}?{urlencode(query)}")


def figures(user: Any, **params: Any) -> dict[str, dict[str, Any]]:
    r = get(user, "/metrics", **params)
    assert r.status_code == 200, r.content
    return {f["name"]: f for f in r.json()["figures"]}


EXPECTED_WEEK = {
    "volume": (8, 8),
    "resolution_rate": (75.0, 8),
    "fcr_rate": (50.0, 6),
    "reopen_rate": (16.67, 6),
    "transfer_rate": (12.5, 8),
    "csat_mean": (4.0, 3),
    "csat_satisfied_rate": (66.67, 3),
    "emotion_recovery_rate": (50.0, 2),
    "sla_conversation_first_response": (33.33, 3),
    "first_response_mean": (47.5, 6),
    "first_response_p50": (37.5, 6),
    "first_response_p90": (120.0, 6),
    "first_response_within_target": (71.43, 7),
    "aht_mean": (1000.0, 5),
    "response_time_mean": (7774.29, 7),
    "response_time_p90": (54120.0, 7),
    "sla_ticket_first_response": (None, 0),
    "sla_ticket_resolution": (None, 0),
    "complaint_count": (1, 1),
    "complaint_rate": (12.5, 8),
    "complaint_resolution_mean": (172800.0, 1),
    "compensation_count": (2, 2),
    "compensation_amount": (80.0, 2),
    "promise_kept_rate": (50.0, 2),
    "quality_score_mean": (85.0, 2),
    "quality_findings_rate": (50.0, 2),
    "quality_high_findings_rate": (50.0, 2),
}


def test_every_figure_of_the_week_for_a_supervisor(week: Any):
    got = figures(week.boss)
    for name, (value, count) in EXPECTED_WEEK.items():
        assert (got[name]["value"], got[name]["count"]) == (value, count), name


def test_targets_and_the_previous_week_come_with_each_figure(week: Any):
    got = figures(week.boss, names="volume,first_response_mean,resolution_rate,csat_mean")
    assert list(got) == ["volume", "first_response_mean", "resolution_rate", "csat_mean"]
    assert got["first_response_mean"]["target"] == 60.0
    assert got["first_response_mean"]["meets_target"] is True
    assert got["resolution_rate"]["target"] == 90.0
    assert got["resolution_rate"]["meets_target"] is False
    assert got["csat_mean"]["target"] == 4.5
    assert got["volume"]["previous"] == {"value": 1.0, "count": 1}
    assert got["volume"]["change"] == 7.0
    assert got["first_response_mean"]["previous"]["value"] == 120.0
    assert got["resolution_rate"]["previous"]["value"] == 100.0
    assert got["csat_mean"]["previous"]["value"] == 5.0


def test_a_period_with_no_data_is_none_not_zero(week: Any):
    got = figures(week.boss, start=at(1, 0, month=1).isoformat(), end=at(2, 0, month=1).isoformat())
    assert got["volume"]["value"] == 0
    for name in ("first_response_mean", "resolution_rate", "csat_mean", "aht_mean", "fcr_rate", "occupancy"):
        assert got[name]["value"] is None, name
        assert got[name]["count"] == 0


def test_an_agent_reads_her_own_figures_by_default(week: Any):
    got = figures(week.wang, names="volume,first_response_mean,csat_mean,online_time,occupancy")
    # C1, C2, C4 are hers; she answered first in C1 (30 s), C2 (120 s) and C4 (60 s).
    assert got["volume"]["value"] == 3
    assert got["first_response_mean"]["value"] == 70.0
    assert got["csat_mean"]["value"] == 4.0
    assert got["online_time"]["value"] == 8 * 3600
    # Handling C1 (10:00:30–10:10:00, 570 s) out of 8 online hours.
    assert got["occupancy"]["value"] == 1.98
    r = get(week.wang, "/metrics", names="volume")
    assert r.json()["scope"]["agent"] == week.wang.pk


def test_an_agent_reads_her_teams_aggregate_but_no_colleague(week: Any):
    got = figures(week.wang, team=week.after_sales.pk, names="volume")
    assert got["volume"]["value"] == 6
    r = get(week.wang, "/metrics", agent=week.li.pk)
    assert r.status_code == 403
    assert "agent" in r.json()["fields"]
    r = get(week.wang, "/metrics", team=week.pre_sales.pk)
    assert r.status_code == 403
    r = get(week.wang, "/metrics/breakdown", name="volume", by="agent")
    assert r.status_code == 403


def test_a_team_lead_reads_her_team_and_its_members_only(week: Any):
    got = figures(week.lead, names="volume")
    assert got["volume"]["value"] == 6  # her team by default
    assert figures(week.lead, agent=week.li.pk, names="volume")["volume"]["value"] == 2
    assert get(week.lead, "/metrics", agent=week.chen.pk).status_code == 403
    assert get(week.lead, "/metrics", team=week.pre_sales.pk).status_code == 403


def test_channel_team_and_intent_filters(week: Any):
    assert figures(week.boss, channel=week.app.pk, names="volume")["volume"]["value"] == 3
    assert figures(week.boss, team=week.pre_sales.pk, names="volume")["volume"]["value"] == 2
    assert figures(week.boss, intent="物流查询", names="volume")["volume"]["value"] == 4


def test_breakdowns(week: Any):
    r = get(week.boss, "/metrics/breakdown", name="volume", by="team")
    assert r.status_code == 200
    rows = {i["label"]: i["value"] for i in r.json()["items"]}
    assert rows == {"售后服务": 6, "售前咨询": 2}
    r = get(week.boss, "/metrics/breakdown", name="volume", by="weekday")
    assert [(i["key"], i["label"], i["value"]) for i in r.json()["items"]] == [
        (str(d), label, 2 if d == 0 else 1)
        for d, label in enumerate(["周一", "周二", "周三", "周四", "周五", "周六", "周日"])
    ]
    r = get(week.boss, "/metrics/breakdown", name="first_response_mean", by="agent")
    rows = {i["label"]: (i["value"], i["count"]) for i in r.json()["items"]}
    assert rows == {"王芳": (70.0, 3), "李雷": (25.0, 3)}
    r = get(week.boss, "/metrics/breakdown", name="volume", by="hour")
    assert {i["key"]: i["value"] for i in r.json()["items"]} == {
        "10": 3,
        "11": 1,
        "12": 1,
        "14": 1,
        "17": 1,
        "23": 1,
    }
    r = get(week.boss, "/metrics/breakdown", name="complaint_rate", by="channel")
    assert {i["label"]: i["value"] for i in r.json()["items"]} == {"官网在线客服": 20.0, "悦家生活 App": 0.0}


def test_heatmap(week: Any):
    r = get(week.boss, "/metrics/heatmap")
    cells = r.json()["cells"]
    assert len(cells) == 7 and all(len(row) == 24 for row in cells)
    assert cells[0][10] == 1 and cells[0][17] == 1 and cells[6][23] == 1
    assert sum(sum(row) for row in cells) == 8
    csat = get(week.boss, "/metrics/heatmap", name="csat_mean").json()["cells"]
    assert csat[0][10] == 5.0 and csat[0][11] is None


def test_behind_names_the_conversations_the_caller_may_open(week: Any):
    c = week.c
    r = get(week.boss, "/metrics/behind", name="transfer_rate")
    assert r.json()["conversation_ids"] == [c[2].pk]
    r = get(week.boss, "/metrics/behind", name="reopen_rate")
    assert r.json()["conversation_ids"] == [c[3].pk]
    r = get(week.boss, "/metrics/behind", name="volume", by="channel", key=str(week.app.pk))
    assert sorted(r.json()["conversation_ids"]) == sorted([c[2].pk, c[5].pk, c[6].pk])
    # An agent's own team: nothing of 售前咨询 (C3 moved there) is listed.
    r = get(week.wang, "/metrics/behind", name="volume", team=week.after_sales.pk)
    assert sorted(r.json()["conversation_ids"]) == sorted(
        [c[0].pk, c[1].pk, c[3].pk, c[4].pk, c[5].pk, c[7].pk]
    )


def test_arrivals_per_half_hour(week: Any):
    r = get(week.boss, "/metrics/arrivals", start=at(2, 9).isoformat(), end=at(2, 18).isoformat())
    items = r.json()["items"]
    assert len(items) == 18
    assert items[2] == [at(2, 10).isoformat(), 1]
    assert items[17] == [at(2, 17, 30).isoformat(), 1]
    assert sum(n for _, n in items) == 2


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "2026-11-09T00:00:00+08:00", "end": "2026-11-02T00:00:00+08:00"}, "end"),
        ({"start": "2025-01-01T00:00:00+08:00", "end": "2026-11-02T00:00:00+08:00"}, "end"),
        ({"names": "volume,happiness"}, "names"),
        ({"start": "yesterday"}, "start"),
    ],
)
def test_bad_parameters_name_the_field(week: Any, params: dict[str, str], field: str):
    client = Client()
    client.force_login(week.boss)
    r = client.get(f"/api/v1/metrics?{urlencode({**PERIOD, **params})}")
    assert r.status_code in (400, 422)
    assert field in r.json()["fields"]


def test_bad_breakdown_and_unknown_team(week: Any):
    r = get(week.boss, "/metrics/breakdown", name="volume", by="planet")
    assert r.status_code == 400 and "by" in r.json()["fields"]
    r = get(week.boss, "/metrics/breakdown", name="promoter_index", by="team")
    assert r.status_code == 400 and "name" in r.json()["fields"]
    assert get(week.boss, "/metrics", team=999_999).status_code == 404


def test_only_admins_set_targets_and_a_team_may_override(week: Any):
    client = Client()
    client.force_login(week.boss)
    body = {"targets": {"first_response_mean": 30}}
    r = client.put("/api/v1/metrics/targets", body, content_type="application/json")
    assert r.status_code == 403
    client.force_login(week.admin)
    r = client.put("/api/v1/metrics/targets", body, content_type="application/json")
    assert r.status_code == 200 and r.json()["targets"]["first_response_mean"] == 30
    team_body = {"team": week.pre_sales.pk, "targets": {"first_response_mean": 90, "csat_mean": 4.8}}
    assert (
        client.put("/api/v1/metrics/targets", team_body, content_type="application/json").status_code == 200
    )
    got = figures(week.boss, names="first_response_mean,first_response_within_target")
    assert got["first_response_mean"]["target"] == 30
    # Within 30 s: 10, 20 and 30 of the six answered and the one still waiting.
    assert got["first_response_within_target"]["value"] == 42.86
    assert figures(week.boss, team=week.pre_sales.pk, names="csat_mean")["csat_mean"]["target"] == 4.8
    r = client.put(
        "/api/v1/metrics/targets", {"targets": {"resolution_rate": 150}}, content_type="application/json"
    )
    assert r.status_code == 400 and "targets.resolution_rate" in r.json()["fields"]
    r = client.put(
        "/api/v1/metrics/targets", {"targets": {"promoter_index": 50}}, content_type="application/json"
    )
    assert r.status_code == 400 and "targets.promoter_index" in r.json()["fields"]
    r = client.put(
        "/api/v1/metrics/targets", {"targets": {"first_response_mean": None}}, content_type="application/json"
    )
    assert r.json()["targets"]["first_response_mean"] == 60.0  # back to the handbook's default


def test_queries_stay_bounded_as_the_history_grows(week: Any):
    from kefu.analytics import metrics

    scope = metrics.Scope(START, END)
    with CaptureQueriesContext(connection) as small:
        metrics.compute(scope)
    c1 = week.c[0]
    from kefu.conversations.models import Conversation

    for _ in range(20):
        c = Conversation.objects.create(channel=c1.channel, team=c1.team, customer=c1.customer, status="resolved",
                                        resolved_at=at(2, 11), first_response_at=at(2, 10, 5), csat_score=4)  # fmt: skip
        Conversation.objects.filter(pk=c.pk).update(created_at=at(2, 10))
    with CaptureQueriesContext(connection) as large:
        figs = metrics.compute(scope)
    assert figs["volume"].value == 28
    assert len(large) == len(small)
    assert len(large) <= 45


def test_quality_rule_hit_rates(week: Any):
    r = get(week.boss, "/metrics/breakdown", name="quality_findings_rate", by="rule")
    assert r.status_code == 200
    assert [(i["key"], i["label"], i["value"], i["count"]) for i in r.json()["items"]] == [
        ("absolute_guarantee", "绝对化承诺", 50.0, 2)
    ]
    r = get(week.boss, "/metrics/breakdown", name="volume", by="rule")
    assert r.status_code == 400 and "by" in r.json()["fields"]


def test_arrivals_and_half_hours_group_every_minute_of_a_half_hour(week: Any):
    # PostgreSQL's EXTRACT(MINUTE) is numeric: minute / 30 kept 9 / 30 and 20 / 30 apart,
    # and all but one of the chats in a half hour were lost.
    from kefu.customers.models import Customer

    from .conftest import History

    h = History()
    for minute, name in ((9, "周杰"), (20, "吴敏")):
        h.conversation(
            channel=week.web, team=week.after_sales, customer=Customer.objects.create(name=name),
            created=at(2, 10, minute),
        )  # fmt: skip
    r = get(week.boss, "/metrics/arrivals", start=at(2, 9).isoformat(), end=at(2, 18).isoformat())
    assert r.json()["items"][2] == [at(2, 10).isoformat(), 3]
    r = get(
        week.boss, "/metrics/breakdown", name="volume", by="halfhour",
        start=at(2, 0).isoformat(), end=at(3, 0).isoformat(),
    )  # fmt: skip
    counts = {row["key"]: row["value"] for row in r.json()["items"]}
    assert counts["20"] == 3


def test_the_first_response_distribution_of_the_week(week: Any):
    r = get(week.boss, "/metrics/distribution", name="first_response")
    assert r.status_code == 200, r.content
    body = r.json()
    counts = {i["label"]: i["count"] for i in body["items"]}
    # Answered in 10, 20, 30, 45, 60 and 120 s; C7 never answered past the 60 s target.
    assert counts == {
        "15秒内": 1,
        "15–30秒": 2,
        "30秒–1分钟": 2,
        "1–2分钟": 1,
        "2–5分钟": 0,
        "5–10分钟": 0,
        "10–30分钟": 0,
        "30分钟–1小时": 0,
        "1小时以上": 0,
        "超时未回复": 1,
    }
    assert body["total"] == 7 and body["label"] == "首次响应时间分布"
    assert body["items"][0]["key"] == "0-15" and body["items"][-1]["key"] == "overdue"
    assert body["items"][1]["share"] == 28.57
    # An agent's own: 王芳 answered first in 30, 60 and 120 s.
    mine = {i["label"]: i["count"] for i in get(week.wang, "/metrics/distribution").json()["items"]}
    assert (mine["15–30秒"], mine["30秒–1分钟"], mine["1–2分钟"], mine["超时未回复"]) == (1, 1, 1, 0)


def test_an_unknown_distribution_is_a_400_naming_it(week: Any):
    r = get(week.boss, "/metrics/distribution", name="csat")
    assert r.status_code == 400 and "name" in r.json()["fields"]


def test_behind_is_paged_with_a_total(week: Any):
    first = get(week.boss, "/metrics/behind", name="volume", limit=3).json()
    assert (first["total"], first["count"], first["offset"], first["next_offset"]) == (8, 3, 0, 3)
    pages = [first["conversation_ids"]]
    offset = first["next_offset"]
    while offset is not None:
        page = get(week.boss, "/metrics/behind", name="volume", limit=3, offset=offset).json()
        pages.append(page["conversation_ids"])
        offset = page["next_offset"]
    ids = [pk for p in pages for pk in p]
    assert [len(p) for p in pages] == [3, 3, 2]
    assert ids == sorted((c.pk for c in week.c), reverse=True)  # newest first, each once
    bad = get(week.boss, "/metrics/behind", name="volume", limit=0)
    assert bad.status_code == 422 and "limit" in str(bad.json()["fields"])


def test_behind_is_not_capped_at_five_hundred(week: Any):
    from kefu.conversations.models import Conversation

    c = week.c[0]
    Conversation.objects.bulk_create(
        Conversation(channel_id=c.channel_id, team_id=c.team_id, customer_id=c.customer_id)
        for _ in range(520)
    )
    Conversation.objects.filter(created_at__gte=END).exclude(pk=week.late.pk).update(created_at=at(4, 16))
    r = get(week.boss, "/metrics/behind", name="volume", limit=500, offset=500).json()
    assert r["total"] == 528 and r["count"] == 28 and r["next_offset"] is None
    report = Client()
    report.force_login(week.boss)
    query = {"period": "custom", "start": "2026-11-02", "end": "2026-11-08", "metric": "volume", "page": 11}
    last = report.get("/api/v1/reports/conversations", query).json()
    assert (last["total"], last["pages"], last["page"], len(last["items"])) == (528, 11, 11, 28)
    assert last["next_page"] is None and last["previous_page"] == 10
    page = report.get("/desk/reports/conversations/", {**query, "page": 2}).content.decode()
    assert "第 51–100 个" in page and "page=3" in page and "page=1" in page
