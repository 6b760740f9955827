"""Incidents as JSON for the API."""

from __future__ import annotations

from typing import Any

from .models import Incident, IncidentEvent


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
