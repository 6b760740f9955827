"""Channels: customer messages in from web chat, email and platform webhooks, agent replies out.

Inbound, every channel ends in ``conversations.services.do_receive_customer_message``;
web chat first counts the message against the visitor's rate limits.
Outbound, ``do_queue_outbound`` records an ``OutboundDelivery`` in the reply's
transaction and the worker runs ``do_deliver_outbound``: one attempt per task, the
result written back, and on failure a new task scheduled with exponential backoff
until ``KEFU_OUTBOUND_MAX_ATTEMPTS``; then the delivery is failed and the desk told
(``message.delivery_failed``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from kefu.conversations.models import Message
from kefu.core import ratelimit, signing
from kefu.core.errors import InvalidInput, KefuError, NotFound, RateLimited, Unauthorized
from kefu.core.events import publish
from kefu.customers.models import Identity

from . import email as mail
from .models import Channel, InboundNonce, OutboundDelivery
from .visitor import Visitor

if TYPE_CHECKING:
    from django.core.files.uploadedfile import UploadedFile

log = logging.getLogger(__name__)

# Web chat and app replies reach the customer over the websocket; phone has no
# outbound text. Email and webhook platforms need a delivery.
PUSH_KINDS = (Channel.Kind.EMAIL, Channel.Kind.IM, Channel.Kind.SOCIAL, Channel.Kind.LIVE)
# Platforms that post customer messages to /api/v1/channels/<id>/inbound.
WEBHOOK_KINDS = (Channel.Kind.IM, Channel.Kind.APP, Channel.Kind.SOCIAL, Channel.Kind.LIVE)
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


def _serialize_deliveries_of(channel: Channel, external_id: str) -> None:
    """Make concurrent deliveries of one external message wait for each other.

    ``do_receive_customer_message`` de-duplicates by looking for the external id; two
    deliveries racing (a platform retrying before our first answer, a relay resending)
    would both look before either commits. A transaction-scoped advisory lock on
    PostgreSQL makes the second look after the first commits. SQLite needs none: its
    IMMEDIATE transactions already admit one writer at a time.
    """
    if connection.vendor != "postgresql":
        return
    digest = hashlib.blake2b(f"inbound:{channel.pk}:{external_id}".encode(), digest_size=8).digest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest, "big", signed=True)])


# --- web chat in --------------------------------------------------------------------


def do_receive_chat_message(
    *,
    channel: Channel,
    visitor: Visitor,
    ip: str | None,
    text: Any,
    client_msg_id: str,
    image: UploadedFile | None = None,
) -> tuple[Message, bool]:
    """A web-chat visitor's text or image, within the visitor's and the address's limits.

    Raises ``RateLimited`` with nothing stored when a limit is used up. A resend of a
    message already stored (its ack was lost) is answered with it and costs nothing;
    so does an attempt kefu failed to store (the database was away), while one refused
    for what it is (empty text, not an image) counts like any other.
    """
    from kefu.conversations.services import do_receive_customer_message

    address = ratelimit.address_key(ip)
    if image is None:
        charges = (("chat_message", visitor.visitor_id), ("chat_message_ip", address))
    else:
        charges = (("chat_upload", visitor.visitor_id), ("chat_upload_ip", address))
    try:
        reservation = ratelimit.take(*charges)
    except RateLimited:
        stored = _stored_chat_message(channel, visitor, client_msg_id)
        if stored is None:
            raise
        return stored, False
    try:
        message, created = do_receive_customer_message(
            channel=channel,
            identities=visitor.identities,
            text=text,
            image=image,
            client_msg_id=client_msg_id,
        )
    except KefuError:
        raise
    except Exception:
        reservation.release()  # chat.js sends it again after reconnecting
        raise
    if not created:
        reservation.release()
    return message, created


def _stored_chat_message(channel: Channel, visitor: Visitor, client_msg_id: str) -> Message | None:
    kind, value = visitor.identities[0]
    return (
        Message.objects.filter(
            conversation__channel=channel,
            conversation__customer__identities__kind=kind,
            conversation__customer__identities__value=value,
            direction=Message.Direction.INCOMING,
            client_msg_id=client_msg_id,
        )
        .order_by("-id")
        .first()
    )


def check_chat_connect(ip: str | None) -> None:
    """A chat socket connection counts against its address's ``chat_connect_ip`` limit."""
    ratelimit.take_for_address("chat_connect_ip", ip, message="连接太频繁，请稍后再试")


def check_chat_signal(visitor: Visitor) -> None:
    """Typing, read and resume frames count against the visitor's ``chat_signal`` limit."""
    ratelimit.take(("chat_signal", visitor.visitor_id))


# --- platform webhooks in ------------------------------------------------------------


def access_webhook_channel(channel_id: int) -> Channel:
    """The channel a platform posts to; only webhook kinds accept posts."""
    channel = Channel.objects.filter(pk=channel_id, kind__in=WEBHOOK_KINDS).first()
    if channel is None:
        raise NotFound(f"渠道 {channel_id} 不存在或不接收平台推送")
    return channel


@dataclass(frozen=True)
class PlatformMessage:
    sender_id: str
    sender_name: str
    message_id: str
    text: str


def do_receive_platform_message(
    *, channel: Channel, delivery_id: str, incoming: PlatformMessage
) -> tuple[Message, bool]:
    """Store a signed platform post; the caller has checked the signature.

    The delivery id is remembered in the same transaction as the message: a replay is
    refused (``Unauthorized``) and a refused post leaves no nonce behind.
    """
    from kefu.conversations.services import check_text, do_receive_customer_message

    text = check_text(incoming.text, field="message.text")
    kind = identity_kind_for(channel)
    with transaction.atomic():
        try:
            with transaction.atomic():
                InboundNonce.objects.create(channel=channel, nonce=delivery_id)
        except IntegrityError as exc:
            raise Unauthorized("重复的投递（X-Kefu-Delivery 已使用过）") from exc
        _serialize_deliveries_of(channel, incoming.message_id)
        return do_receive_customer_message(
            channel=channel,
            identities=[(kind, incoming.sender_id)],
            text=text,
            external_id=incoming.message_id,
            customer_name=incoming.sender_name,
            meta={"sender_id": incoming.sender_id, "identity_kind": kind, "delivery_id": delivery_id},
        )


def do_prune_inbound_nonces() -> int:
    """Forget delivery ids old enough that their timestamp check refuses them anyway."""
    cutoff = timezone.now() - timedelta(seconds=2 * signing.TOLERANCE_SECONDS)
    deleted, _ = InboundNonce.objects.filter(received_at__lt=cutoff).delete()
    return deleted


# --- email in ------------------------------------------------------------------------


def _email_channel_for(recipients: list[str]) -> Channel:
    wanted = [r.strip().lower() for r in recipients if r and r.strip()]
    if wanted:
        match = Q()
        for address in wanted:
            match |= Q(email_address__iexact=address)
        channels = list(Channel.objects.filter(match, kind=Channel.Kind.EMAIL, is_active=True))
        for address in wanted:  # the envelope's order decides between two inboxes
            for channel in channels:
                if channel.email_address.lower() == address:
                    return channel
    fallback = Channel.objects.filter(kind=Channel.Kind.EMAIL, is_active=True).order_by("id").first()
    if fallback is None:
        raise NotFound("没有启用的邮件渠道")
    return fallback


def do_receive_email(
    raw: bytes, *, rcpt_tos: list[str] | None = None, mail_from: str | None = None
) -> tuple[Message, bool]:
    """Store one inbound mail, threaded by its references; returns ``(message, created)``.

    Idempotent on the Message-ID. A reply naming a stored Message-ID (the customer's
    earlier mail or an agent's reply) continues that conversation; a mail that names
    none opens a new one. ``mail_from`` is the SMTP envelope sender when known; ``<>``
    (a bounce) marks the mail as machine-sent, like ``Auto-Submitted``.
    """
    from kefu.conversations.services import do_receive_customer_message

    parsed = mail.parse_email(raw)
    envelope_sender = (mail_from or "").strip().strip("<>").strip().lower()
    bounce = mail_from is not None and not envelope_sender
    sender = parsed.from_address or envelope_sender
    if not sender or "@" not in sender:
        raise InvalidInput("邮件缺少发件人地址", fields={"from": "必填"})
    channel = _email_channel_for(list(rcpt_tos or []) + parsed.to)
    text = mail.strip_quoted_reply(parsed.text) or parsed.subject or "（空邮件）"
    limit = settings.KEFU_MAX_MESSAGE_CHARS
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    with transaction.atomic():
        _serialize_deliveries_of(channel, parsed.message_id)
        earlier = None
        if parsed.thread_ids:
            earlier = (
                Message.objects.filter(conversation__channel=channel, external_id__in=parsed.thread_ids)
                .select_related("conversation")
                .order_by("-id")
                .first()
            )
        return do_receive_customer_message(
            channel=channel,
            identities=[(Identity.Kind.EMAIL, sender)],
            text=text,
            external_id=parsed.message_id,
            customer_name=parsed.from_name,
            subject=parsed.subject,
            conversation=earlier.conversation if earlier else None,
            new_conversation=earlier is None,
            meta={
                "message_id": parsed.message_id,
                "subject": parsed.subject,
                "from": sender,
                "references": [
                    *parsed.references,
                    *(m for m in parsed.in_reply_to if m not in parsed.references),
                ][-mail.MAX_REFERENCES :],
                # RFC 3834: never auto-reply to a machine (out-of-office, bounce),
                # or two robots mail each other for ever.
                "auto_submitted": parsed.auto_submitted or bounce,
            },
        )


# --- outbound ------------------------------------------------------------------------


def do_queue_outbound(message: Message) -> OutboundDelivery | None:
    """Record a delivery for platforms that need one; the worker sends it after commit."""
    channel = message.conversation.channel
    if message.is_private or channel.kind not in PUSH_KINDS:
        return None
    if channel.kind != Channel.Kind.EMAIL and not channel.outbound_url:
        return None
    if channel.kind == Channel.Kind.EMAIL and message.kind == Message.Kind.AUTO:
        last = _last_customer_message(message)
        if last is not None and last.meta.get("auto_submitted"):
            return None
    delivery = OutboundDelivery.objects.create(message=message)

    def _kick() -> None:
        from .tasks import send_outbound

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
    reply = mail.build_reply(
        subject=mail.reply_subject(last_meta.get("subject") or conversation.subject),
        body=message.text,
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
        response = httpx.post(
            channel.outbound_url,
            content=body,
            headers=headers,
            timeout=settings.KEFU_OUTBOUND_TIMEOUT,
            follow_redirects=False,
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
        if delivery.message.conversation.channel.kind == Channel.Kind.EMAIL:
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
                from .tasks import send_outbound

                send_outbound.using(run_after=run_after).enqueue(delivery_pk)

            transaction.on_commit(_retry)


def do_kick_stalled_deliveries() -> int:
    """Re-enqueue pending deliveries nobody is working on; returns how many.

    That is a retry overdue by a minute (its task was lost), a send whose lease ran
    out (the worker died mid-send), or a delivery whose first task was never enqueued
    (the process died between commit and enqueue). Each is marked due now as it is
    kicked, so the next sweep leaves it alone while its task waits in the queue.
    """
    from .tasks import send_outbound

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
