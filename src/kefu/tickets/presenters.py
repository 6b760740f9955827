"""Tickets: tickets, timeline events, follow-ups and departments as the API and pages show them.

Free text (title, description, timeline and follow-up text) is masked with
``core.masking.mask_text``; ``clear=True`` is for event payloads only, which
``core.events.publish`` masks again for desks and untrusted webhooks.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kefu.accounts.models import person_name_of
from kefu.core.labels import field_label
from kefu.core.masking import mask_text

from .models import TRANSITIONS, Department, FollowUp, Ticket, TicketEvent


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def ticket_dict(t: Ticket, *, clear: bool = False) -> dict[str, Any]:
    """The desk's and integrations' view of a ticket (no customer personal data)."""
    return {
        "id": t.pk,
        "number": t.number,
        "title": t.title if clear else mask_text(t.title),
        "description": t.description if clear else mask_text(t.description),
        "category": t.category,
        "status": t.status,
        "urgent": t.urgent,
        "important": t.important,
        "priority": t.priority,
        "customer_id": t.customer_id,
        "owner_id": t.owner_id,
        "assignee_id": t.assignee_id,
        "department_id": t.department_id,
        "team_id": t.team_id,
        "source": t.source,
        "fields": t.fields,
        "created_by_id": t.created_by_id,
        "created_at": _iso(t.created_at),
        "updated_at": _iso(t.updated_at),
        "first_response_due": _iso(t.first_response_due),
        "first_response_at": _iso(t.first_response_at),
        "due_at": _iso(t.due_at),
        "sla_warned_at": _iso(t.sla_warned_at),
        "sla_breached_at": _iso(t.sla_breached_at),
        "sla_breached": t.sla_breached_at is not None,
        "first_response_warned_at": _iso(t.first_response_warned_at),
        "first_response_breached_at": _iso(t.first_response_breached_at),
        "resolution_warned_at": _iso(t.resolution_warned_at),
        "resolution_breached_at": _iso(t.resolution_breached_at),
        "sla_paused": t.sla_paused_at is not None,
        "sla_paused_at": _iso(t.sla_paused_at),
        "sla_paused_seconds": t.sla_paused_seconds,
        "resolved_at": _iso(t.resolved_at),
        "closed_at": _iso(t.closed_at),
    }


def event_dict(e: TicketEvent, *, clear: bool = False) -> dict[str, Any]:
    return {
        "id": e.pk,
        "kind": e.kind,
        "kind_label": TicketEvent.Kind(e.kind).label,
        "actor_id": e.actor_id,
        "actor_name": e.actor.name if e.actor_id and e.actor else None,
        "text": e.text if clear else mask_text(e.text),
        "detail": e.detail,
        "created_at": _iso(e.created_at),
    }


def follow_up_dict(f: FollowUp, *, clear: bool = False) -> dict[str, Any]:
    return {
        "id": f.pk,
        "ticket_id": f.ticket_id,
        "owner_id": f.owner_id,
        "due_at": _iso(f.due_at),
        "note": f.note if clear else mask_text(f.note),
        "done_at": _iso(f.done_at),
        "notified_at": _iso(f.notified_at),
        "created_at": _iso(f.created_at),
    }


def department_dict(d: Department) -> dict[str, Any]:
    return {
        "id": d.pk,
        "name": d.name,
        "team_id": d.team_id,
        "required_fields": [{"key": k, "label": field_label(k)} for k in d.required_fields],
        "deadline_hours": d.deadline_hours,
    }


def ticket_out(t: Ticket) -> dict[str, Any]:
    """A ticket with names; ``customer``, ``owner``, ``assignee``, ``department`` loaded."""
    return {
        **ticket_dict(t),
        "status_label": t.get_status_display(),
        "category_label": t.get_category_display(),
        "customer_name": t.customer.name if t.customer_id else "",
        "owner_name": t.owner.name if t.owner else None,
        "assignee_name": t.assignee.name if t.assignee else None,
        "department_name": t.department.name if t.department else None,
        "team_name": t.team.name if t.team else None,
        "source_label": t.get_source_display(),
        "allowed_statuses": list(TRANSITIONS[t.status]),
    }


# --- the ticket list's rows: read with values(), no model instances ---------------------

# What one row of the ticket list page shows, read as columns (``QuerySet.values``): a
# Ticket with its customer, owner, assignee, department and team is about a hundred
# columns turned into five objects a row, more than the page's query costs.
TICKET_ROW_FIELDS = (
    "id",
    "created_at",
    "updated_at",
    "number",
    "title",
    "category",
    "status",
    "priority",
    "due_at",
    "sla_breached_at",
    "sla_paused_at",
    "sla_warned_at",
    "customer_id",
    "customer__name",
    "owner_id",
    "owner__display_name",
    "owner__first_name",
    "owner__last_name",
    "owner__username",
    "assignee_id",
    "assignee__display_name",
    "assignee__first_name",
    "assignee__last_name",
    "assignee__username",
    "department__name",
)
_CATEGORY_LABELS = dict(Ticket.Category.choices)
_STATUS_LABELS = dict(Ticket.Status.choices)


def ticket_row(r: dict[str, Any]) -> dict[str, Any]:
    """One row of the ticket list page from ``TICKET_ROW_FIELDS``; the title unmasked (the template masks it)."""
    return {
        **r,
        "customer_name": r["customer__name"] or f"客户#{r['customer_id']}",
        "category_label": _CATEGORY_LABELS.get(r["category"], r["category"]),
        "status_label": _STATUS_LABELS.get(r["status"], r["status"]),
        "owner_name": person_name_of(r, "owner"),
        "assignee_name": person_name_of(r, "assignee"),
        "department_name": r["department__name"] or "",
    }
