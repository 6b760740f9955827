"""Surveys and follow-ups as the API and pages show them; comments masked (they may hold a phone number)."""

from __future__ import annotations

from typing import Any

from kefu.core.masking import mask_text

from .models import FollowUp, Survey, SurveySetting


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def setting_dict(s: SurveySetting) -> dict[str, Any]:
    return {
        "enabled": s.enabled,
        "nps_enabled": s.nps_enabled,
        "expiry_days": s.expiry_days,
        "low_score_threshold": s.low_score_threshold,
        "complaint_follow_up_days": s.complaint_follow_up_days,
    }


def public_survey_dict(s: Survey) -> dict[str, Any]:
    """What the customer's link shows: nothing about the desk beyond their own answer."""
    return {
        "state": s.state(),
        "nps_asked": s.nps_asked,
        "expires_at": _iso(s.expires_at),
        "score": s.csat,
        "nps": s.nps,
        "comment": s.comment,
    }


def answer_dict(s: Survey) -> dict[str, Any]:
    return {
        "survey_id": s.pk,
        "conversation_id": s.conversation_id,
        "channel": s.channel.name,
        "team": s.team.name if s.team else None,
        "agent": s.agent.name if s.agent else None,
        "score": s.csat,
        "nps": s.nps,
        "comment": mask_text(s.comment),
        "answered_at": _iso(s.answered_at),
    }


def follow_up_dict(f: FollowUp) -> dict[str, Any]:
    survey = f.survey
    complaint = f.complaint
    return {
        "id": f.pk,
        "kind": f.kind,
        "kind_label": f.get_kind_display(),
        "conversation_id": f.conversation_id,
        "customer": f.conversation.customer.name if f.conversation.customer else None,
        "team": f.team.name if f.team else None,
        "score": survey.csat if survey else None,
        "nps": survey.nps if survey else None,
        "comment": mask_text(survey.comment) if survey else "",
        "complaint_id": complaint.pk if complaint else None,
        "ticket_number": complaint.ticket.number if complaint else None,
        "due_at": _iso(f.due_at),
        "outcome": f.outcome or None,
        "outcome_label": f.get_outcome_display() if f.outcome else None,
        "note": mask_text(f.note),
        "done_by": f.done_by.name if f.done_by else None,
        "done_at": _iso(f.done_at),
    }
