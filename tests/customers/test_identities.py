"""Finding the customer behind identities (kefu.customers.identities): one profile, every identity."""

from __future__ import annotations

import pytest

from kefu.customers.identities import do_resolve_customer
from kefu.customers.models import Customer, Identity

pytestmark = pytest.mark.django_db


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
