"""What complaints guard in every agent reply (kefu.complaints.guards): no premature grant, promises registered."""

from __future__ import annotations

import json

import pytest

from kefu.complaints import compensation
from kefu.complaints.models import Promise
from kefu.conversations.services import do_receive_customer_message, do_send_agent_message
from kefu.core.errors import Conflict

pytestmark = pytest.mark.django_db


def test_agent_cannot_tell_the_customer_a_pending_compensation_is_granted(client, desk, complaint_conv):
    compensation.do_request_compensation(
        actor=desk.agent, conversation_id=complaint_conv.pk, kind="refund", amount="200", reason="补偿"
    )
    with pytest.raises(Conflict):
        do_send_agent_message(
            agent=desk.agent, conversation_id=complaint_conv.pk, text="已为您退款200元，请查收"
        )
    client.force_login(desk.agent)
    r = client.post(
        f"/api/v1/conversations/{complaint_conv.pk}/messages",
        data=json.dumps({"text": "已经批准给您补偿200元", "client_msg_id": "g1"}),
        content_type="application/json",
    )
    assert r.status_code == 409 and "text" in r.json()["fields"]
    # Saying it was submitted is fine.
    do_send_agent_message(
        agent=desk.agent,
        conversation_id=complaint_conv.pk,
        text="非常抱歉，已为您提交补偿申请，今天18:00前告知审批结果。",
    )


def test_a_sent_reply_registers_its_promise_on_the_agents_list(desk):
    msg, _ = do_receive_customer_message(
        channel=desk.channel, identities=[("web", "p1")], text="什么时候退款？"
    )
    do_send_agent_message(
        agent=desk.agent, conversation_id=msg.conversation_id, text="非常抱歉，我们会在24小时内为您退款。"
    )
    promise = Promise.objects.get()
    assert promise.owner == desk.agent and promise.conversation_id == msg.conversation_id
    assert "24小时内为您退款" in promise.description
    # Saying it again does not register it twice.
    do_send_agent_message(
        agent=desk.agent, conversation_id=msg.conversation_id, text="非常抱歉，我们会在24小时内为您退款。"
    )
    assert Promise.objects.count() == 1


@pytest.mark.parametrize(
    "text",
    [
        "已為您補償50元優惠券",
        "50元券已经给您发过去了",
        "优惠券搞定了，已经到您账户了",
        "给您发了一张50元的券",
    ],
)
def test_a_reworded_or_traditional_grant_claim_is_refused_over_the_api(client, desk, complaint_conv, text):
    compensation.do_request_compensation(
        actor=desk.agent, conversation_id=complaint_conv.pk, kind="coupon", amount="50", reason="快递摔坏杯子"
    )
    client.force_login(desk.agent)
    r = client.post(
        f"/api/v1/conversations/{complaint_conv.pk}/messages",
        data=json.dumps({"text": text}),
        content_type="application/json",
    )
    assert r.status_code == 409, r.content
    body = r.json()
    assert body["fields"] == {"text": "补偿尚未批准"} and body["pending_compensation_id"]
    assert complaint_conv.messages.filter(text=text).count() == 0


@pytest.mark.parametrize(
    "text",
    ["申请通过后会给您发50元券", "审批通过后24小时内到账", "如果审核通过，我们会补偿您"],
)
def test_saying_what_happens_after_approval_is_allowed_while_pending(desk, complaint_conv, text):
    compensation.do_request_compensation(
        actor=desk.agent, conversation_id=complaint_conv.pk, kind="coupon", amount="50", reason="快递摔坏杯子"
    )
    # The customer is angry: the reply acknowledges it first (or the quality check holds it back).
    text = "非常抱歉让您久等了。" + text
    message, created = do_send_agent_message(agent=desk.agent, conversation_id=complaint_conv.pk, text=text)
    assert created and message.text == text


def test_a_grant_claim_is_fine_once_nothing_is_pending(desk, complaint_conv):
    compensation.do_request_compensation(
        actor=desk.agent, conversation_id=complaint_conv.pk, kind="coupon", amount="10", reason="快递摔坏杯子"
    )
    message, created = do_send_agent_message(
        agent=desk.agent, conversation_id=complaint_conv.pk, text="非常抱歉，给您发了一张10元的券，请查收"
    )
    assert created
