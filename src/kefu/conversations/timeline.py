"""Conversations, ground floor: reading a conversation and writing lines into it.

What other apps may ask of a conversation: permission-checked access
(``access_conversation``, ``visible_conversations``), the message checks, a system
line (``add_activity``), an automatic reply to the customer (``do_send_auto_reply``),
the standard events (``publish_message``, ``publish_assigned``), read and typing
signals, and the history a socket resumes from. The pipelines that receive and send
messages are the top floor, :mod:`kefu.conversations.services`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.db.models import Q, QuerySet

from kefu.accounts.access import team_ids_of
from kefu.accounts.models import User
from kefu.channels.models import Channel
from kefu.channels.outbound import do_queue_outbound
from kefu.core import deskcache
from kefu.core.errors import InvalidInput, NotFound, PermissionDenied
from kefu.core.events import (
    chat_conversation_group,
    desk_conversation_group,
    desk_user_group,
    publish,
    send_ephemeral,
    send_ephemeral_now,
)

from .models import Attachment, Conversation, Message
from .presenters import conversation_dict, message_dict, public_message_dict

ACTIVE_STATUSES = Conversation.ACTIVE_STATUSES


def check_image(image: UploadedFile | None) -> None:
    if image is None:
        return
    if image.size is None or image.size > settings.KEFU_MAX_IMAGE_BYTES:
        raise InvalidInput(
            f"图片过大（最大 {settings.KEFU_MAX_IMAGE_BYTES // (1024 * 1024)} MB）",
            fields={"image": "文件过大"},
        )
    if image.content_type not in settings.KEFU_IMAGE_TYPES:
        raise InvalidInput("只支持 JPG、PNG、GIF、WEBP 图片", fields={"image": "类型不支持"})
    # Check the bytes, not just the declared type: a renamed script is not an image.
    from PIL import Image, UnidentifiedImageError

    try:
        pos = image.tell()
        with Image.open(image) as im:
            im.verify()
        image.seek(pos)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise InvalidInput("文件不是有效的图片", fields={"image": "无法识别"}) from exc


def check_client_msg_id(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise InvalidInput("client_msg_id 无效", fields={"client_msg_id": "最多64个字符的字符串"})
    return value


def visible_conversations(user: User) -> QuerySet[Conversation]:
    """Supervisors see all; others see their teams' queues and what they own."""
    qs = Conversation.objects.select_related("channel", "customer", "assignee", "team")
    if user.sees_all:
        return qs
    teams = team_ids_of(user)
    return qs.filter(Q(team_id__in=teams) | Q(assignee=user) | Q(first_responder=user))


def access_conversation(user: User, conversation_id: int, *, for_update: bool = False) -> Conversation:
    qs = visible_conversations(user)
    if for_update:
        qs = qs.select_for_update(of=("self",))
    try:
        return qs.get(pk=conversation_id)
    except Conversation.DoesNotExist as exc:
        if Conversation.objects.filter(pk=conversation_id).exists():
            raise PermissionDenied("您无权查看该会话") from exc
        raise NotFound(f"会话 {conversation_id} 不存在") from exc


def access_attachment(user: User, attachment_id: int) -> Attachment:
    """A kept file, for a user who may open its conversation (the conversation page's rule).

    ``PermissionDenied`` for a conversation the user may not see; ``NotFound`` for no such
    file, a refused one, or one whose bytes are gone from storage.
    """
    attachment = (
        Attachment.objects.select_related("message").filter(pk=attachment_id).first()
        if 0 < attachment_id < 2**63
        else None
    )
    if attachment is None:
        raise NotFound(f"附件 {attachment_id} 不存在")
    access_conversation(user, attachment.message.conversation_id)
    if not attachment.is_stored or not attachment.file.storage.exists(attachment.file.name or ""):
        raise NotFound(f"附件 {attachment_id} 未保存")
    return attachment


def next_event_seq(conversation_id: int) -> int | None:
    """The number of the next event about a conversation (None if there is no such conversation).

    One ``UPDATE … RETURNING``: the row stays locked until the publishing transaction
    ends, so numbers follow the order in which transactions about the conversation
    commit. Most writers hold that lock already (they locked or updated the row).
    """
    table = connection.ops.quote_name(Conversation._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET event_seq = event_seq + 1 WHERE id = %s RETURNING event_seq",
            [conversation_id],
        )
        row = cursor.fetchone()
    return int(row[0]) if row else None


def publish_message(
    m: Message, conversation: Conversation, *, event: str = "message.created", chatter: bool = True
) -> None:
    """Announce a message; as chatter (``core.events.publish``) unless ``chatter=False``.

    The first message of a new conversation is announced in full to its team
    (``chatter=False``): it is the notice that a customer is waiting.
    """
    publish(
        event,
        {"message": message_dict(m, clear=True), "conversation": conversation_dict(conversation, clear=True)},
        team_id=conversation.team_id,
        user_ids=[conversation.assignee_id],
        conversation_id=conversation.pk,
        customer_data=None if m.is_private else {"message": public_message_dict(m)},
        webhook=not m.is_private,
        chatter=chatter,
    )


def current_customer_conversation(
    *, channel: Channel, identities: Sequence[tuple[str, str]]
) -> Conversation | None:
    """The customer's not-closed conversation on ``channel``, looked up without creating anything."""
    match = Q()
    for kind, value in identities:
        match |= Q(customer__identities__kind=kind, customer__identities__value=value)
    if not match:
        return None
    return (
        Conversation.objects.filter(match, channel=channel)
        .exclude(status=Conversation.Status.CLOSED)
        .order_by("-id")
        .first()
    )


def messages_after(
    conversation: Conversation, after_id: int, *, public_only: bool, limit: int = 200
) -> list[Message]:
    qs = (
        conversation.messages.select_related("sender").prefetch_related("attachments").filter(pk__gt=after_id)
    )
    if public_only:
        qs = qs.filter(is_private=False)
    return list(qs.order_by("id")[:limit])


def do_mark_read(*, conversation: Conversation, by_customer: bool, message_id: int) -> None:
    field = "customer_last_read_id" if by_customer else "agent_last_read_id"
    updated = Conversation.objects.filter(pk=conversation.pk, **{f"{field}__lt": message_id}).update(
        **{field: message_id}
    )
    if updated and not by_customer and conversation.assignee_id:
        # The assignee's unread count fell, and no event says so (core.deskcache). Marked
        # now and, inside a transaction, again after the commit: counts computed in between,
        # from the rows as they were before it, are not kept.
        group = desk_user_group(conversation.assignee_id)
        deskcache.mark_changed([group])
        if connection.in_atomic_block:
            transaction.on_commit(lambda: deskcache.mark_changed([group]))
    if updated:
        send_ephemeral(
            [
                desk_conversation_group(conversation.pk),
                *([desk_user_group(conversation.assignee_id)] if conversation.assignee_id else []),
            ]
            if by_customer
            else [chat_conversation_group(conversation.pk)],
            "read.event",
            {
                "conversation_id": conversation.pk,
                "by": "customer" if by_customer else "agent",
                "message_id": message_id,
            },
        )


def _typing(conversation_id: int, *, by_customer: bool, name: str) -> tuple[list[str], dict[str, Any]]:
    # The customer's typing goes to the desks showing the conversation (only its page draws
    # the indicator, and opening it joins that group); an agent's to the customer's chat.
    group = desk_conversation_group if by_customer else chat_conversation_group
    payload = {"conversation_id": conversation_id, "by": "customer" if by_customer else "agent", "name": name}
    return [group(conversation_id)], payload


async def send_typing_now(conversation_id: int, *, by_customer: bool, name: str = "") -> None:
    """A typing indicator, from a socket that knows the conversation is its own to signal (the
    customer's followed conversation, a conversation the desk opened or just checked): no
    database read, no hop through the socket thread."""
    groups, payload = _typing(conversation_id, by_customer=by_customer, name=name)
    await send_ephemeral_now(groups, "typing.event", payload)


def add_activity(
    conversation: Conversation,
    text: str,
    *,
    actor: User | None = None,
    private: bool = True,
    meta: dict[str, Any] | None = None,
) -> Message:
    """Record a system line in the conversation (transfer, status change …)."""
    m = Message.objects.create(
        conversation=conversation,
        direction=Message.Direction.ACTIVITY,
        kind=Message.Kind.EVENT,
        sender=actor,
        text=text,
        is_private=private,
        meta=meta or {},
    )
    publish_message(m, conversation, event="conversation.activity")
    return m


def do_send_auto_reply(
    conversation: Conversation, text: str, *, meta: dict[str, Any] | None = None
) -> Message:
    """A system reply to the customer (queue position, acknowledgement)."""
    m = Message.objects.create(
        conversation=conversation,
        direction=Message.Direction.OUTGOING,
        kind=Message.Kind.AUTO,
        text=text,
        meta=meta or {},
    )
    publish_message(m, conversation)

    do_queue_outbound(m)
    return m


def publish_assigned(conversation: Conversation, *, actor: User | None) -> None:
    publish(
        "conversation.assigned",
        {
            "conversation": conversation_dict(conversation, clear=True),
            "actor_id": actor.pk if actor else None,
        },
        team_id=conversation.team_id,
        user_ids=[conversation.assignee_id],
        conversation_id=conversation.pk,
    )


def rating_requested(conversation: Conversation) -> bool:
    """Whether the customer should be shown the rating widget for ``conversation``."""
    return conversation.status == Conversation.Status.RESOLVED and conversation.csat_score is None


def customer_status(conversation: Conversation) -> dict[str, Any]:
    """The status payload for the customer's socket; a resolved, unrated one asks for a rating."""
    data: dict[str, Any] = {"status": conversation.status}
    if rating_requested(conversation):
        data["rating_requested"] = True
    return data


def with_preview(qs: QuerySet[Conversation]) -> QuerySet[Conversation]:
    """Annotate each row with its last public message (``preview``, ``preview_kind``) in the same query."""
    from django.db.models import OuterRef, Subquery

    last = Message.objects.filter(conversation=OuterRef("pk"), is_private=False).order_by("-id")
    return qs.annotate(
        preview=Subquery(last.values("text")[:1]), preview_kind=Subquery(last.values("kind")[:1])
    )
