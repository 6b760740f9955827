"""Outbound webhooks: an outbox of deliveries, sent and retried by the worker.

``enqueue_event`` writes one delivery row per subscribed endpoint inside the
transaction that made the change, so a delivery exists exactly when the change does.
``do_send_due_deliveries`` claims due rows with a conditional UPDATE (two workers
never send the same attempt), POSTs them signed, and schedules retries with
exponential backoff until ``MAX_ATTEMPTS``; then the delivery is marked failed and
can be retried by hand. Receivers de-duplicate by ``X-Kefu-Delivery`` (the event id):
a worker that dies mid-request makes the delivery be sent again.

Signature: ``X-Kefu-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>``
with ``timestamp`` the ``X-Kefu-Timestamp`` header (Unix seconds).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from kefu.accounts.models import User
from kefu.accounts.services import check_admin
from kefu.core.errors import InvalidInput, NotFound

from .models import WebhookDelivery, WebhookEndpoint, _new_secret

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
MAX_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 6 * 3600
# A claimed attempt that never reports back (worker killed) is retried after this.
CLAIM_SECONDS = 120
TIMEOUT = httpx.Timeout(5.0, connect=3.0)
MAX_ERROR_CHARS = 1000
USER_AGENT = "kefu-webhooks/1"


# --- the outbox ---------------------------------------------------------------------------


def enqueue_event(event_type: str, envelope: dict[str, Any]) -> list[WebhookDelivery]:
    """Write a delivery row per subscribed endpoint in the caller's transaction."""
    endpoints = [
        e for e in WebhookEndpoint.objects.filter(is_active=True) if not e.events or event_type in e.events
    ]
    deliveries = [
        WebhookDelivery(
            endpoint=e, event_id=envelope["id"], event_type=event_type, payload=envelope, next_attempt_at=None
        )
        for e in endpoints
    ]
    if not deliveries:
        return []
    WebhookDelivery.objects.bulk_create(deliveries)
    transaction.on_commit(_kick)
    return deliveries


def _kick() -> None:
    """Ask the worker to send now rather than at its next timer tick."""
    from .tasks import send_pending_webhooks

    try:
        send_pending_webhooks.enqueue()
    except Exception:  # the timer tick sends them anyway
        log.exception("could not enqueue send_pending_webhooks")


# --- signing ------------------------------------------------------------------------------


def sign(secret: str, timestamp: int | str, body: bytes | str) -> str:
    """The ``X-Kefu-Signature`` value for a body sent at ``timestamp``."""
    if isinstance(body, bytes):
        body = body.decode()
    digest = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(
    secret: str, timestamp: str, body: bytes, signature: str, *, tolerance: int = 300
) -> bool:
    """What a receiver does (kept here for tests and the docs' example)."""
    try:
        if abs(time.time() - int(timestamp)) > tolerance:
            return False
    except ValueError:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def encode_body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def backoff(attempts: int) -> timedelta:
    """Wait after the ``attempts``-th failed attempt: 30 s, 1 min, 2 min … capped at 6 h."""
    return timedelta(seconds=min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1)))


# --- sending --------------------------------------------------------------------------------


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
        ).update(attempts=delivery.attempts + 1, next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS))
    )


def _post(client: httpx.Client, delivery: WebhookDelivery) -> tuple[int | None, str]:
    body = encode_body(delivery.payload)
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        "X-Kefu-Event": delivery.event_type,
        "X-Kefu-Delivery": delivery.event_id,
        "X-Kefu-Timestamp": timestamp,
        "X-Kefu-Signature": sign(delivery.endpoint.secret, timestamp, body),
    }
    try:
        response = client.post(delivery.endpoint.url, content=body, headers=headers)
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


# --- endpoint administration ------------------------------------------------------------------


def check_url(url: Any) -> str:
    if not isinstance(url, str) or not url.strip() or len(url) > 200:
        raise InvalidInput("请填写回调地址", fields={"url": "必填，最多200个字符"})
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("回调地址必须是 http(s) 网址", fields={"url": "应以 http:// 或 https:// 开头"})
    return url


def check_events(events: Any) -> list[str]:
    if events is None:
        return []
    if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
        raise InvalidInput("订阅事件格式有误", fields={"events": "应为事件名列表"})
    unknown = [e for e in events if e not in WEBHOOK_EVENTS]
    if unknown:
        raise InvalidInput(
            f"未知事件：{', '.join(unknown)}", fields={"events": f"可选 {', '.join(WEBHOOK_EVENTS)}"}
        )
    return list(dict.fromkeys(events))


def access_endpoint(actor: User, endpoint_id: int) -> WebhookEndpoint:
    check_admin(actor)
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound(f"Webhook {endpoint_id} 不存在")
    return endpoint


def list_endpoints(actor: User) -> QuerySet[WebhookEndpoint]:
    check_admin(actor)
    return WebhookEndpoint.objects.order_by("id")


def do_create_endpoint(
    *, actor: User, url: Any, events: Any = None, is_active: bool = True
) -> WebhookEndpoint:
    check_admin(actor)
    return WebhookEndpoint.objects.create(
        url=check_url(url), events=check_events(events), is_active=bool(is_active)
    )


def do_update_endpoint(
    *,
    actor: User,
    endpoint_id: int,
    url: Any = None,
    events: Any = None,
    is_active: bool | None = None,
    rotate_secret: bool = False,
) -> WebhookEndpoint:
    with transaction.atomic():
        endpoint = access_endpoint(actor, endpoint_id)
        if url is not None:
            endpoint.url = check_url(url)
        if events is not None:
            endpoint.events = check_events(events)
        if is_active is not None:
            endpoint.is_active = is_active
        if rotate_secret:
            endpoint.secret = _new_secret()
        endpoint.save()
    return endpoint


def do_delete_endpoint(*, actor: User, endpoint_id: int) -> None:
    access_endpoint(actor, endpoint_id).delete()


def list_deliveries(*, actor: User, endpoint_id: int, status: str | None = None) -> QuerySet[WebhookDelivery]:
    endpoint = access_endpoint(actor, endpoint_id)
    qs = endpoint.deliveries.order_by("-id")
    if status:
        if status not in WebhookDelivery.Status.values:
            raise InvalidInput(
                f"未知状态：{status}",
                fields={"status": f"应为 {', '.join(WebhookDelivery.Status.values)} 之一"},
            )
        qs = qs.filter(status=status)
    return qs


def do_retry_delivery(*, actor: User, delivery_id: int) -> WebhookDelivery:
    """Send a delivery again now, with a fresh set of attempts."""
    check_admin(actor)
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().filter(pk=delivery_id).first()
        if delivery is None:
            raise NotFound(f"投递记录 {delivery_id} 不存在")
        delivery.status = WebhookDelivery.Status.PENDING
        delivery.attempts = 0
        delivery.next_attempt_at = None
        delivery.save(update_fields=["status", "attempts", "next_attempt_at"])
        transaction.on_commit(_kick)
    return delivery
