"""The customer's rating from the chat page: ``POST /chat/rate`` and the widget on the page."""

from __future__ import annotations

from typing import Any

import pytest

from kefu.channels.visitor import issue_visitor_token, read_visitor_token
from kefu.conversations.models import Conversation
from kefu.conversations.services import do_receive_customer_message, do_set_status

pytestmark = pytest.mark.django_db


def _resolved_conversation_of(desk: Any, token: str, *, status: str | None = "resolved") -> Conversation:
    visitor = read_visitor_token(token)
    msg, _ = do_receive_customer_message(channel=desk.channel, identities=visitor.identities, text="杯子漏水")
    if status is not None:
        do_set_status(actor=desk.agent, conversation_id=msg.conversation_id, status=status)
    return Conversation.objects.get(pk=msg.conversation_id)


def _rate(client: Any, body: Any) -> Any:
    return client.post("/chat/rate", body, content_type="application/json")


def test_visitor_rates_their_resolved_conversation(client, desk):
    token = issue_visitor_token(desk.channel.pk)
    conversation = _resolved_conversation_of(desk, token)
    r = _rate(client, {"token": token, "score": 5, "comment": "很耐心"})
    assert r.status_code == 201
    assert r.json() == {"rated": True, "score": 5, "comment": "很耐心"}
    stored = Conversation.objects.get(pk=conversation.pk)
    assert (stored.csat_score, stored.csat_comment) == (5, "很耐心")


def test_another_visitors_token_cannot_rate_the_conversation(client, desk):
    owner = issue_visitor_token(desk.channel.pk)
    conversation = _resolved_conversation_of(desk, owner)
    stranger = issue_visitor_token(desk.channel.pk)
    assert _rate(client, {"token": stranger, "score": 1}).status_code == 404
    # Naming the conversation does not help: it is not theirs.
    r = _rate(client, {"token": stranger, "score": 1, "conversation_id": conversation.pk})
    assert r.status_code == 404
    assert r.json()["fields"] == {"conversation_id": "不存在"}
    assert Conversation.objects.get(pk=conversation.pk).csat_score is None


def test_token_of_another_channel_does_not_reach_the_conversation(client, desk, make_channel):
    token = issue_visitor_token(desk.channel.pk)
    conversation = _resolved_conversation_of(desk, token)
    other = make_channel("web", team=desk.team)
    same_visitor_elsewhere = issue_visitor_token(other.pk, visitor_id=read_visitor_token(token).visitor_id)
    assert _rate(client, {"token": same_visitor_elsewhere, "score": 4}).status_code == 404
    assert Conversation.objects.get(pk=conversation.pk).csat_score is None


@pytest.mark.parametrize("score", [0, 6, "5", 3.5, None, True])
def test_bad_score_is_400_naming_score(client, desk, score):
    token = issue_visitor_token(desk.channel.pk)
    conversation = _resolved_conversation_of(desk, token)
    r = _rate(client, {"token": token, "score": score})
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_input"
    assert list(r.json()["fields"]) == ["score"]
    assert Conversation.objects.get(pk=conversation.pk).csat_score is None


def test_too_long_comment_is_400_naming_comment(client, desk):
    token = issue_visitor_token(desk.channel.pk)
    _resolved_conversation_of(desk, token)
    r = _rate(client, {"token": token, "score": 4, "comment": "长" * 501})
    assert r.status_code == 400
    assert list(r.json()["fields"]) == ["comment"]


def test_an_open_conversation_has_nothing_to_rate(client, desk):
    token = issue_visitor_token(desk.channel.pk)
    _resolved_conversation_of(desk, token, status=None)
    assert _rate(client, {"token": token, "score": 5}).status_code == 404


def test_rating_twice_is_409_already_rated(client, desk):
    token = issue_visitor_token(desk.channel.pk)
    _resolved_conversation_of(desk, token)
    assert _rate(client, {"token": token, "score": 5}).status_code == 201
    again = _rate(client, {"token": token, "score": 1})
    assert again.status_code == 409
    assert again.json()["reason"] == "already_rated"


def test_forged_token_is_401(client, desk):
    token = issue_visitor_token(desk.channel.pk)
    _resolved_conversation_of(desk, token)
    r = _rate(client, {"token": token[:-2] + "zz", "score": 5})
    assert r.status_code == 401
    assert r.json()["error"] == "unauthorized"


@pytest.mark.parametrize("body", ["{not json", "[1, 2]"])
def test_body_that_is_not_a_json_object_is_400(client, desk, body):
    r = client.post("/chat/rate", body, content_type="application/json")
    assert r.status_code == 400
    assert list(r.json()["fields"]) == ["body"]


def test_rate_needs_post_and_no_csrf_token(desk):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    token = issue_visitor_token(desk.channel.pk)
    _resolved_conversation_of(desk, token)
    assert strict.get("/chat/rate").status_code == 405
    assert _rate(strict, {"token": token, "score": 5}).status_code == 201


def test_chat_page_carries_the_rating_widget(client, desk):
    html = client.get("/chat").content.decode()
    assert 'data-rate-url="/chat/rate"' in html
    assert "请为本次服务评分" in html
    assert "感谢您的评价！" in html
    assert html.count('data-score="') == 5
