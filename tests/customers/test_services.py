"""Customer profiles (kefu.customers.services): the timeline across channels, merging."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from kefu.conversations.models import Conversation
from kefu.conversations.services import do_log_call, do_receive_customer_message
from kefu.core.errors import InvalidInput
from kefu.customers.identities import do_resolve_customer
from kefu.customers.models import Customer
from kefu.customers.orders import do_upsert_order
from kefu.customers.services import customer_timeline, do_merge_customers
from kefu.tickets.models import Ticket

pytestmark = pytest.mark.django_db


def order(**kw):
    data = {
        "order_no": "YJ1",
        "customer": {"kind": "app", "value": "u-1"},
        "amount": "10.00",
        "placed_at": timezone.now(),
        "items": [{"name": "杯子", "quantity": 1, "price": "10.00"}],
    }
    data.update(kw)
    return do_upsert_order(actor=None, **data)


def test_timeline_lists_every_channel_ticket_and_call_newest_first(desk, make_channel):
    app = make_channel("app", team=desk.team, name="App")
    phone = make_channel("phone", team=desk.team, name="电话")
    first, _ = do_receive_customer_message(
        channel=desk.channel, identities=[("web", "v1")], text="充电宝能带上飞机吗"
    )
    second, _ = do_receive_customer_message(
        channel=app, identities=[("app", "u1"), ("web", "v1")], text="App 登录不上"
    )
    customer = Conversation.objects.get(pk=first.conversation_id).customer
    call = do_log_call(
        agent=desk.agent,
        conversation_id=None,
        customer_id=customer.pk,
        direction="inbound",
        duration_seconds=90,
        summary="来电咨询发票",
        outcome="resolved",
    )
    assert call.conversation.channel == phone
    Conversation.objects.filter(pk=first.conversation_id).update(
        last_message_at=timezone.now() - timedelta(days=2)
    )
    Ticket.objects.create(number="TK-1", title="发票", customer=customer)
    kinds = [(e["type"], e["id"]) for e in customer_timeline(customer, user=desk.supervisor)]
    assert ("conversation", second.conversation_id) in kinds and ("call", call.pk) in kinds
    assert kinds[-1] == ("conversation", first.conversation_id)
    assert {e["type"] for e in customer_timeline(customer, user=desk.supervisor)} == {
        "conversation",
        "ticket",
        "call",
    }
    ats = [e["at"] for e in customer_timeline(customer, user=desk.supervisor)]
    assert ats == sorted(ats, reverse=True)


def test_merge_moves_conversations_orders_and_later_messages_follow(desk, make_user):
    msg, _ = do_receive_customer_message(channel=desk.channel, identities=[("web", "dup")], text="你好")
    source = Conversation.objects.get(pk=msg.conversation_id).customer
    order(customer={"kind": "web", "value": "dup"})
    target = do_resolve_customer([("phone", "13800000000")], name="真名")
    admin = make_user(role="admin")
    do_merge_customers(actor=admin, source=source, target=target)
    assert target.conversations.count() == 1
    assert target.orders.count() == 1
    # The old identity now resolves to the merged profile.
    assert do_resolve_customer([("web", "dup")]).pk == target.pk


def test_merge_into_a_merged_customer_is_refused(make_user):
    admin = make_user(role="admin")
    a, b, c = (Customer.objects.create(name=n) for n in "abc")
    do_merge_customers(actor=admin, source=a, target=b)
    with pytest.raises(InvalidInput) as exc:
        do_merge_customers(actor=admin, source=c, target=Customer.objects.get(pk=a.pk))
    assert "target_id" in exc.value.fields
