"""The chat socket invites the customer to rate a resolved conversation."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from kefu.channels.visitor import issue_visitor_token
from kefu.conversations.models import Conversation, Message
from kefu.conversations.services import do_rate_conversation, do_set_status
from tests.realtime.sockets import chat_socket, drain, receive_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
async def fresh_layer() -> Any:
    yield
    layer = get_channel_layer()
    if hasattr(layer, "flush"):
        await layer.flush()


async def _open(token: str) -> Any:
    comm = chat_socket(token)
    connected, _ = await comm.connect()
    assert connected
    return comm


async def _start(comm: Any) -> int:
    """The customer writes; returns the conversation their message opened."""
    await comm.send_json_to({"type": "message", "client_msg_id": "c-1", "text": "杯子漏水怎么办"})
    ack = await receive_until(comm, lambda f: f["type"] == "ack")
    await drain(comm)
    message = await database_sync_to_async(Message.objects.get)(pk=ack["message"]["id"])
    return message.conversation_id


def _set_status(desk: Any, conversation_id: int, status: str) -> None:
    do_set_status(actor=desk.agent, conversation_id=conversation_id, status=status)


def _status(f: dict[str, Any]) -> bool:
    return f["type"] == "status"


async def test_resolving_sends_the_customer_a_rating_request(desk):
    comm = await _open(issue_visitor_token(desk.channel.pk))
    conversation_id = await _start(comm)
    await database_sync_to_async(_set_status)(desk, conversation_id, "resolved")
    frame = await receive_until(comm, _status)
    assert frame == {"type": "status", "status": "resolved", "rating_requested": True}
    await comm.disconnect()


async def test_other_status_changes_do_not_ask_for_a_rating(desk):
    comm = await _open(issue_visitor_token(desk.channel.pk))
    conversation_id = await _start(comm)
    await database_sync_to_async(_set_status)(desk, conversation_id, "pending")
    assert await receive_until(comm, _status) == {"type": "status", "status": "pending"}
    await comm.disconnect()


async def test_visitor_who_returns_to_a_resolved_unrated_conversation_is_asked_on_resume(desk):
    token = issue_visitor_token(desk.channel.pk)
    comm = await _open(token)
    conversation_id = await _start(comm)
    await comm.disconnect()
    await database_sync_to_async(_set_status)(desk, conversation_id, "resolved")

    comm = await _open(token)
    await comm.send_json_to({"type": "resume", "after": 0})
    await receive_until(comm, lambda f: f["type"] == "history")
    frame = await receive_until(comm, _status)
    assert frame == {"type": "status", "status": "resolved", "rating_requested": True}
    await comm.disconnect()


async def test_a_rated_conversation_is_not_asked_again_on_resume_and_tabs_hear_of_the_rating(desk):
    token = issue_visitor_token(desk.channel.pk)
    comm = await _open(token)
    conversation_id = await _start(comm)
    await database_sync_to_async(_set_status)(desk, conversation_id, "resolved")
    await receive_until(comm, _status)
    conversation = await database_sync_to_async(Conversation.objects.get)(pk=conversation_id)
    await database_sync_to_async(do_rate_conversation)(conversation=conversation, score=5)
    assert await receive_until(comm, lambda f: f["type"] == "rated") == {"type": "rated"}

    await comm.send_json_to({"type": "resume", "after": 0})
    await receive_until(comm, lambda f: f["type"] == "history")
    later = await drain(comm, quiet=0.4)
    assert not [f for f in later if f["type"] == "status"]
    await comm.disconnect()
