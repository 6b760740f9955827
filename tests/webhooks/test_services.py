"""Webhook endpoints (kefu.webhooks.services): admin only and validated; a failed delivery retried by hand."""

from __future__ import annotations

import pytest

from kefu.core.errors import InvalidInput, PermissionDenied
from kefu.core.events import publish
from kefu.webhooks.delivery import MAX_ATTEMPTS, do_send_due_deliveries
from kefu.webhooks.models import WebhookDelivery, WebhookEndpoint
from kefu.webhooks.services import do_create_endpoint, do_retry_delivery

from .server import receiver

pytestmark = pytest.mark.django_db


def _publish_one(event_type: str = "ticket.created") -> str:
    return publish(event_type, {"ticket": {"id": 1, "title": "杯子破损"}})


def test_manual_retry_sends_a_failed_delivery_again(make_user, django_capture_on_commit_callbacks):
    admin = make_user("root", role="admin")
    with receiver() as hook:
        WebhookEndpoint.objects.create(url=hook.url)
        _publish_one()
        WebhookDelivery.objects.update(status="failed", attempts=MAX_ATTEMPTS)
        delivery = do_retry_delivery(actor=admin, delivery_id=WebhookDelivery.objects.get().pk)
        assert delivery.status == "pending" and delivery.attempts == 0
        assert do_send_due_deliveries().succeeded == 1


def test_endpoint_admin_only_and_validated(make_user):
    admin = make_user("root", role="admin")
    agent = make_user("a1")
    with pytest.raises(PermissionDenied):
        do_create_endpoint(actor=agent, url="https://crm.example/hook")
    with pytest.raises(InvalidInput) as exc:
        do_create_endpoint(actor=admin, url="ftp://x", events=["ticket.created"])
    assert "url" in exc.value.fields
    with pytest.raises(InvalidInput) as exc:
        do_create_endpoint(actor=admin, url="https://crm.example/hook", events=["nope"])
    assert "events" in exc.value.fields
    endpoint = do_create_endpoint(actor=admin, url="https://crm.example/hook", events=["ticket.created"])
    assert len(endpoint.secret) >= 32
