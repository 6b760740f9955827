"""Fixtures for the script-library tests: the shipped library, and a conversation with an order."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from kefu.conversations.models import Conversation
from kefu.conversations.services import do_receive_customer_message
from kefu.customers.models import Order, OrderItem
from kefu.replies import services
from kefu.replies.library import LIBRARY


@pytest.fixture
def library():
    return services.do_install_library(LIBRARY)


@pytest.fixture
def conversation(desk):
    msg, _ = do_receive_customer_message(
        channel=desk.channel, identities=[("web", "lib")], customer_name="王芳", text="我的快递三天没有更新了"
    )
    conv = Conversation.objects.select_related("customer").get(pk=msg.conversation_id)
    order = Order.objects.create(
        customer=conv.customer,
        order_no="YJ20261120001",
        amount=Decimal("129.00"),
        shipping_status="in_transit",
        carrier="顺丰",
        tracking_no="SF1234567890",
        placed_at=timezone.now(),
    )
    OrderItem.objects.create(order=order, name="悦家保温杯 500ml", quantity=1, price=Decimal("129.00"))
    return conv
