"""The webhook outbox (kefu.webhooks.outbox): a published event becomes a delivery per subscribed endpoint."""

from __future__ import annotations

import pytest

from kefu.core.events import publish
from kefu.webhooks.models import WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db


def _publish_one(event_type: str = "ticket.created") -> str:
    return publish(event_type, {"ticket": {"id": 1, "title": "杯子破损"}})


def test_publish_writes_a_delivery_per_subscribed_endpoint():
    WebhookEndpoint.objects.create(url="http://127.0.0.1:9/a", events=["ticket.created"])
    WebhookEndpoint.objects.create(url="http://127.0.0.1:9/b", events=[])
    WebhookEndpoint.objects.create(url="http://127.0.0.1:9/c", events=["message.created"])
    WebhookEndpoint.objects.create(url="http://127.0.0.1:9/d", events=[], is_active=False)
    event_id = _publish_one()
    assert sorted(WebhookDelivery.objects.values_list("endpoint__url", flat=True)) == [
        "http://127.0.0.1:9/a",
        "http://127.0.0.1:9/b",
    ]
    assert set(WebhookDelivery.objects.values_list("event_id", flat=True)) == {event_id}
