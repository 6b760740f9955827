"""Incidents, ground floor: what other apps ask of an open incident.

The composer pins the approved wording (统一口径) of the incidents a conversation is
tagged to, the script picker offers it first, the reply-quality check compares a draft
with its key facts, and the chat widget and help centre show the notice while it is
open. Only incidents a supervisor confirmed (status ``open``) with a statement count:
a proposal is not yet an approved answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from .models import Incident, IncidentLink


@dataclass(frozen=True, slots=True)
class PinnedStatement:
    incident_id: int
    title: str
    statement: str
    owner: str


def pinned_statements(conversation_id: int) -> list[PinnedStatement]:
    """Approved statements of the open incidents this conversation is tagged to, newest first."""
    links = (
        IncidentLink.objects.filter(conversation_id=conversation_id, incident__status=Incident.Status.OPEN)
        .exclude(incident__statement="")
        .select_related("incident__owner")
        .order_by("-incident__created_at", "-incident_id")
    )
    return [
        PinnedStatement(
            link.incident_id,
            link.incident.title,
            link.incident.statement,
            link.incident.owner.name if link.incident.owner else "",
        )
        for link in links
    ]


def statement_texts(conversation_id: int) -> tuple[str, ...]:
    """Just the wording, for the reply-quality check."""
    return tuple(p.statement for p in pinned_statements(conversation_id))


@dataclass(frozen=True, slots=True)
class Notice:
    incident_id: int
    title: str
    text: str


def open_notices(limit: int = 3) -> list[Notice]:
    """Customer-facing notices of open incidents (the widget's and help centre's banner)."""
    rows = (
        Incident.objects.filter(status=Incident.Status.OPEN, notice=True)
        .exclude(statement="")
        .order_by("-statement_at", "-id")
        .values_list("pk", "title", "statement")[:limit]
    )
    return [Notice(pk, title, text) for pk, title, text in rows]
