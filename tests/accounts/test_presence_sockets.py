"""Presence through the sockets: the desk socket's heartbeat, a closed desk, an expired session, the widget."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.utils import timezone

from kefu.accounts.models import AgentStatus, StatusChange, User
from kefu.accounts.services import do_sweep_presence
from kefu.channels.visitor import issue_visitor_token
from kefu.conversations.models import Conversation
from tests.realtime.sockets import chat_socket, desk_socket, receive_until, session_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
async def fresh_layer() -> Any:
    yield
    layer = get_channel_layer()
    if hasattr(layer, "flush"):
        await layer.flush()


def _stale(user: Any) -> None:
    """Her desk was last seen long ago (as if the browser closed an hour ago)."""
    User.objects.filter(pk=user.pk).update(last_seen_at=timezone.now() - timedelta(hours=1))


def _user(user: Any) -> User:
    return User.objects.get(pk=user.pk)


async def _open_desk(user: Any) -> Any:
    comm = desk_socket(await database_sync_to_async(session_for)(user))
    connected, _ = await comm.connect(timeout=10)
    assert connected
    await comm.send_json_to({"type": "resume", "conversation_id": 10**9})
    await receive_until(comm, lambda f: f["type"] == "error")
    return comm


async def _customer_writes(channel: Any, text: str) -> Conversation:
    comm = chat_socket(issue_visitor_token(channel.pk))
    connected, _ = await comm.connect(timeout=10)
    assert connected
    await comm.send_json_to({"type": "message", "client_msg_id": "m-1", "text": text})
    ack = await receive_until(comm, lambda f: f["type"] == "ack")
    await comm.disconnect()
    return await database_sync_to_async(Conversation.objects.get)(messages__id=ack["message"]["id"])


async def test_opening_the_desk_counts_as_being_seen(desk: Any) -> None:
    await database_sync_to_async(_stale)(desk.agent)
    comm = await _open_desk(desk.agent)
    agent = await database_sync_to_async(_user)(desk.agent)
    assert agent.last_seen_at > timezone.now() - timedelta(seconds=5)
    conversation = await _customer_writes(desk.channel, "你好，我买的T恤尺码偏大能换吗")
    assert conversation.assignee_id == desk.agent.pk
    await comm.disconnect()


async def test_an_open_desk_keeps_beating(desk: Any, settings: Any) -> None:
    settings.KEFU_PRESENCE_HEARTBEAT_SECONDS = 0.1
    comm = await _open_desk(desk.agent)
    await database_sync_to_async(_stale)(desk.agent)
    await comm.receive_nothing(timeout=0.5)
    agent = await database_sync_to_async(_user)(desk.agent)
    assert agent.last_seen_at > timezone.now() - timedelta(seconds=5)
    await comm.disconnect()


async def test_a_desk_closed_beyond_the_grace_stops_new_chats(desk: Any, settings: Any) -> None:
    settings.KEFU_PRESENCE_GRACE_SECONDS = 60
    comm = await _open_desk(desk.agent)
    await comm.disconnect()  # the browser is closed
    assert await database_sync_to_async(do_sweep_presence)(timezone.now() + timedelta(seconds=30)) == 0
    assert await database_sync_to_async(do_sweep_presence)(timezone.now() + timedelta(seconds=61)) == 1
    agent = await database_sync_to_async(_user)(desk.agent)
    assert (agent.status, agent.status_reason) == (AgentStatus.OFFLINE, "disconnected")
    conversation = await _customer_writes(desk.channel, "在吗？快递显示签收了但我没收到")
    assert conversation.assignee_id is None


async def test_an_unseen_agent_gets_no_chat_even_before_the_sweep(desk: Any) -> None:
    await database_sync_to_async(_stale)(desk.agent)
    conversation = await _customer_writes(desk.channel, "发票开错了，能重开吗")
    assert conversation.assignee_id is None
    agent = await database_sync_to_async(_user)(desk.agent)
    assert agent.status == AgentStatus.ONLINE  # the sweep records it; routing never waits for it


async def test_an_expired_session_takes_the_agent_offline(desk: Any, settings: Any) -> None:
    from django.contrib.sessions.models import Session

    settings.KEFU_DESK_RECHECK_SECONDS = 0.2
    comm = await _open_desk(desk.agent)
    await database_sync_to_async(Session.objects.all().delete)()
    out = await comm.receive_output(timeout=10)
    assert out == {"type": "websocket.close", "code": 4401}
    agent = await database_sync_to_async(_user)(desk.agent)
    assert (agent.status, agent.status_reason) == (AgentStatus.OFFLINE, "session_expired")
    change = await database_sync_to_async(StatusChange.objects.get)(user=desk.agent)
    assert (change.from_status, change.reason) == ("online", "session_expired")


async def test_an_expired_old_session_leaves_a_status_chosen_since_alone(desk: Any, settings: Any) -> None:
    from django.contrib.sessions.models import Session

    from kefu.accounts.services import do_set_status

    settings.KEFU_DESK_RECHECK_SECONDS = 0.3
    comm = await _open_desk(desk.agent)
    await database_sync_to_async(Session.objects.all().delete)()
    # She signed in again in another browser and went online there before the old socket noticed.
    await database_sync_to_async(do_set_status)(user=desk.agent, status=AgentStatus.BUSY)
    await database_sync_to_async(do_set_status)(user=desk.agent, status=AgentStatus.ONLINE)
    out = await comm.receive_output(timeout=10)
    while out.get("type") != "websocket.close":
        out = await comm.receive_output(timeout=10)
    agent = await database_sync_to_async(_user)(desk.agent)
    assert agent.status == AgentStatus.ONLINE


async def test_the_agent_hears_her_own_status_change(desk: Any) -> None:
    from kefu.accounts.services import do_set_status

    comm = await _open_desk(desk.agent)
    await database_sync_to_async(do_set_status)(user=desk.agent, status=AgentStatus.BREAK, reason="training")
    frame = await receive_until(comm, lambda f: f.get("event") == "agent.status_changed")
    assert frame["data"]["status"] == "break"
    assert frame["data"]["reason"] == "training"
    assert frame["data"]["reason_label"] == "培训"
    await comm.disconnect()
