"""Customer satisfaction (CSAT): the service rules, the staff API and the script-library average."""

from __future__ import annotations

from typing import Any

import pytest

from kefu.accounts.models import AgentStatus
from kefu.conversations.models import Conversation, Message
from kefu.conversations.services import (
    do_rate_conversation,
    do_receive_customer_message,
    do_send_agent_message,
    do_set_status,
)
from kefu.core.errors import Conflict, InvalidInput
from kefu.replies import services as replies
from kefu.webhooks.models import WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db


def _conversation(desk: Any, visitor: str = "visitor-1", *, status: str | None = "resolved") -> Conversation:
    msg, _ = do_receive_customer_message(
        channel=desk.channel, identities=[("web", visitor)], text="杯子漏水怎么办", customer_name="张三"
    )
    if status is not None:
        do_set_status(actor=desk.agent, conversation_id=msg.conversation_id, status=status)
    return Conversation.objects.get(pk=msg.conversation_id)


# --- service rules -------------------------------------------------------------------------


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


# --- staff API ----------------------------------------------------------------------------


def _post(client: Any, url: str, data: Any) -> Any:
    return client.post(url, data, content_type="application/json")


def test_staff_api_records_a_rating_from_another_channel(client, desk):
    conversation = _conversation(desk)
    client.force_login(desk.agent)
    r = _post(client, f"/api/v1/conversations/{conversation.pk}/csat", {"score": 3, "comment": "微信问卷"})
    assert r.status_code == 201
    assert r.json()["score"] == 3 and r.json()["comment"] == "微信问卷"
    assert Conversation.objects.get(pk=conversation.pk).csat_score == 3
    again = _post(client, f"/api/v1/conversations/{conversation.pk}/csat", {"score": 5})
    assert again.status_code == 409


def test_staff_api_with_a_bad_score_is_400_naming_score(client, desk):
    conversation = _conversation(desk)
    client.force_login(desk.agent)
    r = _post(client, f"/api/v1/conversations/{conversation.pk}/csat", {"score": 9})
    assert r.status_code == 400
    assert r.json()["fields"] == {"score": "1 到 5 的整数"}


def test_staff_api_refuses_an_agent_who_cannot_see_the_conversation(client, desk, make_team, make_user):
    conversation = _conversation(desk)
    outsider = make_user("lisi", teams=(make_team("售后"),), status=AgentStatus.ONLINE)
    client.force_login(outsider)
    r = _post(client, f"/api/v1/conversations/{conversation.pk}/csat", {"score": 5})
    assert r.status_code == 403
    assert Conversation.objects.get(pk=conversation.pk).csat_score is None


def test_staff_api_needs_authentication(client, desk):
    conversation = _conversation(desk)
    assert _post(client, f"/api/v1/conversations/{conversation.pk}/csat", {"score": 5}).status_code == 401


# --- script-library statistics -----------------------------------------------------------------


def _use_and_send(desk: Any, reply: Any, conversation: Conversation) -> None:
    _, rendered = replies.do_use_reply(agent=desk.agent, reply_id=reply.pk, conversation_id=conversation.pk)
    do_send_agent_message(agent=desk.agent, conversation_id=conversation.pk, text=rendered.text)


def test_reply_csat_is_the_average_rating_of_the_conversations_it_was_used_in(desk):
    reply = replies.do_create_reply(actor=desk.agent, data={"title": "稍等", "text": "请稍等，正在为您查询"})
    unused = replies.do_create_reply(actor=desk.agent, data={"title": "再见", "text": "祝您生活愉快"})
    happy, unhappy, unrated = (_conversation(desk, v, status=None) for v in ("v-a", "v-b", "v-c"))
    # Used twice in one conversation: it still counts once.
    for conversation in (happy, happy, unhappy, unrated):
        _use_and_send(desk, reply, conversation)
    for conversation, score in ((happy, 5), (unhappy, 2)):
        do_set_status(actor=desk.agent, conversation_id=conversation.pk, status="resolved")
        do_rate_conversation(conversation=conversation, score=score)
    stats = {row["id"]: row for row in replies.reply_stats(desk.agent)}
    assert stats[reply.pk]["csat"] == 3.5
    assert stats[unused.pk]["csat"] is None


def test_reply_csat_is_none_while_no_conversation_is_rated(desk):
    reply = replies.do_create_reply(actor=desk.agent, data={"title": "稍等", "text": "请稍等，正在为您查询"})
    _use_and_send(desk, reply, _conversation(desk, status=None))
    row = next(r for r in replies.reply_stats(desk.agent) if r["id"] == reply.pk)
    assert row["csat"] is None


def test_library_page_shows_the_csat_column(client, desk):
    reply = replies.do_create_reply(actor=desk.agent, data={"title": "稍等", "text": "请稍等，正在为您查询"})
    conversation = _conversation(desk, status=None)
    _use_and_send(desk, reply, conversation)
    do_set_status(actor=desk.agent, conversation_id=conversation.pk, status="resolved")
    do_rate_conversation(conversation=conversation, score=4)
    client.force_login(desk.agent)
    html = client.get("/desk/replies/").content.decode()
    assert "<th>满意度</th>" in html
    assert "4.0 / 5" in html
