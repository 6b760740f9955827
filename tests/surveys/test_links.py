"""Survey links: signed, never forged, answered once, dead after expiry — through the page a customer
opens from an email or an IM message, and the public API an app calls."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from kefu.channels.models import OutboundDelivery
from kefu.channels.outbound import outbound_payload
from kefu.conversations.models import Message
from kefu.core import signing
from kefu.surveys import services
from kefu.surveys.models import FollowUp, Survey, SurveySetting

pytestmark = pytest.mark.django_db


@pytest.fixture
def email_survey(shop, resolved):
    SurveySetting.objects.create(key="desk", nps_enabled=True)
    conversation = resolved(shop.email)
    services.do_sweep(timezone.now())
    survey = Survey.objects.get(conversation=conversation)
    message = Message.objects.get(conversation=conversation, meta__survey_id=survey.pk)
    path = message.text.split("/survey/", 1)[1].split("/", 1)[0]
    return survey, f"/survey/{path}/", path


def test_the_email_link_opens_a_form_and_takes_one_answer(client, email_survey):
    survey, url, _ = email_survey
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="kefu-survey-form"' in html and "推荐给朋友" in html
    answered = client.post(url, {"score": "2", "nps": "3", "comment": "发货太慢了，客服倒是很耐心"})
    assert answered.status_code == 302
    done = client.get(url).content.decode()
    assert 'id="kefu-survey-done"' in done and "推荐意愿 3 分" in done
    survey.refresh_from_db()
    assert (survey.csat, survey.nps, survey.comment) == (2, 3, "发货太慢了，客服倒是很耐心")
    survey.conversation.refresh_from_db()
    assert survey.conversation.csat_score == 2
    assert FollowUp.objects.filter(survey=survey, kind=FollowUp.Kind.LOW_SCORE).exists()


def test_a_reused_link_changes_nothing(client, email_survey):
    survey, url, _ = email_survey
    client.post(url, {"score": "5"})
    again = client.post(url, {"score": "1", "comment": "改成差评"})
    assert again.status_code == 200 and 'id="kefu-survey-done"' in again.content.decode()
    survey.refresh_from_db()
    assert survey.csat == 5 and survey.comment == ""
    assert not FollowUp.objects.exists()


@pytest.mark.parametrize(
    "forge",
    [
        lambda token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"),  # altered signature
        lambda token: "1" + token,  # another survey id under the old signature
        lambda token: token.split(".")[0],  # no signature at all
        lambda token: signing.sign_link(
            "not-the-key", purpose=services.LINK_PURPOSE, value=token.split(".")[0]
        ),
        lambda token: signing.sign_link("x", purpose="kefu.other", value=token.split(".")[0]),
        lambda token: "9" * 300,
    ],
    ids=["altered", "other-id", "unsigned", "wrong-key", "wrong-purpose", "huge"],
)
def test_a_forged_link_is_not_found(client, email_survey, forge):
    survey, _, token = email_survey
    forged = forge(token)
    assert client.get(f"/survey/{forged}/").status_code == 404
    assert client.post(f"/survey/{forged}/", {"score": "1"}).status_code == 404
    api = client.post(
        f"/api/v1/surveys/public/{forged}/answer", {"score": 1}, content_type="application/json"
    )
    assert api.status_code == 404 and api.json()["error"] == "not_found"
    survey.refresh_from_db()
    assert survey.answered_at is None


def test_a_link_signed_with_the_right_key_for_an_unknown_nonce_is_not_found(client, email_survey, settings):
    survey, _, _ = email_survey
    guessed = signing.sign_link(
        settings.SECRET_KEY, purpose=services.LINK_PURPOSE, value=f"{survey.pk}-guess"
    )
    assert client.get(f"/survey/{guessed}/").status_code == 404


def test_an_expired_link_shows_it_and_takes_nothing(client, email_survey):
    survey, url, _ = email_survey
    Survey.objects.filter(pk=survey.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    page = client.get(url)
    assert page.status_code == 200 and 'id="kefu-survey-expired"' in page.content.decode()
    posted = client.post(url, {"score": "4"})
    assert 'id="kefu-survey-expired"' in posted.content.decode()
    api = client.post(
        f"/api/v1/surveys/public/{url.split('/')[2]}/answer", {"score": 4}, content_type="application/json"
    )
    assert api.status_code == 409 and api.json()["reason"] == "expired"
    survey.refresh_from_db()
    assert survey.answered_at is None


def test_the_page_names_a_bad_answer(client, email_survey):
    survey, url, _ = email_survey
    for data in (
        {"comment": "忘了选星"},
        {"score": "4", "comment": "好\x00的"},
        {"score": "4", "comment": "长" * 5000},
        {"score": "五"},
    ):
        page = client.post(url, data)
        assert page.status_code == 400, data
        assert 'id="kefu-survey-error"' in page.content.decode()
    survey.refresh_from_db()
    assert survey.answered_at is None


def test_the_im_message_carries_the_link_to_the_platform(client, shop, resolved):
    conversation = resolved(shop.im)
    services.do_sweep(timezone.now())
    delivery = OutboundDelivery.objects.get(
        message__conversation=conversation, message__meta__has_key="survey_id"
    )
    payload = outbound_payload(delivery)
    assert payload["recipient"] == {"kind": "wechat", "id": "wx-oChen88"}
    text = payload["text"]
    link = text.split("/survey/", 1)[1].split("/", 1)[0]
    assert client.get(f"/survey/{link}/").status_code == 200
    assert (
        client.post(f"/survey/{link}/", {"score": "4", "comment": "微信里直接点开就能评价，方便"}).status_code
        == 302
    )
    conversation.refresh_from_db()
    assert conversation.csat_score == 4


def test_the_public_api_reads_and_answers_once(client, email_survey):
    survey, _, token = email_survey
    got = client.get(f"/api/v1/surveys/public/{token}")
    assert got.status_code == 200 and got.json()["state"] == "open" and got.json()["nps_asked"] is True
    url = f"/api/v1/surveys/public/{token}/answer"
    first = client.post(url, {"score": 5, "nps": 10, "comment": "很满意"}, content_type="application/json")
    assert first.status_code == 201 and first.json()["state"] == "answered"
    second = client.post(url, {"score": 1}, content_type="application/json")
    assert second.status_code == 409 and second.json()["reason"] == "already_rated"
    bad = client.post(url, {"score": 5, "comment": "a\x00b"}, content_type="application/json")
    assert bad.status_code in (400, 409)
    survey.refresh_from_db()
    assert (survey.csat, survey.nps) == (5, 10)


def test_the_public_api_names_a_bad_field(client, email_survey):
    _, _, token = email_survey
    url = f"/api/v1/surveys/public/{token}/answer"
    for body, field in (
        ({"score": 9}, "score"),
        ({"score": 4, "nps": -1}, "nps"),
        ({"score": 4, "comment": "好\x00"}, "comment"),
        ({"score": 4, "comment": "差" * 10_000}, "comment"),
    ):
        answer = client.post(url, body, content_type="application/json")
        assert answer.status_code == 400, body
        assert field in answer.json()["fields"], answer.json()
