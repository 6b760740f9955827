"""Webhooks, ground floor: sending the outbox's deliveries, with retries.

``do_send_due_deliveries`` claims due rows with a conditional UPDATE (two workers
never send the same attempt), POSTs them signed (:mod:`kefu.core.signing`, the event id
as ``X-Kefu-Delivery``), and schedules retries with exponential backoff until
``MAX_ATTEMPTS``; then the delivery is marked failed and can be retried by hand.
Receivers de-duplicate by ``X-Kefu-Delivery``: a worker that dies mid-request makes the
delivery be sent again. The tasks that run this sit beside it, so whoever queues them
imports this module and nothing above it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from django.conf import settings
from django.db.models import Q, QuerySet
from django.tasks import task
from django.utils import timezone

from kefu.core import netguard, signing
from kefu.core.errors import InvalidInput

from .models import WebhookDelivery

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 6 * 3600
TIMEOUT = httpx.Timeout(5.0, connect=3.0)
MAX_ERROR_CHARS = 1000
USER_AGENT = "kefu-webhooks/1"


def encode_body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def backoff(attempts: int) -> timedelta:
    """Wait after the ``attempts``-th failed attempt: 30 s, 1 min, 2 min … capped at 6 h."""
    return timedelta(seconds=min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1)))


@dataclass
class SendResult:
    succeeded: int = 0
    retrying: int = 0
    failed: int = 0


def _due(now: datetime) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING).filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )


def _claim(delivery: WebhookDelivery, now: datetime) -> bool:
    """Take the next attempt of a delivery; False when another worker took it."""
    return bool(
        WebhookDelivery.objects.filter(
            pk=delivery.pk, status=WebhookDelivery.Status.PENDING, attempts=delivery.attempts
        ).update(
            attempts=delivery.attempts + 1,
            next_attempt_at=now + timedelta(seconds=settings.KEFU_WEBHOOK_CLAIM_SECONDS),
        )
    )


def _post(client: httpx.Client, delivery: WebhookDelivery) -> tuple[int | None, str]:
    body = encode_body(delivery.payload)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        "X-Kefu-Event": delivery.event_type,
        **signing.signed_headers(delivery.endpoint.secret, body, delivery=delivery.event_id),
    }
    try:
        target = netguard.pin(delivery.endpoint.url)
    except InvalidInput as exc:  # a private address, or a name that does not resolve
        return None, exc.message[:MAX_ERROR_CHARS]
    try:
        response = client.post(
            target.url, content=body, headers={**headers, **target.headers}, extensions=target.extensions
        )
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS] or type(exc).__name__
    if 200 <= response.status_code < 300:
        return response.status_code, ""
    return response.status_code, f"HTTP {response.status_code}: {response.text[:200]}"


def _record(delivery: WebhookDelivery, status_code: int | None, error: str) -> str:
    now = timezone.now()
    attempts = delivery.attempts + 1
    updates: dict[str, Any] = {"last_status_code": status_code, "last_error": error}
    if not error:
        updates.update(status=WebhookDelivery.Status.SUCCEEDED, delivered_at=now, next_attempt_at=None)
    elif attempts >= MAX_ATTEMPTS:
        updates.update(status=WebhookDelivery.Status.FAILED, next_attempt_at=None)
    else:
        updates.update(next_attempt_at=now + backoff(attempts))
    WebhookDelivery.objects.filter(pk=delivery.pk, attempts=attempts).update(**updates)
    return updates.get("status", "retrying")


def do_send_delivery(
    delivery_id: int, *, client: httpx.Client | None = None, now: datetime | None = None
) -> str | None:
    """Make one attempt at a due delivery; returns succeeded / retrying / failed, or None if not due."""
    now = now or timezone.now()
    delivery = _due(now).select_related("endpoint").filter(pk=delivery_id).first()
    if delivery is None or not _claim(delivery, now):
        return None
    if not delivery.endpoint.is_active:
        status_code, error = None, "端点已停用"
    elif client is None:
        with httpx.Client(timeout=TIMEOUT, follow_redirects=False) as own:
            status_code, error = _post(own, delivery)
    else:
        status_code, error = _post(client, delivery)
    outcome = _record(delivery, status_code, error)
    if error:
        log.warning("webhook delivery %s to %s: %s", delivery.pk, delivery.endpoint.url, error)
    return outcome


def do_send_due_deliveries(now: datetime | None = None, *, limit: int = 100) -> SendResult:
    """Send every due delivery (oldest first), at most ``limit`` per call."""
    now = now or timezone.now()
    result = SendResult()
    ids = list(_due(now).order_by("id").values_list("pk", flat=True)[:limit])
    if not ids:
        return result
    with httpx.Client(timeout=TIMEOUT, follow_redirects=False) as client:
        for pk in ids:
            outcome = do_send_delivery(pk, client=client, now=now)
            if outcome == WebhookDelivery.Status.SUCCEEDED:
                result.succeeded += 1
            elif outcome == WebhookDelivery.Status.FAILED:
                result.failed += 1
            elif outcome == "retrying":
                result.retrying += 1
    return result


@task()
def send_pending_webhooks() -> int:
    """Send every due delivery; returns how many succeeded."""
    return do_send_due_deliveries().succeeded


@task()
def send_webhook_delivery(delivery_id: int) -> str | None:
    """One attempt at one delivery, if it is due."""
    return do_send_delivery(delivery_id)
