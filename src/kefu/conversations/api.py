"""REST: the inbox, one conversation, its messages, notes, status, transfer, read state, CSAT and calls."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import FileResponse
from django.utils import timezone
from ninja import File, Form, Query, Router, Status
from ninja.files import UploadedFile
from pydantic import Field, StrictBool

from kefu.accounts.access import AuthedRequest, access_team, access_user
from kefu.conversations.presenters import call_out, conversation_out, open_conversation_dict
from kefu.core.apiutil import DEFAULT_LIMIT, MAX_LIMIT, StrictIn, page
from kefu.core.errors import NotFound
from kefu.core.files import FILE_TYPES, file_response
from kefu.core.masking import mask_text

from . import services, timeline
from .models import Conversation, Message
from .presenters import csat_dict, message_dict

router = Router(tags=["conversations"])


# --- shapes --------------------------------------------------------------------------


class MessageIn(StrictIn):
    text: str
    client_msg_id: str | None = Field(None, max_length=64)
    # Send although the reply has high-severity quality findings (recorded as an override).
    confirm_findings: StrictBool = False


class ConversationNoteIn(StrictIn):
    text: str


class ConversationStatusIn(StrictIn):
    status: str
    snoozed_until: datetime | None = None


class ConversationTransferIn(StrictIn):
    to_user_id: int | None = None
    to_team_id: int | None = None
    note: str


class ReadIn(StrictIn):
    message_id: int | None = None


class CsatIn(StrictIn):
    score: int
    comment: str = ""


class CallIn(StrictIn):
    conversation_id: int | None = None
    customer_id: int | None = None
    direction: str
    duration_seconds: int = Field(ge=0, le=24 * 3600)
    summary: str
    outcome: str


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and timezone.is_naive(value):
        return timezone.make_aware(value)
    return value


# --- conversations -------------------------------------------------------------------


@router.get("/conversations")
def list_conversations(
    request: AuthedRequest,
    view: str = "mine",
    status: str | None = None,
    channel: str | None = None,
    priority: str | None = None,
    team_id: int | None = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    qs = services.inbox(
        request.auth, view=view, status=status, channel_kind=channel, priority=priority, team_id=team_id
    )
    return page(timeline.with_preview(qs), limit=limit, offset=offset, present=conversation_out)


@router.get("/desk/counts")
def desk_counts(request: AuthedRequest) -> dict[str, int]:
    """The navigation's counts for the signed-in user.

    `unread_conversations`: their open conversations with customer messages they have
    not read; `queued`: conversations waiting in their teams' queues; `open_alerts`:
    unacknowledged emotion and complaint-risk alerts asked of them. Cached per user
    until an event reaches one of their desk groups, 10 s at most (docs/performance.md).
    """
    return services.desk_counts_cached(request.auth)


@router.get("/desk/my-open-conversations")
def my_open_conversations(
    request: AuthedRequest, exclude: int | None = Query(None, ge=1, le=2**62)
) -> dict[str, Any]:
    """The user's open conversations with `unread` counts (unread first); `exclude` leaves one out."""
    rows = services.my_open_conversations(request.auth, exclude_id=exclude)
    return {"items": [open_conversation_dict(c) for c in rows]}


@router.get("/conversations/{conversation_id}")
def get_conversation(request: AuthedRequest, conversation_id: int) -> dict[str, Any]:
    return conversation_out(timeline.access_conversation(request.auth, conversation_id))


@router.get("/conversations/{conversation_id}/messages")
def list_messages(
    request: AuthedRequest,
    conversation_id: int,
    after: int = Query(0, ge=0),
    limit: int = Query(100, ge=1, le=MAX_LIMIT),
) -> dict[str, Any]:
    conversation = timeline.access_conversation(request.auth, conversation_id)
    rows = timeline.messages_after(conversation, after, public_only=False, limit=limit + 1)
    return {"items": [message_dict(m) for m in rows[:limit]], "has_more": len(rows) > limit}


_BINARY = {"schema": {"type": "string", "format": "binary"}}


@router.get(
    "/attachments/{attachment_id}/download",
    openapi_extra={
        "responses": {
            200: {
                "description": "The file, as an attachment (never rendered inline)",
                "content": {t.content_type: _BINARY for t in FILE_TYPES.values()},
            }
        }
    },
)
def download_attachment(request: AuthedRequest, attachment_id: int) -> FileResponse:
    """A file a customer sent (a message's `attachments[].download_url`), for users who may open its conversation."""
    attachment = timeline.access_attachment(request.auth, attachment_id)
    return file_response(
        attachment.file.open("rb"), name=mask_text(attachment.name), content_type=attachment.content_type
    )


@router.post("/conversations/{conversation_id}/messages/{message_id}/reveal")
def reveal_message(request: AuthedRequest, conversation_id: int, message_id: int) -> dict[str, Any]:
    """The message's text as typed (team leads and above, in conversations they may open); audited."""
    message = services.do_reveal_message(
        user=request.auth, conversation_id=conversation_id, message_id=message_id, request=request
    )
    return {"conversation_id": conversation_id, "message_id": message.pk, "text": message.text}


@router.post("/conversations/{conversation_id}/messages", response={200: dict[str, Any], 201: dict[str, Any]})
def send_message(request: AuthedRequest, conversation_id: int, payload: MessageIn) -> Status[dict[str, Any]]:
    message, created = services.do_send_agent_message(
        agent=request.auth,
        conversation_id=conversation_id,
        text=payload.text,
        client_msg_id=payload.client_msg_id,
        confirm_findings=payload.confirm_findings,
    )
    # A resend with the same client_msg_id returns the stored message with 200.
    return Status(201 if created else 200, message_dict(message))


@router.post("/conversations/{conversation_id}/images", response={200: dict[str, Any], 201: dict[str, Any]})
def send_image(
    request: AuthedRequest,
    conversation_id: int,
    image: File[UploadedFile],
    text: Form[str] = "",
    client_msg_id: Form[str] = "",
    confirm_findings: Form[bool] = False,
) -> Status[dict[str, Any]]:
    message, created = services.do_send_agent_message(
        agent=request.auth,
        conversation_id=conversation_id,
        text=text,
        client_msg_id=client_msg_id or None,
        image=image,
        confirm_findings=confirm_findings,
    )
    return Status(201 if created else 200, message_dict(message))


@router.post("/conversations/{conversation_id}/notes", response={201: dict[str, Any]})
def add_note(
    request: AuthedRequest, conversation_id: int, payload: ConversationNoteIn
) -> Status[dict[str, Any]]:
    note = services.do_add_note(agent=request.auth, conversation_id=conversation_id, text=payload.text)
    return Status(201, message_dict(note))


@router.post("/conversations/{conversation_id}/status")
def set_status(request: AuthedRequest, conversation_id: int, payload: ConversationStatusIn) -> dict[str, Any]:
    conversation = services.do_set_status(
        actor=request.auth,
        conversation_id=conversation_id,
        status=payload.status,
        snoozed_until=_aware(payload.snoozed_until),
    )
    # The service read it through the permission query, under its lock, and a status
    # changes none of what that query looks at (team, assignee, first responder): the
    # actor still sees it, so it answers with the row as written, not read again.
    return conversation_out(conversation)


@router.post("/conversations/{conversation_id}/transfer")
def transfer(request: AuthedRequest, conversation_id: int, payload: ConversationTransferIn) -> dict[str, Any]:
    services.do_transfer(
        actor=request.auth,
        conversation_id=conversation_id,
        note=payload.note,
        to_user=access_user(payload.to_user_id) if payload.to_user_id is not None else None,
        to_team=access_team(payload.to_team_id) if payload.to_team_id is not None else None,
    )
    # After a transfer the actor may no longer see the conversation: answer with what it became.
    c = Conversation.objects.select_related("channel", "customer", "assignee", "team").get(pk=conversation_id)
    return conversation_out(c)


@router.post("/conversations/{conversation_id}/read")
def mark_read(request: AuthedRequest, conversation_id: int, payload: ReadIn) -> dict[str, Any]:
    conversation = timeline.access_conversation(request.auth, conversation_id)
    messages = Message.objects.filter(conversation=conversation)
    if payload.message_id is None:
        message_id = messages.order_by("-id").values_list("id", flat=True).first() or 0
    elif messages.filter(pk=payload.message_id).exists():
        message_id = payload.message_id
    else:
        raise NotFound(f"消息 {payload.message_id} 不在该会话中", fields={"message_id": "不存在"})
    if message_id:
        timeline.do_mark_read(conversation=conversation, by_customer=False, message_id=message_id)
    return {
        "conversation_id": conversation.pk,
        "agent_last_read_id": max(message_id, conversation.agent_last_read_id),
    }


@router.post("/conversations/{conversation_id}/csat", response={201: dict[str, Any]})
def rate(request: AuthedRequest, conversation_id: int, payload: CsatIn) -> Status[dict[str, Any]]:
    """A rating the customer gave elsewhere (an IM platform's survey), reported by an agent or integration."""
    conversation = timeline.access_conversation(request.auth, conversation_id)
    conversation = services.do_rate_conversation(
        conversation=conversation, score=payload.score, comment=payload.comment
    )
    return Status(201, csat_dict(conversation))


# --- calls -----------------------------------------------------------------------------


@router.post("/calls", response={201: dict[str, Any]})
def log_call(request: AuthedRequest, payload: CallIn) -> Status[dict[str, Any]]:
    call = services.do_log_call(
        agent=request.auth,
        conversation_id=payload.conversation_id,
        customer_id=payload.customer_id,
        direction=payload.direction,
        duration_seconds=payload.duration_seconds,
        summary=payload.summary,
        outcome=payload.outcome,
    )
    return Status(201, call_out(call))
