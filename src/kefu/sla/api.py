"""REST: SLA policies and their escalation chains — every desk user may read them,
supervisors and admins change them; a ticket's escalation trail."""

from __future__ import annotations

from typing import Any

from ninja import Router, Status
from pydantic import StrictBool, StrictFloat, StrictInt, StrictStr

from kefu.accounts.access import AuthedRequest
from kefu.core.apiutil import StrictIn
from kefu.sla.presenters import notice_dict, policy_out

from . import services

router = Router(tags=["sla"])


class StepIn(StrictIn):
    timer: StrictStr = ""
    anchor: StrictStr
    after_seconds: StrictInt = 0
    notify: StrictStr
    email: StrictBool = True


class EscalationIn(StrictIn):
    steps: list[StepIn]


class PolicyIn(StrictIn):
    name: StrictStr
    applies_to: StrictStr = ""
    channel_kind: StrictStr = ""
    ticket_category: StrictStr = ""
    priority: StrictStr = ""
    first_response_seconds: StrictInt | None = None
    resolution_seconds: StrictInt | None = None
    business_hours: StrictBool = False
    warn_ratio: StrictFloat | StrictInt = 0.8
    is_active: StrictBool = True
    escalation: list[StepIn] = []


class PolicyPatch(StrictIn):
    name: StrictStr | None = None
    applies_to: StrictStr | None = None
    channel_kind: StrictStr | None = None
    ticket_category: StrictStr | None = None
    priority: StrictStr | None = None
    first_response_seconds: StrictInt | None = None
    resolution_seconds: StrictInt | None = None
    business_hours: StrictBool | None = None
    warn_ratio: StrictFloat | StrictInt | None = None
    is_active: StrictBool | None = None
    escalation: list[StepIn] | None = None


@router.get("/sla-policies")
def list_policies(request: AuthedRequest) -> list[dict[str, Any]]:
    return [policy_out(p, steps) for p, steps in services.list_policies()]


@router.post("/sla-policies", response={201: dict[str, Any]})
def create_policy(request: AuthedRequest, payload: PolicyIn) -> Status[dict[str, Any]]:
    return Status(201, policy_out(services.do_create_policy(actor=request.auth, data=payload.model_dump())))


@router.get("/sla-policies/{policy_id}")
def get_policy(request: AuthedRequest, policy_id: int) -> dict[str, Any]:
    return policy_out(services.access_policy(policy_id))


@router.patch("/sla-policies/{policy_id}")
def update_policy(request: AuthedRequest, policy_id: int, payload: PolicyPatch) -> dict[str, Any]:
    data = payload.model_dump(exclude_unset=True)
    # null clears a timer; for the other fields it means "unchanged".
    data = {k: v for k, v in data.items() if v is not None or k.endswith("_seconds")}
    return policy_out(services.do_update_policy(actor=request.auth, policy_id=policy_id, data=data))


@router.put("/sla-policies/{policy_id}/escalation")
def set_escalation(request: AuthedRequest, policy_id: int, payload: EscalationIn) -> dict[str, Any]:
    """Replace the policy's escalation chain (steps that already fired for a ticket do not fire again)."""
    steps = [s.model_dump() for s in payload.steps]
    return policy_out(services.do_set_escalation(actor=request.auth, policy_id=policy_id, steps=steps))


@router.get("/tickets/{ticket_id}/escalations")
def ticket_escalations(request: AuthedRequest, ticket_id: int) -> list[dict[str, Any]]:
    """Who was notified when, oldest first (anyone who may see the ticket)."""
    return [notice_dict(n) for n in services.access_ticket_escalations(request.auth, ticket_id)]


@router.delete("/sla-policies/{policy_id}", response={204: None})
def delete_policy(request: AuthedRequest, policy_id: int) -> Status[None]:
    services.do_delete_policy(actor=request.auth, policy_id=policy_id)
    return Status(204, None)
