"""The weekly review (复盘) of a hand-built week, through the API and the pages."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import BEST, WEEK, WORST

pytestmark = pytest.mark.django_db


@pytest.fixture
def floor(shared_floor):
    return shared_floor


def review_json(client: Any, team: Any, week: str = WEEK) -> dict[str, Any]:
    response = client.get(f"/api/v1/review?team={team.pk}&week={week}")
    assert response.status_code == 200, response.content
    return response.json()


def test_the_best_and_worst_cases_are_ranked_by_quality_and_csat(floor, client_for):
    data = review_json(client_for(floor.lead), floor.team)
    ids = [c.pk for c in floor.this_week]
    assert [c["conversation_id"] for c in data["cases"]["best"]] == [ids[n - 1] for n in BEST]
    assert [c["conversation_id"] for c in data["cases"]["worst"]] == [ids[n - 1] for n in WORST]
    top = data["cases"]["best"][0]
    assert (top["quality"], top["csat"], top["agent"]) == (98, 5, "小美")
    assert top["url"] == f"/desk/c/{ids[0]}/" and top["quality_url"] == f"/desk/quality/c/{ids[0]}/"
    assert data["cases"]["worst"][0]["csat_comment"] == "推来推去，我要投诉到12315"
    # The other team's perfect conversations are not this team's cases.
    other = {c.pk for c in floor.other}
    assert not other & {c["conversation_id"] for c in data["cases"]["best"] + data["cases"]["worst"]}


def test_the_figures_compare_the_week_with_the_one_before(floor, client_for):
    data = review_json(client_for(floor.lead), floor.team)
    assert data["week"] == WEEK and data["previous_week"] == "2026-W45"
    assert data["week_label"] == "2026年第46周（11月9日–11月15日）"
    figures = {f["name"]: f for f in data["figures"]}
    volume = figures["volume"]
    assert (volume["value"], volume["previous"], volume["change"]) == (12, 8, 4)
    assert volume["change_pct"] == 50.0 and volume["change_text"] == "+4"
    for figure in data["figures"]:  # every figure says what it is and how it moved, or that it has no data
        assert figure["label"] and figure["value_text"]
        if figure["target"] is not None and figure["value"] is not None:
            assert figure["target_met"] in (True, False)


def test_intents_show_the_top_and_what_moved(floor, client_for):
    intents = review_json(client_for(floor.lead), floor.team)["intents"]
    top = {r["label"]: (r["count"], r["previous"]) for r in intents["top"]}
    assert top["物流查询"] == (5, 5) and top["退换货"] == (3, 3) and top["质量问题"] == (3, 0)
    assert intents["moved"][0] == {
        "intent": "质量问题",
        "label": "质量问题",
        "count": 3,
        "previous": 0,
        "change": 3,
    }


def test_complaints_causes_and_missed_promises_are_the_teams_own(floor, client_for):
    data = review_json(client_for(floor.lead), floor.team)
    complaints = data["complaints"]
    assert [c["ticket"] for c in complaints["items"]] == ["TS202611120002", "TS202611120001"]
    assert {c["cause"]: c["count"] for c in complaints["causes"]} == {"质量问题": 1, "物流查询": 1}
    (promise,) = data["missed_promises"]
    assert promise["description"] == "今天18:00前回电告知退款进度" and promise["owner"] == "阿强"
    assert promise["url"] == f"/desk/c/{floor.this_week[8].pk}/"


def test_replies_edited_by_hand_and_low_rated_articles_are_to_update(floor, client_for):
    data = review_json(client_for(floor.lead), floor.team)
    flagged = {r["title"]: r for r in data["replies"]["flagged"]}
    assert list(flagged) == ["物流延迟致歉"]
    assert flagged["物流延迟致歉"]["uses"] == 3
    assert flagged["物流延迟致歉"]["reasons"] == [
        "常被手改后发送（平均相似度 50%）",
        "使用后满意度低（2.67 分）",
    ]
    assert "售前推荐" not in {r["title"] for r in data["replies"]["unused"]}  # the other team's script
    (article,) = data["articles"]["flagged"]
    assert article["title"] == "七天无理由退货规则" and (article["helpful_no"], article["helpful_yes"]) == (
        3,
        1,
    )
    assert article["comments"] == ["没说清楚运费谁出"] * 3


def test_the_page_and_its_print_view(floor, client_for):
    client = client_for(floor.lead)
    page = client.get(f"/desk/review/?team={floor.team.pk}&week={WEEK}")
    assert page.status_code == 200
    html = page.content.decode()
    assert "周复盘 · 售后服务" in html and 'class="nav"' in html
    assert f'href="/desk/c/{floor.this_week[0].pk}/"' in html
    printed = client.get(f"/desk/review/print/?team={floor.team.pk}&week={WEEK}")
    assert printed.status_code == 200
    text = printed.content.decode()
    assert "@media print" in text and "@page" in text
    assert 'class="nav"' not in text and "kefu-status" not in text  # no navigation, no desk scripts
    assert "做得好的 5 个会话" in text and "推来推去" in text


def test_a_lead_reads_only_their_own_teams_review(floor, client_for):
    client = client_for(floor.other_lead)
    response = client.get(f"/api/v1/review?team={floor.team.pk}&week={WEEK}")
    assert response.status_code == 403
    assert client.get(f"/desk/review/?team={floor.team.pk}&week={WEEK}").status_code == 403
    assert client.get(f"/desk/review/print/?team={floor.team.pk}&week={WEEK}").status_code == 403
    # Without a team, a lead gets their own.
    assert client.get(f"/api/v1/review?week={WEEK}").json()["team"]["name"] == "售前咨询"


def test_agents_have_no_review_and_supervisors_read_any_team(floor, client_for):
    assert client_for(floor.xiaomei).get(f"/api/v1/review?team={floor.team.pk}").status_code == 403
    assert client_for(floor.xiaomei).get("/desk/review/").status_code == 403
    data = review_json(client_for(floor.supervisor), floor.other_team)
    assert [c["conversation_id"] for c in data["cases"]["best"]] == [c.pk for c in floor.other]


@pytest.mark.parametrize("week", ["2026-W60", "上周", "2026-13-01"])
def test_a_bad_week_is_a_400_naming_the_field(floor, client_for, week):
    response = client_for(floor.lead).get(f"/api/v1/review?team={floor.team.pk}&week={week}")
    assert response.status_code == 400
    assert "week" in response.json()["fields"]


def test_an_unknown_team_is_a_404(floor, client_for):
    assert client_for(floor.supervisor).get("/api/v1/review?team=999999").status_code == 404


def test_a_date_names_its_week(floor, client_for):
    assert review_json(client_for(floor.lead), floor.team, week="2026-11-12")["week"] == WEEK
