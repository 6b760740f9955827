"""Fixtures for proactive service: the shop's scripts, channels and customers, and a rule factory."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from django.utils import timezone

from kefu.accounts.models import Role
from kefu.customers.identities import do_resolve_customer
from kefu.customers.models import Customer, Order
from kefu.customers.orders import do_upsert_order
from kefu.proactive.models import Kind, Rule
from kefu.replies.models import CannedReply, ShopProfile

SHIPPED_TEXT = "{客户姓名}您好，您在{店铺名称}的订单{订单号}已发货，{快递公司}，运单号{运单号}，请留意查收。"
STALLED_TEXT = "{客户姓名}您好，非常抱歉，您的订单{订单号}在{快递公司}的物流暂时停滞，我们已催促处理，预计{预计送达}送达。"
REFUND_TEXT = "{客户姓名}您好，订单{订单号}的退款{金额}已原路退回，请留意到账。"
LINGER_TEXT = "您好，欢迎光临{店铺名称}！这款商品有什么想了解的吗？点我咨询客服～"


@pytest.fixture
def shop(desk: Any, make_channel: Any, make_user: Any) -> SimpleNamespace:
    ShopProfile.objects.all().delete()
    ShopProfile.objects.create(shop_name="悦家生活旗舰店", service_hours="每天 9:00-21:00")
    email = make_channel("email", team=desk.team, name="邮件客服", email_address="support@yuejia.example")
    im = make_channel(
        "im", team=desk.team, name="微信公众号", outbound_url="https://bridge.example.com/kefu/outbound"
    )
    replies = {
        kind: CannedReply.objects.create(title=title, text=text, scenario=scenario)
        for kind, title, text, scenario in (
            (Kind.ORDER_SHIPPED, "发货通知", SHIPPED_TEXT, "物流查询"),
            (Kind.LOGISTICS_STALLED, "物流停滞致歉", STALLED_TEXT, "物流延迟"),
            (Kind.REFUND_COMPLETED, "退款到账", REFUND_TEXT, "退换货"),
            (Kind.PAGE_LINGER, "商品页邀请", LINGER_TEXT, "售前咨询"),
        )
    }
    admin = make_user("guanliyuan", role=Role.ADMIN, display_name="管理员")
    lead = make_user("zuzhang", role=Role.TEAM_LEAD, teams=(desk.team,), display_name="刘组长")
    return SimpleNamespace(desk=desk, email=email, im=im, replies=replies, admin=admin, lead=lead)


@pytest.fixture
def make_rule(shop: SimpleNamespace) -> Callable[..., Rule]:
    def make(kind: str, **kw: Any) -> Rule:
        values: dict[str, Any] = {"name": dict(Kind.choices)[kind], "reply": shop.replies[kind]}
        if kind == Kind.PAGE_LINGER:
            values["page_kinds"] = ["product", "checkout"]
        values.update(kw)
        return Rule.objects.create(kind=kind, **values)

    return make


@pytest.fixture
def make_customer(db: Any) -> Callable[..., Customer]:
    def make(
        name: str = "李娜", *, email: str = "", identities: tuple[tuple[str, str], ...] = ()
    ) -> Customer:
        ids = list(identities) or [("external", f"yuejia:M{Customer.objects.count() + 100100}")]
        customer = do_resolve_customer(ids, name=name)
        if email:
            Customer.objects.filter(pk=customer.pk).update(email=email)
            customer.email = email
        return customer

    return make


@pytest.fixture
def push_order(db: Any) -> Callable[..., Order]:
    """The store pushing an order, as ``POST /api/v1/orders`` does (after-commit work runs)."""

    def push(customer: Customer, order_no: str, **kw: Any) -> Order:
        values: dict[str, Any] = {
            "amount": Decimal("128.00"),
            "placed_at": timezone.now() - timedelta(days=1),
            "payment_status": "paid",
            "shipping_status": "pending",
            "items": [{"sku": "BWB-500", "name": "真空保温杯 500ml", "quantity": 1, "price": "89.00"}],
        }
        values.update(kw)
        order, _created = do_upsert_order(actor=None, order_no=order_no, customer_id=customer.pk, **values)
        return order

    return push
