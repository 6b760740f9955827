"""The customer chat socket: store-then-ack, resume, resend, bad input, privacy, the rating request."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from kefu.channels.visitor import issue_visitor_token
from kefu.conversations.models import Conversation, Message
from kefu.conversations.services import (
    do_add_note,
    do_rate_conversation,
    do_send_agent_message,
    do_set_status,
)
from tests.realtime.sockets import chat_socket, close_code, drain, receive_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fast_passwords(settings: Any) -> None:
    # The desk fixture creates users; the production hasher costs seconds on a shared CI box.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
async def fresh_layer() -> Any:
    yield
    layer = get_channel_layer()
    if hasattr(layer, "flush"):
        await layer.flush()


def _ack_for(cmid: str):
    return lambda f: f["type"] == "ack" and f["client_msg_id"] == cmid


async def _say(comm: Any, cmid: str, text: str) -> dict[str, Any]:
    await comm.send_json_to({"type": "message", "client_msg_id": cmid, "text": text})
    return await receive_until(comm, _ack_for(cmid))


async def _open(token: str) -> Any:
    comm = chat_socket(token)
    connected, _ = await comm.connect(timeout=10)
    assert connected
    return comm


count_messages = database_sync_to_async(lambda **kw: Message.objects.filter(**kw).count())


async def test_customer_message_is_stored_before_it_is_acked(desk):
    comm = await _open(issue_visitor_token(desk.channel.pk))
    ack = await _say(comm, "c-1", "你好，我的快递三天没动了")
    stored = await database_sync_to_async(Message.objects.get)(client_msg_id="c-1")
    assert ack["message"]["id"] == stored.pk
    assert ack["message"]["text"] == "你好，我的快递三天没动了"
    assert ack["message"]["direction"] == "incoming"
    await comm.disconnect()


async def test_first_message_when_nobody_is_online_says_so_and_offers_a_message_left(
    make_team, make_channel, open_all_week
):
    team = await database_sync_to_async(make_team)("售后")
    channel = await database_sync_to_async(make_channel)("web", team=team)
    comm = await _open(issue_visitor_token(channel.pk))
    await _say(comm, "c-1", "在吗")
    frame = await receive_until(
        comm, lambda f: f["type"] in ("history", "message") and any(m["kind"] == "auto" for m in _msgs(f))
    )
    auto = next(m for m in _msgs(frame) if m["kind"] == "auto")
    # Honest: nobody is there, so no place in a queue and no minutes; a message left is offered.
    assert "客服暂时都不在线" in auto["text"] and "留言" in auto["text"]
    assert "分钟" not in auto["text"] and "第 1 位" not in auto["text"]
    await comm.send_json_to({"type": "desk"})
    desk = await receive_until(comm, lambda f: f["type"] == "desk")
    assert (desk["state"], desk["reason"], desk["label"]) == ("closed", "nobody_online", "暂无客服在线")
    assert desk["estimated_wait_seconds"] is None
    await comm.disconnect()


def _msgs(frame: dict[str, Any]) -> list[dict[str, Any]]:
    return frame["messages"] if frame["type"] == "history" else [frame["message"]]


async def test_agent_reply_sent_over_http_service_reaches_customer_socket(desk):
    comm = await _open(issue_visitor_token(desk.channel.pk))
    ack = await _say(comm, "c-1", "杯子漏水怎么办")
    await drain(comm)
    await database_sync_to_async(do_send_agent_message)(
        agent=desk.agent, conversation_id=await _conversation_of(ack), text="非常抱歉，给您换新"
    )
    frame = await receive_until(comm, lambda f: f["type"] == "message")
    assert frame["message"]["text"] == "非常抱歉，给您换新"
    assert frame["message"]["sender_name"] == "小美"
    assert "is_private" not in frame["message"]
    await comm.disconnect()


async def _conversation_of(ack: dict[str, Any]) -> int:
    m = await database_sync_to_async(Message.objects.get)(pk=ack["message"]["id"])
    return m.conversation_id


async def test_reconnect_with_resume_gets_missed_messages_once(desk):
    token = issue_visitor_token(desk.channel.pk)
    comm = await _open(token)
    ack = await _say(comm, "c-1", "请问发货了吗")
    conversation_id = await _conversation_of(ack)
    await drain(comm)
    seen = {ack["message"]["id"]}
    await comm.disconnect()

    for text in ("已经发货了", "单号是 SF123"):
        await database_sync_to_async(do_send_agent_message)(
            agent=desk.agent, conversation_id=conversation_id, text=text
        )
    comm = await _open(token)
    await comm.send_json_to({"type": "resume", "after": max(seen)})
    history = await receive_until(comm, lambda f: f["type"] == "history")
    assert [m["text"] for m in history["messages"]] == ["已经发货了", "单号是 SF123"]
    # Nothing missed is sent a second time by another route.
    later = await drain(comm)
    again = [m["id"] for f in later if f["type"] in ("message", "history") for m in _msgs(f)]
    assert not set(again) & {m["id"] for m in history["messages"]}
    await comm.disconnect()


async def test_unacked_message_resent_after_reconnect_is_stored_once(desk):
    token = issue_visitor_token(desk.channel.pk)
    comm = await _open(token)
    first = await _say(comm, "c-7", "我要退货")
    await comm.disconnect()  # the client never saw the ack: it resends on reconnect

    comm = await _open(token)
    await comm.send_json_to({"type": "resume", "after": 0})
    again = await _say(comm, "c-7", "我要退货")
    assert again["message"]["id"] == first["message"]["id"]
    assert await count_messages(client_msg_id="c-7") == 1
    await comm.disconnect()


@pytest.mark.parametrize(
    ("frame", "field"),
    [
        ({"type": "message", "client_msg_id": "b-1", "text": "长" * 5001}, "text"),
        ({"type": "message", "client_msg_id": "b-2", "text": "   "}, "text"),
        ({"type": "message", "client_msg_id": "b-3", "text": 42}, "text"),
        ({"type": "message", "client_msg_id": 7, "text": "你好"}, "client_msg_id"),
        ({"type": "message", "text": "你好"}, "client_msg_id"),
        ({"type": "message", "client_msg_id": "x" * 65, "text": "你好"}, "client_msg_id"),
        ({"type": "resume", "after": "abc"}, "after"),
        ({"type": "read", "message_id": True}, "message_id"),
        ({"type": "dance"}, "type"),
        ([1, 2], None),
    ],
)
async def test_bad_input_gets_an_error_frame_stores_nothing_and_keeps_the_socket(desk, frame, field):
    comm = await _open(issue_visitor_token(desk.channel.pk))
    await comm.send_json_to(frame)
    error = await receive_until(comm, lambda f: True)
    assert error["type"] == "error"
    assert error["field"] == field
    assert error["detail"]
    assert await count_messages() == 0
    # Still open: a good message goes through.
    await _say(comm, "ok-1", "好的")
    await comm.disconnect()


async def test_refused_message_error_names_its_client_msg_id(desk):
    comm = await _open(issue_visitor_token(desk.channel.pk))
    await comm.send_json_to({"type": "message", "client_msg_id": "b-9", "text": ""})
    error = await receive_until(comm, lambda f: True)
    assert error["client_msg_id"] == "b-9"
    await comm.disconnect()


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"type": "message", "client_msg_id": "n-1", "text": "快递\\u0000到了吗"}', "text"),
        ('{"type": "message", "client_msg_id": "n-1", "text": "退款\\ud800进度"}', "text"),
        ('{"type": "message", "client_msg_id": "n-\\u0000", "text": "发票开好了吗"}', "client_msg_id"),
        ('{"type": "message", "client_msg_id": "n-1", "text": "尺码", "extra\\u0000": 1}', "body"),
    ],
    ids=["nul-in-text", "surrogate-in-text", "nul-in-client-msg-id", "nul-in-a-key"],
)
async def test_a_nul_or_lone_surrogate_is_refused_and_the_socket_stays_open(desk, raw, field):
    comm = await _open(issue_visitor_token(desk.channel.pk))
    # A raw client resends an unacked message: each copy gets the same final refusal.
    for _ in range(2):
        await comm.send_to(text_data=raw)
        error = await receive_until(comm, lambda f: True)
        assert error["type"] == "error"
        assert error["field"] == field
        assert error["detail"].endswith("含有无效字符")
        assert "client_msg_id" in error
    assert await count_messages() == 0
    await _say(comm, "ok-2", "好的，谢谢")
    await comm.disconnect()


async def test_non_json_text_gets_an_error_frame(desk):
    comm = await _open(issue_visitor_token(desk.channel.pk))
    await comm.send_to(text_data="{not json")
    error = json.loads(await comm.receive_from())
    assert error == {"type": "error", "field": None, "detail": "不是有效的 JSON"}
    await comm.disconnect()


@pytest.mark.parametrize("token", ["", "garbage", "forged"])
async def test_invalid_token_is_closed_with_4401(desk, token):
    if token == "forged":
        good = issue_visitor_token(desk.channel.pk)
        token = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    assert await close_code(chat_socket(token)) == 4401


async def test_token_of_a_disabled_channel_is_closed_with_4404(desk):
    token = issue_visitor_token(desk.channel.pk)
    await database_sync_to_async(type(desk.channel).objects.filter(pk=desk.channel.pk).update)(
        is_active=False
    )
    assert await close_code(chat_socket(token)) == 4404


async def test_private_note_never_reaches_the_customer_socket(desk):
    comm = await _open(issue_visitor_token(desk.channel.pk))
    ack = await _say(comm, "c-1", "我的订单号是 123")
    conversation_id = await _conversation_of(ack)
    await drain(comm)
    from tests.realtime.sockets import desk_socket  # noqa: F401  (desk side checked in tests/conversations/test_consumers.py)

    note = await database_sync_to_async(do_add_note)(
        agent=desk.agent, conversation_id=conversation_id, text="内部：此客户上次恶意退款"
    )
    assert note.is_private
    assert await drain(comm, quiet=0.6) == []
    # Nor through resume.
    await comm.send_json_to({"type": "resume", "after": 0})
    history = await receive_until(comm, lambda f: f["type"] == "history")
    assert "内部：此客户上次恶意退款" not in [m["text"] for m in history["messages"]]
    await comm.disconnect()


async def test_agent_typing_and_read_reach_the_customer(desk):
    from kefu.conversations.timeline import do_mark_read, send_typing_now

    comm = await _open(issue_visitor_token(desk.channel.pk))
    ack = await _say(comm, "c-1", "你好")
    await drain(comm)
    conversation = await database_sync_to_async(Conversation.objects.get)(pk=await _conversation_of(ack))
    await send_typing_now(conversation.pk, by_customer=False, name="小美")
    assert await receive_until(comm, lambda f: f["type"] == "typing") == {"type": "typing", "name": "小美"}
    await database_sync_to_async(do_mark_read)(
        conversation=conversation, by_customer=False, message_id=ack["message"]["id"]
    )
    assert await receive_until(comm, lambda f: f["type"] == "read") == {
        "type": "read",
        "message_id": ack["message"]["id"],
    }
    await comm.disconnect()


async def test_customer_read_is_stored(desk):
    comm = await _open(issue_visitor_token(desk.channel.pk))
    ack = await _say(comm, "c-1", "你好")
    conversation_id = await _conversation_of(ack)
    reply, _ = await database_sync_to_async(do_send_agent_message)(
        agent=desk.agent, conversation_id=conversation_id, text="您好"
    )
    await comm.send_json_to({"type": "read", "message_id": reply.pk})
    await drain(comm)
    conversation = await database_sync_to_async(Conversation.objects.get)(pk=conversation_id)
    assert conversation.customer_last_read_id == reply.pk
    await comm.disconnect()


async def test_resume_before_any_conversation_returns_empty_history(desk):
    comm = await _open(issue_visitor_token(desk.channel.pk))
    await comm.send_json_to({"type": "resume", "after": 0})
    assert await receive_until(comm, lambda f: True) == {"type": "history", "messages": []}
    await comm.disconnect()


async def test_message_is_acked_when_routing_fails_after_it_is_stored(desk, monkeypatch):
    def broken(conversation_id):
        raise RuntimeError("routing is down")

    monkeypatch.setattr("kefu.routing.assignment.do_try_assign", broken)
    comm = await _open(issue_visitor_token(desk.channel.pk))
    ack = await _say(comm, "c-1", "在吗")
    stored = await database_sync_to_async(Message.objects.get)(client_msg_id="c-1")
    assert ack["message"]["id"] == stored.pk
    conversation = await database_sync_to_async(Conversation.objects.get)(pk=stored.conversation_id)
    assert conversation.assignee_id is None and conversation.queued_at is None  # left to the sweep
    await comm.disconnect()


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


async def test_the_layer_flushed_between_tests_is_not_reported_as_a_redis_restart(desk, settings):
    """A flush of the layer's keys (every test's teardown) empties the restart marker too; a
    socket still open across it is not told realtime was lost and restored."""
    from kefu.core.realtime import RedisChannelLayer

    layer = get_channel_layer()
    if not isinstance(layer, RedisChannelLayer):
        pytest.skip("needs the Redis channel layer (the PostgreSQL + Redis run)")
    settings.KEFU_REALTIME_CHECK_SECONDS = 0.2
    first = await _open(issue_visitor_token(desk.channel.pk))
    await asyncio.sleep(0.5)  # the watchdog has read the marker
    await drain(first)
    await layer.flush()
    second = await _open(issue_visitor_token(desk.channel.pk))
    await asyncio.sleep(0.8)  # several probes
    for comm in (first, second):
        frames = await drain(comm)
        assert not [f for f in frames if f.get("type") == "realtime"], frames
        await comm.disconnect()


async def test_a_long_database_outage_answers_frames_at_once_not_one_pool_timeout_each(desk, monkeypatch):
    """All sockets of a process share one database thread: after a failure, the next frames
    are refused at once (the client resends after the hint) instead of each waiting out the
    pool timeout; a new socket is sent away with 1013; one frame at a time tries again."""
    import time

    from django.db import OperationalError

    from kefu.channels.consumers import ChatConsumer
    from kefu.core import outage

    monkeypatch.setattr(outage, "SOCKETS", outage.SocketBreaker(cooldown=0.5))
    first = await _open(issue_visitor_token(desk.channel.pk))
    second = await _open(issue_visitor_token(desk.channel.pk))
    real_store = ChatConsumer._store
    tries: list[str] = []

    def store_while_down(self: Any, text: Any, client_msg_id: str) -> Any:
        tries.append(client_msg_id)
        time.sleep(0.3)  # what the pool's timeout costs, shortened
        raise OperationalError("couldn't get a connection after 10.00 sec")

    monkeypatch.setattr(ChatConsumer, "_store", store_while_down)

    def refused(cmid: str):
        return lambda f: f["type"] == "error" and f.get("client_msg_id") == cmid

    for cmid in ("c-1", "c-2", "c-3"):
        await first.send_json_to({"type": "message", "client_msg_id": cmid, "text": "你好，退款到哪一步了"})
    for cmid in ("c-1", "c-2", "c-3"):
        frame = await receive_until(first, refused(cmid))
        assert frame["code"] == "unavailable" and frame["retry_after_ms"] > 0
    assert tries == ["c-1"]  # c-2 and c-3 never queued for the database

    late = chat_socket(issue_visitor_token(desk.channel.pk))
    assert (await late.connect(timeout=5))[0]
    assert (await late.receive_json_from(timeout=5))["reason"] == "unavailable"
    assert (await late.receive_output(timeout=5))["code"] == 1013

    await asyncio.sleep(0.6)  # past the pause: one frame tries, the others wait for it
    await first.send_json_to({"type": "message", "client_msg_id": "c-4", "text": "还在吗"})
    await asyncio.sleep(0.1)
    await second.send_json_to({"type": "message", "client_msg_id": "d-1", "text": "人呢"})
    assert (await receive_until(second, refused("d-1")))["code"] == "unavailable"
    await receive_until(first, refused("c-4"))
    assert tries == ["c-1", "c-4"]

    monkeypatch.setattr(ChatConsumer, "_store", real_store)  # the database is back
    await asyncio.sleep(0.6)
    ack = await _say(first, "c-1", "你好，退款到哪一步了")
    assert ack["message"]["text"] == "你好，退款到哪一步了"
    await receive_until(first, lambda f: f["type"] == "history")  # the end of that frame's work
    assert await _say(second, "d-1", "人呢")
    assert await count_messages(client_msg_id__in=["c-1", "d-1"]) == 2
    for comm in (first, second):
        await comm.disconnect()
