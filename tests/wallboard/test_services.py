"""The snapshot: what the board shows, to whom, in a bounded number of queries."""

from __future__ import annotations

import pytest

from kefu.analytics import metrics
from kefu.conversations.models import Conversation
from kefu.core.errors import PermissionDenied
from kefu.wallboard import services
from kefu.wallboard.services import BoardScope, access_wallboard, snapshot

from .conftest import customer_writes, waiting_since

pytestmark = pytest.mark.django_db


def ids(rows):
    return [r["conversation_id"] for r in rows]


def test_supervisor_sees_waiting_customers_per_team_with_the_longest_wait(floor):
    board = access_wallboard(floor.supervisor)
    teams = {q["team"]: q for q in board["queues"]["teams"]}
    assert teams["售前咨询"]["waiting"] == 2
    assert 295 <= teams["售前咨询"]["longest_wait_seconds"] <= 310
    assert teams["售后服务"]["waiting"] == 1
    assert board["queues"]["total"] == 3
    assert ids(board["queues"]["oldest"]) == [floor.size.pk, floor.refund.pk, floor.coupon.pk]
    assert board["queues"]["oldest"][0]["customer"] == "张伟"


def test_agents_by_status_with_their_load(floor):
    agents = access_wallboard(floor.supervisor)["agents"]
    assert (
        agents["counts"]["online"] == 1 and agents["counts"]["busy"] == 1 and agents["counts"]["break"] == 1
    )
    by_name = {a["name"]: a for a in agents["items"]}
    assert by_name["老周"]["load"] == 1 and by_name["老周"]["status_label"] == "忙碌"
    assert by_name["小美"]["max_concurrent"] == 3 and by_name["小美"]["status"] == "online"
    assert agents["items"][0]["status"] == "online"  # online first


def test_sla_timers_about_to_breach_and_breached(floor):
    sla = access_wallboard(floor.supervisor)["sla"]
    assert ids(sla) == [floor.refund.pk, floor.coupon.pk]  # the most overdue first
    assert sla[0]["state"] == "breached" and sla[0]["seconds_left"] < 0
    assert sla[1]["state"] == "near" and 100 <= sla[1]["seconds_left"] <= 120
    assert sla[1]["timer_label"] == "首次响应"


def test_high_emotion_and_complaint_threat(floor):
    emotions = access_wallboard(floor.supervisor)["emotions"]
    assert ids(emotions) == [floor.angry.pk]
    row = emotions[0]
    assert row["complaint_risk"] is True
    assert row["emotion_score"] >= 7 or row["complaint_risk"]
    assert row["assignee"] == "老周" and row["team"] == "售后服务"


def test_answered_timers_and_calm_customers_stay_off_the_board(floor):
    Conversation.objects.filter(pk=floor.coupon.pk).update(first_response_at=floor.coupon.created_at)
    board = access_wallboard(floor.supervisor)
    assert floor.coupon.pk not in ids(board["sla"])
    assert floor.size.pk not in ids(board["emotions"])


def test_a_lead_of_team_a_never_sees_team_b(floor):
    board = access_wallboard(floor.lead_a)
    assert [t["name"] for t in board["teams"]] == ["售前咨询"]
    assert [q["team"] for q in board["queues"]["teams"]] == ["售前咨询"]
    assert set(ids(board["queues"]["oldest"])) == {floor.size.pk, floor.coupon.pk}
    assert {a["name"] for a in board["agents"]["items"]} == {"小美", "阿杰", "陈组长"}
    assert ids(board["sla"]) == [floor.coupon.pk]
    assert board["emotions"] == []
    text = str(board)
    assert "赵强" not in text and "王芳" not in text and "老周" not in text


def test_the_lead_of_the_second_team_sees_only_theirs(floor):
    board = access_wallboard(floor.lead_b)
    assert [t["name"] for t in board["teams"]] == ["售后服务"]
    assert ids(board["emotions"]) == [floor.angry.pk]
    assert ids(board["sla"]) == [floor.refund.pk]
    assert "张伟" not in str(board)


def test_a_lead_may_not_narrow_the_board_to_another_team(floor):
    with pytest.raises(PermissionDenied):
        access_wallboard(floor.lead_a, floor.aftersale.pk)
    board = access_wallboard(floor.supervisor, floor.aftersale.pk)
    assert [t["name"] for t in board["teams"]] == ["售后服务"]


def test_agents_have_no_board(floor):
    with pytest.raises(PermissionDenied):
        access_wallboard(floor.xiaomei)


def test_the_display_board_masks_names_and_subjects(floor):
    board = snapshot(BoardScope(None, display=True))
    names = [r["customer"] for r in board["queues"]["oldest"]]
    assert "张伟" not in names and "张*" in names
    assert all("subject" not in r for r in board["queues"]["oldest"] + board["sla"] + board["emotions"])
    assert services.mask_name("13812345678") != "13812345678"


def test_the_snapshot_takes_a_fixed_number_of_queries(floor, django_assert_max_num_queries, make_user):
    scope = BoardScope(None)
    snapshot(scope)  # warm caches (content types, policies)
    with django_assert_max_num_queries(40) as few:
        snapshot(scope)
    for i in range(8):
        make_user(f"more{i}", teams=(floor.presale,), display_name=f"客服{i}")
        conv = customer_writes(floor.web_a, f"v-more-{i}", f"请问{i}号订单什么时候发货？")
        waiting_since(conv, 60 + i)
    with django_assert_max_num_queries(len(few.captured_queries)):
        board = snapshot(scope)
    assert board["queues"]["total"] == 11


def test_todays_kpi_tiles_are_read_from_the_metrics_module(floor, monkeypatch):
    asked = []

    def compute(scope, names=None):
        asked.append((scope.team_id, scope.start, tuple(names or ())))
        return {n: metrics.Figure(n, metrics.METRICS[n].label, 42.0, "%", 7) for n in names or ()}

    monkeypatch.setattr(metrics, "compute", compute)
    monkeypatch.setattr(metrics, "targets", lambda team_id=None: {"resolution_rate": 90.0})
    tiles = {t["name"]: t for t in access_wallboard(floor.supervisor)["kpis"]}
    assert asked and asked[0][0] is None  # every team: the desk's figures
    assert asked[0][1].hour == 0 and asked[0][1].minute == 0  # since local midnight
    assert tiles["resolution_rate"]["value"] == 42.0 and tiles["resolution_rate"]["target"] == 90.0
    assert tiles["resolution_rate"]["state"] == "missed"
    assert tiles["volume"]["target"] is None and tiles["volume"]["state"] == ""


def test_a_leads_tiles_cost_the_same_queries_however_many_teams_and_equal_each_teams_compute(floor):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from kefu.accounts.models import Team

    with CaptureQueriesContext(connection) as one:
        access_wallboard(floor.lead_a)
    more = [floor.aftersale, Team.objects.create(name="会员服务"), Team.objects.create(name="技术支持")]
    floor.lead_a.teams.add(*more)
    with CaptureQueriesContext(connection) as four:
        board = access_wallboard(floor.lead_a)
    assert len(four.captured_queries) == len(one.captured_queries), "four teams' tiles: one team's queries"
    tiles = {(t["team_id"], t["name"]): t for t in board["kpis"]}
    assert {team_id for team_id, _ in tiles} == {floor.presale.pk, *(t.pk for t in more)}
    today = services._today(metrics.timezone.now())
    for (team_id, name), tile in tiles.items():
        alone = metrics.compute(metrics.Scope(start=today.start, end=today.end, team_id=team_id), [name])
        assert (tile["value"], tile["count"]) == (alone[name].value, alone[name].count), (team_id, name)


def test_kpi_tiles_against_targets_per_team_of_a_lead(floor):
    floor.lead_a.teams.add(floor.aftersale)
    board = access_wallboard(floor.lead_a)
    teams = {t["team"] for t in board["kpis"]}
    assert teams == {"售前咨询", "售后服务"}  # one row of tiles per team
    volume = {t["team"]: t for t in board["kpis"] if t["name"] == "volume"}
    assert volume["售前咨询"]["value"] == 2 and volume["售后服务"]["value"] == 2
    resolution = next(t for t in board["kpis"] if t["name"] == "resolution_rate")
    assert resolution["target"] == 90.0 and resolution["better"] == "higher"
    # A lead of one team: that team's figures, untitled.
    one = access_wallboard(floor.lead_b)["kpis"]
    assert {t["team_id"] for t in one} == {floor.aftersale.pk} and {t["team"] for t in one} == {None}
