"""Nobody to take the chat: the desk's state, messages left (留言) as tickets, and answers on the customer's channel.

Through the surfaces a customer and an agent use: ``GET /chat/state``, ``POST /chat/leave-message``,
the platform webhook and SMTP paths, the agent's reply, the outbound relay and the platform.
"""

from __future__ import annotations

import email
import email.policy
import json
from datetime import datetime
from typing import Any

import pytest
from django.utils import timezone

from kefu.accounts.models import AgentStatus, Role
from kefu.channels.models import Channel, OutboundDelivery
from kefu.channels.outbound import send_outbound
from kefu.channels.services import PlatformMessage, do_receive_email, do_receive_platform_message
from kefu.channels.visitor import issue_visitor_token
from kefu.conversations.models import Conversation, Message
from kefu.conversations.services import do_send_agent_message
from kefu.tickets.models import Ticket
from tests.channels.mail import SUPPORT, make_mail
from tests.channels.test_outbound import Platform, _Capture, platform, relay  # noqa: F401  (fixtures)

# Business hours around the clock unless a test closes the desk (``closed_now``): who is
# online alone decides, whatever the time the suite runs at.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("open_all_week")]


@pytest.fixture
def shop(make_team: Any, make_user: Any, make_channel: Any) -> Any:
    """After sales serves the web chat; its agent and lead are offline; pre-sales is another team."""
    from types import SimpleNamespace

    after_sales = make_team("售后服务", is_general=True)
    pre_sales = make_team("售前咨询")
    return SimpleNamespace(
        team=after_sales,
        agent=make_user("xiaomei", teams=(after_sales,), display_name="小美"),
        lead=make_user("zhouzz", teams=(after_sales,), role=Role.TEAM_LEAD, display_name="周组长"),
        other=make_user("laoli", teams=(pre_sales,), status=AgentStatus.ONLINE, display_name="老李"),
        channel=make_channel("web", team=after_sales, name="悦家官网客服"),
    )


def leave(client: Any, token: str, **body: Any) -> Any:
    payload = {
        "token": token,
        "client_msg_id": "leave-1",
        "text": "订单 YJ20261201 的空气炸锅少发了一个炸篮",
        **body,
    }
    return client.post("/chat/leave-message", json.dumps(payload), content_type="application/json")


# --- the desk's state ------------------------------------------------------------------------


def test_state_is_public_cross_origin_and_honest_when_nobody_is_online(client: Any, shop: Any) -> None:
    resp = client.get(f"/chat/state?channel={shop.channel.pk}")

    assert resp.status_code == 200
    assert resp["Access-Control-Allow-Origin"] == "*"
    state = resp.json()
    assert (state["state"], state["reason"], state["label"]) == ("closed", "nobody_online", "暂无客服在线")
    assert state["estimated_wait_seconds"] is None and "分钟" not in state["text"]
    assert state["reply_by_text"] in state["text"]


def test_state_of_an_unknown_channel_is_a_json_404(client: Any, shop: Any) -> None:
    resp = client.get("/chat/state?channel=99999")
    assert resp.status_code == 404 and "渠道" in resp.json()["detail"]
    assert client.get("/chat/state?channel=abc").json()["fields"] == {"channel": "必须是整数"}


def test_chat_page_shows_the_desk_state_not_a_green_online(client: Any, shop: Any) -> None:
    html = client.get(f"/chat?channel={shop.channel.pk}").content.decode()
    assert 'data-role="desk-badge" data-state="closed"' in html
    assert "暂无客服在线" in html and "给我们留言" in html


def test_state_is_open_once_an_agent_of_the_channels_team_is_online(client: Any, shop: Any) -> None:
    from kefu.accounts.models import User

    User.objects.filter(pk=shop.agent.pk).update(status=AgentStatus.ONLINE, last_seen_at=timezone.now())
    state = client.get(f"/chat/state?channel={shop.channel.pk}").json()
    assert (state["state"], state["label"], state["estimated_wait_seconds"]) == ("open", "客服在线", 0)


def test_off_hours_state_says_when_the_desk_opens(client: Any, shop: Any, closed_now: Any) -> None:
    from django.utils import timezone

    from kefu.routing.availability import when_text

    state = client.get(f"/chat/state?channel={shop.channel.pk}").json()

    assert (state["state"], state["reason"], state["label"]) == ("closed", "off_hours", "已下班")
    assert state["opens_at"] == closed_now.isoformat()
    assert state["text"].startswith("现在是非工作时间（工作时间：")
    assert f"客服将于 {when_text(closed_now, timezone.now())} 上线" in state["text"]
    assert state["estimated_wait_seconds"] is None and "分钟" not in state["text"]


def test_a_message_left_off_hours_is_due_in_the_next_opening(
    client: Any, shop: Any, closed_now: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from datetime import timedelta

    with django_capture_on_commit_callbacks(execute=True):
        body = leave(client, issue_visitor_token(shop.channel.pk), phone="13812345678").json()

    ticket = Ticket.objects.get(number=body["ticket_number"])
    # Two hours of business time from now: two hours into the next opening.
    assert ticket.first_response_due == closed_now + timedelta(hours=2)
    assert ticket.first_response_warn_at == closed_now + timedelta(minutes=96)
    assert ticket.due_at is None or ticket.due_at > ticket.first_response_due


def test_im_customer_off_hours_hears_when_the_desk_opens(
    shop: Any, make_channel: Any, closed_now: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from kefu.routing.availability import when_text

    wechat = make_channel("im", team=shop.team)
    with django_capture_on_commit_callbacks(execute=True):
        message = _wechat(wechat, 1, "我的快递显示签收了但我没收到")

    ticket = Ticket.objects.get()
    [notice] = Message.objects.filter(conversation_id=message.conversation_id, kind=Message.Kind.AUTO)
    opens = when_text(closed_now, notice.created_at)
    assert "现在是非工作时间" in notice.text and f"客服将于 {opens} 上线" in notice.text
    assert ticket.number in notice.text
    assert ticket.first_response_due == datetime.fromisoformat(notice.meta["reply_by"])


# --- leaving a message -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "detail"),
    [
        ({"phone": "1381234567"}, "phone", "手机号格式不正确"),
        ({"phone": "12345678901"}, "phone", "手机号格式不正确"),
        ({"email": "zhang@"}, "email", "邮箱格式不正确"),
        ({"email": "张三 at qq.com"}, "email", "邮箱格式不正确"),
        ({}, "phone", "请至少留下手机号或邮箱，方便我们回复您"),
        ({"phone": "13812345678", "text": "  "}, "text", "消息内容不能为空"),
        ({"phone": "13812345678", "text": "少发了\x00炸篮"}, "text", "消息内容含有无效字符"),
        ({"phone": "13812345678", "text": "炸" * 5001}, "text", "消息内容过长（最多 5000 字）"),
        ({"phone": "138\x0012345678"}, "phone", "手机号含有无效字符"),
        ({"phone": 13812345678}, "phone", "手机号必须是文字"),
    ],
)
def test_a_bad_message_left_is_400_naming_the_field(
    client: Any, shop: Any, body: dict[str, Any], field: str, detail: str
) -> None:
    resp = leave(client, issue_visitor_token(shop.channel.pk), **body)

    assert resp.status_code == 400
    assert resp.json()["detail"] == detail
    assert field in resp.json()["fields"]
    assert not Ticket.objects.exists() and not Message.objects.exists()


def test_a_message_left_is_a_ticket_of_the_team_due_by_the_time_the_customer_is_told(
    client: Any, shop: Any, django_capture_on_commit_callbacks: Any
) -> None:
    token = issue_visitor_token(shop.channel.pk)
    with django_capture_on_commit_callbacks(execute=True):
        resp = leave(client, token, name="王女士", phone="138 1234 5678", email="Wang.Li@QQ.COM")

    assert resp.status_code == 201
    body = resp.json()
    ticket = Ticket.objects.get(number=body["ticket_number"])
    assert (ticket.team, ticket.source, ticket.owner, ticket.assignee) == (
        shop.team,
        "left_message",
        None,
        None,
    )
    assert ticket.first_response_due == datetime.fromisoformat(body["reply_by"])
    assert ticket.first_response_warn_at < ticket.first_response_due
    assert ticket.category == "after_sales" and "少发了一个炸篮" in ticket.description
    conversation = ticket.conversations.get()
    assert conversation.team == shop.team
    # The customer is told when, and how the answer reaches them, in the chat too.
    assert body["text"] == (
        f"已收到您的留言（工单号 {ticket.number}），我们会在 {body['reply_by_text']} 前回复您："
        "回复会发送到邮箱 Wang.Li@qq.com，也会显示在这个对话中。"
    )
    autos = list(conversation.messages.filter(kind=Message.Kind.AUTO).values_list("text", flat=True))
    assert autos == [body["text"]]  # one reply: no queue position, no closed notice on top
    customer = conversation.customer
    assert (customer.name, customer.phone, customer.email) == ("王女士", "13812345678", "Wang.Li@qq.com")
    created = ticket.events.get(kind="created")
    assert "138****5678" in created.text and "13812345678" not in created.text


def test_the_team_sees_a_message_left_and_another_team_does_not(
    client: Any, shop: Any, django_capture_on_commit_callbacks: Any
) -> None:
    number = leave(client, issue_visitor_token(shop.channel.pk), phone="13812345678").json()["ticket_number"]
    ticket = Ticket.objects.get(number=number)

    for user, status in ((shop.agent, 200), (shop.lead, 200), (shop.other, 403)):
        client.force_login(user)
        assert client.get(f"/api/v1/tickets/{ticket.pk}").status_code == status, user
    client.force_login(shop.agent)
    listed = client.get("/api/v1/tickets").json()["items"]
    assert [(t["number"], t["team_id"], t["source"]) for t in listed] == [
        (number, shop.team.pk, "left_message")
    ]


def test_a_resent_message_left_is_stored_once_and_a_second_joins_the_same_ticket(
    client: Any, shop: Any
) -> None:
    token = issue_visitor_token(shop.channel.pk)
    first = leave(client, token, phone="13812345678")
    again = leave(client, token, phone="13812345678")
    more = leave(client, token, phone="13812345678", client_msg_id="leave-2", text="补充：炸篮是黑色款")

    assert (first.status_code, again.status_code, more.status_code) == (201, 200, 201)
    assert first.json()["ticket_number"] == again.json()["ticket_number"] == more.json()["ticket_number"]
    ticket = Ticket.objects.get()
    assert ticket.conversations.get().messages.filter(direction="incoming").count() == 2
    assert "补充：炸篮是黑色款" in ticket.events.get(kind="comment").text


def test_messages_left_are_rate_limited(client: Any, shop: Any, rate_limits: Any) -> None:
    rate_limits(chat_leave_message="1/10m")
    token = issue_visitor_token(shop.channel.pk)
    assert leave(client, token, phone="13812345678").status_code == 201
    refused = leave(client, token, phone="13812345678", client_msg_id="leave-2")
    assert refused.status_code == 429 and refused.json()["limit"] == "chat_leave_message"


def test_the_answer_is_mailed_to_the_email_left_and_shows_in_the_chat(
    client: Any,
    shop: Any,
    relay: _Capture,  # noqa: F811  (the fixture imported above)
    django_capture_on_commit_callbacks: Any,
) -> None:
    token = issue_visitor_token(shop.channel.pk)
    with django_capture_on_commit_callbacks(execute=True):
        number = leave(client, token, email="wangli@qq.com").json()["ticket_number"]
    ticket = Ticket.objects.get(number=number)
    conversation = ticket.conversations.get()

    with django_capture_on_commit_callbacks(execute=True):
        reply, _ = do_send_agent_message(
            agent=shop.agent,
            conversation_id=conversation.pk,
            text="王女士您好，少发的炸篮今天给您补发，单号稍后发您。",
        )
    send_outbound.call(OutboundDelivery.objects.get(message=reply).pk)

    [(rcpt, raw)] = relay.messages
    assert rcpt == ["wangli@qq.com"]
    sent = email.message_from_bytes(raw, policy=email.policy.default)
    assert sent["Subject"] == "Re: 您在「悦家官网客服」的留言"
    assert "少发的炸篮今天给您补发" in sent.get_content()
    # In the chat too, for when they come back; and the ticket is answered, owned by who answered.
    assert conversation.messages.filter(pk=reply.pk, is_private=False).exists()
    ticket.refresh_from_db()
    assert ticket.first_response_at is not None and ticket.first_response_at <= ticket.first_response_due
    assert (ticket.owner, ticket.assignee, ticket.status) == (shop.agent, shop.agent, "in_progress")

    # Back in the chat: the next answer is read there, not mailed.
    from kefu.conversations.services import do_receive_customer_message

    do_receive_customer_message(
        channel=shop.channel,
        identities=[("web", conversation.customer.identities.get().value)],
        text="好的谢谢",
    )
    later, _ = do_send_agent_message(agent=shop.agent, conversation_id=conversation.pk, text="不客气～")
    assert not OutboundDelivery.objects.filter(message=later).exists()


def test_a_phone_only_message_left_is_answered_in_the_chat_and_never_mailed(client: Any, shop: Any) -> None:
    body = leave(client, issue_visitor_token(shop.channel.pk), phone="010-62345678").json()
    assert "我们会致电 010****5678，或在这个对话中回复您" in body["text"]
    conversation = Ticket.objects.get().conversations.get()
    reply, _ = do_send_agent_message(agent=shop.agent, conversation_id=conversation.pk, text="已为您处理")
    assert not OutboundDelivery.objects.filter(message=reply).exists()


# --- IM and email: what they write while closed is their message left ---------------------------


def _wechat(channel: Channel, n: int, text: str) -> Message:
    message, _ = do_receive_platform_message(
        channel=channel,
        delivery_id=f"d-{n}",
        incoming=PlatformMessage(
            sender_id="wx-openid-7", sender_name="小王", message_id=f"pm-{n}", text=text
        ),
    )
    return message


def test_im_customer_writing_while_closed_gets_a_ticket_and_the_answer_on_im(
    shop: Any,
    platform: Platform,  # noqa: F811  (the fixture imported above)
    make_channel: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    wechat = make_channel("im", team=shop.team, name="微信公众号", outbound_url=platform.url)
    with django_capture_on_commit_callbacks(execute=True):
        first = _wechat(wechat, 1, "你好，退款申请提交三天了还没到账")
        _wechat(wechat, 2, "订单号 YJ20261130")

    ticket = Ticket.objects.get()
    assert (ticket.team, ticket.source) == (shop.team, "left_message")
    conversation = Conversation.objects.get(pk=first.conversation_id)
    [notice] = conversation.messages.filter(kind=Message.Kind.AUTO)
    assert "客服暂时都不在线" in notice.text and ticket.number in notice.text and "分钟" not in notice.text
    send_outbound.call(OutboundDelivery.objects.get(message=notice).pk)
    sent = json.loads(platform.requests[-1][1])
    assert sent["recipient"] == {"kind": "wechat", "id": "wx-openid-7"} and ticket.number in sent["text"]

    with django_capture_on_commit_callbacks(execute=True):
        reply, _ = do_send_agent_message(
            agent=shop.agent, conversation_id=conversation.pk, text="退款已加急，今天到账"
        )
    send_outbound.call(OutboundDelivery.objects.get(message=reply).pk)
    assert json.loads(platform.requests[-1][1])["text"] == "退款已加急，今天到账"
    ticket.refresh_from_db()
    assert ticket.first_response_at is not None and ticket.owner == shop.agent


def test_im_customer_writing_while_an_agent_is_online_gets_no_ticket(
    shop: Any, make_channel: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from kefu.accounts.models import User

    User.objects.filter(pk=shop.agent.pk).update(status=AgentStatus.ONLINE, last_seen_at=timezone.now())
    wechat = make_channel("im", team=shop.team)
    with django_capture_on_commit_callbacks(execute=True):
        message = _wechat(wechat, 1, "在吗")
    assert not Ticket.objects.exists()
    assert Conversation.objects.get(pk=message.conversation_id).assignee == shop.agent


def test_email_while_closed_is_a_ticket_but_an_out_of_office_is_not(shop: Any, make_channel: Any) -> None:
    make_channel("email", team=shop.team, name="邮件客服", email_address=SUPPORT)
    do_receive_email(make_mail(), rcpt_tos=[SUPPORT])
    bounce = make_mail(message_id="<bounce@example.com>", sender="Mail Delivery <mailer-daemon@example.com>")
    do_receive_email(bounce, rcpt_tos=[SUPPORT], mail_from="<>")

    ticket = Ticket.objects.get()
    assert ticket.customer.email == "zhangsan@example.com"
    [notice] = ticket.conversations.get().messages.filter(kind=Message.Kind.AUTO)
    assert "回复您的邮件" in notice.text and ticket.number in notice.text
