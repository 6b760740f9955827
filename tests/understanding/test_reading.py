"""Reading each customer message (kefu.understanding.reading): the emotion badge, alerts, intent routing."""

from __future__ import annotations

import pytest

from kefu.conversations.models import Conversation
from kefu.conversations.services import do_receive_customer_message, do_send_agent_message
from kefu.understanding.models import EmotionAlert

pytestmark = pytest.mark.django_db


def test_angry_message_sets_the_badge_and_alerts(desk, django_capture_on_commit_callbacks):
    msg, _ = do_receive_customer_message(
        channel=desk.channel,
        identities=[("web", "angry")],
        text="你们什么垃圾服务！！！三天了还不发货，再不处理我就去12315投诉，给差评！",
    )
    conv = Conversation.objects.get(pk=msg.conversation_id)
    assert conv.emotion_label == "angry"
    assert conv.emotion_score >= 7
    assert any("12315" in s["text"] or "投诉" in s["text"] for s in conv.emotion_signals)
    assert EmotionAlert.objects.filter(conversation=conv).exists()


def test_a_reading_from_the_wording_alone_still_shows_the_agent_why(desk):
    """No keyword, punctuation or history rule fires, yet the wording reads as not calm: the
    badge comes with the model's reason instead of an empty list of signals."""
    msg, _ = do_receive_customer_message(
        channel=desk.channel, identities=[("web", "blamed")], text="凭什么说是我的问题？你们的规定关我什么事"
    )
    conv = Conversation.objects.get(pk=msg.conversation_id)
    assert conv.emotion_label in ("dissatisfied", "angry")
    assert [s["code"] for s in conv.emotion_signals] == ["model"]
    assert conv.emotion_signals[0]["text"].startswith("措辞整体偏")
    calm, _ = do_receive_customer_message(
        channel=desk.channel, identities=[("web", "asks")], text="你好，请问这款充电宝可以带上飞机吗？"
    )
    assert Conversation.objects.get(pk=calm.conversation_id).emotion_signals == []


def test_traditional_and_simplified_get_the_same_emotion(desk):
    a, _ = do_receive_customer_message(
        channel=desk.channel, identities=[("web", "s")], text="再不退款我就投诉你们！"
    )
    b, _ = do_receive_customer_message(
        channel=desk.channel, identities=[("web", "t")], text="再不退款我就投訴你們！"
    )
    ca, cb = Conversation.objects.get(pk=a.conversation_id), Conversation.objects.get(pk=b.conversation_id)
    assert (ca.emotion_label, ca.emotion_score) == (cb.emotion_label, cb.emotion_score)


def test_calm_question_raises_no_alert(desk):
    msg, _ = do_receive_customer_message(
        channel=desk.channel, identities=[("web", "calm")], text="你好，请问这款充电宝可以带上飞机吗？"
    )
    assert not EmotionAlert.objects.filter(conversation_id=msg.conversation_id).exists()


def test_intent_routes_a_technical_question_to_technical_support(teams, make_channel, make_user):
    from kefu.accounts.models import AgentStatus

    tech_agent = make_user("tech", teams=(teams["技术支持"],), status=AgentStatus.ONLINE)
    channel = make_channel("app", team=teams["售前咨询"])
    msg, _ = do_receive_customer_message(
        channel=channel, identities=[("app", "u1")], text="App 登录一直提示验证码错误，账号登不上去"
    )
    conv = Conversation.objects.get(pk=msg.conversation_id)
    assert conv.intent == "账户与技术问题"
    assert conv.team == teams["技术支持"]
    assert tech_agent is not None


def test_unsure_intent_goes_to_the_general_queue(teams, make_channel):
    channel = make_channel("web")
    msg, _ = do_receive_customer_message(channel=channel, identities=[("web", "x")], text="qwxz zzkq")
    conv = Conversation.objects.get(pk=msg.conversation_id)
    assert conv.intent == ""
    assert conv.team == teams["售前咨询"]


def test_apology_after_anger_lowers_the_trend(desk):
    msg, _ = do_receive_customer_message(
        channel=desk.channel,
        identities=[("web", "r")],
        text="气死我了！！！你们到底管不管？再不处理我要投诉！",
    )
    do_send_agent_message(
        agent=desk.agent,
        conversation_id=msg.conversation_id,
        text="非常抱歉给您带来这么不好的体验，我马上为您处理，今天18:00前给您答复。",
    )
    do_receive_customer_message(
        channel=desk.channel, identities=[("web", "r")], text="好的，谢谢，那我等你消息"
    )
    conv = Conversation.objects.get(pk=msg.conversation_id)
    assert conv.emotion_trend in ("falling", "recovered")


# --- understanding worked out before the message's transaction -------------------------


def _fields(conversation_id: int) -> tuple[object, ...]:
    c = Conversation.objects.get(pk=conversation_id)
    return (c.emotion_label, c.emotion_score, c.emotion_trend, c.emotion_signals, c.intent)


def test_emotion_and_intent_are_worked_out_before_the_write_transaction(desk, monkeypatch):
    from django.db import connection

    from kefu.understanding import reading

    calls: list[bool] = []
    analyze = reading.analyze_conversation
    outside = len(connection.atomic_blocks)  # the test's own transaction

    def spy(*args, **kwargs):
        calls.append(len(connection.atomic_blocks) > outside)
        return analyze(*args, **kwargs)

    monkeypatch.setattr(reading, "analyze_conversation", spy)
    first, _ = do_receive_customer_message(
        channel=desk.channel, identities=[("web", "ahead")], text="我买的耳机有杂音，想退货"
    )
    do_receive_customer_message(
        channel=desk.channel, identities=[("web", "ahead")], text="你们再不处理我就投诉了！！！"
    )
    # Once per message, and never while the write transaction (SQLite's write lock) is open.
    assert calls == [False, False]
    c = Conversation.objects.get(pk=first.conversation_id)
    assert c.intent and c.emotion_score > 0
    assert EmotionAlert.objects.filter(conversation=c, level=EmotionAlert.Level.COMPLAINT_RISK).exists()


def test_a_reading_that_missed_a_message_is_worked_out_again_inside(desk, monkeypatch):
    from kefu.conversations import services

    first, _ = do_receive_customer_message(channel=desk.channel, identities=[("web", "r1")], text="在吗")
    conversation = Conversation.objects.get(pk=first.conversation_id)
    stale = services.read_customer_message(conversation, "算了，我去12315投诉")
    # The agent answers between the reading and the customer's message.
    do_send_agent_message(
        agent=desk.agent, conversation_id=conversation.pk, text="您好，在的，请问有什么可以帮您？"
    )
    monkeypatch.setattr(services, "read_customer_message", lambda *args: stale)
    msg, _ = do_receive_customer_message(
        channel=desk.channel, identities=[("web", "r1")], text="算了，我去12315投诉"
    )
    got = _fields(msg.conversation_id)
    # The same as understanding it inside the transaction, from the stored conversation.
    monkeypatch.setattr(services, "read_customer_message", lambda *args: None)
    Conversation.objects.filter(pk=msg.conversation_id).update(emotion_score=0, emotion_label="")
    from kefu.understanding.reading import do_update_emotion

    do_update_emotion(Conversation.objects.get(pk=msg.conversation_id))
    assert _fields(msg.conversation_id)[:4] == got[:4]
    assert stale is not None and stale.emotion.signals != ()
