"""Channels, ground floor: agent replies out to email and platform webhooks.

``do_queue_outbound`` records an ``OutboundDelivery`` in the reply's transaction and
the worker runs ``do_deliver_outbound``: one attempt per task, the result written back,
and on failure a new task scheduled with exponential backoff until
``KEFU_OUTBOUND_MAX_ATTEMPTS``; then the delivery is failed and the desk told
(``message.delivery_failed``). The tasks sit beside the work they run.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.tasks import task
from django.utils import timezone

from kefu.conversations.models import Message
from kefu.core import netguard, signing
from kefu.core.errors import InvalidInput
from kefu.core.events import publish
from kefu.customers.models import Identity

from . import email as mail
from .models import Channel, OutboundDelivery

log = logging.getLogger(__name__)

# Web chat and app replies reach the customer over the websocket; phone has no
# outbound text. Email and webhook platforms need a delivery.
PUSH_KINDS = (Channel.Kind.EMAIL, Channel.Kind.IM, Channel.Kind.SOCIAL, Channel.Kind.LIVE)
DEFAULT_IDENTITY_KINDS: dict[str, str] = {
    Channel.Kind.IM: Identity.Kind.WECHAT,
    Channel.Kind.APP: Identity.Kind.APP,
    Channel.Kind.SOCIAL: Identity.Kind.SOCIAL,
    Channel.Kind.LIVE: Identity.Kind.LIVE,
}
# A delivery being sent holds this lease; one still pending after it was lost mid-send.
SEND_LEASE = timedelta(minutes=5)
RUN_EARLY_GRACE = timedelta(seconds=5)


def identity_kind_for(channel: Channel) -> str:
    """The customer identity a platform's sender ids are (``config["identity_kind"]`` wins)."""
    configured = (channel.config or {}).get("identity_kind")
    if isinstance(configured, str) and configured in Identity.Kind.values:
        return configured
    return DEFAULT_IDENTITY_KINDS.get(channel.kind, Identity.Kind.EXTERNAL)


def mails_web_reply(message: Message) -> bool:
    """Whether an agent's web-chat reply is mailed too: the customer left a message (留言) with an email.

    Until they write in the chat again: the last thing they sent is that message, so they
    are not in the chat to read the answer. Automatic replies are not mailed.
    """
    if message.kind == Message.Kind.AUTO or message.direction != Message.Direction.OUTGOING:
        return False
    last = _last_customer_message(message)
    return (
        last is not None
        and bool(last.meta.get("reply_by_email"))
        and bool(message.conversation.customer.email)
    )


def do_queue_outbound(message: Message) -> OutboundDelivery | None:
    """Record a delivery for platforms that need one; the worker sends it after commit."""
    channel = message.conversation.channel
    if message.is_private:
        return None
    if channel.kind == Channel.Kind.WEB:
        if not mails_web_reply(message):
            return None
    elif channel.kind not in PUSH_KINDS:
        return None
    if channel.kind not in (Channel.Kind.EMAIL, Channel.Kind.WEB) and not channel.outbound_url:
        return None
    if channel.kind == Channel.Kind.EMAIL and message.kind == Message.Kind.AUTO:
        last = _last_customer_message(message)
        if last is not None and last.meta.get("auto_submitted"):
            return None
    delivery = OutboundDelivery.objects.create(message=message)

    def _kick() -> None:
        send_outbound.enqueue(delivery.pk)

    transaction.on_commit(_kick)
    return delivery


class DeliveryError(Exception):
    """An attempt failed; ``permanent`` ones are not retried."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


def _last_customer_message(message: Message) -> Message | None:
    return (
        Message.objects.filter(
            conversation_id=message.conversation_id, direction=Message.Direction.INCOMING, pk__lt=message.pk
        )
        .order_by("-id")
        .first()
    )


def _send_email(message: Message) -> None:
    conversation = message.conversation
    channel = conversation.channel
    last = _last_customer_message(message)
    last_meta = last.meta if last is not None else {}
    to = last_meta.get("from") or conversation.customer.email
    if not to:
        raise DeliveryError("客户没有邮箱地址", permanent=True)
    from_address = channel.email_address or settings.DEFAULT_FROM_EMAIL
    message_id = message.meta.get("message_id")
    if not message_id:
        # Stored before sending: the customer's answer may arrive within seconds and
        # must find this id to thread back. A retry reuses it.
        message_id = mail.new_message_id(from_address)
        message.meta = {**message.meta, "message_id": message_id}
        message.external_id = message_id
        Message.objects.filter(pk=message.pk).update(meta=message.meta, external_id=message_id)
    parent = last.external_id if last is not None and last.external_id else None
    references = [r for r in last_meta.get("references", []) if r != parent]
    if parent:
        references.append(parent)
    body = message.text
    if channel.kind == Channel.Kind.WEB:
        body = (
            f"{body}\n\n——\n这是对您在「{channel.name}」在线客服留言的回复，回到在线客服也可以看到完整对话。"
        )
    reply = mail.build_reply(
        subject=mail.reply_subject(last_meta.get("subject") or conversation.subject),
        body=body,
        from_email=mail.format_address(channel.name, from_address),
        to=to,
        message_id=message_id,
        in_reply_to=parent,
        references=references,
        auto=message.kind == Message.Kind.AUTO,
    )
    from django.core.mail import mailers

    try:
        mailers.default.send_messages([reply])
    except (OSError, ValueError) as exc:  # smtplib errors are OSErrors
        raise DeliveryError(f"SMTP: {exc}") from exc


def _recipient_id(message: Message, kind: str) -> str | None:
    last = _last_customer_message(message)
    if last is not None and last.meta.get("sender_id"):
        return str(last.meta["sender_id"])
    identity = (
        Identity.objects.filter(customer_id=message.conversation.customer_id, kind=kind)
        .order_by("-id")
        .first()
    )
    return identity.value if identity else None


def outbound_payload(delivery: OutboundDelivery) -> dict[str, Any]:
    message = delivery.message
    conversation = message.conversation
    kind = identity_kind_for(conversation.channel)
    return {
        "delivery_id": delivery.pk,
        "message_id": message.pk,
        "conversation_id": conversation.pk,
        "recipient": {"kind": kind, "id": _recipient_id(message, kind)},
        "text": message.text,
        "kind": message.kind,
        "image_url": message.image.url if message.image else None,
        "sender_name": (message.sender.display_name or "客服") if message.sender else None,
        "created_at": message.created_at.isoformat(),
    }


def _post_webhook(delivery: OutboundDelivery) -> None:
    channel = delivery.message.conversation.channel
    if not channel.outbound_url:
        raise DeliveryError("渠道未配置回推地址", permanent=True)
    payload = outbound_payload(delivery)
    if payload["recipient"]["id"] is None:
        raise DeliveryError("找不到客户在该平台的账号", permanent=True)
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        **signing.signed_headers(channel.secret, body),
    }
    try:
        target = netguard.pin(channel.outbound_url, field_name="outbound_url")
    except netguard.BlockedDestination as exc:
        raise DeliveryError(exc.message, permanent=True) from exc
    except InvalidInput as exc:  # the name does not resolve (now): try again later
        raise DeliveryError(exc.message) from exc
    try:
        with httpx.Client(timeout=settings.KEFU_OUTBOUND_TIMEOUT, follow_redirects=False) as client:
            response = client.post(
                target.url, content=body, headers={**headers, **target.headers}, extensions=target.extensions
            )
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
    if not response.is_success:
        raise DeliveryError(f"HTTP {response.status_code}: {response.text[:500]}")


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff after ``attempts`` failed tries, capped at six hours."""
    return timedelta(seconds=min(settings.KEFU_OUTBOUND_RETRY_SECONDS * 2 ** max(attempts - 1, 0), 6 * 3600))


def do_deliver_outbound(delivery_id: int) -> OutboundDelivery | None:
    """Make one attempt at sending a pending delivery and record the outcome.

    Runs outside any transaction: the network call must not hold row locks. The
    attempt is claimed first with a conditional update, so two workers handed the
    same delivery never both send it.
    """
    delivery = (
        OutboundDelivery.objects.select_related(
            "message__conversation__channel", "message__conversation__customer", "message__sender"
        )
        .filter(pk=delivery_id)
        .first()
    )
    if delivery is None or delivery.status != OutboundDelivery.Status.PENDING:
        return delivery
    if delivery.next_attempt_at is not None and delivery.next_attempt_at > timezone.now() + RUN_EARLY_GRACE:
        return delivery  # a duplicate task, early: the scheduled retry will come
    attempt = delivery.attempts + 1
    claimed = OutboundDelivery.objects.filter(
        pk=delivery.pk, status=OutboundDelivery.Status.PENDING, attempts=delivery.attempts
    ).update(attempts=attempt, next_attempt_at=timezone.now() + SEND_LEASE)
    if not claimed:
        return delivery
    delivery.attempts = attempt
    try:
        # A web chat's only deliveries are mails of answers to a message left (留言).
        if delivery.message.conversation.channel.kind in (Channel.Kind.EMAIL, Channel.Kind.WEB):
            _send_email(delivery.message)
        else:
            _post_webhook(delivery)
    except DeliveryError as exc:
        _record_failure(delivery, str(exc), permanent=exc.permanent)
    except Exception as exc:  # a bug must cost an attempt, not leave the delivery stuck
        log.exception("outbound delivery %s crashed", delivery.pk)
        _record_failure(delivery, f"{type(exc).__name__}: {exc}", permanent=False)
    else:
        now = timezone.now()
        OutboundDelivery.objects.filter(pk=delivery.pk).update(
            status=OutboundDelivery.Status.SENT, sent_at=now, last_error="", next_attempt_at=None
        )
        delivery.status, delivery.sent_at, delivery.last_error, delivery.next_attempt_at = (
            OutboundDelivery.Status.SENT,
            now,
            "",
            None,
        )
    return delivery


def _record_failure(delivery: OutboundDelivery, error: str, *, permanent: bool) -> None:
    log.warning("outbound delivery %s attempt %s failed: %s", delivery.pk, delivery.attempts, error)
    give_up = permanent or delivery.attempts >= settings.KEFU_OUTBOUND_MAX_ATTEMPTS
    with transaction.atomic():
        delivery.last_error = error[:2000]
        if give_up:
            delivery.status = OutboundDelivery.Status.FAILED
            delivery.next_attempt_at = None
        else:
            delivery.next_attempt_at = timezone.now() + retry_delay(delivery.attempts)
        delivery.save(update_fields=["status", "last_error", "next_attempt_at"])
        if give_up:
            conversation = delivery.message.conversation
            publish(
                "message.delivery_failed",
                {
                    "delivery_id": delivery.pk,
                    "message_id": delivery.message_id,
                    "conversation_id": conversation.pk,
                    "attempts": delivery.attempts,
                    "error": delivery.last_error,
                },
                team_id=conversation.team_id,
                user_ids=[conversation.assignee_id, delivery.message.sender_id],
                conversation_id=conversation.pk,
            )
        else:
            run_after = delivery.next_attempt_at
            delivery_pk = delivery.pk

            def _retry() -> None:
                send_outbound.using(run_after=run_after).enqueue(delivery_pk)

            transaction.on_commit(_retry)


def do_kick_stalled_deliveries() -> int:
    """Re-enqueue pending deliveries nobody is working on; returns how many.

    That is a retry overdue by a minute (its task was lost), a send whose lease ran
    out (the worker died mid-send), or a delivery whose first task was never enqueued
    (the process died between commit and enqueue). Each is marked due now as it is
    kicked, so the next sweep leaves it alone while its task waits in the queue.
    """
    now = timezone.now()
    stale = now - timedelta(minutes=1)
    candidates = list(
        OutboundDelivery.objects.filter(status=OutboundDelivery.Status.PENDING)
        .filter(Q(next_attempt_at__lt=stale) | Q(next_attempt_at__isnull=True, message__created_at__lt=stale))
        .values_list("pk", "next_attempt_at")[:500]
    )
    kicked = 0
    for pk, seen in candidates:
        # Conditional: a worker that just claimed or finished it wins.
        if OutboundDelivery.objects.filter(
            pk=pk, status=OutboundDelivery.Status.PENDING, next_attempt_at=seen
        ).update(next_attempt_at=now):
            send_outbound.enqueue(pk)
            kicked += 1
    return kicked


@task()
def send_outbound(delivery_id: int) -> str | None:
    """One attempt at delivering an agent reply; a failure schedules the next one."""
    delivery = do_deliver_outbound(delivery_id)
    return delivery.status if delivery is not None else None


@task()
def kick_stalled_outbound() -> int:
    """Re-enqueue deliveries left pending (a lost task, a worker killed mid-send)."""
    return do_kick_stalled_deliveries()
