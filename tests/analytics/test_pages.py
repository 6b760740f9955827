"""我的数据 and the targets settings page."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

WEEK = "?from=2026-11-02&to=2026-11-08"


def login(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_my_figures_shows_mine_beside_my_teams_and_the_targets(week: Any):
    r = login(week.wang).get(f"/desk/me/figures/{WEEK}")
    assert r.status_code == 200
    page = r.content.decode()
    assert 'href="/desk/me/figures/"' in page  # reachable from the desk navigation
    rows = {row["name"]: row for row in r.context["rows"]}
    assert rows["volume"]["mine"] == 3
    assert rows["volume"]["team"] == 2  # 6 conversations over 售后服务's 3 members
    assert rows["first_response_mean"]["mine"] == 70.0
    assert rows["first_response_mean"]["target"] == 60.0
    assert rows["first_response_mean"]["meets"] is False
    assert rows["csat_mean"]["mine"] == 4.0
    assert "70 秒" in page
    assert "王芳很耐心，谢谢" in page and "回复太慢了" in page
    assert "绝对化承诺" in page


def test_my_figures_queries_do_not_grow_with_the_lists(week: Any):
    client = login(week.wang)
    client.get(f"/desk/me/figures/{WEEK}")
    with CaptureQueriesContext(connection) as queries:
        r = client.get(f"/desk/me/figures/{WEEK}")
    assert r.status_code == 200
    assert len(queries) < 120


def test_a_bad_date_is_a_readable_message(week: Any):
    r = login(week.wang).get("/desk/me/figures/?from=昨天&to=2026-11-08")
    assert r.status_code == 200
    assert "日期格式应为" in r.content.decode()


def test_only_admins_open_the_targets_page(week: Any):
    assert login(week.boss).get("/desk/settings/targets/").status_code == 403
    client = login(week.admin)
    assert client.get("/desk/settings/targets/").status_code == 200
    hub = client.get("/desk/settings/").content.decode()
    assert "/desk/settings/targets/" in hub
    assert "/desk/settings/targets/" not in login(week.boss).get("/desk/settings/").content.decode()


def test_an_admin_sets_desk_and_team_targets_on_the_page(week: Any):
    from kefu.analytics import metrics

    client = login(week.admin)
    r = client.post("/desk/settings/targets/", {"t_first_response_mean": "45", "t_csat_mean": "4.6"})
    assert r.status_code == 302
    assert metrics.targets()["first_response_mean"] == 45
    r = client.post("/desk/settings/targets/", {"team": str(week.pre_sales.pk), "t_resolution_rate": "95"})
    assert r.status_code == 302
    assert metrics.targets(week.pre_sales.pk)["resolution_rate"] == 95
    assert metrics.targets(week.pre_sales.pk)["csat_mean"] == 4.6
    assert metrics.targets()["resolution_rate"] == 90
    r = client.post("/desk/settings/targets/", {"t_resolution_rate": "一百"})
    assert r.status_code == 200
    assert "目标值应为数字" in r.content.decode()
    r = client.post("/desk/settings/targets/", {"t_resolution_rate": "120"})
    assert "目标值超出范围" in r.content.decode()
