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
        text="已为您提交补偿申请，今天18:00前告知审批结果。",
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
