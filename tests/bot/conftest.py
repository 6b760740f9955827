"""A desk whose web chat and IM channel are answered by the bot first, with a small FAQ."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.test import TestCase

_seq = itertools.count(1)

FAQ = [
    (
        "发票怎么开",
        "下单后在「我的订单」里点「申请开票」，填写抬头和税号，电子发票会在1-3个工作日内发到您的邮箱。",
        ["怎么开发票", "可以开发票吗", "电子发票在哪里申请"],
    ),
    (
        "退货运费谁承担",
        "商品质量问题退货的运费由我们承担；七天无理由退货的运费由您承担，购买了运费险可以获得理赔。",
        ["退货要自己出运费吗", "退货邮费谁出", "七天无理由退货运费怎么算"],
    ),
    (
        "保温杯第一次使用怎么清洗",
        "首次使用前请用温水加少量洗洁精清洗内胆，再用开水烫洗一遍即可，不要用钢丝球。",
        ["新买的保温杯怎么洗", "保温杯有异味怎么办"],
    ),
    (
        "会员积分怎么使用",
        "积分可以在结算时抵扣现金，100积分抵1元，每笔订单最多抵扣订单金额的20%。",
        ["积分能抵钱吗", "积分怎么兑换"],
    ),
    (
        "修改收货地址",
        "订单发货前可以在「我的订单」里修改收货地址；已经发货的订单请联系快递改派。",
        ["地址填错了怎么改", "怎么改收货地址"],
    ),
]


@pytest.fixture(autouse=True)
def _fresh_index() -> Iterator[None]:
    from kefu.kb.index import reset_index

    reset_index()
    yield
    reset_index()


@pytest.fixture
def faq(make_user: Any) -> dict[str, Any]:
    from kefu.accounts.models import Role
    from kefu.kb.services import do_create_article

    editor = make_user(f"kbeditor{next(_seq)}", role=Role.SUPERVISOR)
    out = {}
    for title, answer, similar in FAQ:
        out[title] = do_create_article(
            actor=editor,
            data={"title": title, "answer": answer, "similar_questions": similar, "status": "published"},
        )
    return out


@pytest.fixture
def bot(desk: Any, make_user: Any, make_channel: Any, faq: dict[str, Any], open_all_week: None) -> Any:
    """The desk (one agent online) with the bot on for its web chat and a WeChat-style IM channel."""
    from kefu.accounts.models import Role
    from kefu.bot.services import do_save_setting

    admin = make_user(f"admin{next(_seq)}", role=Role.ADMIN)
    im = make_channel("im", team=desk.team, name="微信公众号")
    for channel in (desk.channel, im):
        do_save_setting(actor=admin, channel_id=channel.pk, team_id=None, data={"enabled": True})
    return SimpleNamespace(**vars(desk), admin=admin, im=im, faq=faq)


def chat(channel: Any, visitor_id: str, text: str) -> Any:
    """A web-chat visitor writes; returns the stored message."""
    from kefu.bot.services import do_receive_chat_and_answer
    from kefu.channels.visitor import Visitor

    with TestCase.captureOnCommitCallbacks(execute=True):  # routing runs after the commit
        message, _created = do_receive_chat_and_answer(
            channel=channel,
            visitor=Visitor(visitor_id=visitor_id, channel_id=channel.pk),
            ip="203.0.113.9",
            text=text,
            client_msg_id=f"c-{next(_seq)}",
        )
    return message


def im_says(channel: Any, sender: str, text: str) -> Any:
    from kefu.bot.services import do_receive_platform_and_answer
    from kefu.channels.services import PlatformMessage

    n = next(_seq)
    with TestCase.captureOnCommitCallbacks(execute=True):
        message, _created = do_receive_platform_and_answer(
            channel=channel,
            delivery_id=f"d-{n}",
            incoming=PlatformMessage(sender_id=sender, sender_name="王女士", message_id=f"pm-{n}", text=text),
        )
    return message


def bot_lines(conversation_id: int) -> list[Any]:
    """What the customer was told after their messages (bot lines and routing's replies), in order."""
    from kefu.conversations.models import Message

    return list(
        Message.objects.filter(
            conversation_id=conversation_id, direction=Message.Direction.OUTGOING, is_private=False
        ).order_by("id")
    )


def make_order(customer: Any, order_no: str, **kw: Any) -> Any:
    from decimal import Decimal

    from django.utils import timezone

    from kefu.customers.models import LogisticsEvent, Order, OrderItem

    events = kw.pop("events", [])
    order = Order.objects.create(
        customer=customer,
        order_no=order_no,
        amount=Decimal("199.00"),
        placed_at=timezone.now() - timedelta(days=3),
        **kw,
    )
    OrderItem.objects.create(order=order, name="316不锈钢保温杯 500ml", price=Decimal("199.00"))
    for hours_ago, location, description in events:
        LogisticsEvent.objects.create(
            order=order,
            at=timezone.now() - timedelta(hours=hours_ago),
            location=location,
            description=description,
        )
    return order
