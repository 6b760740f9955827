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
    monkeypatch.setattr(
        events, "_send_many", lambda sends: sent.extend((g, m) for groups, m in sends for g in groups)
    )
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


# --- routing before announcing; complaint risk; what the navigation counts -------------


def test_the_sla_clock_of_a_new_conversation_starts_with_the_routed_priority(desk, make_team):
    from datetime import timedelta

    from django.utils import timezone

    from kefu.routing.models import RoutingRule
    from kefu.sla.models import SLAPolicy

    complaints = make_team("投诉处理")
    RoutingRule.objects.create(name="投诉", keywords=["投诉"], team=complaints, priority="P1")
    SLAPolicy.objects.create(name="会话首响", applies_to="conversation", first_response_seconds=600)
    SLAPolicy.objects.create(
        name="网页 P1 会话首响",
        applies_to="conversation",
        channel_kind="web",
        priority="P1",
        first_response_seconds=30,
    )
    before = timezone.now()
    msg, _ = do_receive_customer_message(
        channel=desk.channel, identities=[("web", "p1")], text="我要投诉你们的快递员"
    )
    conv = Conversation.objects.get(pk=msg.conversation_id)
    assert (conv.team, conv.priority) == (complaints, "P1")
    assert conv.first_response_due is not None
    assert conv.first_response_due <= before + timedelta(seconds=31)


def _calm_then(desk, visitor: str, threat: str) -> tuple[Conversation, str]:
    """A conversation that starts with a calm question, then ``threat``; returns it and its first priority."""
    first, _ = do_receive_customer_message(
        channel=desk.channel, identities=[("web", visitor)], text="你好，我的快递到哪了"
    )
    before = Conversation.objects.get(pk=first.conversation_id).priority
    do_receive_customer_message(channel=desk.channel, identities=[("web", visitor)], text=threat)
    return Conversation.objects.get(pk=first.conversation_id), before


def test_a_threat_in_traditional_chinese_is_a_complaint_risk_that_raises_the_priority(desk):
    from kefu.understanding.models import EmotionAlert

    conv, before = _calm_then(desk, "tw", "再不給我處理，我要去12315投訴你們")
    assert before in ("P3", "P4")
    alert = EmotionAlert.objects.get(conversation=conv)
    assert alert.level == EmotionAlert.Level.COMPLAINT_RISK
    assert "12315" in alert.reason
    # Important (a complaint outside the shop), and urgent: the customer is angry.
    assert conv.priority == "P1"
    line = conv.messages.filter(direction="activity", meta__has_key="alert_id").get()
    assert line.is_private
    assert line.meta["priority"] == {"from": before, "to": "P1"}
    assert f"优先级由 {before} 升为 P1" in line.text


@pytest.mark.parametrize(
    "text",
    [
        "你们再不处理，我就去找消费者协会",
        "我已經請了律師，準備起訴你們",
        "我要向市场监督管理局反映你们",
        "我要去找电视台曝光你们",
    ],
)
def test_reworded_threats_raise_a_complaint_risk_of_at_least_p2(desk, text):
    from kefu.understanding.models import EmotionAlert

    conv, _ = _calm_then(desk, text, text)
    assert EmotionAlert.objects.filter(conversation=conv, level="complaint_risk").exists()
    assert conv.priority in ("P1", "P2")


def test_mild_dissatisfaction_is_an_emotion_alert_and_keeps_the_priority(desk):
    from kefu.understanding.models import EmotionAlert

    first, _ = do_receive_customer_message(
        channel=desk.channel, identities=[("web", "mild")], text="质量太差了，很失望，不会再回购了"
    )
    do_receive_customer_message(
        channel=desk.channel, identities=[("web", "mild")], text="必须给差评，太敷衍了！！！"
    )
    conv = Conversation.objects.get(pk=first.conversation_id)
    assert set(EmotionAlert.objects.filter(conversation=conv).values_list("level", flat=True)) == {"emotion"}
    assert conv.priority == "P4"


def test_a_complaint_risk_is_raised_once_per_conversation(desk):
    from kefu.understanding.models import EmotionAlert

    for text in ("再不退款我就打12315", "我说了我要打12315！！", "我也会找律师"):
        msg, _ = do_receive_customer_message(channel=desk.channel, identities=[("web", "again")], text=text)
    risks = EmotionAlert.objects.filter(conversation_id=msg.conversation_id, level="complaint_risk")
    assert risks.count() == 1


def test_a_complaint_risk_never_lowers_a_higher_priority(desk, make_team):
    from kefu.routing.models import RoutingRule

    RoutingRule.objects.create(name="加急", keywords=["加急"], team=desk.team, priority="P1")
    msg, _ = do_receive_customer_message(
        channel=desk.channel, identities=[("web", "hi")], text="加急！不处理我就去消协"
    )
    conv = Conversation.objects.get(pk=msg.conversation_id)
    assert conv.priority == "P1"
    assert not conv.messages.filter(meta__has_key="alert_id").exists()


def test_events_about_a_conversation_are_numbered_in_order_for_desks_and_webhooks(
    desk, django_capture_on_commit_callbacks
):
    WebhookEndpoint.objects.create(url="https://crm.example.com/hook")
    with django_capture_on_commit_callbacks(execute=True):
        msg, _ = do_receive_customer_message(
            channel=desk.channel, identities=[("web", "seq")], text="你好，保温杯有现货吗"
        )
        do_send_agent_message(
            agent=desk.agent, conversation_id=msg.conversation_id, text="有的，今天下单今天发"
        )
    rows = list(WebhookDelivery.objects.order_by("id").values_list("event_type", "payload"))
    numbered = [
        (event, body["seq"]) for event, body in rows if body.get("conversation_id") == msg.conversation_id
    ]
    assert [event for event, _ in numbered][:3] == [
        "conversation.created",
        "message.created",
        "conversation.assigned",
    ]
    seqs = [seq for _, seq in numbered]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert Conversation.objects.get(pk=msg.conversation_id).event_seq >= seqs[-1]


def _unread(desk, visitor: str, *texts: str) -> Conversation:
    for text in texts:
        msg, _ = do_receive_customer_message(channel=desk.channel, identities=[("web", visitor)], text=text)
    conv = Conversation.objects.get(pk=msg.conversation_id)
    Conversation.objects.filter(pk=conv.pk).update(assignee=desk.agent)
    return conv


def test_my_open_conversations_count_the_customer_messages_after_the_read_marker(desk):
    from kefu.conversations.services import my_open_conversations
    from kefu.conversations.timeline import do_mark_read

    read = _unread(desk, "r", "你好", "空气炸锅还有货吗")
    do_mark_read(conversation=read, by_customer=False, message_id=read.messages.order_by("-id")[0].pk)
    unread = _unread(desk, "u", "在吗", "发货了吗", "急用！")
    do_send_agent_message(agent=desk.agent, conversation_id=unread.pk, text="您好，在的")
    done = _unread(desk, "d", "谢谢")
    do_set_status(actor=desk.agent, conversation_id=done.pk, status="resolved")
    rows = {c.pk: c.unread for c in my_open_conversations(desk.agent)}
    assert rows == {unread.pk: 3, read.pk: 0}
    assert [c.pk for c in my_open_conversations(desk.agent)][0] == unread.pk  # unread first
    assert [c.pk for c in my_open_conversations(desk.agent, exclude_id=unread.pk)] == [read.pk]


def test_desk_counts_are_one_query_and_count_unread_queued_and_alerts(
    desk, make_user, make_team, django_assert_num_queries
):
    from kefu.accounts.models import Role, User
    from kefu.conversations.services import desk_counts

    _unread(desk, "a", "你好")
    _unread(desk, "b", "你们什么垃圾服务！！！再不处理我就去12315投诉")
    User.objects.filter(pk=desk.agent.pk).update(status="offline")
    do_receive_customer_message(channel=desk.channel, identities=[("web", "q")], text="在吗")
    Conversation.objects.filter(assignee__isnull=True).update(queued_at="2026-11-23T10:00:00+08:00")
    other = make_team("售后服务")
    stranger = make_user("laowang", teams=(other,))
    lead = make_user("laochen", role=Role.TEAM_LEAD, teams=(desk.team,))
    with django_assert_num_queries(1):
        mine = desk_counts(desk.agent)
    assert mine == {"unread_conversations": 2, "queued": 1, "open_alerts": 1}
    assert desk_counts(lead) == {"unread_conversations": 0, "queued": 1, "open_alerts": 1}
    assert desk_counts(stranger) == {"unread_conversations": 0, "queued": 0, "open_alerts": 0}
    assert desk_counts(desk.supervisor)["open_alerts"] == 1
