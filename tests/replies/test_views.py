"""The script-library page: the replies and their CSAT column."""

from __future__ import annotations

from typing import Any

import pytest

from kefu.conversations.models import Conversation
from kefu.conversations.services import (
    do_rate_conversation,
    do_receive_customer_message,
    do_send_agent_message,
    do_set_status,
)
from kefu.replies import services

pytestmark = pytest.mark.django_db


def test_library_page_lists_replies(client, desk, library):
    client.force_login(desk.agent)
    html = client.get("/desk/replies/").content.decode()
    assert "物流停滞安抚" in html and "wlyc" in html


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


def test_library_page_shows_the_csat_column(client, desk):
    reply = services.do_create_reply(actor=desk.agent, data={"title": "稍等", "text": "请稍等，正在为您查询"})
    conversation = _conversation(desk, status=None)
    _use_and_send(desk, reply, conversation)
    do_set_status(actor=desk.agent, conversation_id=conversation.pk, status="resolved")
    do_rate_conversation(conversation=conversation, score=4)
    client.force_login(desk.agent)
    html = client.get("/desk/replies/").content.decode()
    assert "<th>满意度</th>" in html
    assert "4.0 / 5" in html
