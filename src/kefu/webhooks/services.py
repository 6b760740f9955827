"""Outbound webhooks: an outbox of deliveries, sent and retried by the worker."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from .models import WebhookDelivery, WebhookEndpoint


def enqueue_event(event_type: str, envelope: dict[str, Any]) -> list[WebhookDelivery]:
    """Write a delivery row per subscribed endpoint in the caller's transaction."""
    endpoints = [
        e for e in WebhookEndpoint.objects.filter(is_active=True) if not e.events or event_type in e.events
    ]
    deliveries = [
        WebhookDelivery(endpoint=e, event_id=envelope["id"], event_type=event_type, payload=envelope)
        for e in endpoints
    ]
    if not deliveries:
        return []
    WebhookDelivery.objects.bulk_create(deliveries)

    def _kick() -> None:
        from .tasks import send_pending_webhooks

        send_pending_webhooks.enqueue()

    transaction.on_commit(_kick)
    return deliveries
