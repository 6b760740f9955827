"""Webhooks, ground floor: the outbox that every published event may land in.

``enqueue_event`` writes one delivery row per subscribed endpoint inside the
transaction that made the change, so a delivery exists exactly when the change does;
``core.events.publish`` calls it through ``register_outbox`` (see ``apps.py``), because
``core`` imports no app. The worker sends the rows (:mod:`kefu.webhooks.delivery`).

An endpoint that is not ``trusted`` (the default) gets the payload with the phone,
ID-card and bank-card numbers in its free text masked (``core.masking.mask_payload``);
the row stores what is sent, so the clear text never sits in an untrusted delivery.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from kefu.core.masking import mask_payload

from .delivery import send_pending_webhooks
from .models import WebhookDelivery, WebhookEndpoint

log = logging.getLogger(__name__)

# Event types integrations may subscribe to (an empty subscription means all of them).
WEBHOOK_EVENTS = (
    "conversation.created",
    "conversation.assigned",
    "conversation.transferred",
    "conversation.status_changed",
    "conversation.rated",
    "conversation.sla_warning",
    "conversation.sla_breached",
    "message.created",
    "ticket.created",
    "ticket.updated",
    "ticket.sla_warning",
    "ticket.sla_breached",
)


def enqueue_event(event_type: str, envelope: dict[str, Any]) -> list[WebhookDelivery]:
    """Write a delivery row per subscribed endpoint in the caller's transaction."""
    endpoints = [
        e for e in WebhookEndpoint.objects.filter(is_active=True) if not e.events or event_type in e.events
    ]
    if not endpoints:
        return []
    masked = mask_payload(envelope) if any(not e.trusted for e in endpoints) else envelope
    deliveries = [
        WebhookDelivery(
            endpoint=e,
            event_id=envelope["id"],
            event_type=event_type,
            payload=envelope if e.trusted else masked,
            next_attempt_at=None,
        )
        for e in endpoints
    ]
    WebhookDelivery.objects.bulk_create(deliveries)
    transaction.on_commit(request_send)
    return deliveries


def request_send() -> None:
    """Ask the worker to send now rather than at its next timer tick."""
    try:
        send_pending_webhooks.enqueue()
    except Exception:  # the timer tick sends them anyway
        log.exception("could not enqueue send_pending_webhooks")
