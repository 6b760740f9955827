"""Incidents as JSON for the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kefu.core.masking import mask_text

from .models import Incident, IncidentEvent, PublicPost

REACH_LABELS = {"followers": "粉丝", "views": "浏览", "likes": "点赞", "shares": "转发", "comments": "评论"}


def incident_out(i: Incident, *, conversations: int | None = None, full: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": i.pk,
        "team_id": i.team_id,
        "title": i.title,
        "kind": i.kind,
        "status": i.status,
        "status_label": i.get_status_display(),
        "owner_id": i.owner_id,
        "owner": i.owner.name if i.owner else None,
        "statement": i.statement,
        "statement_at": i.statement_at.isoformat() if i.statement_at else None,
        "notice": i.notice,
        "notify_customers": i.notify_customers,
        "notices_queued": i.notices_queued,
        "evidence": i.evidence,
        "created_at": i.created_at.isoformat(),
        "confirmed_at": i.confirmed_at.isoformat() if i.confirmed_at else None,
        "resolved_at": i.resolved_at.isoformat() if i.resolved_at else None,
        "merged_into_id": i.merged_into_id,
    }
    if conversations is not None:
        out["conversations"] = conversations
    if full:
        out["internal_note"] = i.internal_note
        out["spec"] = i.spec
        out["lessons"] = i.lessons
        out["follow_up_text"] = i.follow_up_text
        out["follow_ups_sent"] = i.follow_ups_sent
    return out


def event_out(e: IncidentEvent) -> dict[str, Any]:
    return {
        "at": e.at.isoformat(),
        "kind": e.kind,
        "actor": e.actor.name if e.actor else None,
        "text": e.text,
    }


def public_post_out(p: PublicPost, *, now: datetime) -> dict[str, Any]:
    """A flagged post for the supervisors' list; the text masked (phone, ID and bank numbers)."""
    c = p.conversation
    return {
        "id": p.pk,
        "conversation_id": p.conversation_id,
        "message_id": p.message_id,
        "team_id": p.team_id,
        "team": p.team.name if p.team else None,
        "channel_kind": p.channel_kind,
        "customer": str(c.customer),
        "assignee": c.assignee.name if c.assignee else None,
        "text": mask_text(p.message.text)[:500],
        "post_url": p.post_url,
        "reach": p.reach,
        "reach_text": reach_text(p.reach),
        "emotion_label": p.emotion_label,
        "emotion_score": round(p.emotion_score, 1),
        "status": p.status,
        "status_label": p.get_status_display(),
        "due_at": p.due_at.isoformat(),
        "seconds_left": int((p.due_at - now).total_seconds()) if p.status == PublicPost.Status.OPEN else None,
        "warned_at": p.warned_at.isoformat() if p.warned_at else None,
        "breached_at": p.breached_at.isoformat() if p.breached_at else None,
        "escalated_to": p.escalated_to,
        "answered_at": p.answered_at.isoformat() if p.answered_at else None,
        "answered_by": p.answered_by.name if p.answered_by else None,
        "created_at": p.created_at.isoformat(),
    }


def reach_text(reach: dict[str, int]) -> str:
    return "，".join(f"{label} {reach[k]}" for k, label in REACH_LABELS.items() if k in reach)
