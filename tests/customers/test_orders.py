"""Orders pushed by the shop (kefu.customers.orders): upsert by order number, logistics once each."""

from __future__ import annotations

import pytest
from django.utils import timezone

from kefu.core.errors import InvalidInput
from kefu.customers.models import Customer
from kefu.customers.orders import do_add_logistics, do_upsert_order

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
        actor=None, order=placed, events=[{"at": at, "description": "派送中"}], shipping_status="delivering"
    )
    _, again = do_add_logistics(actor=None, order=placed, events=[{"at": at, "description": "派送中"}])
    placed.refresh_from_db()
    assert (added, again, placed.shipping_status) == (1, 0, "delivering")
