"""The desk's side: the web widget's card (/chat/rate), the team lead's 回访 page and API,
the admins' settings page and API."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kefu.accounts.models import AuditLog
from kefu.channels.visitor import issue_visitor_token
from kefu.conversations.models import Conversation
from kefu.surveys import services
from kefu.surveys.models import FollowUp, Survey, SurveySetting

pytestmark = pytest.mark.django_db


def _rate(client, shop, body):
    token = issue_visitor_token(shop.channel.pk, visitor_id="visitor-chen")
    return client.post("/chat/rate", json.dumps({"token": token, **body}), content_type="application/json")


def test_the_widget_card_answers_the_survey_with_nps_once(client, shop, resolved):
    SurveySetting.objects.create(key="desk", nps_enabled=True)
    conversation = resolved()
    page = client.get(f"/chat?channel={shop.channel.pk}").content.decode()
    assert 'data-role="nps"' in page and 'data-survey="1"' in page
    answered = _rate(client, shop, {"score": 5, "nps": 9, "comment": "回复很快"})
    assert answered.status_code == 201 and answered.json()["nps"] == 9
    survey = Survey.objects.get(conversation=conversation)
    assert (survey.csat, survey.nps, survey.comment) == (5, 9, "回复很快")
    again = _rate(client, shop, {"score": 1})
    assert again.status_code == 409 and again.json()["reason"] == "already_rated"
    assert services.do_sweep(timezone.now())["surveys_sent"] == 0


def test_the_widget_card_is_off_where_surveys_are(client, shop, resolved):
    SurveySetting.objects.create(key=f"channel-{shop.channel.pk}", channel=shop.channel, enabled=False)
    resolved()
    assert 'data-survey="0"' in client.get(f"/chat?channel={shop.channel.pk}").content.decode()
    refused = _rate(client, shop, {"score": 5})
    assert refused.status_code == 409 and refused.json()["reason"] == "disabled"


def test_the_widget_refuses_nps_where_not_asked_and_a_nul_comment(client, shop, resolved):
    resolved()
    assert 'data-role="nps"' not in client.get(f"/chat?channel={shop.channel.pk}").content.decode()
    assert _rate(client, shop, {"score": 4, "nps": 8}).json()["fields"] == {"nps": "本次调查不含此项"}
    assert "comment" in _rate(client, shop, {"score": 4, "comment": "好\x00"}).json()["fields"]
    assert "comment" in _rate(client, shop, {"score": 4, "comment": "好" * 100_000}).json()["fields"]


def _low_score(shop, resolved, identity=("email", "chen.xiaoming@example.com")):
    conversation = resolved(shop.email, identity=identity)
    services.do_sweep(timezone.now())
    services.do_answer_survey(
        survey=Survey.objects.get(conversation=conversation),
        csat=1,
        comment="等了三天，手机号13812345678一直没人回",
    )
    return conversation


def test_the_lead_sees_the_follow_up_in_the_desk_and_records_it(client, shop, resolved):
    conversation = _low_score(shop, resolved)
    follow_up = FollowUp.objects.get()
    client.force_login(shop.lead)
    page = client.get("/desk/follow-ups/").content.decode()
    assert f'data-follow-up-id="{follow_up.pk}"' in page and f"#{conversation.pk}" in page
    assert "13812345678" not in page  # the comment is masked
    assert 'href="/desk/follow-ups/"' in page  # in the navigation
    done = client.post(
        f"/desk/follow-ups/{follow_up.pk}/record/", {"outcome": "unhappy", "note": "客户要求退款，已重新打开"}
    )
    assert done.status_code == 302
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.OPEN
    assert "客户要求退款" in client.get("/desk/follow-ups/?state=done").content.decode()


def test_the_follow_up_page_is_the_leads_own_teams(client, shop, resolved):
    _low_score(shop, resolved)
    follow_up = FollowUp.objects.get()
    client.force_login(shop.other_lead)
    assert "data-follow-up-id" not in client.get("/desk/follow-ups/").content.decode()
    refused = client.post(
        f"/desk/follow-ups/{follow_up.pk}/record/", {"outcome": "satisfied", "note": "越权记录"}
    )
    assert refused.status_code == 403
    assert client.get("/api/v1/surveys/follow-ups").json() == {"follow_ups": []}
    assert client.get("/api/v1/surveys/answers").json()["answers"] == []
    client.force_login(shop.agent)
    assert client.get("/desk/follow-ups/").status_code == 403
    follow_up.refresh_from_db()
    assert follow_up.done_at is None


def test_the_follow_up_page_costs_the_same_queries_for_more_rows(client, shop, resolved):
    _low_score(shop, resolved)
    client.force_login(shop.lead)
    client.get("/desk/follow-ups/")  # the idle lock's first activity write (kefu.accounts.middleware)
    with CaptureQueriesContext(connection) as one:
        client.get("/desk/follow-ups/")
    for i in range(4):
        _low_score(shop, resolved, identity=("email", f"kehu{i}@example.com"))
    client.get("/desk/follow-ups/")
    with CaptureQueriesContext(connection) as five:
        page = client.get("/desk/follow-ups/")
    assert page.content.decode().count("data-follow-up-id") == 5
    assert len(five) == len(one)


def test_the_follow_up_api_lists_and_records(client, shop, resolved):
    _low_score(shop, resolved)
    follow_up = FollowUp.objects.get()
    client.force_login(shop.lead)
    rows = client.get("/api/v1/surveys/follow-ups").json()["follow_ups"]
    assert [r["id"] for r in rows] == [follow_up.pk] and rows[0]["score"] == 1
    assert "13812345678" not in rows[0]["comment"]
    bad = client.post(
        f"/api/v1/surveys/follow-ups/{follow_up.pk}/outcome",
        {"outcome": "ok", "note": "x"},
        content_type="application/json",
    )
    assert bad.status_code == 400 and "outcome" in bad.json()["fields"]
    done = client.post(
        f"/api/v1/surveys/follow-ups/{follow_up.pk}/outcome",
        {"outcome": "satisfied", "note": "已致电道歉，客户接受"},
        content_type="application/json",
    )
    assert done.status_code == 200 and done.json()["outcome"] == "satisfied"
    assert client.get("/api/v1/surveys/follow-ups?state=done").json()["follow_ups"][0]["done_by"] == "李组长"
    assert client.get("/api/v1/surveys/follow-ups?state=later").status_code == 400


def test_admins_set_surveys_per_channel_on_the_settings_page(client, shop):
    client.force_login(shop.admin)
    page = client.get("/desk/settings/surveys/")
    assert page.status_code == 200 and "微信客服" in page.content.decode()
    saved = client.post(
        "/desk/settings/surveys/",
        {
            "channel": str(shop.im.pk),
            "enabled": "on",
            "nps_enabled": "on",
            "expiry_days": "14",
            "low_score_threshold": "3",
            "complaint_follow_up_days": "5",
        },
    )
    assert saved.status_code == 302
    assert services.settings_for(shop.im).nps_enabled is True
    assert services.settings_for(shop.email).nps_enabled is False
    assert AuditLog.objects.filter(action=AuditLog.Action.SETTINGS_CHANGE, actor=shop.admin).exists()
    bad = client.post(
        "/desk/settings/surveys/",
        {"channel": "0", "expiry_days": "0", "low_score_threshold": "9", "complaint_follow_up_days": "3"},
    )
    assert bad.status_code == 200 and "form-error" in bad.content.decode()
    client.post("/desk/settings/surveys/", {"reset": str(shop.im.pk)})
    assert services.settings_for(shop.im).nps_enabled is False
    assert "/desk/settings/surveys/" in client.get("/desk/settings/").content.decode()
    client.force_login(shop.lead)
    assert client.get("/desk/settings/surveys/").status_code == 403


def test_the_settings_api_is_for_admins_and_names_bad_fields(client, shop):
    body = {
        "enabled": True,
        "nps_enabled": True,
        "expiry_days": 10,
        "low_score_threshold": 2,
        "complaint_follow_up_days": 3,
    }
    client.force_login(shop.supervisor)
    assert client.put("/api/v1/surveys/settings", body, content_type="application/json").status_code == 403
    client.force_login(shop.admin)
    saved = client.put(
        "/api/v1/surveys/settings", {**body, "channel_id": shop.email.pk}, content_type="application/json"
    )
    assert saved.status_code == 200 and saved.json()["expiry_days"] == 10
    channels = {c["channel_id"]: c for c in client.get("/api/v1/surveys/settings").json()["channels"]}
    assert channels[shop.email.pk]["own"] is True and channels[shop.im.pk]["own"] is False
    bad = client.put("/api/v1/surveys/settings", {**body, "expiry_days": 0}, content_type="application/json")
    assert bad.status_code == 400 and "expiry_days" in bad.json()["fields"]
    missing = client.put(
        "/api/v1/surveys/settings", {**body, "channel_id": 99999}, content_type="application/json"
    )
    assert missing.status_code == 404 and "channel_id" in missing.json()["fields"]
