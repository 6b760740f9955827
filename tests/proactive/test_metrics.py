"""A conversation opened only to carry a proactive notice is no contact until the customer answers."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.utils import timezone

from kefu.conversations.services import do_receive_customer_message
from kefu.proactive.models import Kind
from tests.proactive.test_services import run_worker, ship

pytestmark = pytest.mark.django_db


def volume(user) -> int:
    now = timezone.now()
    client = Client()
    client.force_login(user)
    query = {"start": (now - timedelta(days=1)).isoformat(), "end": (now + timedelta(hours=1)).isoformat()}
    r = client.get(f"/api/v1/metrics?{urlencode({**query, 'names': 'volume'})}")
    assert r.status_code == 200, r.content
    [figure] = r.json()["figures"]
    return figure["value"]


def test_a_shipping_notice_is_counted_as_a_contact_only_once_the_customer_answers(
    shop, make_rule, make_customer, push_order
):
    make_rule(Kind.ORDER_SHIPPED)
    customer = make_customer("周婷", email="zhou.ting@example.com")
    ship(push_order, customer, "YJ20261203007")
    [notice] = run_worker()
    assert notice.conversation is not None
    assert volume(shop.admin) == 0
    do_receive_customer_message(
        channel=shop.email,
        identities=[("email", "zhou.ting@example.com")],
        text="收到，谢谢！请问大概几号能到？",
        conversation=notice.conversation,
    )
    assert volume(shop.admin) == 1
