from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from kefu.conversations.models import Conversation
from kefu.conversations.services import do_log_call, do_receive_customer_message
from kefu.core.errors import InvalidInput
from kefu.customers.identities import do_resolve_customer
from kefu.customers.models import Customer, Identity
from kefu.customers.orders import do_add_logistics, do_upsert_order
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
    return do_upsert_order(**data)


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
    kinds = [(e["type"], e["id"]) for e in customer_timeline(customer)]
    assert ("conversation", second.conversation_id) in kinds and ("call", call.pk) in kinds
    assert kinds[-1] == ("conversation", first.conversation_id)
    assert {e["type"] for e in customer_timeline(customer)} == {"conversation", "ticket", "call"}
    ats = [e["at"] for e in customer_timeline(customer)]
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


def test_new_customer_gets_every_identity_and_its_email_and_phone():
    customer = do_resolve_customer(
        [("web", "v-new"), ("email", "Li@Example.com"), ("phone", "13800000001")], name="李雷"
    )
    assert sorted(customer.identities.values_list("kind", "value")) == [
        ("email", "li@example.com"),
        ("phone", "13800000001"),
        ("web", "v-new"),
    ]
    assert (customer.name, customer.email, customer.phone) == ("李雷", "li@example.com", "13800000001")


def test_identity_inserted_by_a_concurrent_request_resolves_to_its_owner(monkeypatch):
    owner = do_resolve_customer([("email", "wang@example.com")], name="王五")
    identities = Identity.objects
    real = identities.select_related
    looks = []

    def first_look_misses_it(*fields):
        # The first look ran before the other request's insert was committed.
        looks.append(fields)
        return identities.none() if len(looks) == 1 else real(*fields)

    monkeypatch.setattr(identities, "select_related", first_look_misses_it)

    customer = do_resolve_customer([("email", "Wang@example.com"), ("web", "v-wang")], name="王五")

    assert customer == owner
    assert len(looks) == 2
    assert Customer.objects.count() == 1  # the loser's empty profile is not left behind
    assert sorted(owner.identities.values_list("kind", flat=True)) == ["email", "web"]


def test_merge_into_a_merged_customer_is_refused(make_user):
    admin = make_user(role="admin")
    a, b, c = (Customer.objects.create(name=n) for n in "abc")
    do_merge_customers(actor=admin, source=a, target=b)
    with pytest.raises(InvalidInput) as exc:
        do_merge_customers(actor=admin, source=c, target=Customer.objects.get(pk=a.pk))
    assert "target_id" in exc.value.fields


def test_upsert_replaces_items_and_keeps_logistics_once():
    event = {"at": timezone.now(), "description": "已揽收"}
    order(logistics=[event])
    updated, created = order(items=[{"name": "杯刷", "quantity": 2, "price": "5"}], logistics=[event])
    assert not created
    assert [(i.name, i.quantity) for i in updated.items.all()] == [("杯刷", 2)]
    assert updated.logistics.count() == 1


def test_failed_upsert_leaves_no_new_customer():
    with pytest.raises(InvalidInput):
        order(
            customer={"kind": "app", "value": "brand-new"},
            items=[{"name": "杯子", "quantity": 1, "price": "-1"}],
        )
    assert not Customer.objects.exists()


def test_add_logistics_moves_status_and_skips_duplicates():
    placed, _ = order()
    at = timezone.now()
    _, added = do_add_logistics(
        order=placed, events=[{"at": at, "description": "派送中"}], shipping_status="delivering"
    )
    _, again = do_add_logistics(order=placed, events=[{"at": at, "description": "派送中"}])
    placed.refresh_from_db()
    assert (added, again, placed.shipping_status) == (1, 0, "delivering")
