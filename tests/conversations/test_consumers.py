"""The agent desk socket: session auth, who hears what, resume/typing/read with access checks."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from kefu.accounts.models import AgentStatus, Role
from kefu.conversations.models import Conversation
from kefu.conversations.services import do_add_note, do_receive_customer_message
from tests.realtime.sockets import chat_socket, close_code, desk_socket, drain, receive_until, session_for

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


async def _desk_for(user: Any) -> Any:
    comm = desk_socket(await database_sync_to_async(session_for)(user))
    connected, _ = await comm.connect(timeout=10)
    assert connected
    # The groups are joined right after accept: a round trip makes sure they are.
    await comm.send_json_to({"type": "resume", "conversation_id": 10**9})
    await receive_until(comm, lambda f: f["type"] == "error")
    return comm


async def _customer_writes(channel: Any, text: str = "你好，在吗", visitor: str = "v-1") -> Any:
    message, _ = await database_sync_to_async(do_receive_customer_message)(
        channel=channel, identities=[("web", visitor)], text=text, client_msg_id=f"{visitor}-{text}"
    )
    return message


def _event(name: str):
    return lambda f: f["type"] == "event" and f["event"] == name


async def test_anonymous_desk_socket_is_closed_with_4401(desk):
    assert await close_code(desk_socket()) == 4401
    assert await close_code(desk_socket("not-a-session")) == 4401


async def test_logged_in_agent_receives_events_of_their_team(desk):
    comm = await _desk_for(desk.agent)
    message = await _customer_writes(desk.channel, "快递到哪了")
    frame = await receive_until(comm, _event("message.created"))
    assert frame["data"]["message"]["id"] == message.pk
    assert frame["data"]["message"]["text"] == "快递到哪了"
    assert frame["data"]["conversation"]["team_id"] == desk.team.pk
    assert {"id", "at"} <= frame.keys()
    await comm.disconnect()


async def test_agent_of_another_team_does_not_receive_team_events(desk, make_team, make_user):
    other_team = await database_sync_to_async(make_team)("售后")
    outsider = await database_sync_to_async(make_user)(
        "laowang", teams=(other_team,), status=AgentStatus.ONLINE
    )
    mine, theirs = await _desk_for(desk.agent), await _desk_for(outsider)
    await _customer_writes(desk.channel, "想咨询一下尺码")
    await receive_until(mine, _event("message.created"))
    assert await drain(theirs, quiet=0.5) == []
    await mine.disconnect()
    await theirs.disconnect()


async def test_supervisor_in_a_team_gets_each_event_once(desk):
    await database_sync_to_async(desk.supervisor.teams.add)(desk.team)
    comm = await _desk_for(desk.supervisor)
    await _customer_writes(desk.channel)
    frames = [f for f in await drain(comm, quiet=0.5) if f["type"] == "event"]
    ids = [f["id"] for f in frames]
    assert "message.created" in [f["event"] for f in frames]
    assert len(ids) == len(set(ids))
    await comm.disconnect()


async def test_private_note_reaches_the_desk_but_not_the_customer(desk):
    from kefu.channels.visitor import issue_visitor_token, read_visitor_token

    token = issue_visitor_token(desk.channel.pk)
    visitor = read_visitor_token(token).visitor_id
    message = await _customer_writes(desk.channel, "我要投诉", visitor=visitor)
    customer = chat_socket(token)
    assert (await customer.connect(timeout=10))[0]
    agent = await _desk_for(desk.agent)
    await drain(customer)
    await database_sync_to_async(do_add_note)(
        agent=desk.agent, conversation_id=message.conversation_id, text="内部备注：先安抚"
    )
    note = await receive_until(agent, _event("note.created"))
    assert note["data"]["message"]["is_private"] is True
    assert await drain(customer, quiet=0.5) == []
    await customer.disconnect()
    await agent.disconnect()


async def test_resume_returns_messages_after_id_including_notes(desk):
    first = await _customer_writes(desk.channel, "第一条")
    second = await _customer_writes(desk.channel, "第二条")
    await database_sync_to_async(do_add_note)(
        agent=desk.agent, conversation_id=first.conversation_id, text="备注"
    )
    comm = await _desk_for(desk.agent)
    await comm.send_json_to({"type": "resume", "conversation_id": first.conversation_id, "after": first.pk})
    history = await receive_until(comm, lambda f: f["type"] == "history")
    assert history["conversation_id"] == first.conversation_id
    texts = [m["text"] for m in history["messages"]]
    assert {"第二条", "备注"} <= set(texts)
    ids = [m["id"] for m in history["messages"]]
    assert ids == sorted(ids)
    assert first.pk not in [m["id"] for m in history["messages"]]
    assert second.pk in [m["id"] for m in history["messages"]]
    await comm.disconnect()


async def test_resume_of_a_conversation_the_agent_may_not_see_is_refused(desk, make_team, make_user):
    outsider_team = await database_sync_to_async(make_team)("财务")
    outsider = await database_sync_to_async(make_user)("caiwu", teams=(outsider_team,))
    message = await _customer_writes(desk.channel)
    comm = await _desk_for(outsider)
    await comm.send_json_to({"type": "resume", "conversation_id": message.conversation_id, "after": 0})
    frame = await receive_until(comm, lambda f: True)
    assert frame == {
        "type": "error",
        "field": None,
        "detail": "您无权查看该会话",
        "conversation_id": message.conversation_id,
    }
    await comm.disconnect()


async def test_typing_and_read_without_access_are_refused_and_not_relayed(desk, make_team, make_user):
    from kefu.channels.visitor import issue_visitor_token, read_visitor_token

    token = issue_visitor_token(desk.channel.pk)
    message = await _customer_writes(desk.channel, visitor=read_visitor_token(token).visitor_id)
    customer = chat_socket(token)
    assert (await customer.connect(timeout=10))[0]
    outsider_team = await database_sync_to_async(make_team)("财务")
    outsider = await database_sync_to_async(make_user)("caiwu", teams=(outsider_team,))
    comm = await _desk_for(outsider)
    await drain(customer)
    await comm.send_json_to({"type": "typing", "conversation_id": message.conversation_id})
    assert (await receive_until(comm, lambda f: True))["type"] == "error"
    await comm.send_json_to(
        {"type": "read", "conversation_id": message.conversation_id, "message_id": message.pk}
    )
    assert (await receive_until(comm, lambda f: True))["type"] == "error"
    assert await drain(customer, quiet=0.5) == []
    conversation = await database_sync_to_async(Conversation.objects.get)(pk=message.conversation_id)
    assert conversation.agent_last_read_id == 0
    await customer.disconnect()
    await comm.disconnect()


async def test_agent_read_is_stored_and_customer_typing_reaches_the_desk(desk):
    from kefu.channels.visitor import issue_visitor_token, read_visitor_token

    token = issue_visitor_token(desk.channel.pk)
    message = await _customer_writes(desk.channel, visitor=read_visitor_token(token).visitor_id)
    comm = await _desk_for(desk.agent)
    # The conversation's page opens it on the desk (resume): only that page draws the indicator.
    await comm.send_json_to({"type": "resume", "conversation_id": message.conversation_id})
    await receive_until(comm, lambda f: f["type"] == "history")
    customer = chat_socket(token)
    assert (await customer.connect(timeout=10))[0]
    await customer.send_json_to({"type": "typing"})
    typing = await receive_until(comm, lambda f: f["type"] == "typing")
    assert typing == {
        "type": "typing",
        "conversation_id": message.conversation_id,
        "by": "customer",
        "name": "",
    }
    await comm.send_json_to(
        {"type": "read", "conversation_id": message.conversation_id, "message_id": message.pk}
    )
    assert await receive_until(customer, lambda f: f["type"] == "read") == {
        "type": "read",
        "message_id": message.pk,
    }
    conversation = await database_sync_to_async(Conversation.objects.get)(pk=message.conversation_id)
    assert conversation.agent_last_read_id == message.pk
    await customer.disconnect()
    await comm.disconnect()


async def test_an_agent_typing_in_an_open_conversation_reaches_the_customer(desk):
    from kefu.channels.visitor import issue_visitor_token, read_visitor_token

    token = issue_visitor_token(desk.channel.pk)
    message = await _customer_writes(desk.channel, visitor=read_visitor_token(token).visitor_id)
    customer = chat_socket(token)
    assert (await customer.connect(timeout=10))[0]
    comm = await _desk_for(desk.agent)
    await comm.send_json_to({"type": "resume", "conversation_id": message.conversation_id})
    await receive_until(comm, lambda f: f["type"] == "history")
    for _ in range(3):  # typing goes out as often as the composer says so
        await comm.send_json_to({"type": "typing", "conversation_id": message.conversation_id})
        assert await receive_until(customer, lambda f: f["type"] == "typing") == {
            "type": "typing",
            "name": "小美",
        }
    await customer.disconnect()
    await comm.disconnect()


@pytest.mark.parametrize(
    ("frame", "field"),
    [
        ({"type": "typing"}, "conversation_id"),
        ({"type": "read", "conversation_id": 1, "message_id": "x"}, "message_id"),
        ({"type": "resume", "conversation_id": 1, "after": -1}, "after"),
        ({"type": "message", "conversation_id": 1, "text": "hi"}, "type"),
    ],
)
async def test_bad_desk_frame_gets_an_error_and_the_socket_stays_open(desk, frame, field):
    comm = await _desk_for(desk.agent)
    await comm.send_json_to(frame)
    error = await receive_until(comm, lambda f: True)
    assert error["type"] == "error" and error["field"] == field
    await _customer_writes(desk.channel)
    await receive_until(comm, _event("message.created"))
    await comm.disconnect()


async def test_deactivated_user_session_is_closed_with_4401(desk, make_user):
    user = await database_sync_to_async(make_user)("left", role=Role.AGENT)
    key = await database_sync_to_async(session_for)(user)
    user.is_active = False
    await database_sync_to_async(user.save)()
    assert await close_code(desk_socket(key)) == 4401


async def test_events_are_forwarded_while_the_database_thread_is_busy(desk):
    import asyncio
    import time

    from asgiref.sync import sync_to_async

    from kefu.core.events import desk_user_group

    comm = await _desk_for(desk.agent)
    # Another socket's slow write occupies the one thread that runs database work.
    busy = asyncio.create_task(sync_to_async(time.sleep)(1.5))
    await asyncio.sleep(0.05)
    await get_channel_layer().group_send(
        desk_user_group(desk.agent.pk),
        {"type": "desk.event", "payload": {"id": "e-1", "event": "ping", "at": "", "data": {}}},
    )
    frame = await receive_until(comm, _event("ping"), timeout=0.8)
    assert frame["id"] == "e-1"
    assert not busy.done()
    await busy
    await comm.disconnect()


async def test_a_desk_that_falls_hundreds_of_events_behind_still_gets_every_one(desk):
    import asyncio

    from kefu.core.events import desk_user_group

    comm = await _desk_for(desk.agent)
    layer = get_channel_layer()
    # Sent faster than the socket's task gets to run, as on a server whose loop lags behind
    # its publishers (25 at a time: a Redis layer's connection pool has its own limit). At
    # channels' default capacity (100 a channel) the layer dropped the rest without a
    # word, and bench/load.py found message events missing from desks.
    for batch in range(10):
        await asyncio.gather(
            *(
                layer.group_send(
                    desk_user_group(desk.agent.pk),
                    {
                        "type": "desk.event",
                        "payload": {"id": f"e-{i}", "event": "ping", "at": "", "data": {}},
                    },
                )
                for i in range(batch * 25, batch * 25 + 25)
            )
        )
    frames = await drain(comm, quiet=0.5)
    assert sorted(f["id"] for f in frames if f.get("event") == "ping") == sorted(f"e-{i}" for i in range(250))
    await comm.disconnect()


# --- fan-out: full frames for what the desk owns or has open, counts for the rest ---------


async def test_a_teammates_desk_gets_counts_not_the_text_until_it_opens_the_conversation(
    desk, make_user, settings
):
    settings.KEFU_DESK_ACTIVITY_SECONDS = 0.05
    colleague = await database_sync_to_async(make_user)(
        "xiaoli", teams=(desk.team,), status=AgentStatus.OFFLINE, display_name="小丽"
    )
    owner, other = await _desk_for(desk.agent), await _desk_for(colleague)
    first = await _customer_writes(desk.channel, "你好，想退货")
    assert "message.created" in _events(await drain(other, quiet=0.5))  # the new-conversation notice
    await drain(owner, quiet=0.1)

    await _customer_writes(desk.channel, "订单号 YJ20261118001，手机 13812345678")
    await _customer_writes(desk.channel, "麻烦尽快处理")
    mine = await drain(owner, quiet=0.4)
    assert [f["data"]["message"]["text"] for f in mine if f.get("event") == "message.created"] == [
        "订单号 YJ20261118001，手机 138****5678",
        "麻烦尽快处理",
    ]
    assert not [f for f in mine if f["type"] == "activity"]
    theirs = await drain(other, quiet=0.4)
    assert _events(theirs) == []
    counts = [c for f in theirs if f["type"] == "activity" for c in f["conversations"]]
    assert sum(c["incoming"] for c in counts) == 2
    assert {c["conversation_id"] for c in counts} == {first.conversation_id}
    assert counts[0]["assignee_id"] == desk.agent.pk and "13812345678" not in str(theirs)

    # Opened on the colleague's desk, the conversation's messages arrive there in full …
    await other.send_json_to({"type": "resume", "conversation_id": first.conversation_id, "after": first.pk})
    history = await receive_until(other, lambda f: f["type"] == "history")
    assert [m["text"] for m in history["messages"] if m["direction"] == "incoming"][-1] == "麻烦尽快处理"
    await _customer_writes(desk.channel, "在吗")
    frame = await receive_until(other, _event("message.created"))
    assert frame["data"]["message"]["text"] == "在吗"
    # … until it is closed there again.
    await other.send_json_to({"type": "unwatch", "conversation_id": first.conversation_id})
    await drain(other, quiet=0.2)
    await _customer_writes(desk.channel, "还有人吗")
    after = await drain(other, quiet=0.4)
    assert _events(after) == [] and [f["type"] for f in after] == ["activity"]
    await owner.disconnect()
    await other.disconnect()


async def test_a_desk_may_not_open_a_conversation_it_may_not_see(desk, make_team, make_user):
    other_team = await database_sync_to_async(make_team)("售后")
    outsider = await database_sync_to_async(make_user)("laowang", teams=(other_team,))
    message = await _customer_writes(desk.channel, "发票抬头写错了")
    comm = await _desk_for(outsider)
    await comm.send_json_to({"type": "resume", "conversation_id": message.conversation_id})
    assert (await receive_until(comm, lambda f: True))["type"] == "error"
    await _customer_writes(desk.channel, "能改吗")
    assert await drain(comm, quiet=0.4) == []
    await comm.disconnect()


# --- the socket follows the session, the account and the agent's teams ------------------


async def test_moving_an_agent_to_another_team_moves_their_socket(desk, make_user, make_team):
    from kefu.accounts.services import do_set_teams

    admin = await database_sync_to_async(make_user)("root", role=Role.ADMIN)
    other = await database_sync_to_async(make_team)("售后服务")
    comm = await _desk_for(desk.agent)
    await database_sync_to_async(do_set_teams)(actor=admin, user=desk.agent, teams=[other])
    frame = await receive_until(comm, lambda f: f["type"] == "access")
    assert frame["groups"] == 2  # their own group and the new team's
    # The old team's conversations no longer reach them.
    await _customer_writes(desk.channel)
    assert not [f for f in await drain(comm) if f["type"] == "event"]
    await comm.disconnect()


async def test_a_conversation_open_on_a_moved_agents_desk_stops_reaching_it(desk, make_user, make_team):
    from kefu.accounts.services import do_set_teams

    admin = await database_sync_to_async(make_user)("root", role=Role.ADMIN)
    colleague = await database_sync_to_async(make_user)("xiaoli", teams=(desk.team,), display_name="小丽")
    other = await database_sync_to_async(make_team)("售后服务")
    first = await _customer_writes(desk.channel, "你好，想换货")
    comm = await _desk_for(colleague)
    await comm.send_json_to({"type": "resume", "conversation_id": first.conversation_id})
    await receive_until(comm, lambda f: f["type"] == "history")
    await _customer_writes(desk.channel, "换成蓝色的")
    assert (await receive_until(comm, _event("message.created")))["data"]["message"]["text"] == "换成蓝色的"

    await database_sync_to_async(do_set_teams)(actor=admin, user=colleague, teams=[other])
    frame = await receive_until(comm, lambda f: f["type"] == "access")
    assert frame["groups"] == 2  # their own group and the new team's; no open conversation kept
    await _customer_writes(desk.channel, "尺码 M")
    assert await drain(comm, quiet=0.5) == []
    await comm.disconnect()


async def test_logging_out_closes_the_socket_of_that_session_only(desk, client):
    from django.contrib.auth import logout
    from django.test import RequestFactory

    first = await _desk_for(desk.agent)
    second = await _desk_for(desk.agent)  # another browser, its own session

    def log_out_first_session() -> None:
        from django.contrib.sessions.backends.db import SessionStore

        request = RequestFactory().post("/logout/")
        request.user = desk.agent
        request.session = SessionStore(first.scope["headers"][-1][1].decode().split("=", 1)[1])
        logout(request)

    await database_sync_to_async(log_out_first_session)()
    out = await first.receive_output(timeout=10)
    assert out == {"type": "websocket.close", "code": 4401}
    await _customer_writes(desk.channel)
    await receive_until(second, _event("message.created"))
    await second.disconnect()


async def test_the_timer_closes_a_socket_whose_account_was_disabled(desk, settings):
    from kefu.accounts.models import User

    settings.KEFU_DESK_RECHECK_SECONDS = 0.2
    comm = await _desk_for(desk.agent)
    # Disabled behind kefu's back (the Django admin): no push, the timer notices.
    await database_sync_to_async(User.objects.filter(pk=desk.agent.pk).update)(is_active=False)
    out = await comm.receive_output(timeout=10)
    assert out == {"type": "websocket.close", "code": 4401}


async def test_the_timer_closes_a_socket_whose_session_expired(desk, settings):
    from django.contrib.sessions.models import Session

    settings.KEFU_DESK_RECHECK_SECONDS = 0.2
    comm = await _desk_for(desk.agent)
    await database_sync_to_async(Session.objects.all().delete)()
    out = await comm.receive_output(timeout=10)
    assert out == {"type": "websocket.close", "code": 4401}


async def test_promoting_an_agent_to_supervisor_lets_them_hear_every_team(
    desk, make_user, make_channel, make_team
):
    from kefu.accounts.services import do_change_role

    admin = await database_sync_to_async(make_user)("root", role=Role.ADMIN)
    elsewhere = await database_sync_to_async(make_team)("技术支持")
    channel = await database_sync_to_async(make_channel)("app", team=elsewhere, name="App")
    comm = await _desk_for(desk.agent)
    await database_sync_to_async(do_change_role)(actor=admin, user=desk.agent, role=Role.SUPERVISOR)
    await receive_until(comm, lambda f: f["type"] == "access")
    await _customer_writes(channel, visitor="v-9")
    await receive_until(comm, _event("conversation.created"))
    await comm.disconnect()


# --- a new conversation: who hears it, and in which order ------------------------------


@pytest.fixture
def routed(desk, make_team, make_user):
    """The web channel's team is 售前咨询, but a keyword rule sends refunds to 售后服务."""
    from kefu.routing.models import RoutingRule

    after_sales = make_team("售后服务")
    RoutingRule.objects.create(
        name="退款", keywords=["退款", "退貨", "退货"], team=after_sales, priority="P3"
    )
    agent = make_user("xiaoli", teams=(after_sales,), status=AgentStatus.ONLINE, display_name="小李")
    lead = make_user("laozhou", role=Role.TEAM_LEAD, teams=(after_sales,), display_name="周组长")
    presales_lead = make_user("laochen", role=Role.TEAM_LEAD, teams=(desk.team,), display_name="陈组长")
    return type(
        "Routed", (), {"team": after_sales, "agent": agent, "lead": lead, "presales_lead": presales_lead}
    )


def _events(frames: list[dict[str, Any]]) -> list[str]:
    return [f["event"] for f in frames if f["type"] == "event"]


async def test_a_new_conversation_is_announced_to_the_team_it_is_routed_to_in_order(desk, routed):
    presales, presales_lead = await _desk_for(desk.agent), await _desk_for(routed.presales_lead)
    agent, lead = await _desk_for(routed.agent), await _desk_for(routed.lead)
    message = await _customer_writes(desk.channel, "你们什么破店！！！三天了还不给我退款，气死我了")

    frames = [f for f in await drain(agent, quiet=0.8) if f["type"] == "event"]
    assert _events(frames)[:2] == ["conversation.created", "message.created"]
    created, posted = frames[0], frames[1]
    assert created["data"]["conversation"]["team_id"] == routed.team.pk
    assert created["data"]["conversation"]["priority"] == "P3"  # the rule's, known before it is announced
    assert posted["data"]["message"]["id"] == message.pk
    assert posted["data"]["conversation"]["assignee_id"] is None  # true when it was published
    assigned = next(f for f in frames if f["event"] == "conversation.assigned")
    assert assigned["data"]["conversation"]["assignee_id"] == routed.agent.pk
    assert _events(frames).index("conversation.assigned") > _events(frames).index("message.created")
    # Every event about the conversation carries it and its number, which only grows.
    seqs = [f["seq"] for f in frames if f.get("conversation_id") == message.conversation_id]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))

    lead_events = _events(await drain(lead, quiet=0.3))
    assert lead_events[:3] == ["conversation.created", "message.created", "conversation.emotion_alert"]
    # The channel's own team never sees the conversation, so it hears nothing of it.
    assert await drain(presales, quiet=0.3) == []
    assert await drain(presales_lead, quiet=0.3) == []
    for comm in (presales, presales_lead, agent, lead):
        await comm.disconnect()


async def test_the_alert_of_a_first_message_names_the_routed_teams_lead_then_the_agent_it_is_given_to(
    desk, routed
):
    agent, lead = await _desk_for(routed.agent), await _desk_for(routed.lead)
    message = await _customer_writes(desk.channel, "不给我退款我就去12315投诉你们，还要找媒体曝光！")

    alert = await receive_until(lead, _event("conversation.emotion_alert"))
    assert alert["data"]["level"] == "complaint_risk"
    assert alert["data"]["notify_user_ids"] == [routed.lead.pk]  # nobody is assigned yet
    assert alert["data"]["conversation_id"] == message.conversation_id

    frames = [f for f in await drain(agent, quiet=0.8) if f["type"] == "event"]
    names = _events(frames)
    # The agent routing picks hears the alert again with the assignment, addressed to them.
    assert names.index("conversation.assigned") < len(names) - 1 - names[::-1].index(
        "conversation.emotion_alert"
    )
    told = [f for f in frames if f["event"] == "conversation.emotion_alert"]
    assert [f["data"]["notify_user_ids"] for f in told][-1] == [routed.agent.pk]
    assert told[-1]["data"]["id"] == alert["data"]["id"]
    await agent.disconnect()
    await lead.disconnect()


async def test_nobody_online_the_customer_message_comes_before_the_queue_position_reply(
    desk, make_user, settings
):
    from kefu.accounts.models import User

    settings.KEFU_DESK_ACTIVITY_SECONDS = 0.05
    await database_sync_to_async(User.objects.filter(pk=desk.agent.pk).update)(status=AgentStatus.OFFLINE)
    comm = await _desk_for(desk.agent)
    message = await _customer_writes(desk.channel, "在吗？想问下空气炸锅几号发货")
    all_frames = await drain(comm, quiet=0.8)
    frames = [f for f in all_frames if f["type"] == "event"]
    # The team hears the new conversation in full, the queue-position reply as activity.
    assert _events(frames)[:2] == ["conversation.created", "message.created"]
    assert frames[1]["data"]["message"]["id"] == message.pk
    assert "conversation.assigned" not in _events(frames)
    activity = [c for f in all_frames if f["type"] == "activity" for c in f["conversations"]]
    assert [(c["conversation_id"], c["incoming"]) for c in activity] == [(message.conversation_id, 0)]
    # Opened on the desk, the conversation reads in order: the message, then the reply.
    await comm.send_json_to({"type": "resume", "conversation_id": message.conversation_id})
    history = await receive_until(comm, lambda f: f["type"] == "history")
    posted = [m for m in history["messages"] if m["direction"] != "activity"]
    assert [(m["direction"], m["kind"]) for m in posted] == [("incoming", "text"), ("outgoing", "auto")]
    await comm.disconnect()


async def test_acknowledging_an_alert_tells_the_agent_and_the_leads(desk, routed):
    from kefu.understanding.models import EmotionAlert
    from kefu.understanding.services import do_acknowledge_alert

    message = await _customer_writes(desk.channel, "退款拖了一个月，我已经找了律师，准备起诉你们")
    agent, lead = await _desk_for(routed.agent), await _desk_for(routed.lead)
    alert = await database_sync_to_async(EmotionAlert.objects.get)(conversation_id=message.conversation_id)
    await database_sync_to_async(do_acknowledge_alert)(actor=routed.lead, alert_id=alert.pk)
    for comm in (agent, lead):
        frame = await receive_until(comm, _event("conversation.alert_acknowledged"))
        assert frame["data"]["id"] == alert.pk
        assert frame["data"]["acknowledged_by_name"] == "周组长"
        assert frame["data"]["acknowledged_at"]
        await comm.disconnect()


async def test_desk_socket_gets_numbers_masked_live_and_on_resume(desk):
    comm = await _desk_for(desk.agent)
    message = await _customer_writes(desk.channel, "我电话 13812345678，卡号 6222021234567890128")
    masked = "我电话 138****5678，卡号 6222***********0128"
    live = await receive_until(comm, _event("message.created"))
    assert live["data"]["message"]["text"] == masked
    assert live["data"]["message"]["has_pii"] is True
    assert live["data"]["conversation"]["subject"] == masked
    await comm.send_json_to({"type": "resume", "conversation_id": message.conversation_id, "after": 0})
    history = await receive_until(comm, lambda f: f["type"] == "history")
    assert masked in [m["text"] for m in history["messages"]]
    assert all("13812345678" not in m["text"] for m in history["messages"])
    await comm.disconnect()


async def test_a_socket_whose_handler_fails_still_leaves_its_groups(desk, monkeypatch):
    from kefu.conversations.consumers import DeskConsumer

    comm = await _desk_for(desk.agent)
    layer = get_channel_layer()
    left: list[str] = []
    discard = layer.group_discard

    async def spy(group: str, channel: str) -> None:
        left.append(group)
        await discard(group, channel)

    async def fail(self: Any, content: dict[str, Any]) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(layer, "group_discard", spy)
    monkeypatch.setattr(DeskConsumer, "handle_frame", fail)
    await comm.send_json_to({"type": "typing", "conversation_id": 1})
    with pytest.raises(RuntimeError):
        await comm.receive_output(timeout=5)
    assert f"desk.user.{desk.agent.pk}" in left
    assert f"desk.team.{desk.team.pk}" in left
