"""Fixtures for the surveys tests: resolved conversations on web chat, email and an IM platform,
and a team lead for each of two teams."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from kefu.accounts.models import Role
from kefu.conversations.models import Conversation
from kefu.conversations.services import do_receive_customer_message, do_send_agent_message, do_set_status


@pytest.fixture
def shop(desk: Any, make_team: Any, make_user: Any, make_channel: Any) -> SimpleNamespace:
    """The desk, its team lead, and a second team (售后服务) with its own lead, agent and IM channel."""
    lead = make_user("zuzhang", role=Role.TEAM_LEAD, teams=(desk.team,), display_name="李组长")
    other_team = make_team("售后服务")
    other_lead = make_user("shouhou-lead", role=Role.TEAM_LEAD, teams=(other_team,), display_name="赵组长")
    other_agent = make_user("shouhou", teams=(other_team,), display_name="小赵")
    admin = make_user("guanliyuan", role=Role.ADMIN, display_name="管理员")
    email = make_channel("email", team=desk.team, name="邮件客服", email_address="kefu@shop.example")
    im = make_channel(
        "im", team=other_team, name="微信客服", outbound_url="https://im.example.com/kefu/outbound"
    )
    return SimpleNamespace(
        **vars(desk),
        lead=lead,
        other_team=other_team,
        other_lead=other_lead,
        other_agent=other_agent,
        admin=admin,
        email=email,
        im=im,
    )


@pytest.fixture
def resolved(shop: SimpleNamespace) -> Callable[..., Conversation]:
    """A conversation the agent answered and resolved: ``resolved(channel, identity, text)``."""

    def make(
        channel: Any = None,
        identity: tuple[str, str] | None = None,
        text: str = "我的订单YJ20261201号三天了还没发货，能帮我查一下吗？",
    ) -> Conversation:
        channel = channel or shop.channel
        agent = shop.other_agent if channel == shop.im else shop.agent
        if identity is None:
            kind = {"web": "web", "email": "email", "im": "wechat"}[channel.kind]
            value = {"web": "visitor-chen", "email": "chen.xiaoming@example.com", "im": "wx-oChen88"}[
                channel.kind
            ]
            identity = (kind, value)
        msg, _ = do_receive_customer_message(
            channel=channel, identities=[identity], customer_name="陈小明", text=text, subject="订单发货"
        )
        do_send_agent_message(
            agent=agent,
            conversation_id=msg.conversation_id,
            text="您好，已为您催促仓库，今天下午发出。",
            confirm_findings=True,
        )
        return do_set_status(
            actor=agent, conversation_id=msg.conversation_id, status=Conversation.Status.RESOLVED
        )

    return make
