"""Conversations (kefu.conversations.services): messages in and out, first responder, snooze, CSAT."""

from __future__ import annotations

from typing import Any

import pytest

from kefu.conversations.models import Conversation, Message
from kefu.conversations.services import (
    do_rate_conversation,
    do_receive_customer_message,
    do_send_agent_message,
    do_set_status,
)
from kefu.core.errors import Conflict, InvalidInput
from kefu.webhooks.models import WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db


def test_customer_message_opens_conversation_and_assigns_online_agent(
    desk, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        msg, created = do_receive_customer_message(
            channel=desk.channel,
            identities=[("web", "visitor-abc")],
            text="你好，我的快递三天没有物流更新了",
            client_msg_id="c1",
        )
    assert created
    conv = Conversation.objects.get(pk=msg.conversation_id)
    assert conv.assignee == desk.agent
    assert conv.team == desk.team


def test_resent_client_message_is_stored_once(desk):
    first, _ = do_receive_customer_message(
        channel=desk.channel, identities=[("web", "v1")], text="在吗？", client_msg_id="same"
    )
    again, created = do_receive_customer_message(
        channel=desk.channel, identities=[("web", "v1")], text="在吗？", client_msg_id="same"
    )
    assert not created
    assert again.pk == first.pk
    assert Message.objects.filter(direction="incoming").count() == 1


def test_empty_message_is_refused_naming_the_field(desk):
    with pytest.raises(InvalidInput) as exc:
        do_receive_customer_message(channel=desk.channel, identities=[("web", "v2")], text="   ")
    assert "text" in exc.value.fields


def test_first_agent_to_answer_becomes_first_responder(desk):
    msg, _ = do_receive_customer_message(channel=desk.channel, identities=[("web", "v3")], text="杯子漏水")
    reply, _ = do_send_agent_message(agent=desk.agent, conversation_id=msg.conversation_id, text="非常抱歉")
    conv = Conversation.objects.get(pk=msg.conversation_id)
    assert conv.first_responder == desk.agent
    assert conv.first_response_at is not None


def test_snoozed_conversation_reopens_when_its_time_comes(desk):
    from datetime import timedelta

    from django.utils import timezone

    from kefu.conversations.services import do_set_status, do_wake_snoozed

    msg, _ = do_receive_customer_message(
        channel=desk.channel, identities=[("web", "snz")], text="明天再联系我"
    )
    until = timezone.now() + timedelta(hours=1)
    do_set_status(
        actor=desk.supervisor, conversation_id=msg.conversation_id, status="snoozed", snoozed_until=until
    )
    assert do_wake_snoozed(timezone.now()) == 0
    assert do_wake_snoozed(until + timedelta(seconds=1)) == 1
    conv = Conversation.objects.get(pk=msg.conversation_id)
    assert conv.status == "open" and conv.snoozed_until is None
    assert do_wake_snoozed(until + timedelta(seconds=2)) == 0


def _conversation(desk: Any, visitor: str = "visitor-1", *, status: str | None = "resolved") -> Conversation:
    msg, _ = do_receive_customer_message(
        channel=desk.channel, identities=[("web", visitor)], text="杯子漏水怎么办", customer_name="张三"
    )
    if status is not None:
        do_set_status(actor=desk.agent, conversation_id=msg.conversation_id, status=status)
    return Conversation.objects.get(pk=msg.conversation_id)


def test_rating_a_resolved_conversation_stores_it_with_a_private_activity_line(desk):
    conversation = _conversation(desk)
    rated = do_rate_conversation(conversation=conversation, score=4, comment="  回复很快  ")
    stored = Conversation.objects.get(pk=conversation.pk)
    assert (stored.csat_score, stored.csat_comment) == (4, "回复很快")
    assert stored.csat_at is not None and rated.csat_score == 4
    line = Message.objects.filter(conversation=conversation, meta__csat_score=4).get()
    assert line.text == "客户评价：★★★★☆ 回复很快"
    assert line.is_private


def test_a_closed_conversation_can_be_rated(desk):
    conversation = _conversation(desk, status="closed")
    assert do_rate_conversation(conversation=conversation, score=5).csat_score == 5


@pytest.mark.parametrize("status", [None, "pending", "snoozed"])
def test_a_conversation_that_has_not_ended_cannot_be_rated(desk, status):
    conversation = _conversation(desk, status=None)
    if status == "pending":
        do_set_status(actor=desk.agent, conversation_id=conversation.pk, status="pending")
    elif status == "snoozed":
        Conversation.objects.filter(pk=conversation.pk).update(status="snoozed")
    with pytest.raises(Conflict):
        do_rate_conversation(conversation=conversation, score=5)
    assert Conversation.objects.get(pk=conversation.pk).csat_score is None


def test_a_second_rating_is_a_conflict_and_keeps_the_first(desk):
    conversation = _conversation(desk)
    do_rate_conversation(conversation=conversation, score=2, comment="等太久")
    with pytest.raises(Conflict) as exc:
        do_rate_conversation(conversation=conversation, score=5)
    assert exc.value.extra == {"reason": "already_rated"}
    assert Conversation.objects.get(pk=conversation.pk).csat_score == 2


@pytest.mark.parametrize("score", [0, 6, -1, "5", 4.5, True, None])
def test_score_must_be_an_integer_from_1_to_5(desk, score):
    conversation = _conversation(desk)
    with pytest.raises(InvalidInput) as exc:
        do_rate_conversation(conversation=conversation, score=score)
    assert list(exc.value.fields) == ["score"]
    assert Conversation.objects.get(pk=conversation.pk).csat_score is None


@pytest.mark.parametrize("comment", ["长" * 501, 42])
def test_comment_must_be_text_of_at_most_500_characters(desk, comment):
    with pytest.raises(InvalidInput) as exc:
        do_rate_conversation(conversation=_conversation(desk), score=3, comment=comment)
    assert list(exc.value.fields) == ["comment"]


def test_a_comment_of_500_characters_is_kept(desk):
    rated = do_rate_conversation(conversation=_conversation(desk), score=3, comment="好" * 500)
    assert len(rated.csat_comment) == 500


def test_rating_is_published_to_the_desk_and_webhooks_after_commit(
    desk, monkeypatch, django_capture_on_commit_callbacks
):
    import kefu.core.events as events

    endpoint = WebhookEndpoint.objects.create(url="https://hooks.example.com/kefu")
    sent: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(events, "_send", lambda groups, message: sent.extend((g, message) for g in groups))
    conversation = _conversation(desk)
    with django_capture_on_commit_callbacks(execute=True):
        do_rate_conversation(conversation=conversation, score=5, comment="满意")
    desk_frames = [
        m["payload"] for g, m in sent if g == "desk.all" and m["payload"]["event"] == "conversation.rated"
    ]
    assert len(desk_frames) == 1
    assert desk_frames[0]["data"]["csat"]["score"] == 5
    assert desk_frames[0]["data"]["conversation"]["csat_score"] == 5
    delivery = WebhookDelivery.objects.get(endpoint=endpoint, event_type="conversation.rated")
    assert delivery.payload["data"]["csat"]["comment"] == "满意"
