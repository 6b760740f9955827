"""A desk with two teams, and helpers to make customers write in (through the real inbound path)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from itertools import count
from types import SimpleNamespace
from typing import Any

import pytest

_seq = count(1)

# The same leaking cup, as different customers put it: Simplified, Traditional, reworded.
LEAKING_CUP = [
    "我买的保温杯漏水，倒了热水就从杯盖那里渗出来",
    "保温杯盖子漏水啊，刚收到就这样",
    "你好，收到的保温杯漏水了，杯盖密封不好",
    "我買的保溫杯漏水，杯蓋那邊一直滲水",
    "保温杯一倒过来就漏水，盖子拧紧了也没用",
    "刚到的保温杯漏水，水从盖子缝里流出来",
    "杯盖漏水，保温杯装热水全漏了",
    "保溫杯蓋子漏水，怎麼處理",
    "新买的保温杯漏水严重，杯盖那圈有问题吧",
    "保温杯漏水，拧紧盖子还是漏",
    "收到保温杯就漏水，盖子密封圈是不是坏了",
    "保温杯杯盖漏水漏了一桌子",
]

# One new problem told in two families of wording that share only 「红包」 (character-bigram
# cosine 0.2 at most between them): five customers each, neither family a surge alone.
RED_PACKET_UNUSABLE = [
    "双十二红包领了用不了",
    "双12红包怎么用不了",
    "雙十二紅包用不了",
    "领的双十二红包用不了，下单不显示",
    "双十二的红包怎么用不了啊",
]
RED_PACKET_NOT_DEDUCTED = [
    "红包付款的时候抵扣不了",
    "付款时红包抵扣不了",
    "结算页面红包没法抵扣",
    "红包付款抵扣不掉",
    "下单付款红包不能抵扣",
]

# Everyday questions about an order, in many wordings, that share 「订单」.
ORDER_QUESTIONS = [
    "我的订单怎么还没发货",
    "订单什么时候能发出",
    "订单物流一直不更新",
    "订单显示已发货但是没有物流",
    "订单好几天了还没到",
    "订单发了什么快递",
    "订单能加急发货吗",
    "催一下我的订单",
    "订单怎么还在仓库",
    "订单怎么还没发出来",
]

OTHER_QUESTIONS = [
    "请问这款羽绒服有没有XL码",
    "我想改一下收货地址",
    "优惠券怎么用不了",
    "发票可以开公司抬头吗",
    "退货运费谁出",
    "会员积分什么时候到账",
]


@pytest.fixture
def shop(
    db: Any,
    make_team: Callable[..., Any],
    make_user: Callable[..., Any],
    make_channel: Callable[..., Any],
    open_all_week: Any,
) -> SimpleNamespace:
    from kefu.accounts.models import AgentStatus, Role

    team = make_team("售后服务", is_general=True)
    other = make_team("海外店")
    agent = make_user(
        "xiaomei", teams=(team,), status=AgentStatus.ONLINE, display_name="小美", max_concurrent=50
    )
    lead = make_user("zuzhang", role=Role.TEAM_LEAD, teams=(team,), display_name="李组长")
    other_lead = make_user("haiwai", role=Role.TEAM_LEAD, teams=(other,), display_name="海外组长")
    other_agent = make_user("haiwai_kf", teams=(other,), display_name="海外客服")
    supervisor = make_user("zhuguan", role=Role.SUPERVISOR, display_name="王主管")
    channel = make_channel("web", team=team, name="官网在线客服")
    other_channel = make_channel("web", team=other, name="海外官网")
    return SimpleNamespace(
        team=team,
        other=other,
        agent=agent,
        lead=lead,
        other_lead=other_lead,
        other_agent=other_agent,
        supervisor=supervisor,
        channel=channel,
        other_channel=other_channel,
    )


@pytest.fixture
def write_in(shop: SimpleNamespace) -> Callable[..., Any]:
    """A new customer writes ``text``; returns the conversation (optionally backdated to ``at``)."""
    from kefu.conversations.models import Conversation
    from kefu.conversations.services import do_receive_customer_message

    def write(text: str, *, channel: Any = None, at: datetime | None = None, name: str = "") -> Conversation:
        n = next(_seq)
        message, _ = do_receive_customer_message(
            channel=channel or shop.channel,
            identities=[("web", f"visitor-{n}")],
            text=text,
            customer_name=name or f"客户{n}",
        )
        conversation = message.conversation
        if at is not None:
            Conversation.objects.filter(pk=conversation.pk).update(created_at=at)
            message.__class__.objects.filter(pk=message.pk).update(created_at=at)
            conversation.refresh_from_db()
        return conversation

    return write
