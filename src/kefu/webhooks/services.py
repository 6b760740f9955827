"""Webhooks, top floor: the endpoints an admin registers and the delivery log.

The outbox (:mod:`kefu.webhooks.outbox`) and the sending (:mod:`kefu.webhooks.delivery`)
are the ground floor; deliveries are signed with :mod:`kefu.core.signing`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.db import transaction
from django.db.models import QuerySet

from kefu.accounts.access import check_admin
from kefu.accounts.models import User
from kefu.core import netguard
from kefu.core.errors import InvalidInput, NotFound
from kefu.core.fields import check_text

from .models import WebhookDelivery, WebhookEndpoint, _new_secret
from .outbox import WEBHOOK_EVENTS, request_send


def check_url(url: Any) -> str:
    url = check_text(url, field="url", max_len=200)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("回调地址必须是 http(s) 网址", fields={"url": "应以 http:// 或 https:// 开头"})
    return netguard.check_public_url(url, field_name="url")


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
    *, actor: User, url: Any, events: Any = None, is_active: bool = True, trusted: bool = False
) -> WebhookEndpoint:
    """Register an endpoint; ``trusted`` ones receive personal data in message texts unmasked."""
    check_admin(actor)
    return WebhookEndpoint.objects.create(
        url=check_url(url), events=check_events(events), is_active=bool(is_active), trusted=bool(trusted)
    )


def do_update_endpoint(
    *,
    actor: User,
    endpoint_id: int,
    url: Any = None,
    events: Any = None,
    is_active: bool | None = None,
    trusted: bool | None = None,
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
        if trusted is not None:
            endpoint.trusted = trusted
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
        transaction.on_commit(request_send)
    return delivery
