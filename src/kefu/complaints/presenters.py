"""Complaints: cases and compensation requests as the API and pages show them."""

from __future__ import annotations

from typing import Any

from . import stages
from .models import CompensationRequest, Complaint, Promise, Stage


def complaint_dict(c: Complaint) -> dict[str, Any]:
    t = c.ticket
    return {
        "id": c.pk,
        "ticket_id": t.pk,
        "ticket_number": t.number,
        "title": t.title,
        "customer_id": t.customer_id,
        "stage": c.stage,
        "stage_label": Stage(c.stage).label,
        "guide": stages.STAGE_GUIDE[Stage(c.stage)],
        "what_happened": c.what_happened,
        "customer_request": c.customer_request,
        "evidence": c.evidence,
        "contact_preference": c.contact_preference,
        "intake_missing": stages.intake_missing(c),
        "order_id": c.order_id,
        "update_interval_hours": c.update_interval_hours,
        "next_update_due": c.next_update_due.isoformat() if c.next_update_due else None,
        "resolution": c.resolution,
        "customer_confirmed_at": c.customer_confirmed_at.isoformat() if c.customer_confirmed_at else None,
        "follow_up_due": c.follow_up_due.isoformat() if c.follow_up_due else None,
        "repeat_of": c.repeat_of_id,
        "owner_id": t.owner_id,
        "assignee_id": t.assignee_id,
        "created_at": c.created_at.isoformat(),
    }


def compensation_dict(r: CompensationRequest) -> dict[str, Any]:
    return {
        "id": r.pk,
        "kind": r.kind,
        "amount": str(r.amount),
        "reason": r.reason,
        "status": r.status,
        "approver_role": r.approver_role or None,
        "requested_by": r.requested_by_id,
        "decided_by": r.decided_by_id,
        "decision_note": r.decision_note,
        "complaint_id": r.complaint_id,
        "conversation_id": r.conversation_id,
        "created_at": r.created_at.isoformat(),
    }


def promise_dict(p: Promise) -> dict[str, Any]:
    return {
        "id": p.pk,
        "description": p.description,
        "due_at": p.due_at.isoformat(),
        "status": p.status,
        "conversation_id": p.conversation_id,
        "complaint_id": p.complaint_id,
        "owner_id": p.owner_id,
        "customer_told": p.customer_told_at is not None,
    }
