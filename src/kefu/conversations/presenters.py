"""Plain dicts for events and sockets. Customer-facing shapes carry public fields only.

Desk shapes mask the phone, ID-card and bank-card numbers in free text
(``core.masking.mask_text``); ``clear=True`` is for event payloads only, which
``core.events.publish`` masks again for desks and untrusted webhooks.
"""

from __future__ import annotations

from typing import Any

from kefu.accounts.models import person_name_of
from kefu.core.masking import has_masked_text, mask_text

from .models import Attachment, CallLog, Conversation, Message


def attachment_dict(a: Attachment) -> dict[str, Any]:
    """A file that came with a message: kept (with its downloads) or refused (with the reason).

    The name is masked like message text (a customer may name a scan after their ID number).
    """
    stored = a.is_stored
    return {
        "id": a.pk,
        "name": mask_text(a.name),
        "size": a.size,
        "content_type": a.content_type,
        "type_label": a.type_label if stored else "",
        "stored": stored,
        "refused_reason": a.refused_reason or None,
        # The desk's download (session) and the API's (session or token); both permission-checked.
        "url": f"/desk/files/{a.pk}/" if stored else None,
        "download_url": f"/api/v1/attachments/{a.pk}/download" if stored else None,
    }


def attachments_of(m: Message) -> list[dict[str, Any]]:
    """A message's attachments; only mail with files (``meta.attachments``) costs a query, unless prefetched."""
    if not (isinstance(m.meta, dict) and m.meta.get("attachments")) and "attachments" not in getattr(
        m, "_prefetched_objects_cache", {}
    ):
        return []
    return [attachment_dict(a) for a in m.attachments.all()]


def message_dict(m: Message, *, clear: bool = False) -> dict[str, Any]:
    """The desk's view of a message (notes included); ``has_pii`` says the text has masked parts."""
    return {
        "id": m.pk,
        "conversation_id": m.conversation_id,
        "direction": m.direction,
        "kind": m.kind,
        "text": m.text if clear else mask_text(m.text),
        "has_pii": has_masked_text(m.text),
        "image_url": m.image.url if m.image else None,
        "attachments": attachments_of(m),
        "is_private": m.is_private,
        "sender_id": m.sender_id,
        "sender_name": m.sender.name if m.sender_id and m.sender else None,
        "client_msg_id": m.client_msg_id,
        "meta": m.meta,
        "created_at": m.created_at.isoformat(),
    }


def public_message_dict(m: Message) -> dict[str, Any]:
    """The customer's view of a message. Callers must never pass a private message."""
    assert not m.is_private, "a private message must not be shown to a customer"
    return {
        "id": m.pk,
        "direction": m.direction,
        "kind": m.kind,
        "text": m.text,
        "image_url": m.image.url if m.image else None,
        "sender_name": (m.sender.display_name or "客服") if m.sender_id and m.sender else None,
        "client_msg_id": m.client_msg_id if m.direction == Message.Direction.INCOMING else None,
        "created_at": m.created_at.isoformat(),
        # The bot's buttons (likely questions, 解决了 / 没解决, 转人工): pressing one sends its text.
        "choices": _choices(m),
    }


def _choices(m: Message) -> list[str]:
    choices = m.meta.get("choices") if m.kind == Message.Kind.AUTO and isinstance(m.meta, dict) else None
    return [c for c in choices if isinstance(c, str)][:5] if isinstance(choices, list) else []


def conversation_dict(c: Conversation, *, clear: bool = False) -> dict[str, Any]:
    return {
        "id": c.pk,
        "status": c.status,
        "channel_id": c.channel_id,
        "channel_kind": c.channel.kind if c.channel_id else None,
        "customer_id": c.customer_id,
        "customer_name": c.customer.name if c.customer_id else "",
        "customer_vip": c.customer.vip_level if c.customer_id else 0,
        "team_id": c.team_id,
        "assignee_id": c.assignee_id,
        "first_responder_id": c.first_responder_id,
        "priority": c.priority,
        "subject": c.subject if clear else mask_text(c.subject),
        "intent": c.intent,
        "emotion_label": c.emotion_label,
        "emotion_score": c.emotion_score,
        "emotion_trend": c.emotion_trend,
        "dissatisfied_probability": c.dissatisfied_probability,
        "last_message_at": c.last_message_at.isoformat() if c.last_message_at else None,
        "first_response_due": c.first_response_due.isoformat() if c.first_response_due else None,
        "sla_breached": c.sla_breached_at is not None,
        "created_at": c.created_at.isoformat() if c.created_at else None,
        "csat_score": c.csat_score,
    }


def open_conversation_dict(c: Conversation) -> dict[str, Any]:
    """One of an agent's open conversations as their list shows it; ``unread`` annotated, ``customer`` loaded."""
    return {
        "id": c.pk,
        "customer_name": str(c.customer),
        "channel_kind": c.channel.kind if c.channel_id else None,
        "status": c.status,
        "priority": c.priority,
        "emotion_label": c.emotion_label,
        "unread": getattr(c, "unread", 0),
        "last_customer_message_at": c.last_customer_message_at.isoformat()
        if c.last_customer_message_at
        else None,
    }


def csat_dict(c: Conversation) -> dict[str, Any]:
    """The customer's rating of a conversation (desk and webhooks only)."""
    return {
        "conversation_id": c.pk,
        "score": c.csat_score,
        "comment": c.csat_comment,
        "at": c.csat_at.isoformat() if c.csat_at else None,
    }


def conversation_out(c: Conversation) -> dict[str, Any]:
    """The desk's view of a conversation; ``channel``, ``customer``, ``assignee``, ``team`` loaded."""
    return {
        **conversation_dict(c),
        "channel_name": c.channel.name,
        "assignee_name": c.assignee.name if c.assignee else None,
        "team_name": c.team.name if c.team else None,
        "snoozed_until": c.snoozed_until.isoformat() if c.snoozed_until else None,
        "queued_at": c.queued_at.isoformat() if c.queued_at else None,
        "sla_state": sla_state(c),
        "agent_last_read_id": c.agent_last_read_id,
        "customer_last_read_id": c.customer_last_read_id,
        "preview": _masked_or_none(getattr(c, "preview", None)),
    }


TRANSCRIPT_HEADER = ("时间", "类型", "发送方", "内容", "图片")
_KIND_NAMES = {"note": "内部备注", "call": "通话记录", "event": "系统", "auto": "自动回复", "image": "图片"}


def transcript_row(m: Message, customer_name: str) -> tuple[str, ...]:
    """One message as a line of the exported transcript (``sender`` loaded); text masked like the desk's."""
    if m.direction == Message.Direction.INCOMING:
        who = customer_name
    else:
        who = m.sender.name if m.sender_id and m.sender else "系统"
    kind = _KIND_NAMES.get(m.kind, "客户" if m.direction == Message.Direction.INCOMING else "回复")
    return (
        m.created_at.isoformat(timespec="seconds"),
        kind,
        _cell(who),
        _cell(mask_text(m.text)),
        m.image.url if m.image else "",
    )


def _cell(text: str) -> str:
    # A customer's 「=HYPERLINK(…)」 must stay text when the file is opened in a spreadsheet.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _masked_or_none(text: str | None) -> str | None:
    return None if text is None else mask_text(text)


def call_out(call: CallLog) -> dict[str, Any]:
    return {
        "id": call.pk,
        "conversation_id": call.conversation_id,
        "agent_id": call.agent_id,
        "direction": call.direction,
        "duration_seconds": call.duration_seconds,
        "summary": mask_text(call.summary),
        "outcome": call.outcome,
        "message": message_dict(call.message),
        "created_at": call.created_at.isoformat(),
    }


def sla_state(c: Conversation) -> str:
    """``breached`` / ``near`` (warned) / ``ok`` / ``""`` (no first-response timer)."""
    return sla_state_of(c.sla_breached_at, c.first_response_at, c.sla_warned_at, c.first_response_due)


def sla_state_of(breached_at: Any, first_response_at: Any, warned_at: Any, due: Any) -> str:
    """``sla_state`` from the conversation's columns (a ``values()`` row)."""
    if breached_at is not None:
        return "breached"
    if first_response_at is None and warned_at is not None:
        return "near"
    return "ok" if due is not None else ""


# --- the inbox's rows: read with values(), no model instances -------------------------

# What one inbox row shows, read as columns (``QuerySet.values``) of the conversation and
# the four rows it joins: building a Conversation with its channel, customer, assignee and
# team (a hundred columns) cost more than the query itself (docs/performance.md).
INBOX_ROW_FIELDS = (
    "id",
    "status",
    "priority",
    "subject",
    "emotion_label",
    "emotion_score",
    "emotion_trend",
    "last_message_at",
    "last_customer_message_at",
    "last_agent_message_at",
    "sla_breached_at",
    "sla_warned_at",
    "first_response_at",
    "first_response_due",
    "customer_id",
    "customer__name",
    "customer__vip_level",
    "channel__kind",
    "assignee_id",
    "assignee__display_name",
    "assignee__first_name",
    "assignee__last_name",
    "assignee__username",
    "team__name",
    "preview",
    "preview_kind",
)
_STATUS_LABELS = dict(Conversation.Status.choices)


def inbox_row(
    r: dict[str, Any], *, channel_labels: dict[str, str], emotion_names: dict[str, str]
) -> dict[str, Any]:
    """One inbox row from ``INBOX_ROW_FIELDS``: what ``_inbox_list.html`` shows, the preview unmasked
    (the template masks it, as every desk shape of free text)."""
    waiting = r["last_customer_message_at"]
    if r["status"] not in Conversation.ACTIVE_STATUSES or (
        r["last_agent_message_at"] and waiting and r["last_agent_message_at"] >= waiting
    ):
        waiting = None
    return {
        **r,
        "customer_name": r["customer__name"] or f"客户#{r['customer_id']}",
        "vip_level": r["customer__vip_level"],
        "channel_kind": r["channel__kind"],
        "channel_label": channel_labels.get(r["channel__kind"], r["channel__kind"]),
        "status_label": _STATUS_LABELS.get(r["status"], r["status"]),
        "emotion_name": emotion_names.get(r["emotion_label"], r["emotion_label"]),
        "assignee_name": person_name_of(r, "assignee"),
        "team_name": r["team__name"] or "",
        "waiting_since": waiting,
        "sla": sla_state_of(
            r["sla_breached_at"], r["first_response_at"], r["sla_warned_at"], r["first_response_due"]
        ),
    }
