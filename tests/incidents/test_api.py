"""Incidents through the API and the pages: proposal, decisions, the pinned wording, follow-up, review."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from kefu.conversations.models import Message
from kefu.incidents.models import Incident, IncidentLink
from kefu.incidents.services import do_detect_incidents

from .conftest import (
    LEAKING_CUP,
    ORDER_QUESTIONS,
    OTHER_QUESTIONS,
    RED_PACKET_NOT_DEDUCTED,
    RED_PACKET_UNUSABLE,
)

pytestmark = pytest.mark.django_db

STATEMENT = "因密封圈批次问题，部分保温杯存在漏水情况。我们将在12月5日前为您免费换新，并补偿20元优惠券。"


def _post(client: Any, url: str, body: dict[str, Any], method: str = "post") -> Any:
    return getattr(client, method)(url, data=json.dumps(body), content_type="application/json")


@pytest.fixture
def surge(shop: Any, write_in: Any) -> list[Any]:
    for text in OTHER_QUESTIONS:
        write_in(text)
    return [write_in(text) for text in LEAKING_CUP[:10]]


def test_ten_similar_complaints_are_proposed_once_with_their_evidence(shop, surge):
    assert do_detect_incidents(force=True) >= 1
    incident = Incident.objects.get()
    assert incident.status == Incident.Status.PROPOSED
    assert incident.team_id == shop.team.pk
    assert incident.evidence["count"] == 10
    assert incident.evidence["customers"] == 10
    assert incident.evidence["normal_per_hour"] == 0
    assert len(incident.evidence["samples"]) == 5
    assert set(IncidentLink.objects.values_list("conversation_id", flat=True)) == {c.pk for c in surge}
    do_detect_incidents(force=True)
    assert Incident.objects.count() == 1


def test_a_normal_mix_of_questions_proposes_nothing(shop, write_in):
    for text in OTHER_QUESTIONS * 2:
        write_in(text)
    do_detect_incidents(force=True)
    assert not Incident.objects.exists()


def test_a_surge_told_in_two_wordings_sharing_one_rare_term_is_proposed_as_one_incident(
    client, shop, write_in
):
    for text in OTHER_QUESTIONS:
        write_in(text)
    surge = [
        write_in(text)
        for pair in zip(RED_PACKET_UNUSABLE, RED_PACKET_NOT_DEDUCTED, strict=True)
        for text in pair
    ]
    do_detect_incidents(force=True)
    incident = Incident.objects.get()
    assert "红包" in incident.title
    assert set(IncidentLink.objects.values_list("conversation_id", flat=True)) == {c.pk for c in surge}
    client.force_login(shop.lead)
    [shown] = client.get("/api/v1/incidents").json()
    evidence = shown["evidence"]
    assert evidence["term"] == "红包"
    assert evidence["count"] == 10 and evidence["customers"] == 10
    assert evidence["normal_per_hour"] == 0
    samples = {s["text"] for s in evidence["samples"]}
    # The supervisor sees both wordings, not five of the first.
    assert samples & set(RED_PACKET_UNUSABLE) and samples & set(RED_PACKET_NOT_DEDUCTED)

    page = client.get(f"/desk/incidents/{incident.pk}/").content.decode()
    assert "都提到「<strong>红包</strong>」" in page
    # The owner list: the incident team's people and supervisors, not the other team's.
    owners = re.findall(
        r'<option value="(\d+)"', page.split('name="owner_id"', 1)[1].split("</select>", 1)[0]
    )
    assert {int(o) for o in owners} == {shop.agent.pk, shop.lead.pk, shop.supervisor.pk}

    later = write_in("红包抵扣不了，付款时一分没减")
    do_detect_incidents(force=True)
    assert Incident.objects.count() == 1
    assert IncidentLink.objects.filter(incident=incident, conversation=later).exists()


def test_everyday_questions_sharing_a_common_word_are_not_an_incident(shop, write_in):
    """「订单」 is in ten questions of the window, and in two or three of this hour every day."""
    now = timezone.localtime().replace(hour=14, minute=40, second=0, microsecond=0)
    for i in range(15):
        write_in(ORDER_QUESTIONS[i % 10], at=now - timedelta(days=1 + i % 7, minutes=3 * (i % 5) + 2))
    for i, text in enumerate(ORDER_QUESTIONS):
        write_in(text, at=now - timedelta(minutes=i))
    do_detect_incidents(now, force=True)
    assert not Incident.objects.exists()


def test_a_second_run_inside_the_interval_is_skipped_and_a_later_one_runs(shop, surge):
    now = timezone.now()
    assert do_detect_incidents(now) >= 1
    assert do_detect_incidents(now) == 0


def test_the_other_team_neither_sees_nor_decides_the_incident(client, shop, surge):
    do_detect_incidents(force=True)
    incident = Incident.objects.get()
    client.force_login(shop.other_lead)
    assert client.get("/api/v1/incidents").json() == []
    assert client.get(f"/api/v1/incidents/{incident.pk}").status_code == 403
    assert _post(client, f"/api/v1/incidents/{incident.pk}/confirm", {}).status_code == 403
    assert client.get(f"/desk/incidents/{incident.pk}/").status_code == 403
    client.force_login(shop.agent)
    assert [i["id"] for i in client.get("/api/v1/incidents").json()] == [incident.pk]
    assert _post(client, f"/api/v1/incidents/{incident.pk}/confirm", {}).status_code == 403


def test_confirming_pins_the_statement_tags_new_conversations_and_offers_it_first(
    client, shop, surge, write_in
):
    do_detect_incidents(force=True)
    incident = Incident.objects.get()
    client.force_login(shop.lead)
    r = _post(client, f"/api/v1/incidents/{incident.pk}/confirm", {"statement": STATEMENT})
    assert r.status_code == 200, r.content
    assert r.json()["status"] == "open" and r.json()["owner"] == "李组长"
    later = write_in("我買的保溫杯也漏水了，蓋子那裡一直滴")
    do_detect_incidents(force=True)
    assert IncidentLink.objects.filter(incident=incident, conversation=later).exists()

    client.force_login(shop.agent)
    pinned = client.get(f"/api/v1/conversations/{later.pk}/incidents").json()
    assert [p["statement"] for p in pinned] == [STATEMENT]
    page = client.get(f"/desk/c/{later.pk}/").content.decode()
    assert 'id="kefu-incident-pinned"' in page and "12月5日前为您免费换新" in page
    picks = client.get(f"/api/v1/replies?conversation_id={later.pk}&q=").json()
    assert picks[0]["kind"] == "incident" and picks[0]["text"] == STATEMENT
    unrelated = write_in("请问羽绒服什么时候发货")
    assert client.get(f"/api/v1/conversations/{unrelated.pk}/incidents").json() == []


def test_the_widget_and_help_centre_show_the_notice_while_open(client, shop, surge):
    do_detect_incidents(force=True)
    incident = Incident.objects.get()
    assert "kefu-incident-notice" not in client.get("/help/").content.decode()
    client.force_login(shop.supervisor)
    _post(client, f"/api/v1/incidents/{incident.pk}/confirm", {"statement": STATEMENT})
    client.logout()
    assert STATEMENT in client.get("/help/").content.decode()
    assert STATEMENT in client.get("/chat").content.decode()
    client.force_login(shop.supervisor)
    _post(client, f"/api/v1/incidents/{incident.pk}/resolve", {})
    client.logout()
    assert "kefu-incident-notice" not in client.get("/help/").content.decode()


def test_resolving_sends_one_follow_up_per_customer_and_the_review_exports(client, shop, surge):
    do_detect_incidents(force=True)
    incident = Incident.objects.get()
    client.force_login(shop.supervisor)
    _post(client, f"/api/v1/incidents/{incident.pk}/confirm", {"statement": STATEMENT})
    follow_up = "您好，漏水的保温杯已为您安排换新，新杯子已发出，给您添麻烦了。"
    r = _post(client, f"/api/v1/incidents/{incident.pk}/resolve", {"follow_up_text": follow_up})
    assert r.status_code == 200 and r.json()["follow_ups_sent"] == 10
    assert Message.objects.filter(text=follow_up, direction="outgoing").count() == 10
    assert (
        _post(client, f"/api/v1/incidents/{incident.pk}/resolve", {"follow_up_text": follow_up}).status_code
        == 409
    )
    review = client.get(f"/api/v1/incidents/{incident.pk}/review").json()
    assert review["incident"]["conversations"] == 10
    assert sum(h["conversations"] for h in review["per_hour"]) == 10
    assert [e["kind"] for e in review["events"]][:3] == ["proposed", "confirmed", "statement"]
    csv = client.get(f"/api/v1/incidents/{incident.pk}/review.csv")
    assert csv["Content-Type"].startswith("text/csv")
    assert "对外口径" in csv.content.decode("utf-8-sig")
    page = client.get(f"/desk/incidents/{incident.pk}/review/").content.decode()
    assert "事件复盘" in page and "导出 CSV" in page


def test_dismissed_proposals_are_not_proposed_again_and_merge_moves_conversations(
    client, shop, surge, write_in
):
    do_detect_incidents(force=True)
    first = Incident.objects.get()
    client.force_login(shop.lead)
    assert (
        _post(client, f"/api/v1/incidents/{first.pk}/dismiss", {"reason": "正常波动"}).json()["status"]
        == "dismissed"
    )
    do_detect_incidents(force=True)
    assert Incident.objects.count() == 1
    r = _post(
        client, "/api/v1/incidents", {"title": "保温杯漏水", "team_id": shop.team.pk, "keywords": ["漏水"]}
    )
    assert r.status_code == 201, r.content
    manual = r.json()
    assert manual["status"] == "open" and manual["conversations"] == 10
    assert _post(client, f"/api/v1/incidents/{first.pk}/merge", {"into_id": manual["id"]}).status_code == 409


def test_bad_input_names_the_field(client, shop):
    client.force_login(shop.lead)
    r = _post(client, "/api/v1/incidents", {"title": "", "team_id": shop.team.pk, "keywords": ["漏水"]})
    assert r.status_code == 400 and "title" in r.json()["fields"]
    r = _post(client, "/api/v1/incidents", {"title": "仓库停发", "team_id": shop.team.pk})
    assert r.status_code == 400 and "keywords" in r.json()["fields"]
    r = _post(
        client,
        "/api/v1/incidents",
        {"title": "仓库\x00停发", "team_id": shop.team.pk, "keywords": ["华东仓"]},
    )
    assert r.status_code == 400
    r = _post(
        client, "/api/v1/incidents", {"title": "x" * 5000, "team_id": shop.team.pk, "keywords": ["华东仓"]}
    )
    assert r.status_code == 400 and "title" in r.json()["fields"]
    assert (
        _post(
            client, "/api/v1/incidents", {"title": "海外", "team_id": shop.other.pk, "keywords": ["a"]}
        ).status_code
        == 403
    )
    assert client.get("/api/v1/incidents?status=nope").status_code == 400
    assert client.get("/api/v1/incidents/999999").status_code == 404


def test_the_list_page_and_the_form_work_and_its_queries_do_not_grow(
    client, shop, django_assert_max_num_queries
):
    client.force_login(shop.supervisor)
    r = client.post(
        "/desk/incidents/",
        {
            "title": "华东仓暴雨停发",
            "team_id": str(shop.team.pk),
            "routes": "华东仓(嘉兴)",
            "statement": "受暴雨影响，华东仓12月3日至5日暂停发货。",
        },
    )
    assert r.status_code == 302
    for n in range(5):
        client.post(
            "/desk/incidents/", {"title": f"事件{n}", "team_id": str(shop.team.pk), "keywords": f"关键词{n}"}
        )
    with django_assert_max_num_queries(20):
        page = client.get("/desk/incidents/")
    assert page.status_code == 200 and "华东仓暴雨停发" in page.content.decode()
    bad = client.post("/desk/incidents/", {"title": "", "team_id": str(shop.team.pk), "keywords": "x"})
    assert bad.status_code == 400 and "标题" in bad.content.decode()


def test_a_reply_contradicting_the_statement_is_flagged_and_one_following_it_is_not(client, shop, surge):
    do_detect_incidents(force=True)
    incident = Incident.objects.get()
    client.force_login(shop.supervisor)
    _post(client, f"/api/v1/incidents/{incident.pk}/confirm", {"statement": STATEMENT})
    conversation = surge[0]
    client.force_login(shop.agent)
    url = f"/api/v1/conversations/{conversation.pk}/reply-check"

    def flagged(text: str) -> list[str]:
        r = _post(client, url, {"text": text})
        assert r.status_code == 200, r.content
        return [f["excerpt"] for f in r.json()["findings"] if f["rule"] == "incident_statement"]

    assert flagged("非常抱歉给您添麻烦了，我们会在12月5日前为您免费换新，并补偿20元优惠券。") == []
    assert flagged("抱歉，明天就给您发新的，另外补偿50元。") == ["明天", "50元"]
    assert flagged("非常抱歉，12月10日前给您全额退款。") == ["12月10日", "全额退款"]
    # Traditional Chinese is read the same way.
    assert flagged("非常抱歉，12月10日前給您全額退款。") == ["12月10日", "全額退款"]
