"""The script library (kefu.replies.services): search by pinyin, variables, ranking, usage, CSAT, who may write."""

from __future__ import annotations

from typing import Any

import pytest

from kefu.accounts.models import Role
from kefu.conversations.models import Conversation
from kefu.conversations.services import (
    do_rate_conversation,
    do_receive_customer_message,
    do_send_agent_message,
    do_set_status,
)
from kefu.core.errors import InvalidInput, PermissionDenied
from kefu.replies import services
from kefu.replies.models import ReplyUsage, ShopProfile

pytestmark = pytest.mark.django_db


def test_pinyin_initials_shortcut_and_chinese_all_find_a_reply(desk, library):
    by_shortcut = services.search_replies(desk.agent, "wlyc")
    by_initials = services.search_replies(desk.agent, "wltz")
    by_chinese = services.search_replies(desk.agent, "物流停滞")
    assert by_shortcut[0].title == by_initials[0].title == by_chinese[0].title == "物流停滞安抚"


def test_variables_are_filled_from_the_conversation(desk, library, conversation):
    reply = next(r for r in services.search_replies(desk.agent, "wl") if r.title == "物流进度告知")
    _, rendered = services.do_use_reply(agent=desk.agent, reply_id=reply.pk, conversation_id=conversation.pk)
    assert "YJ20261120001" in rendered.text and "顺丰" in rendered.text and "SF1234567890" in rendered.text
    assert rendered.missing == []


def test_a_variable_without_value_is_flagged_and_cannot_be_sent(desk, library, conversation):
    reply = next(r for r in services.search_replies(desk.agent, "th") if r.title == "七天无理由退货")
    _, rendered = services.do_use_reply(agent=desk.agent, reply_id=reply.pk, conversation_id=conversation.pk)
    assert rendered.missing == ["退货地址"]
    with pytest.raises(InvalidInput) as exc:
        do_send_agent_message(agent=desk.agent, conversation_id=conversation.pk, text=rendered.text)
    assert exc.value.extra["missing_variables"] == ["退货地址"]
    ShopProfile.objects.create(return_address="浙江省杭州市余杭区仓前街道悦家仓库 3 号门")
    _, filled = services.do_use_reply(agent=desk.agent, reply_id=reply.pk, conversation_id=conversation.pk)
    assert filled.missing == [] and "悦家仓库" in filled.text


def test_ranking_prefers_replies_that_fit_the_intent_and_emotion(desk, library, conversation):
    Conversation.objects.filter(pk=conversation.pk).update(intent="物流延迟/催发货", emotion_label="anxious")
    conversation.refresh_from_db()
    top = services.search_replies(desk.agent, "", conversation=conversation)[0]
    assert top.title == "物流停滞安抚"


def test_sent_message_is_linked_to_the_inserted_reply_and_edits_are_measured(desk, library, conversation):
    reply = next(r for r in services.search_replies(desk.agent, "dd") if r.title == "请稍等查询")
    _, rendered = services.do_use_reply(agent=desk.agent, reply_id=reply.pk, conversation_id=conversation.pk)
    do_send_agent_message(agent=desk.agent, conversation_id=conversation.pk, text=rendered.text + "谢谢！")
    usage = ReplyUsage.objects.get()
    assert usage.message is not None and 0.9 < usage.similarity < 1.0
    row = next(r for r in services.reply_stats(desk.agent) if r["id"] == reply.pk)
    assert row["uses"] == 1 and row["sent"] == 1


def test_agents_keep_personal_replies_but_cannot_write_global_ones(desk):
    mine = services.do_create_reply(
        actor=desk.agent, data={"title": "我的开场白", "text": "您好，我是{客服姓名}"}
    )
    assert services.search_replies(desk.agent, "我的开场白")[0].pk == mine.pk
    with pytest.raises(PermissionDenied):
        services.do_create_reply(actor=desk.agent, data={"title": "全员", "text": "x"}, scope="global")


def test_unknown_variable_is_refused(desk):
    with pytest.raises(InvalidInput) as exc:
        services.do_create_reply(actor=desk.agent, data={"title": "x", "text": "您好{会员等级}"})
    assert "text" in exc.value.fields


def test_supervisor_may_edit_global_reply(desk, library, make_user):
    sup = make_user("sup2", role=Role.SUPERVISOR)
    reply = services.search_replies(sup, "js")[0]
    services.do_update_reply(actor=sup, reply_id=reply.pk, data={"text": "请问还有什么可以帮您的吗？"})


def _conversation(desk: Any, visitor: str = "visitor-1", *, status: str | None = "resolved") -> Conversation:
    msg, _ = do_receive_customer_message(
        channel=desk.channel, identities=[("web", visitor)], text="杯子漏水怎么办", customer_name="张三"
    )
    if status is not None:
        do_set_status(actor=desk.agent, conversation_id=msg.conversation_id, status=status)
    return Conversation.objects.get(pk=msg.conversation_id)


def _use_and_send(desk: Any, reply: Any, conversation: Conversation) -> None:
    _, rendered = services.do_use_reply(agent=desk.agent, reply_id=reply.pk, conversation_id=conversation.pk)
    do_send_agent_message(agent=desk.agent, conversation_id=conversation.pk, text=rendered.text)


def test_reply_csat_is_the_average_rating_of_the_conversations_it_was_used_in(desk):
    reply = services.do_create_reply(actor=desk.agent, data={"title": "稍等", "text": "请稍等，正在为您查询"})
    unused = services.do_create_reply(actor=desk.agent, data={"title": "再见", "text": "祝您生活愉快"})
    happy, unhappy, unrated = (_conversation(desk, v, status=None) for v in ("v-a", "v-b", "v-c"))
    # Used twice in one conversation: it still counts once.
    for conversation in (happy, happy, unhappy, unrated):
        _use_and_send(desk, reply, conversation)
    for conversation, score in ((happy, 5), (unhappy, 2)):
        do_set_status(actor=desk.agent, conversation_id=conversation.pk, status="resolved")
        do_rate_conversation(conversation=conversation, score=score)
    stats = {row["id"]: row for row in services.reply_stats(desk.agent)}
    assert stats[reply.pk]["csat"] == 3.5
    assert stats[unused.pk]["csat"] is None


def test_reply_csat_is_none_while_no_conversation_is_rated(desk):
    reply = services.do_create_reply(actor=desk.agent, data={"title": "稍等", "text": "请稍等，正在为您查询"})
    _use_and_send(desk, reply, _conversation(desk, status=None))
    row = next(r for r in services.reply_stats(desk.agent) if r["id"] == reply.pk)
    assert row["csat"] is None
