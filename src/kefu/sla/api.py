"""REST: SLA policies — every desk user may read them, admins change them."""

from __future__ import annotations

from typing import Any

from ninja import Router, Status
from pydantic import StrictBool, StrictFloat, StrictInt, StrictStr

from kefu.accounts.access import AuthedRequest
from kefu.core.apiutil import StrictIn
from kefu.sla.presenters import policy_out

from . import services
from .models import SLAPolicy

router = Router(tags=["sla"])


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


@router.get("/sla-policies")
def list_policies(request: AuthedRequest) -> list[dict[str, Any]]:
    return [policy_out(p) for p in SLAPolicy.objects.order_by("id")]


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


@router.delete("/sla-policies/{policy_id}", response={204: None})
def delete_policy(request: AuthedRequest, policy_id: int) -> Status[None]:
    services.do_delete_policy(actor=request.auth, policy_id=policy_id)
    return Status(204, None)
