"""Complaints API: the workflow, compensation within authority, approvals and promises."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from ninja import Router, Status

from kefu.accounts.access import AuthedRequest, check_role
from kefu.accounts.models import Role
from kefu.core.apiutil import StrictIn

from . import guards, services
from .models import CompensationRequest, Complaint, Promise, Stage

router = Router(tags=["complaints"])


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
        "guide": services.STAGE_GUIDE[Stage(c.stage)],
        "what_happened": c.what_happened,
        "customer_request": c.customer_request,
        "evidence": c.evidence,
        "contact_preference": c.contact_preference,
        "intake_missing": services.intake_missing(c),
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


class ComplaintIn(StrictIn):
    conversation_id: int | None = None
    customer_id: int | None = None
    title: str | None = None
    order_id: int | None = None
    what_happened: str = ""
    customer_request: str = ""
    evidence: list[str] = []
    contact_preference: str = ""
    update_interval_hours: int = 24


class IntakePatch(StrictIn):
    what_happened: str | None = None
    customer_request: str | None = None
    evidence: list[str] | None = None
    contact_preference: str | None = None
    update_interval_hours: int | None = None


@router.get("/complaints")
def list_complaints(request: AuthedRequest, stage: str | None = None) -> list[dict[str, Any]]:
    qs = services.visible_complaints(request.user)
    if stage:
        qs = qs.filter(stage=stage)
    return [complaint_dict(c) for c in qs[:200]]


@router.post("/complaints", response={201: dict})
def open_complaint(request: AuthedRequest, payload: ComplaintIn) -> Status:
    data = payload.model_dump()
    c = services.do_open_complaint(
        actor=request.user,
        conversation_id=data.pop("conversation_id"),
        customer_id=data.pop("customer_id"),
        title=data.pop("title"),
        order_id=data.pop("order_id"),
        data=data,
    )
    return Status(201, complaint_dict(c))


@router.get("/complaints/{complaint_id}")
def get_complaint(request: AuthedRequest, complaint_id: int) -> dict[str, Any]:
    return complaint_dict(services.access_complaint(request.user, complaint_id))


@router.patch("/complaints/{complaint_id}")
def update_intake(request: AuthedRequest, complaint_id: int, payload: IntakePatch) -> dict[str, Any]:
    c = services.do_update_intake(
        actor=request.user, complaint_id=complaint_id, data=payload.model_dump(exclude_unset=True)
    )
    return complaint_dict(c)


class NoteIn(StrictIn):
    note: str = ""


@router.post("/complaints/{complaint_id}/advance")
def advance(request: AuthedRequest, complaint_id: int, payload: NoteIn) -> dict[str, Any]:
    return complaint_dict(
        services.do_advance(actor=request.user, complaint_id=complaint_id, note=payload.note)
    )


class TransferIn(StrictIn):
    department_id: int
    fields: dict[str, str] = {}
    note: str = ""


@router.post("/complaints/{complaint_id}/transfer")
def transfer(request: AuthedRequest, complaint_id: int, payload: TransferIn) -> dict[str, Any]:
    c = services.do_transfer(
        actor=request.user,
        complaint_id=complaint_id,
        department_id=payload.department_id,
        fields=payload.fields,
        note=payload.note,
    )
    return complaint_dict(c)


class TextIn(StrictIn):
    text: str


@router.post("/complaints/{complaint_id}/progress")
def progress(request: AuthedRequest, complaint_id: int, payload: TextIn) -> dict[str, Any]:
    return complaint_dict(
        services.do_send_progress(actor=request.user, complaint_id=complaint_id, text=payload.text)
    )


class ResolutionIn(StrictIn):
    resolution: str


@router.post("/complaints/{complaint_id}/resolve")
def resolve(request: AuthedRequest, complaint_id: int, payload: ResolutionIn) -> dict[str, Any]:
    return complaint_dict(
        services.do_resolve(actor=request.user, complaint_id=complaint_id, resolution=payload.resolution)
    )


class ConfirmIn(StrictIn):
    confirmed: bool
    note: str = ""


@router.post("/complaints/{complaint_id}/confirm")
def confirm(request: AuthedRequest, complaint_id: int, payload: ConfirmIn) -> dict[str, Any]:
    c = services.do_confirm_resolution(
        actor=request.user, complaint_id=complaint_id, confirmed=payload.confirmed, note=payload.note
    )
    return complaint_dict(c)


class FollowUpIn(StrictIn):
    note: str


@router.post("/complaints/{complaint_id}/follow-up")
def follow_up(request: AuthedRequest, complaint_id: int, payload: FollowUpIn) -> dict[str, Any]:
    return complaint_dict(
        services.do_record_follow_up(actor=request.user, complaint_id=complaint_id, note=payload.note)
    )


class CompensationIn(StrictIn):
    kind: str
    amount: Decimal
    reason: str
    complaint_id: int | None = None
    conversation_id: int | None = None


@router.post("/compensations", response={201: dict})
def request_compensation(request: AuthedRequest, payload: CompensationIn) -> Status:
    r = services.do_request_compensation(actor=request.user, **payload.model_dump())
    return Status(201, compensation_dict(r))


@router.get("/compensations/pending")
def pending(request: AuthedRequest) -> list[dict[str, Any]]:
    return [compensation_dict(r) for r in services.pending_approvals(request.user)[:200]]


class DecisionIn(StrictIn):
    approve: bool
    note: str = ""


@router.post("/compensations/{request_id}/decision")
def decide(request: AuthedRequest, request_id: int, payload: DecisionIn) -> dict[str, Any]:
    r = services.do_decide_compensation(
        actor=request.user, request_id=request_id, approve=payload.approve, note=payload.note
    )
    return compensation_dict(r)


@router.get("/authority-limits")
def authority_limits(request: AuthedRequest) -> dict[str, Any]:
    table = guards.limits()
    mine = guards.authority_limit(request.user)
    return {
        "limits": {role: (str(v) if v is not None else None) for role, v in table.items()},
        "mine": str(mine) if mine is not None else None,
    }


class LimitIn(StrictIn):
    role: str
    max_amount: Decimal


@router.put("/authority-limits")
def set_limit(request: AuthedRequest, payload: LimitIn) -> dict[str, Any]:
    row = services.do_set_limit(actor=request.user, role=payload.role, max_amount=payload.max_amount)
    return {"role": row.role, "max_amount": str(row.max_amount)}


class PromiseIn(StrictIn):
    description: str
    due_at: datetime
    conversation_id: int | None = None
    complaint_id: int | None = None


@router.post("/promises", response={201: dict})
def make_promise(request: AuthedRequest, payload: PromiseIn) -> Status:
    p = services.do_make_promise(actor=request.user, **payload.model_dump())
    return Status(201, promise_dict(p))


@router.get("/promises")
def my_promises(request: AuthedRequest) -> list[dict[str, Any]]:
    return [promise_dict(p) for p in services.promises_for(request.user)[:200]]


@router.post("/promises/{promise_id}/kept")
def kept(request: AuthedRequest, promise_id: int) -> dict[str, Any]:
    return promise_dict(services.do_keep_promise(actor=request.user, promise_id=promise_id))


@router.post("/promises/{promise_id}/cancel")
def cancel(request: AuthedRequest, promise_id: int) -> dict[str, Any]:
    return promise_dict(services.do_cancel_promise(actor=request.user, promise_id=promise_id))


@router.get("/promise-rates")
def rates(request: AuthedRequest) -> list[dict[str, Any]]:

    check_role(request.user, Role.TEAM_LEAD)
    return services.promise_rates()
