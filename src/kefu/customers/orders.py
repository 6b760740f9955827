"""Customers, top floor: orders, their items and logistics, from a store.

Orders arrive through the API (a store pushing them) or a CSV import; both go through
``do_upsert_order``, which is idempotent on the order number. The shipping address is
personal data: it leaves masked unless revealed (``services.do_reveal_pii``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from kefu.accounts.access import check_desk_user, check_grant
from kefu.accounts.models import Grant, User
from kefu.core.errors import InvalidInput, NotFound
from kefu.core.fields import check_characters, check_text

from .identities import _follow_merges, do_resolve_customer
from .models import Customer, Identity, LogisticsEvent, Order, OrderItem

MAX_ORDER_ITEMS = 200
MAX_LOGISTICS_EVENTS = 200


@dataclass(frozen=True)
class OrderChange:
    """What one write did to an order, handed to the listeners inside its transaction."""

    order: Order
    created: bool
    old_payment_status: str | None
    old_shipping_status: str | None
    added_events: int


# Called with every ``OrderChange`` inside the writing transaction (proactive service
# registers here when Django starts): a registration, so this floor imports nothing above it.
OrderListener = Callable[[OrderChange], object]
_order_listeners: list[OrderListener] = []


def register_order_listener(listener: OrderListener) -> None:
    """Have every order write call ``listener`` in its transaction (idempotent)."""
    if listener not in _order_listeners:
        _order_listeners.append(listener)


def _tell_listeners(change: OrderChange) -> None:
    for listener in _order_listeners:
        listener(change)


@dataclass(frozen=True)
class _Item:
    sku: str
    name: str
    quantity: int
    price: Decimal


@dataclass(frozen=True)
class _Event:
    at: datetime
    location: str
    description: str


def _decimal(value: Any, field: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
        raise InvalidInput(f"{field} 必须是数字", fields={field: "必须是数字"})
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise InvalidInput(f"{field} 必须是数字", fields={field: "必须是数字"}) from exc
    if not number.is_finite():
        raise InvalidInput(f"{field} 必须是数字", fields={field: "必须是有限数字"})
    if number < 0:
        raise InvalidInput(f"{field} 不能为负数", fields={field: "不能为负数"})
    if number != number.quantize(Decimal("0.01")) or number >= Decimal("1e10"):
        raise InvalidInput(f"{field} 格式不正确", fields={field: "最多两位小数，小于 100 亿"})
    return number.quantize(Decimal("0.01"))


MAX_UTC_OFFSET = timedelta(hours=16)


def _datetime(value: Any, field: str) -> datetime:
    if isinstance(value, str):
        text = value.strip()
        try:
            parsed = parse_datetime(text.replace("/", "-"))
        except ValueError:
            parsed = None
        if parsed is None:
            raise InvalidInput(
                f"{field} 时间格式不正确", fields={field: "应为 ISO 时间，如 2026-11-20T14:30:00+08:00"}
            )
        value = parsed
    if not isinstance(value, datetime):
        raise InvalidInput(f"{field} 必须是时间", fields={field: "必须是时间"})
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    offset = value.utcoffset()
    # PostgreSQL keeps offsets up to ±15:59 (Python allows ±23:59): beyond is a typo.
    if offset is not None and abs(offset) >= MAX_UTC_OFFSET:
        raise InvalidInput(f"{field} 时区偏移无效", fields={field: "时区偏移应在 ±15:59 以内，如 +08:00"})
    return value


def _choice(value: Any, field: str, choices: type[Order.Payment] | type[Order.Shipping]) -> str:
    if value not in choices.values:
        raise InvalidInput(f"{field} 无效：{value}", fields={field: f"应为 {', '.join(choices.values)} 之一"})
    return str(value)


def _clean_items(items: Any) -> list[_Item]:
    if not isinstance(items, list | tuple):
        raise InvalidInput("商品明细必须是列表", fields={"items": "必须是列表"})
    if len(items) > MAX_ORDER_ITEMS:
        raise InvalidInput("商品明细过多", fields={"items": f"最多 {MAX_ORDER_ITEMS} 项"})
    cleaned = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise InvalidInput("商品明细无效", fields={f"items.{i}": "必须是对象"})
        quantity = item.get("quantity", 1)
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= 100000:
            raise InvalidInput("商品数量无效", fields={f"items.{i}.quantity": "1 到 100000 之间的整数"})
        if "price" not in item:
            raise InvalidInput("缺少商品单价", fields={f"items.{i}.price": "必填"})
        cleaned.append(
            _Item(
                sku=check_text(item.get("sku", ""), field=f"items.{i}.sku", max_len=64, required=False),
                name=check_text(item.get("name"), field=f"items.{i}.name", max_len=128),
                quantity=quantity,
                price=_decimal(item["price"], f"items.{i}.price"),
            )
        )
    return cleaned


def _clean_events(events: Any, field: str = "logistics") -> list[_Event]:
    if not isinstance(events, list | tuple):
        raise InvalidInput("物流记录必须是列表", fields={field: "必须是列表"})
    if len(events) > MAX_LOGISTICS_EVENTS:
        raise InvalidInput("物流记录过多", fields={field: f"最多 {MAX_LOGISTICS_EVENTS} 条"})
    cleaned = []
    for i, event in enumerate(events):
        if not isinstance(event, Mapping):
            raise InvalidInput("物流记录无效", fields={f"{field}.{i}": "必须是对象"})
        if "at" not in event:
            raise InvalidInput("物流记录缺少时间", fields={f"{field}.{i}.at": "必填"})
        cleaned.append(
            _Event(
                at=_datetime(event["at"], f"{field}.{i}.at"),
                location=check_text(
                    event.get("location", ""), field=f"{field}.{i}.location", max_len=128, required=False
                ),
                description=check_text(
                    event.get("description"), field=f"{field}.{i}.description", max_len=255
                ),
            )
        )
    return cleaned


def _order_customer(customer_id: Any, identity: Any, customer_name: str) -> Customer:
    """Inside the order's transaction: by id, else by identity (created if new)."""
    if customer_id is not None:
        if isinstance(customer_id, bool) or not isinstance(customer_id, int):
            raise InvalidInput("customer_id 必须是整数", fields={"customer_id": "必须是整数"})
        customer = Customer.objects.filter(pk=customer_id).first()
        if customer is None:
            raise InvalidInput(f"客户 {customer_id} 不存在", fields={"customer_id": "客户不存在"})
        return _follow_merges(customer)
    if not isinstance(identity, Mapping) or not identity.get("kind") or not identity.get("value"):
        raise InvalidInput(
            "请指定客户：customer_id 或身份 {kind, value}",
            fields={"customer": "customer_id 与 customer{kind, value} 至少填一个"},
        )
    kind, value = identity["kind"], identity["value"]
    if kind not in Identity.Kind.values:
        raise InvalidInput(
            f"未知身份类型：{kind}", fields={"customer.kind": f"应为 {', '.join(Identity.Kind.values)} 之一"}
        )
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > 255:
        raise InvalidInput("身份标识无效", fields={"customer.value": "必填，最多255个字符"})
    return do_resolve_customer([(kind, value)], name=customer_name)


def _add_events(order: Order, events: Sequence[_Event]) -> int:
    """Append events not stored yet; the same (time, description) twice is one event."""
    if not events:
        return 0
    seen = set(order.logistics.values_list("at", "description"))
    new = []
    for e in events:
        if (e.at, e.description) in seen:
            continue
        seen.add((e.at, e.description))
        new.append(LogisticsEvent(order=order, at=e.at, location=e.location, description=e.description))
    LogisticsEvent.objects.bulk_create(new)
    return len(new)


def check_may_write_orders(actor: User | None) -> None:
    """Orders are the store's record: written by integrations whose token carries
    ``orders.write``, by roles an admin granted it, and by the command line (``actor=None``)."""
    if actor is not None:
        check_grant(actor, Grant.ORDERS_WRITE)


def do_upsert_order(
    *,
    actor: User | None,
    order_no: Any,
    amount: Any,
    placed_at: Any,
    customer_id: Any = None,
    customer: Any = None,
    customer_name: Any = "",
    payment_status: Any = Order.Payment.PAID,
    shipping_status: Any = Order.Shipping.PENDING,
    carrier: Any = "",
    tracking_no: Any = "",
    address: Any = "",
    currency: Any = "CNY",
    items: Any = (),
    logistics: Any = (),
) -> tuple[Order, bool]:
    """Create or update an order pushed by the store; returns ``(order, created)``.

    Idempotent on ``order_no``: a resend updates the fields, replaces the items with
    the ones sent and adds only logistics events not stored yet. The customer is
    ``customer_id`` or the owner of identity ``customer={"kind", "value"}`` (created
    if new). Inputs may be strings (CSV) or typed values (API); all are checked here.
    """
    check_may_write_orders(actor)
    order_no = check_text(order_no, field="order_no", max_len=64)
    currency = check_text(currency, field="currency", max_len=3, required=False).upper() or "CNY"
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise InvalidInput("币种无效", fields={"currency": "三位字母代码，如 CNY"})
    values: dict[str, Any] = {
        "amount": _decimal(amount, "amount"),
        "placed_at": _datetime(placed_at, "placed_at"),
        "payment_status": _choice(payment_status, "payment_status", Order.Payment),
        "shipping_status": _choice(shipping_status, "shipping_status", Order.Shipping),
        "carrier": check_text(carrier, field="carrier", max_len=32, required=False),
        "tracking_no": check_text(tracking_no, field="tracking_no", max_len=64, required=False),
        "address": check_text(address, field="address", max_len=255, required=False),
        "currency": currency,
    }
    name = check_text(customer_name, field="customer_name", max_len=128, required=False)
    clean_items = _clean_items(items)
    clean_events = _clean_events(logistics)
    with transaction.atomic():
        owner = _order_customer(customer_id, customer, name)
        order = Order.objects.select_for_update().filter(order_no=order_no).first()
        created = order is None
        old_payment = order.payment_status if order is not None else None
        old_shipping = order.shipping_status if order is not None else None
        if order is None:
            try:
                with transaction.atomic():
                    order = Order.objects.create(order_no=order_no, customer=owner, **values)
            except IntegrityError:
                # The same order pushed twice at once: the other push created it.
                order = Order.objects.select_for_update().get(order_no=order_no)
                created = False
                old_payment, old_shipping = order.payment_status, order.shipping_status
        if not created:
            order.customer = owner
            for key, value in values.items():
                setattr(order, key, value)
            order.save()
            order.items.all().delete()
        OrderItem.objects.bulk_create(
            [
                OrderItem(order=order, sku=i.sku, name=i.name, quantity=i.quantity, price=i.price)
                for i in clean_items
            ]
        )
        added = _add_events(order, clean_events)
        _tell_listeners(OrderChange(order, created, old_payment, old_shipping, added))
    return order, created


def access_order(user: User, order_no: str) -> Order:
    check_desk_user(user)
    if "\x00" in order_no:
        raise NotFound("订单不存在")
    order = (
        Order.objects.select_related("customer")
        .prefetch_related("items", "logistics")
        .filter(order_no=order_no)
        .first()
    )
    if order is None:
        raise NotFound(f"订单 {order_no} 不存在")
    return order


def list_orders(
    *, customer_id: int | None = None, payment_status: str = "", shipping_status: str = "", q: str = ""
) -> QuerySet[Order]:
    qs = Order.objects.select_related("customer").prefetch_related("items", "logistics")
    if customer_id is not None:
        qs = qs.filter(customer_id=customer_id)
    if payment_status:
        qs = qs.filter(payment_status=_choice(payment_status, "payment_status", Order.Payment))
    if shipping_status:
        qs = qs.filter(shipping_status=_choice(shipping_status, "shipping_status", Order.Shipping))
    if q:
        q = check_characters(q, field="q").strip()
        qs = qs.filter(Q(order_no=q) | Q(tracking_no=q))
    return qs


def do_add_logistics(
    *, actor: User | None, order: Order, events: Any, shipping_status: Any = None
) -> tuple[Order, int]:
    """Append logistics events (duplicates skipped) and optionally move the shipping status."""
    check_may_write_orders(actor)
    clean = _clean_events(events, "events")
    status = _choice(shipping_status, "shipping_status", Order.Shipping) if shipping_status else None
    if not clean and status is None:
        raise InvalidInput(
            "没有要更新的物流信息", fields={"events": "至少一条物流记录或新的 shipping_status"}
        )
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        old_payment, old_shipping = order.payment_status, order.shipping_status
        added = _add_events(order, clean)
        if status is not None and status != order.shipping_status:
            order.shipping_status = status
            order.save(update_fields=["shipping_status", "updated_at"])
        elif added:
            order.save(update_fields=["updated_at"])
        _tell_listeners(OrderChange(order, False, old_payment, old_shipping, added))
    return order, added
