"""Fixtures for the complaints tests: an angry customer's conversation, answered by the agent."""

from __future__ import annotations

import pytest

from kefu.conversations.services import do_receive_customer_message, do_send_agent_message


@pytest.fixture
def complaint_conv(desk):
    msg, _ = do_receive_customer_message(
        channel=desk.channel,
        identities=[("web", "angry-customer")],
        customer_name="陈先生",
        text="你们快递员太过分了！态度恶劣还摔坏了我的杯子，我要投诉！",
    )
    do_send_agent_message(
        agent=desk.agent, conversation_id=msg.conversation_id, text="非常抱歉，我马上为您登记投诉。"
    )
    return msg.conversation
