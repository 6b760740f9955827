from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.utils import timezone

from kefu.accounts.models import Role
from kefu.conversations.models import Conversation
from kefu.conversations.services import do_receive_customer_message, do_send_agent_message
from kefu.core.errors import InvalidInput, PermissionDenied
from kefu.customers.models import Order, OrderItem
from kefu.replies import services
from kefu.replies.library import LIBRARY
from kefu.replies.models import ReplyUsage, ShopProfile

pytestmark = pytest.mark.django_db


@pytest.fixture
def library():
    return services.do_install_library(LIBRARY)


@pytest.fixture
def conversation(desk):
    msg, _ = do_receive_customer_message(
        channel=desk.channel, identities=[("web", "lib")], customer_name="王芳", text="我的快递三天没有更新了"
    )
    conv = Conversation.objects.select_related("customer").get(pk=msg.conversation_id)
    order = Order.objects.create(
        customer=conv.customer,
        order_no="YJ20261120001",
        amount=Decimal("129.00"),
        shipping_status="in_transit",
        carrier="顺丰",
        tracking_no="SF1234567890",
        placed_at=timezone.now(),
    )
    OrderItem.objects.create(order=order, name="悦家保温杯 500ml", quantity=1, price=Decimal("129.00"))
    return conv


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


def test_picker_api_and_use_endpoint(client, desk, library, conversation):
    client.force_login(desk.agent)
    r = client.get("/api/v1/replies", {"q": "hi", "conversation_id": conversation.pk})
    assert r.status_code == 200 and r.json()[0]["title"] == "开场问候"
    r = client.post(
        f"/api/v1/replies/{r.json()[0]['id']}/use",
        data=json.dumps({"conversation_id": conversation.pk}),
        content_type="application/json",
    )
    assert r.status_code == 200 and "王芳" in r.json()["text"]


def test_send_api_refuses_unfilled_variables_with_the_field(client, desk, conversation):
    client.force_login(desk.agent)
    r = client.post(
        f"/api/v1/conversations/{conversation.pk}/messages",
        data=json.dumps({"text": "您的订单预计{预计送达}送达", "client_msg_id": "x1"}),
        content_type="application/json",
    )
    assert r.status_code == 400
    assert "text" in r.json()["fields"]


def test_library_page_lists_replies(client, desk, library):
    client.force_login(desk.agent)
    html = client.get("/desk/replies/").content.decode()
    assert "物流停滞安抚" in html and "wlyc" in html


def test_supervisor_may_edit_global_reply(desk, library, make_user):
    sup = make_user("sup2", role=Role.SUPERVISOR)
    reply = services.search_replies(sup, "js")[0]
    services.do_update_reply(actor=sup, reply_id=reply.pk, data={"text": "请问还有什么可以帮您的吗？"})
