"""Channels, top floor: customer messages in from web chat, email and platform webhooks.

Every channel ends in ``conversations.services.do_receive_customer_message``; web chat
first counts the message against the visitor's rate limits, platform posts are signed
(:mod:`kefu.core.signing`) and de-duplicated by their delivery id. Replies out are the
ground floor, :mod:`kefu.channels.outbound`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.tasks import task
from django.utils import timezone

from kefu.accounts.access import apply_changes, audit, check_admin, client_ip
from kefu.accounts.models import AuditLog, Team, User
from kefu.bot.gate import bot_holds
from kefu.channels.outbound import identity_kind_for
from kefu.conversations.models import Conversation, Message
from kefu.conversations.services import do_receive_customer_message
from kefu.conversations.timeline import (
    add_activity,
    check_image,
    current_customer_conversation,
    do_send_auto_reply,
)
from kefu.core import files, ratelimit, signing
from kefu.core.errors import Conflict, InvalidInput, KefuError, NotFound, RateLimited, Unauthorized
from kefu.core.fields import check_email, check_message, check_phone, check_text
from kefu.core.masking import mask_phone
from kefu.customers.identities import do_record_contact
from kefu.customers.models import Identity
from kefu.incidents.public_posts import PUBLIC_KINDS, PostFacts, do_flag_public_post
from kefu.routing.availability import (
    DeskState,
    State,
    channel_team,
    closed_reply,
    desk_state,
    desk_state_for_conversation,
    when_text,
)
from kefu.tickets.models import Ticket, TicketEvent
from kefu.tickets.records import (
    LeftMessage,
    do_open_left_message_ticket,
    log_event,
    open_left_message_ticket,
    publish_updated,
)

from . import email as mail
from .models import Channel, InboundNonce, new_channel_secret
from .visitor import Visitor

if TYPE_CHECKING:
    from django.core.files.uploadedfile import UploadedFile


# Platforms that post customer messages to /api/v1/channels/<id>/inbound.
WEBHOOK_KINDS = (Channel.Kind.IM, Channel.Kind.APP, Channel.Kind.SOCIAL, Channel.Kind.LIVE)


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
    # Social and live-stream platforms: what they know of the post's reach, whether the
    # message is public (a comment, a post) rather than a direct message, and its address.
    reach: dict[str, int] | None = None
    public: bool | None = None
    post_url: str = ""


def do_receive_platform_message(
    *, channel: Channel, delivery_id: str, incoming: PlatformMessage
) -> tuple[Message, bool]:
    """Store a signed platform post; the caller has checked the signature.

    The delivery id is remembered in the same transaction as the message: a replay is
    refused (``Unauthorized``) and a refused post leaves no nonce behind.
    """

    text = check_message(incoming.text, field="message.text")
    kind = identity_kind_for(channel)
    with transaction.atomic():
        try:
            with transaction.atomic():
                InboundNonce.objects.create(channel=channel, nonce=delivery_id)
        except IntegrityError as exc:
            raise Unauthorized("重复的投递（X-Kefu-Delivery 已使用过）") from exc
        _serialize_deliveries_of(channel, incoming.message_id)
        message, created = do_receive_customer_message(
            channel=channel,
            identities=[(kind, incoming.sender_id)],
            text=text,
            external_id=incoming.message_id,
            customer_name=incoming.sender_name,
            meta={
                "sender_id": incoming.sender_id,
                "identity_kind": kind,
                "delivery_id": delivery_id,
                **_post_meta(incoming),
            },
        )
        if created and channel.kind in PUBLIC_KINDS:
            do_flag_public_post(
                message.conversation,
                message,
                PostFacts(
                    reach=dict(incoming.reach or {}),
                    public=incoming.public is not False,
                    post_url=incoming.post_url,
                ),
            )
        # While the bot answers, nothing is left yet: it leaves the message when it hands over.
        if created and not bot_holds(message.conversation_id):
            do_leave_message_if_closed(message)
        return message, created


def _post_meta(incoming: PlatformMessage) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if incoming.reach:
        out["reach"] = dict(incoming.reach)
    if incoming.public is not None:
        out["public"] = incoming.public
    if incoming.post_url:
        out["post_url"] = incoming.post_url
    return out


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

    parsed = mail.parse_email(raw)
    envelope_sender = (mail_from or "").strip().strip("<>").strip().lower()
    bounce = mail_from is not None and not envelope_sender
    sender = parsed.from_address or envelope_sender
    if not sender or "@" not in sender:
        raise InvalidInput("邮件缺少发件人地址", fields={"from": "必填"})
    channel = _email_channel_for(list(rcpt_tos or []) + parsed.to)
    images, attached, summary = _sort_attachments(parsed.attachments)
    text = mail.strip_quoted_reply(parsed.text) or parsed.subject or "（空邮件）"
    limit = settings.KEFU_MAX_MESSAGE_CHARS
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    auto_submitted = parsed.auto_submitted or bounce
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
        message, created = do_receive_customer_message(
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
                "auto_submitted": auto_submitted,
                **({"attachments": summary} if summary else {}),
            },
            files=attached,
        )
        if created:
            for n, image in enumerate(images, start=1):
                do_receive_customer_message(
                    channel=channel,
                    identities=[(Identity.Kind.EMAIL, sender)],
                    image=image,
                    external_id=f"{parsed.message_id}#{n}"[:255],
                    conversation=message.conversation,
                    meta={
                        "message_id": parsed.message_id,
                        "attachment": image.name,
                        "auto_submitted": message.meta["auto_submitted"],
                    },
                )
        if created and not auto_submitted:
            do_leave_message_if_closed(message)
        return message, created


# Refused files recorded per mail beyond which the rest are counted in one line.
MAX_RECORDED_FILES = 50


def _sort_attachments(
    attachments: list[mail.Attachment],
) -> tuple[list[SimpleUploadedFile], list[files.IncomingFile], list[dict[str, Any]]]:
    """What kefu keeps of a mail's files: images, other files, and a line on every one.

    Images (JPG, PNG, GIF, WEBP whose bytes are an image, each up to
    ``KEFU_MAX_IMAGE_BYTES``, at most ``KEFU_MAX_EMAIL_IMAGES``) become image messages
    after the mail's text. Other files become the text message's attachments when their
    type is in ``KEFU_FILE_TYPES`` and their bytes confirm it, each up to
    ``KEFU_MAX_FILE_BYTES``, together up to ``KEFU_MAX_EMAIL_FILE_BYTES``, at most
    ``KEFU_MAX_EMAIL_FILES``. Every file not kept (an image too) is recorded as a refused
    attachment with its reason, so the timeline shows it.
    """
    images: list[SimpleUploadedFile] = []
    recorded: list[files.IncomingFile] = []
    summary: list[dict[str, Any]] = []
    total = stored = refused = 0
    for attachment in attachments:
        size = len(attachment.data)
        reason = ""
        if attachment.content_type in settings.KEFU_IMAGE_TYPES:
            upload = SimpleUploadedFile(attachment.filename, attachment.data, attachment.content_type)
            if size > settings.KEFU_MAX_IMAGE_BYTES:
                reason = files.REFUSED_SIZE
            elif len(images) >= settings.KEFU_MAX_EMAIL_IMAGES:
                reason = f"每封邮件最多保存 {settings.KEFU_MAX_EMAIL_IMAGES} 张图片"
            else:
                try:
                    check_image(upload)
                except InvalidInput:
                    reason = files.REFUSED_TYPE
                else:
                    images.append(upload)
        else:
            file_type = files.check_file_type(attachment.filename, attachment.content_type, attachment.data)
            if file_type is None:
                reason = files.REFUSED_TYPE
            elif size > settings.KEFU_MAX_FILE_BYTES or total + size > settings.KEFU_MAX_EMAIL_FILE_BYTES:
                reason = files.REFUSED_SIZE
            elif stored >= settings.KEFU_MAX_EMAIL_FILES:
                reason = f"每封邮件最多保存 {settings.KEFU_MAX_EMAIL_FILES} 个附件"
            else:
                total += size
                stored += 1
                recorded.append(
                    files.IncomingFile(attachment.filename, file_type.content_type, size, attachment.data)
                )
        entry: dict[str, Any] = {
            "name": attachment.filename,
            "content_type": attachment.content_type,
            "size": size,
            "stored": not reason,
        }
        if reason:
            entry["reason"] = reason
            refused += 1
            if refused <= MAX_RECORDED_FILES:
                recorded.append(
                    files.IncomingFile(
                        attachment.filename, attachment.content_type[:100], size, refused=reason
                    )
                )
        if len(summary) < MAX_RECORDED_FILES * 2:
            summary.append(entry)
    if refused > MAX_RECORDED_FILES:
        # A mail of a thousand tiny parts: the first ones by name, the rest as a count.
        extra = refused - MAX_RECORDED_FILES
        recorded.append(files.IncomingFile(f"另有 {extra} 个附件", "", 0, refused="附件过多"))
    return images, recorded, summary


# --- messages left while nobody can take the chat (留言) -------------------------------------


@dataclass(frozen=True)
class Contact:
    """How a customer who leaves a message wants to be reached (at least a phone or an email)."""

    name: str = ""
    phone: str = ""
    email: str = ""

    @property
    def masked(self) -> str:
        parts = []
        if self.phone:
            parts.append(f"电话 {mask_phone(self.phone.replace('-', ''))}")
        if self.email:
            parts.append(f"邮箱 {self.email}")
        return "，".join(parts)


def check_contact(*, name: Any = "", phone: Any = "", email: Any = "") -> Contact:
    """A name (optional) and a valid phone or email, at least one; errors name the field."""
    contact = Contact(
        name=check_text(name, field="name", label="称呼", max_len=64, required=False),
        phone=check_phone(phone, field="phone"),
        email=check_email(email, field="email"),
    )
    if not contact.phone and not contact.email:
        raise InvalidInput(
            "请至少留下手机号或邮箱，方便我们回复您",
            fields={"phone": "手机号和邮箱至少填一项", "email": "手机号和邮箱至少填一项"},
        )
    return contact


@dataclass(frozen=True)
class LeftMessageReceipt:
    message: Message
    ticket: Ticket
    created: bool
    reply_by: str  # as the customer was told it: 「明天 11:00」
    text: str  # the confirmation the customer reads


def do_leave_chat_message(
    *, channel: Channel, visitor: Visitor, ip: str | None, text: Any, contact: Contact, client_msg_id: str
) -> LeftMessageReceipt:
    """A web visitor leaves a message (留言) with their contact: a ticket of the team, answered by a promised time.

    The message joins the visitor's conversation (so the answer shows in the chat when
    they come back), their contact goes on the profile, and the conversation's team
    gets a ticket due by ``reply_by`` (``routing.availability``). An email left means
    the agent's answer is mailed too (``channels.outbound``). A second message left
    while the first is open is added to the same ticket. Idempotent on
    ``client_msg_id``; counted against the visitor's and the address's
    ``chat_leave_message`` limits.
    """
    text = check_message(text)
    stored = _stored_chat_message(channel, visitor, client_msg_id)
    if stored is not None:  # a resend: the answer the first one got, even if its ticket is done by now
        ticket = open_left_message_ticket(stored.conversation, any_status=True)
        if ticket is not None:
            return _receipt(stored, ticket, created=False, contact=contact)
    ratelimit.take(
        ("chat_leave_message", visitor.visitor_id),
        ("chat_leave_message_ip", ratelimit.address_key(ip)),
        message="留言太频繁，请稍后再试",
    )
    with transaction.atomic():
        message, _created = do_receive_customer_message(
            channel=channel,
            identities=visitor.identities,
            text=text,
            client_msg_id=client_msg_id,
            customer_name=contact.name,
            meta={
                "left_message": True,
                "reply_by_email": bool(contact.email),
                "subject": f"您在「{channel.name}」的留言",
            },
        )
        conversation = Conversation.objects.select_related("channel", "customer").get(
            pk=message.conversation_id
        )
        do_record_contact(conversation.customer, phone=contact.phone, email=contact.email, name=contact.name)
        ticket = open_left_message_ticket(conversation)
        if ticket is None:
            ticket = _open_ticket(conversation, message, desk_state_for_conversation(conversation), contact)
        else:
            _add_to_ticket(ticket, message, contact)
        receipt = _receipt(message, ticket, created=True, contact=contact)
        do_send_auto_reply(
            conversation, receipt.text, meta={"left_message_ticket": ticket.number, "ticket_id": ticket.pk}
        )
    return receipt


def _open_ticket(
    conversation: Conversation, message: Message, state: DeskState, contact: Contact | None
) -> Ticket:
    ticket = do_open_left_message_ticket(
        LeftMessage(
            conversation=conversation,
            message=message,
            reply_by=state.reply_by,
            warn_at=state.reply_warn_at,
            contact=contact.masked if contact else "",
        )
    )
    add_activity(
        conversation,
        f"客户留言，已登记为工单 {ticket.number}（{ticket.team.name if ticket.team else '未分组'}）",
        meta={"ticket_id": ticket.pk},
    )
    return ticket


def _add_to_ticket(ticket: Ticket, message: Message, contact: Contact) -> None:
    event = log_event(
        ticket,
        TicketEvent.Kind.COMMENT,
        f"客户补充留言（{contact.masked}）：{message.text}",
        actor=None,
        detail={"conversation_id": message.conversation_id, "message_id": message.pk},
    )
    publish_updated(ticket, "left_message", event)


def _receipt(message: Message, ticket: Ticket, *, created: bool, contact: Contact) -> LeftMessageReceipt:
    due = ticket.first_response_due or timezone.now()
    by = when_text(due, timezone.now())
    if contact.email:
        how = f"回复会发送到邮箱 {contact.email}，也会显示在这个对话中"
    else:
        how = f"我们会致电 {mask_phone(contact.phone.replace('-', ''))}，或在这个对话中回复您"
    text = f"已收到您的留言（工单号 {ticket.number}），我们会在 {by} 前回复您：{how}。"
    return LeftMessageReceipt(message=message, ticket=ticket, created=created, reply_by=by, text=text)


def web_desk_state(channel: Channel) -> dict[str, Any]:
    """The public state of a web channel's desk for a visitor who has not written yet (its default team)."""
    team = channel_team(channel)
    return desk_state(channel=channel, team_id=team.pk if team else None).as_dict()


def web_desk_state_for_visitor(channel: Channel, visitor: Visitor) -> dict[str, Any]:
    """The state for this visitor: of their conversation's team when they have one."""
    conversation = current_customer_conversation(channel=channel, identities=visitor.identities)
    if conversation is None or not conversation.is_active:
        return web_desk_state(channel)
    return desk_state(channel=channel, team_id=conversation.team_id).as_dict()


def check_desk_state_request(ip: str | None) -> None:
    """``GET /chat/state`` counts against its address's ``chat_state_ip`` limit."""
    ratelimit.take_for_address("chat_state_ip", ip)


# Channels whose customers cannot fill the chat's 留言 form: what they write while the desk
# is closed is their message left, on their own channel.
LEAVE_MESSAGE_KINDS = (*WEBHOOK_KINDS, Channel.Kind.EMAIL)


def do_leave_message_if_closed(message: Message) -> Ticket | None:
    """A platform or email customer wrote while the desk is closed: their message is left (留言).

    The conversation's team gets a ticket due by the promised time and the customer is
    told, once, on their channel (IM through the platform, email by mail). Later messages
    while it is open join the conversation, not a new ticket. In the message's transaction.
    """
    conversation = Conversation.objects.select_related("channel", "customer").get(pk=message.conversation_id)
    if conversation.channel.kind not in LEAVE_MESSAGE_KINDS or open_left_message_ticket(conversation):
        return None
    state = desk_state_for_conversation(conversation)
    if state.state != State.CLOSED:
        return None
    ticket = _open_ticket(conversation, message, state, None)
    text = closed_reply(
        state,
        can_leave_message=False,
        ticket_number=ticket.number,
        by_email=conversation.channel.kind == Channel.Kind.EMAIL,
    )
    do_send_auto_reply(
        conversation,
        text,
        meta={
            "desk_state": state.state,
            "desk_reason": state.reason,
            "left_message_ticket": ticket.number,
            "ticket_id": ticket.pk,
            "reply_by": state.reply_by.isoformat(),
        },
    )
    return ticket


@task()
def prune_inbound_nonces() -> int:
    """Forget webhook delivery ids older than the signature's time window."""
    return do_prune_inbound_nonces()


# --- channel settings (admins) ---------------------------------------------------------


def _check_channel(
    *, name: Any, kind: Any, email_address: Any, outbound_url: Any, channel: Channel | None
) -> dict[str, Any]:
    name = check_text(name, field="name", label="渠道名称", max_len=64)
    same_name = Channel.objects.filter(name=name)
    if channel is not None:
        same_name = same_name.exclude(pk=channel.pk)
    if same_name.exists():
        raise Conflict(f"渠道 {name} 已存在", fields={"name": "已有同名渠道"})
    if kind not in Channel.Kind.values:
        raise InvalidInput(f"未知渠道类型：{kind}", fields={"kind": "无效"})
    email_address = check_text(
        email_address, field="email", label="收件地址", max_len=254, required=False
    ).lower()
    if kind == Channel.Kind.EMAIL:
        if not email_address or "@" not in email_address:
            raise InvalidInput(
                "邮件渠道需要收件地址", fields={"email_address": "请填写收件地址，如 service@example.com"}
            )
        taken = Channel.objects.filter(email_address__iexact=email_address)
        if channel is not None:
            taken = taken.exclude(pk=channel.pk)
        if taken.exists():
            raise Conflict("这个收件地址已被其他渠道使用", fields={"email_address": "已被其他渠道使用"})
    outbound_url = check_text(outbound_url, field="url", label="回推地址", max_len=200, required=False)
    if outbound_url:
        parts = urlsplit(outbound_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInput(
                "回推地址必须是 http(s) 网址", fields={"outbound_url": "应以 http:// 或 https:// 开头"}
            )
    return {"name": name, "kind": kind, "email_address": email_address, "outbound_url": outbound_url}


def do_save_channel(
    *,
    actor: User,
    channel: Channel | None,
    name: str,
    kind: str,
    team: Team | None,
    email_address: str = "",
    outbound_url: str = "",
    is_active: bool = True,
    request: Any = None,
) -> Channel:
    """Create (``channel=None``) or change a channel; its kind is fixed once created."""
    check_admin(actor)
    if channel is not None:
        kind = channel.kind
    values: dict[str, Any] = {
        **_check_channel(
            name=name, kind=kind, email_address=email_address, outbound_url=outbound_url, channel=channel
        ),
        "team": team,
        "is_active": bool(is_active),
    }
    with transaction.atomic():
        if channel is None:
            channel = Channel.objects.create(**values)
            changes: dict[str, Any] = {"created": True, "name": channel.name, "kind": kind}
        else:
            changes = apply_changes(channel, values)
        if changes:
            audit(
                AuditLog.Action.SETTINGS_CHANGE,
                actor=actor,
                target=channel,
                detail=changes,
                ip=client_ip(request),
            )
    return channel


def do_rotate_channel_secret(*, actor: User, channel: Channel, request: Any = None) -> str:
    """A new signing secret for the channel's webhooks; the old one stops working at once."""
    check_admin(actor)
    secret = new_channel_secret()
    with transaction.atomic():
        Channel.objects.filter(pk=channel.pk).update(secret=secret)
        channel.secret = secret
        audit(
            AuditLog.Action.SETTINGS_CHANGE,
            actor=actor,
            target=channel,
            detail={"secret": "rotated"},
            ip=client_ip(request),
        )
    return secret
