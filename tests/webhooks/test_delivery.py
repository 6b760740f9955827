"""Sending webhook deliveries (kefu.webhooks.delivery): signed, retried with backoff, claimed once, given up."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from kefu.core import signing
from kefu.core.events import publish
from kefu.webhooks.delivery import MAX_ATTEMPTS, backoff, do_send_due_deliveries
from kefu.webhooks.models import WebhookDelivery, WebhookEndpoint

from .server import receiver

pytestmark = pytest.mark.django_db


def _publish_one(event_type: str = "ticket.created") -> str:
    return publish(event_type, {"ticket": {"id": 1, "title": "杯子破损"}})


def test_signed_delivery_fails_once_then_succeeds():
    with receiver([500]) as hook:
        endpoint = WebhookEndpoint.objects.create(url=hook.url)
        hook.secret = endpoint.secret
        event_id = _publish_one()
        first = do_send_due_deliveries()
        assert (first.succeeded, first.retrying) == (0, 1)
        delivery = WebhookDelivery.objects.get()
        assert delivery.status == "pending" and delivery.attempts == 1 and delivery.last_status_code == 500
        assert delivery.next_attempt_at > timezone.now() + timedelta(seconds=20)
        # Not due yet: nothing is sent before the backoff has passed.
        assert do_send_due_deliveries().succeeded == 0
        second = do_send_due_deliveries(delivery.next_attempt_at + timedelta(seconds=1))
        assert second.succeeded == 1
    delivery.refresh_from_db()
    assert delivery.status == "succeeded" and delivery.attempts == 2 and delivery.last_status_code == 200
    assert delivery.delivered_at is not None and delivery.last_error == ""
    assert len(hook.requests) == 2
    assert [r["verified"] for r in hook.requests] == [True, True]
    for request in hook.requests:
        headers = request["headers"]
        assert headers["X-Kefu-Event"] == "ticket.created"
        assert headers["X-Kefu-Delivery"] == event_id
        signed = {
            "timestamp": headers["X-Kefu-Timestamp"],
            "delivery": headers["X-Kefu-Delivery"],
            "signature": headers["X-Kefu-Signature"],
            "body": request["body"],
        }
        assert headers["X-Kefu-Signature"].startswith("v1=")
        assert signing.verify(endpoint.secret, **signed)
        assert not signing.verify("wrong", **signed)
        body = json.loads(request["body"])
        assert body["id"] == event_id and body["event"] == "ticket.created"
        assert body["data"]["ticket"]["title"] == "杯子破损"


def test_gives_up_after_max_attempts():
    WebhookEndpoint.objects.create(url="http://127.0.0.1:9/refused")  # nothing listens on port 9
    _publish_one()
    now = timezone.now()
    for _ in range(MAX_ATTEMPTS):
        do_send_due_deliveries(now)
        now += timedelta(days=1)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "failed"
    assert delivery.attempts == MAX_ATTEMPTS
    assert delivery.last_status_code is None and delivery.last_error
    assert do_send_due_deliveries(now).failed == 0


def test_backoff_grows_exponentially():
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert backoff(30) == timedelta(hours=6)


def test_a_claimed_attempt_is_not_sent_twice():
    with receiver() as hook:
        WebhookEndpoint.objects.create(url=hook.url)
        _publish_one()
        delivery = WebhookDelivery.objects.get()
        from kefu.webhooks.delivery import _claim

        assert _claim(delivery, timezone.now())
        assert not _claim(delivery, timezone.now())
        assert do_send_due_deliveries().succeeded == 0
        assert hook.requests == []


def test_a_receiver_refuses_a_wrong_signature_and_it_is_retried():
    with receiver() as hook:
        WebhookEndpoint.objects.create(url=hook.url)
        hook.secret = "not-the-endpoint-secret"
        _publish_one()
        assert do_send_due_deliveries().retrying == 1
    delivery = WebhookDelivery.objects.get()
    assert delivery.last_status_code == 401 and delivery.status == "pending"
