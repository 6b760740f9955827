"""The bot's pipeline: answers, choices, the customer's own orders, hand-overs, suggestions and the overview."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings

from kefu.accounts.models import AgentStatus, Role, User
from kefu.bot import services
from kefu.bot.models import BotSession, BotTurn, HandoverReason, SuggestionUse
from kefu.conversations.models import Conversation, Message
from kefu.core.errors import InvalidInput, NotFound, PermissionDenied
from kefu.customers.models import Customer, Order
from kefu.kb.models import Article
from kefu.routing.assignment import unrouted_conversations
from kefu.tickets.models import Ticket

from .conftest import bot_lines, chat, im_says, make_order

pytestmark = pytest.mark.django_db


def session_of(message: Message) -> BotSession:
    return BotSession.objects.get(conversation_id=message.conversation_id)


def last_line(message: Message) -> Message:
    return bot_lines(message.conversation_id)[-1]


def test_a_knowledge_base_question_is_answered_with_the_greeting_and_asks_whether_it_helped(bot: Any) -> None:
    m = chat(bot.channel, "v-fp", "怎么开发票")
    lines = bot_lines(m.conversation_id)
    assert lines[0].text.startswith("您好，我是智能客服")
    assert "申请开票" in lines[1].text and lines[1].text.endswith("这个回答解决您的问题了吗？")
    assert lines[1].meta["choices"] == ["解决了", "没解决"]
    conversation = Conversation.objects.get(pk=m.conversation_id)
    assert conversation.assignee_id is None and conversation.queued_at is None  # not routed: the bot holds it
    assert session_of(m).state == BotSession.State.ACTIVE


@pytest.mark.parametrize("text", ["發票怎麼開？", "请问你们这能开发票不", "电子发票在哪申请啊"])
def test_traditional_and_reworded_questions_find_the_same_article(bot: Any, text: str) -> None:
    m = chat(bot.channel, f"v-{abs(hash(text))}", text)
    turn = BotTurn.objects.get(message=m)
    if turn.kind == BotTurn.Kind.ANSWER:
        assert turn.article == bot.faq["发票怎么开"] and "申请开票" in last_line(m).text
    else:  # not sure enough to answer: the right question is the first button
        assert turn.kind == BotTurn.Kind.CHOICES and last_line(m).meta["choices"][0] == "发票怎么开"


def test_saying_it_helped_counts_the_conversation_as_resolved_by_the_bot(bot: Any) -> None:
    chat(bot.channel, "v-ok", "退货要自己付运费吗")
    m = chat(bot.channel, "v-ok", "解决了")
    session = session_of(m)
    assert session.resolved and session.state == BotSession.State.ACTIVE
    assert BotTurn.objects.filter(session=session, kind=BotTurn.Kind.ANSWER, helpful=True).exists()


@pytest.mark.parametrize(
    "text",
    [
        "转人工",
        "轉人工",
        "人工客服在吗",
        "找客服",
        "我要真人",
        "別讓機器人回了，找個真人來",
        "不想跟机器人聊",
    ],
)
def test_asking_for_a_person_hands_over_to_the_online_agent_with_a_summary(bot: Any, text: str) -> None:
    chat(bot.channel, "v-p", "积分能抵钱吗")
    m = chat(bot.channel, "v-p", text)
    session = session_of(m)
    assert (
        session.state == BotSession.State.HANDED_OVER and session.handover_reason == HandoverReason.EXPLICIT
    )
    conversation = Conversation.objects.get(pk=m.conversation_id)
    assert conversation.assignee == bot.agent  # routed through the desk's routing after the commit
    summary = Message.objects.get(
        conversation=conversation, direction=Message.Direction.ACTIVITY, meta__has_key="bot_summary"
    )
    assert summary.is_private
    said = summary.meta["bot_summary"]["bot_said"]
    assert said and "积分" in said[0]["text"]
    assert "正在为您转接人工客服" in last_line(m).text


def test_a_complaint_threat_hands_over_at_once(bot: Any) -> None:
    m = chat(bot.channel, "v-c", "再不给我处理我就打12315投诉你们，还要找媒体曝光")
    assert session_of(m).handover_reason == HandoverReason.COMPLAINT


def test_an_angry_customer_is_handed_over(bot: Any) -> None:
    m = chat(bot.channel, "v-a", "你们这是什么垃圾服务！！！气死我了，等了一个星期还没到！！！")
    session = session_of(m)
    assert session.state == BotSession.State.HANDED_OVER
    assert session.handover_reason in (HandoverReason.EMOTION, HandoverReason.COMPLAINT)
    assert session.summary["emotions"][-1]["label"] in ("dissatisfied", "angry")


def test_two_rejected_answers_hand_over(bot: Any) -> None:
    chat(bot.channel, "v-r", "怎么开发票")
    m = chat(bot.channel, "v-r", "没解决")
    assert session_of(m).state == BotSession.State.ACTIVE and "换个说法" in last_line(m).text
    chat(bot.channel, "v-r", "退货邮费谁出")
    m = chat(bot.channel, "v-r", "沒有解決")
    session = session_of(m)
    assert session.handover_reason == HandoverReason.REJECTED and session.rejections == 2


def test_an_unsure_match_offers_choices_and_a_pressed_choice_is_answered(bot: Any) -> None:
    services.do_save_setting(
        actor=bot.admin, channel_id=bot.channel.pk, team_id=None, data={"threshold": 0.99}
    )
    m = chat(bot.channel, "v-ch", "积分可以抵现吗")
    line = last_line(m)
    assert line.meta["bot"]["kind"] == "choices"
    assert "会员积分怎么使用" in line.meta["choices"] and len(line.meta["choices"]) <= 4  # three + 都不是
    m = chat(bot.channel, "v-ch", "会员积分怎么使用")
    assert "100积分抵1元" in last_line(m).text


def test_a_question_it_cannot_answer_twice_goes_to_a_person_and_is_listed(bot: Any) -> None:
    m = chat(bot.channel, "v-u", "你们的直播间几点开播")
    assert "暂时还不会回答" in last_line(m).text
    m = chat(bot.channel, "v-u", "主播穿的那件外套有链接吗")
    assert session_of(m).handover_reason == HandoverReason.UNANSWERED
    questions = [q["question"] for q in services.access_overview(bot.supervisor)["unanswered"]]
    assert "你们的直播间几点开播" in questions


def test_the_order_is_answered_only_to_its_own_customer_masked_and_without_invented_facts(bot: Any) -> None:
    im_says(bot.im, "wx-owner", "你好")
    owner = Customer.objects.get(identities__value="wx-owner")
    make_order(
        owner,
        "YJ20261201001",
        shipping_status=Order.Shipping.IN_TRANSIT,
        carrier="顺丰速运",
        tracking_no="SF1234567890",
        address="浙江省杭州市西湖区文三路100号3幢502室",
        events=[(30, "杭州", "快件已揽收"), (5, "上海转运中心", "快件已到达上海转运中心")],
    )
    m = im_says(bot.im, "wx-owner", "我的订单 YJ20261201001 到哪了")
    text = last_line(m).text
    assert "SF1234567890" in text and "上海转运中心" in text
    assert "文三路100号" not in text and "浙江省杭州市" in text  # the address is masked
    assert "暂未提供预计送达时间" in text  # nothing in the records says when

    m = im_says(bot.im, "wx-stranger", "帮我查下订单 YJ20261201001 到哪了")
    text = last_line(m).text
    assert "没有在您的账户下找到" in text and "SF1234567890" not in text and "上海" not in text


def test_it_asks_for_the_order_number_and_understands_it_when_typed(bot: Any) -> None:
    im_says(bot.im, "wx-two", "在吗")
    customer = Customer.objects.get(identities__value="wx-two")
    make_order(customer, "YJ20261128001", shipping_status=Order.Shipping.DELIVERED)
    make_order(
        customer,
        "YJ20261130002",
        payment_status=Order.Payment.REFUNDING,
        shipping_status=Order.Shipping.RETURNING,
    )
    m = im_says(bot.im, "wx-two", "我的退款到哪一步了")
    assert "请把订单号发给我" in last_line(m).text
    m = im_says(bot.im, "wx-two", "ＹＪ20261130002")
    text = last_line(m).text
    assert "YJ20261130002" in text and "退款正在处理中" in text
    assert Conversation.objects.get(pk=m.conversation_id).order.order_no == "YJ20261130002"


def test_invoice_status_is_not_guessed(bot: Any) -> None:
    im_says(bot.im, "wx-inv", "你好")
    make_order(Customer.objects.get(identities__value="wx-inv"), "YJ20261125009")
    m = im_says(bot.im, "wx-inv", "我的发票开了吗")
    assert "查不到发票的开具记录" in last_line(m).text


def test_im_handover_with_nobody_online_leaves_a_message_and_says_when(bot: Any) -> None:
    User.objects.filter(pk=bot.agent.pk).update(status=AgentStatus.OFFLINE)
    m = im_says(bot.im, "wx-night", "积分怎么兑换")
    assert session_of(m).state == BotSession.State.ACTIVE
    assert not Ticket.objects.filter(conversations__id=m.conversation_id).exists()  # the bot answered instead
    m = im_says(bot.im, "wx-night", "转人工")
    texts = [line.text for line in bot_lines(m.conversation_id)]
    assert any("现在人工客服不在线" in t and "前会有人回复您" in t for t in texts)
    ticket = Ticket.objects.get(conversations__id=m.conversation_id, source=Ticket.Source.LEFT_MESSAGE)
    assert any(ticket.number in t for t in texts)
    assert not any("前面还有" in t for t in texts)


def test_a_vip_customer_skips_the_bot(bot: Any) -> None:
    im_says(bot.im, "wx-vip", "你好")  # first conversation: the bot greets a customer not yet known as VIP
    customer = Customer.objects.get(identities__value="wx-vip")
    Customer.objects.filter(pk=customer.pk).update(vip_level=3)
    Conversation.objects.filter(customer=customer).update(status=Conversation.Status.CLOSED)
    m = im_says(bot.im, "wx-vip", "我要退货")
    session = session_of(m)
    assert session.handover_reason == HandoverReason.VIP
    assert Conversation.objects.get(pk=m.conversation_id).assignee == bot.agent


def test_outside_its_intents_it_hands_over(bot: Any) -> None:
    services.do_save_setting(actor=bot.admin, channel_id=bot.im.pk, team_id=None, data={"intents": ["发票"]})
    m = im_says(bot.im, "wx-scope", "我的账号登录不上去，验证码一直收不到")
    assert session_of(m).handover_reason == HandoverReason.OUT_OF_SCOPE


def test_a_channel_without_a_setting_goes_straight_to_agents(bot: Any, make_channel: Any) -> None:
    other = make_channel("web", team=bot.team, name="活动页在线客服")
    m = chat(other, "v-off", "怎么开发票")
    assert not BotSession.objects.filter(conversation_id=m.conversation_id).exists()
    assert Conversation.objects.get(pk=m.conversation_id).assignee == bot.agent


def test_the_routing_sweep_leaves_the_bots_conversations_alone(bot: Any) -> None:
    from datetime import timedelta

    from django.utils import timezone

    m = chat(bot.channel, "v-sw", "怎么开发票")
    assert (
        not unrouted_conversations(timezone.now() + timedelta(hours=1)).filter(pk=m.conversation_id).exists()
    )


def test_nul_is_refused_and_a_huge_message_is_handled(bot: Any) -> None:
    with pytest.raises(InvalidInput):
        chat(bot.channel, "v-nul", "怎么开\x00发票")
    huge = "我想问一下发票的事情，" * (settings.KEFU_MAX_MESSAGE_CHARS // 12)
    m = chat(bot.channel, "v-huge", huge[: settings.KEFU_MAX_MESSAGE_CHARS])
    assert BotTurn.objects.filter(message=m).exists()
    with pytest.raises(InvalidInput):
        chat(bot.channel, "v-huge", "发" * (settings.KEFU_MAX_MESSAGE_CHARS + 1))


def test_an_agent_who_replies_takes_over_from_the_bot(bot: Any) -> None:
    from kefu.conversations.services import do_send_agent_message

    m = chat(bot.channel, "v-ag", "怎么开发票")
    do_send_agent_message(
        agent=bot.agent, conversation_id=m.conversation_id, text="您好，我是小美，我来帮您看一下。"
    )
    m = chat(bot.channel, "v-ag", "好的")
    session = session_of(m)
    assert session.state == BotSession.State.HANDED_OVER and session.handover_reason == HandoverReason.AGENT


def test_the_suggestion_follows_the_agents_choices(bot: Any) -> None:
    m = chat(bot.channel, "v-s", "转人工，我想问退货运费")
    data = services.access_suggestion(bot.agent, m.conversation_id)
    assert data["message_id"] == m.pk and data["suggestion"]["title"] == "退货运费谁承担"
    services.do_record_suggestion_use(
        user=bot.agent,
        conversation_id=m.conversation_id,
        message_id=m.pk,
        article_id=data["suggestion"]["article_id"],
        action="ignore",
    )
    assert SuggestionUse.objects.get().action == "ignore"
    after = services.access_suggestion(bot.agent, m.conversation_id)["suggestion"]
    assert after is None or after["article_id"] != data["suggestion"]["article_id"]


def test_the_suggestion_is_the_article_the_question_means_not_the_one_sharing_most_words(
    bot: Any, make_user: Any
) -> None:
    """「怎么开发票」 shares its words with 「发票开错了怎么重开」 as much as with 「发票怎么开」 (the
    search is as confident of both); ranked by the bot's answer score the agent is offered
    the article the question means, with that score."""
    from kefu.kb.services import do_create_article

    editor = make_user("kbeditor-reissue", role=Role.SUPERVISOR)
    do_create_article(
        actor=editor,
        data={
            "title": "发票开错了怎么重开",
            "answer": "发票开错了请在「我的订单」里点「申请换开」，原发票作废后1-3个工作日内重新开具。",
            "similar_questions": ["发票抬头写错了能改吗", "发票信息填错了怎么办"],
            "status": "published",
        },
    )
    m = chat(bot.channel, "v-inv", "转人工")
    m = chat(bot.channel, "v-inv", "怎么开发票")
    s = services.access_suggestion(bot.agent, m.conversation_id)["suggestion"]
    assert s["title"] == "发票怎么开"
    hits = services._kb_hits("怎么开发票")
    scores = {h.article.title: services.answer_score("怎么开发票", h) for h in hits}
    assert s["score"] == round(scores["发票怎么开"], 3) > scores["发票开错了怎么重开"]


def test_a_second_teams_agent_cannot_read_the_suggestion(bot: Any, make_team: Any, make_user: Any) -> None:
    other = make_user("xiaoli", teams=(make_team("售后服务"),))
    m = chat(bot.channel, "v-t2", "转人工")
    with pytest.raises((PermissionDenied, NotFound)):
        services.access_suggestion(other, m.conversation_id)


def test_the_overview_counts_containment_and_reasons_and_drafts_an_article(bot: Any) -> None:
    chat(bot.channel, "v-o1", "怎么开发票")
    chat(bot.channel, "v-o1", "解决了")
    chat(bot.channel, "v-o2", "转人工")
    chat(bot.channel, "v-o3", "你们仓库在哪个城市发货")
    o = services.access_overview(bot.supervisor)
    assert o["served"] == 3 and o["contained"] == 2 and o["containment_rate"] == round(2 / 3, 3)
    assert {r["reason"]: r["count"] for r in o["handover_reasons"]} == {"explicit": 1}
    turn_id = next(q["id"] for q in o["unanswered"] if q["question"] == "你们仓库在哪个城市发货")
    article = services.do_draft_article_from_question(actor=bot.supervisor, turn_id=turn_id)
    assert article.status == Article.Status.DRAFT and article.title == "你们仓库在哪个城市发货"
    assert turn_id not in [q["id"] for q in services.access_overview(bot.supervisor)["unanswered"]]
    with pytest.raises(PermissionDenied):
        services.access_overview(bot.agent)


def test_a_team_lead_sees_only_their_teams_sessions(bot: Any, make_team: Any, make_user: Any) -> None:
    lead = make_user("zuzhang2", role=Role.TEAM_LEAD, teams=(make_team("售后服务"),))
    chat(bot.channel, "v-l", "转人工")
    assert services.access_overview(lead)["served"] == 0


def test_a_conversation_without_the_bot_costs_no_bot_transaction(desk: Any) -> None:
    """On a channel with no bot the bot's turn is one read, not a locked transaction."""
    from unittest import mock

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    bot_services = services
    chat(desk.channel, "v-nobot", "你好，我的快递三天了还没到")
    with mock.patch.object(bot_services, "do_bot_answer", wraps=bot_services.do_bot_answer) as answer:
        with CaptureQueriesContext(connection) as ctx:
            chat(desk.channel, "v-nobot", "订单号 YJ20261118001，麻烦帮我查一下")
    assert answer.call_count == 0
    assert not [q for q in ctx.captured_queries if "bot_botsession" in q["sql"] and "FOR UPDATE" in q["sql"]]


def test_a_conversation_the_bot_holds_still_gets_its_turn(bot: Any) -> None:
    from unittest import mock

    bot_services = services
    with mock.patch.object(bot_services, "do_bot_answer", wraps=bot_services.do_bot_answer) as answer:
        chat(bot.channel, "v-bot", "怎么开发票")
    assert answer.call_count == 1
