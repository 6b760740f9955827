"""Script library, ground floor: what the composer and the send path ask of it.

Filling a reply's variables (``{订单号}``, ``{物流状态}`` …) from the conversation, its
latest order, the agent and the shop; refusing a reply that still holds one; and
linking a sent message to the script it was inserted from, with how much the agent
edited it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from kefu.accounts.models import User
from kefu.conversations.models import Conversation, Message
from kefu.core.errors import InvalidInput
from kefu.customers.models import Order
from kefu.replies.models import VARIABLE_RE

from .models import ReplyUsage, ShopProfile

USAGE_LINK_WINDOW = timedelta(minutes=30)


def _latest_order(conversation: Conversation) -> Order | None:
    return (
        Order.objects.filter(customer_id=conversation.customer_id)
        .prefetch_related("items", "logistics")
        .order_by("-placed_at")
        .first()
    )


def _shop() -> ShopProfile:
    return ShopProfile.objects.order_by("id").first() or ShopProfile()


@dataclass
class _Context:
    conversation: Conversation
    agent: User
    order: Order | None
    shop: ShopProfile


def _logistics_status(c: _Context) -> str:
    if c.order is None:
        return ""
    latest = next(iter(c.order.logistics.all()), None)
    label = c.order.get_shipping_status_display()
    return f"{label}（{latest.description}）" if latest else label


def _items(c: _Context) -> str:
    if c.order is None:
        return ""
    return "、".join(i.name for i in c.order.items.all())


VARIABLES: dict[str, Callable[[_Context], str]] = {
    "客户姓名": lambda c: c.conversation.customer.name,
    "订单号": lambda c: c.order.order_no if c.order else "",
    "商品": _items,
    "金额": lambda c: f"{c.order.amount}元" if c.order else "",
    "物流状态": _logistics_status,
    "快递公司": lambda c: c.order.carrier if c.order else "",
    "运单号": lambda c: c.order.tracking_no if c.order else "",
    "预计送达": lambda c: "",  # no carrier ETA feed yet: always asked of the agent
    "客服姓名": lambda c: c.agent.display_name or c.agent.name,
    "工号": lambda c: c.agent.employee_no,
    "退货地址": lambda c: c.shop.return_address,
    "店铺名称": lambda c: c.shop.shop_name,
    "客服时间": lambda c: c.shop.service_hours,
}


@dataclass(frozen=True)
class Rendered:
    text: str
    missing: list[str]


def render_text(text: str, *, conversation: Conversation, agent: User) -> Rendered:
    ctx = _Context(conversation, agent, _latest_order(conversation), _shop())
    missing: list[str] = []

    def fill(m: re.Match[str]) -> str:
        name = m.group(1)
        resolver = VARIABLES.get(name)
        value = resolver(ctx) if resolver else ""
        if not value:
            if name not in missing:
                missing.append(name)
            return m.group(0)
        return value

    return Rendered(VARIABLE_RE.sub(fill, text), missing)


def _order_logistics(order: Order) -> str:
    latest = max(order.logistics.all(), key=lambda e: (e.at, e.pk), default=None)
    label = order.get_shipping_status_display()
    return f"{label}（{latest.description}）" if latest else label


def render_for_customer(
    text: str, *, customer_name: str, order: Order | None, extra: dict[str, str] | None = None
) -> Rendered:
    """Fill a script for a message nobody types (proactive service): the customer, one order, the shop.

    No agent is involved, so 客服姓名 and 工号 stay missing; ``extra`` supplies what the
    caller knows and the data does not (预计送达). The caller refuses to send when
    ``missing`` is not empty: a customer never receives a bare ``{运单号}``.
    """
    shop = _shop()
    values: dict[str, str] = {
        "客户姓名": customer_name,
        "店铺名称": shop.shop_name,
        "客服时间": shop.service_hours,
        "退货地址": shop.return_address,
    }
    if order is not None:
        values.update(
            {
                "订单号": order.order_no,
                "商品": "、".join(i.name for i in order.items.all()),
                "金额": f"{order.amount}元",
                "物流状态": _order_logistics(order),
                "快递公司": order.carrier,
                "运单号": order.tracking_no,
            }
        )
    values.update(extra or {})
    missing: list[str] = []

    def fill(m: re.Match[str]) -> str:
        value = values.get(m.group(1), "")
        if not value:
            if m.group(1) not in missing:
                missing.append(m.group(1))
            return m.group(0)
        return value

    return Rendered(VARIABLE_RE.sub(fill, text), missing)


def check_no_unfilled_variables(text: str) -> None:
    """Refuse a reply that still contains a known variable such as ``{订单号}``."""
    unfilled = [name for name in VARIABLE_RE.findall(text) if name in VARIABLES]
    if unfilled:
        raise InvalidInput(
            "回复中还有未填写的变量：" + "、".join(f"{{{n}}}" for n in dict.fromkeys(unfilled)),
            fields={"text": "请先填写变量"},
            extra={"missing_variables": list(dict.fromkeys(unfilled))},
        )


def do_link_sent_message(message: Message) -> ReplyUsage | None:
    """Link an agent's sent message to the canned reply they inserted just before, if any.

    Runs in the send transaction. The similarity of what was sent to what was inserted
    tells how much agents edit each reply.
    """
    if message.sender_id is None:
        return None
    usage = (
        ReplyUsage.objects.filter(
            agent_id=message.sender_id,
            conversation_id=message.conversation_id,
            message__isnull=True,
            created_at__gte=timezone.now() - USAGE_LINK_WINDOW,
        )
        .order_by("-id")
        .first()
    )
    if usage is None:
        return None
    similarity = difflib.SequenceMatcher(None, usage.inserted_text, message.text).ratio()
    if similarity < 0.3:  # the agent wrote something else after all
        return None
    ReplyUsage.objects.filter(pk=usage.pk).update(message=message, similarity=round(similarity, 3))
    return usage
