"""Channels: outbound delivery of agent replies to the platform a customer wrote from."""

from __future__ import annotations

from django.db import transaction

from kefu.conversations.models import Message

from .models import Channel, OutboundDelivery

# Web chat and app replies reach the customer over the websocket; phone has no
# outbound text. Email and webhook platforms need a delivery.
PUSH_KINDS = (Channel.Kind.EMAIL, Channel.Kind.IM, Channel.Kind.SOCIAL, Channel.Kind.LIVE)


def do_queue_outbound(message: Message) -> OutboundDelivery | None:
    """Record a delivery for platforms that need one; the worker sends it after commit."""
    channel = message.conversation.channel
    if message.is_private or channel.kind not in PUSH_KINDS:
        return None
    if channel.kind != Channel.Kind.EMAIL and not channel.outbound_url:
        return None
    delivery = OutboundDelivery.objects.create(message=message)

    def _kick() -> None:
        from .tasks import send_outbound

        send_outbound.enqueue(delivery.pk)

    transaction.on_commit(_kick)
    return delivery
