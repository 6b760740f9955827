"""Live: the board pushed over the desk socket, the wall screen's socket, and what never
reaches the customer (a whisper, a silent observer)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import connections
from django.utils import timezone

from kefu.accounts.models import AgentStatus, Role
from kefu.accounts.services import do_set_status
from kefu.channels.visitor import issue_visitor_token, read_visitor_token
from kefu.conversations.models import Conversation
from kefu.conversations.services import do_receive_customer_message, do_send_agent_message
from kefu.sla.services import do_sweep
from kefu.tickets.models import Ticket
from kefu.tickets.services import do_create_ticket
from kefu.wallboard.services import (
    do_create_display_token,
    do_observe_conversation,
    do_revoke_display_token,
    do_whisper,
)
from tests.realtime.sockets import chat_socket, close_code, desk_socket, drain, receive_until, session_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def quick_board(settings: Any) -> None:
    settings.KEFU_WALLBOARD_DEBOUNCE_SECONDS = 0.05
    settings.KEFU_WALLBOARD_REFRESH_SECONDS = 30


@pytest.fixture(autouse=True)
async def fresh_layer() -> Any:
    yield
    layer = get_channel_layer()
    if hasattr(layer, "flush"):
        await layer.flush()


@pytest.fixture
def shop(make_team, make_user, make_channel, open_all_week):
    presale = make_team("售前咨询", is_general=True)
    aftersale = make_team("售后服务")
    agent = make_user("xiaomei", teams=(presale,), status=AgentStatus.ONLINE, display_name="小美")
    colleague = make_user("ajie", teams=(presale,), status=AgentStatus.BUSY, display_name="阿杰")
    lead = make_user("lead_a", role=Role.TEAM_LEAD, teams=(presale,), display_name="陈组长")
    lead_b = make_user("lead_b", role=Role.TEAM_LEAD, teams=(aftersale,), display_name="林组长")
    supervisor = make_user("zhuguan", role=Role.SUPERVISOR, display_name="王主管")
    channel = make_channel("web", team=presale, name="官网在线客服")
    channel_b = make_channel("web", team=aftersale, name="售后在线客服")
    return type("Shop", (), locals())


async def desk_for(user: Any) -> Any:
    comm = desk_socket(await database_sync_to_async(session_for)(user))
    connected, _ = await comm.connect()
    assert connected
    return comm


async def board_for(user: Any) -> tuple[Any, dict[str, Any]]:
    comm = await desk_for(user)
    await comm.send_json_to({"type": "wallboard"})
    frame = await receive_until(comm, lambda f: f["type"] == "wallboard")
    return comm, frame["snapshot"]


def writes(channel: Any, visitor: str, text: str, name: str = "") -> Conversation:
    message, _ = do_receive_customer_message(
        channel=channel,
        identities=[("web", visitor)],
        text=text,
        client_msg_id=f"{visitor}-1",
        customer_name=name,
    )
    return Conversation.objects.get(pk=message.conversation_id)


def waiting(total: int):
    return lambda f: f["type"] == "wallboard" and f["snapshot"]["queues"]["total"] == total


async def test_a_new_waiting_customer_is_pushed_to_the_supervisors_board(shop):
    await database_sync_to_async(
        lambda: type(shop.agent).objects.filter(pk=shop.agent.pk).update(status=AgentStatus.OFFLINE)
    )()
    comm, first = await board_for(shop.supervisor)
    assert first["queues"]["total"] == 0
    conv = await database_sync_to_async(writes)(shop.channel, "v-1", "这款扫地机器人支持拖地吗？", "周敏")
    frame = await receive_until(comm, waiting(1))
    row = frame["snapshot"]["queues"]["oldest"][0]
    assert row["conversation_id"] == conv.pk and row["customer"] == "周敏" and row["team"] == "售前咨询"
    await comm.disconnect()


async def test_a_leads_board_is_pushed_for_their_team_only(shop):
    await database_sync_to_async(
        lambda: type(shop.agent).objects.filter(pk=shop.agent.pk).update(status=AgentStatus.OFFLINE)
    )()
    comm, first = await board_for(shop.lead)
    assert [t["name"] for t in first["teams"]] == ["售前咨询"]
    await database_sync_to_async(writes)(shop.channel_b, "v-b", "退货地址是哪里？", "吴昊")
    frames = [f for f in await drain(comm, quiet=0.5) if f["type"] == "wallboard"]
    assert all("吴昊" not in str(f) for f in frames)  # team B's customer never on team A's board
    await database_sync_to_async(writes)(shop.channel, "v-a", "这个颜色还有吗？", "郑洁")
    frame = await receive_until(comm, waiting(1))
    assert frame["snapshot"]["queues"]["oldest"][0]["customer"] == "郑洁"
    await comm.disconnect()


async def test_agents_get_no_board_on_their_socket(shop):
    comm = await desk_for(shop.agent)
    await comm.send_json_to({"type": "wallboard"})
    frame = await receive_until(comm, lambda f: f["type"] == "error")
    assert "组长" in frame["detail"]
    assert not [f for f in await drain(comm, quiet=0.3) if f["type"] == "wallboard"]
    await comm.disconnect()


async def _customer_on_socket(shop: Any, text: str) -> tuple[Any, Conversation, str]:
    token = issue_visitor_token(shop.channel.pk)
    visitor = read_visitor_token(token).visitor_id
    conv = await database_sync_to_async(writes)(shop.channel, visitor, text, "钱多多")
    customer = chat_socket(token)
    assert (await customer.connect())[0]
    await customer.send_json_to({"type": "resume", "after": 0})
    await receive_until(customer, lambda f: f["type"] == "history")
    await drain(customer)
    return customer, conv, visitor


async def test_a_whisper_reaches_the_agent_and_never_the_customer(shop):
    customer, conv, _ = await _customer_on_socket(shop, "我的快递三天没动了，怎么回事？")
    conv = await database_sync_to_async(Conversation.objects.get)(pk=conv.pk)
    assert conv.assignee_id == shop.agent.pk
    agent, colleague = await desk_for(shop.agent), await desk_for(shop.colleague)
    await database_sync_to_async(do_whisper)(
        actor=shop.lead, conversation_id=conv.pk, text="先查物流单号再回复"
    )
    frame = await receive_until(agent, lambda f: f.get("event") == "conversation.whisper")
    assert frame["data"]["whisper"]["text"] == "先查物流单号再回复"
    assert await drain(customer, quiet=0.5) == []
    assert not [f for f in await drain(colleague, quiet=0.2) if f.get("event") == "conversation.whisper"]
    # The agent's next reply reaches the customer, and only the reply.
    await database_sync_to_async(do_send_agent_message)(
        agent=shop.agent, conversation_id=conv.pk, text="您好，我马上为您查询物流。"
    )
    frames = await drain(customer, quiet=0.5)
    assert [f["message"]["text"] for f in frames if f["type"] == "message"] == ["您好，我马上为您查询物流。"]
    assert "先查物流单号" not in str(frames)
    for comm in (customer, agent, colleague):
        await comm.disconnect()


async def test_a_silent_observer_is_never_announced_to_the_customer(shop):
    customer, conv, visitor = await _customer_on_socket(shop, "请问发票怎么开？")
    observer = await desk_for(shop.lead)
    data = await database_sync_to_async(do_observe_conversation)(shop.lead, conv.pk)
    assert data["messages"][0]["text"] == "请问发票怎么开？"
    assert await drain(customer, quiet=0.5) == []
    # The observer follows the conversation live: the page opens it on the desk socket.
    await observer.send_json_to({"type": "resume", "conversation_id": conv.pk, "after": 0})
    await receive_until(observer, lambda f: f["type"] == "history")
    await database_sync_to_async(do_receive_customer_message)(
        channel=shop.channel,
        identities=[("web", visitor)],
        text="要开公司抬头的",
        client_msg_id="second",
    )
    frame = await receive_until(observer, lambda f: f.get("event") == "message.created")
    assert frame["data"]["message"]["text"] == "要开公司抬头的"
    assert not [f for f in await drain(customer, quiet=0.3) if f["type"] != "message"]
    await customer.disconnect()
    await observer.disconnect()


def display_socket(key: str) -> Any:
    from channels.testing import WebsocketCommunicator

    from kefu.asgi import application
    from tests.realtime.sockets import ORIGIN

    return WebsocketCommunicator(application, f"/ws/wallboard/?token={key}", headers=[ORIGIN])


async def test_the_wall_screen_socket_is_read_only_and_ends_when_revoked(shop):
    token, key = await database_sync_to_async(do_create_display_token)(
        actor=shop.supervisor, name="大厅电视", team_id=shop.presale.pk
    )
    screen = display_socket(key)
    assert (await screen.connect())[0]
    first = await receive_until(screen, lambda f: f["type"] == "wallboard")
    assert first["snapshot"]["display"] is True
    await database_sync_to_async(
        lambda: type(shop.agent).objects.filter(pk=shop.agent.pk).update(status=AgentStatus.OFFLINE)
    )()
    await database_sync_to_async(writes)(shop.channel, "v-tv", "在吗？想问下保修", "孙悦")
    frame = await receive_until(screen, waiting(1))
    assert frame["snapshot"]["queues"]["oldest"][0]["customer"] == "孙*"  # masked on a wall screen
    assert "孙悦" not in str(frame) and "保修" not in str(frame)
    # It cannot act, and hears no event itself.
    await screen.send_json_to({"type": "resume", "conversation_id": 1})
    refused = await receive_until(screen, lambda f: f["type"] == "error")
    assert "只读" in refused["detail"]
    assert not [f for f in await drain(screen, quiet=0.3) if f["type"] == "event"]
    # Revoked: the screen closes at once, and it cannot come back.
    await database_sync_to_async(do_revoke_display_token)(actor=shop.supervisor, token_id=token.pk)
    out = await screen.receive_output(timeout=3)
    while out["type"] != "websocket.close":
        out = await screen.receive_output(timeout=3)
    assert out["code"] == 4401
    # The closed screen's consumer ends (no refresh left holding a database connection).
    await screen.wait(timeout=5)
    assert await close_code(display_socket(key)) == 4401
    assert await close_code(display_socket("wb_unknown")) == 4401
    # The consumers' database thread outlives the test: its connection must not keep
    # PostgreSQL's test database open at teardown.
    await database_sync_to_async(connections.close_all)()


def _agent_status(snapshot: dict[str, Any], name: str) -> str | None:
    return next((a["status"] for a in snapshot["agents"]["items"] if a["name"] == name), None)


async def test_an_agents_status_change_reaches_her_leads_board_at_once(shop):
    # The timed refresh is 30 s here: only the status event itself can wake the board.
    comm, first = await board_for(shop.lead)
    assert _agent_status(first, "阿杰") == AgentStatus.BUSY
    await drain(comm, quiet=0.3)
    await database_sync_to_async(do_set_status)(user=shop.colleague, status=AgentStatus.BREAK, reason="meal")
    frame = await receive_until(
        comm, lambda f: f["type"] == "wallboard" and _agent_status(f["snapshot"], "阿杰") == AgentStatus.BREAK
    )
    assert frame["snapshot"]["agents"]["counts"]["break"] == 1
    await comm.disconnect()


async def test_another_teams_lead_hears_nothing_of_her_status(shop):
    comm, _ = await board_for(shop.lead_b)
    await drain(comm, quiet=0.3)
    await database_sync_to_async(do_set_status)(user=shop.colleague, status=AgentStatus.BREAK, reason="meal")
    frames = await drain(comm, quiet=0.5)
    assert not [f for f in frames if f.get("event") == "agent.status_changed"]
    assert not [f for f in frames if f["type"] == "wallboard"]
    await comm.disconnect()


def _ticket_near_its_first_response(shop: Any) -> Any:
    """A ticket owned by a presale agent whose first-response warning time has come."""
    conv = writes(shop.channel, "v-ticket", "发票抬头开错了，需要重开", "孙丽")
    Conversation.objects.filter(pk=conv.pk).update(assignee=shop.agent)
    ticket = do_create_ticket(actor=shop.agent, conversation_id=conv.pk, title="重开发票：抬头错误")
    now = timezone.now()
    Ticket.objects.filter(pk=ticket.pk).update(
        first_response_at=None,
        first_response_due=now + timedelta(minutes=30),
        first_response_warn_at=now - timedelta(seconds=1),
        first_response_warned_at=None,
    )
    return ticket


async def test_a_ticket_sla_warning_is_pushed_to_the_leads_board(shop):
    comm, first = await board_for(shop.lead)
    assert not [r for r in first["sla"] if r["kind"] == "ticket"]
    ticket = await database_sync_to_async(_ticket_near_its_first_response)(shop)
    await drain(comm, quiet=0.3)
    # The SLA sweep records the warning and announces it to the team: the board follows.
    await database_sync_to_async(do_sweep)()
    frame = await receive_until(
        comm, lambda f: f["type"] == "wallboard" and any(r["kind"] == "ticket" for r in f["snapshot"]["sla"])
    )
    row = next(r for r in frame["snapshot"]["sla"] if r["kind"] == "ticket")
    assert row["ticket_id"] == ticket.pk and row["timer_label"] == "工单首次响应" and row["state"] == "near"
    assert row["team"] == "售前咨询" and row["customer"] == "孙丽"
    await comm.disconnect()
