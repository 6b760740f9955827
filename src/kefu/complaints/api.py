"""Complaints API: the workflow, compensation within authority, approvals and promises."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from ninja import Router, Status
from pydantic import StrictBool

from kefu.accounts.access import AuthedRequest, check_role
from kefu.accounts.models import Role
from kefu.complaints.presenters import compensation_dict, complaint_dict, promise_dict
from kefu.core.apiutil import StrictIn

from . import access, compensation, guards, promises, services

router = Router(tags=["complaints"])


class ComplaintIn(StrictIn):
    # From a conversation (its open complaint, if any, is returned with 200), from an
    # existing ticket (it becomes the 投诉 ticket), or for a customer.
    conversation_id: int | None = None
    ticket_id: int | None = None
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
    qs = access.visible_complaints(request.user)
    if stage:
        qs = qs.filter(stage=stage)
    return [complaint_dict(c) for c in qs[:200]]


@router.post("/complaints", response={200: dict, 201: dict})
def open_complaint(request: AuthedRequest, payload: ComplaintIn) -> Status:
    data = payload.model_dump()
    ticket_id = data.pop("ticket_id")
    if ticket_id is not None:
        for key in ("conversation_id", "customer_id", "title", "order_id"):
            data.pop(key)
        c, created = services.do_open_complaint_from_ticket(
            actor=request.user, ticket_id=ticket_id, data=data
        )
        return Status(201 if created else 200, complaint_dict(c))
    c, created = services.do_open_case(
        actor=request.user,
        conversation_id=data.pop("conversation_id"),
        customer_id=data.pop("customer_id"),
        title=data.pop("title"),
        order_id=data.pop("order_id"),
        data=data,
    )
    return Status(201 if created else 200, complaint_dict(c))


@router.get("/complaints/{complaint_id}")
def get_complaint(request: AuthedRequest, complaint_id: int) -> dict[str, Any]:
    return complaint_dict(access.access_complaint(request.user, complaint_id))


@router.patch("/complaints/{complaint_id}")
def update_intake(request: AuthedRequest, complaint_id: int, payload: IntakePatch) -> dict[str, Any]:
    c = services.do_update_intake(
        actor=request.user, complaint_id=complaint_id, data=payload.model_dump(exclude_unset=True)
    )
    return complaint_dict(c)


class ComplaintNoteIn(StrictIn):
    note: str = ""


@router.post("/complaints/{complaint_id}/advance")
def advance(request: AuthedRequest, complaint_id: int, payload: ComplaintNoteIn) -> dict[str, Any]:
    return complaint_dict(
        services.do_advance(actor=request.user, complaint_id=complaint_id, note=payload.note)
    )


class ComplaintTransferIn(StrictIn):
    department_id: int
    fields: dict[str, str] = {}
    note: str = ""


@router.post("/complaints/{complaint_id}/transfer")
def transfer(request: AuthedRequest, complaint_id: int, payload: ComplaintTransferIn) -> dict[str, Any]:
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
    # Send although the text has high-severity quality findings (recorded as an override).
    confirm_findings: StrictBool = False


@router.post("/complaints/{complaint_id}/progress")
def progress(request: AuthedRequest, complaint_id: int, payload: TextIn) -> dict[str, Any]:
    return complaint_dict(
        services.do_send_progress(
            actor=request.user,
            complaint_id=complaint_id,
            text=payload.text,
            confirm_findings=payload.confirm_findings,
        )
    )


class ResolutionIn(StrictIn):
    resolution: str
    confirm_findings: StrictBool = False


@router.post("/complaints/{complaint_id}/resolve")
def resolve(request: AuthedRequest, complaint_id: int, payload: ResolutionIn) -> dict[str, Any]:
    return complaint_dict(
        services.do_resolve(
            actor=request.user,
            complaint_id=complaint_id,
            resolution=payload.resolution,
            confirm_findings=payload.confirm_findings,
        )
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


class ComplaintFollowUpIn(StrictIn):
    note: str


@router.post("/complaints/{complaint_id}/follow-up")
def follow_up(request: AuthedRequest, complaint_id: int, payload: ComplaintFollowUpIn) -> dict[str, Any]:
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
    r = compensation.do_request_compensation(actor=request.user, **payload.model_dump())
    return Status(201, compensation_dict(r))


@router.get("/compensations/pending")
def pending(request: AuthedRequest) -> list[dict[str, Any]]:
    return [compensation_dict(r) for r in compensation.pending_approvals(request.user)[:200]]


class DecisionIn(StrictIn):
    approve: bool
    note: str = ""


@router.post("/compensations/{request_id}/decision")
def decide(request: AuthedRequest, request_id: int, payload: DecisionIn) -> dict[str, Any]:
    r = compensation.do_decide_compensation(
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
    row = compensation.do_set_limit(actor=request.user, role=payload.role, max_amount=payload.max_amount)
    return {"role": row.role, "max_amount": str(row.max_amount)}


class PromiseIn(StrictIn):
    description: str
    due_at: datetime
    conversation_id: int | None = None
    complaint_id: int | None = None


@router.post("/promises", response={201: dict})
def make_promise(request: AuthedRequest, payload: PromiseIn) -> Status:
    p = promises.do_make_promise(actor=request.user, **payload.model_dump())
    return Status(201, promise_dict(p))


@router.get("/promises")
def my_promises(request: AuthedRequest) -> list[dict[str, Any]]:
    return [promise_dict(p) for p in promises.promises_for(request.user)[:200]]


@router.post("/promises/{promise_id}/kept")
def kept(request: AuthedRequest, promise_id: int) -> dict[str, Any]:
    return promise_dict(promises.do_keep_promise(actor=request.user, promise_id=promise_id))


@router.post("/promises/{promise_id}/cancel")
def cancel(request: AuthedRequest, promise_id: int) -> dict[str, Any]:
    return promise_dict(promises.do_cancel_promise(actor=request.user, promise_id=promise_id))


@router.get("/promise-rates")
def rates(request: AuthedRequest) -> list[dict[str, Any]]:

    check_role(request.user, Role.TEAM_LEAD)
    return promises.promise_rates()
