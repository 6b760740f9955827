"""Webhook endpoints and deliveries as the API shows them (the secret only when asked)."""

from __future__ import annotations

from typing import Any

from .models import WebhookDelivery, WebhookEndpoint


def endpoint_out(e: WebhookEndpoint, *, with_secret: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": e.pk,
        "url": e.url,
        "events": e.events,
        "is_active": e.is_active,
        "trusted": e.trusted,
        "secret_hint": f"{e.secret[:4]}…",
        "created_at": e.created_at.isoformat(),
    }
    if with_secret:
        out["secret"] = e.secret
    return out


def delivery_out(d: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": d.pk,
        "endpoint_id": d.endpoint_id,
        "event_id": d.event_id,
        "event_type": d.event_type,
        "status": d.status,
        "attempts": d.attempts,
        "next_attempt_at": d.next_attempt_at.isoformat() if d.next_attempt_at else None,
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "created_at": d.created_at.isoformat(),
        "delivered_at": d.delivered_at.isoformat() if d.delivered_at else None,
        "payload": d.payload,
    }
