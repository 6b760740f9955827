"""REST: outbound webhook endpoints and their delivery log (admins only)."""

from __future__ import annotations

from typing import Any

from ninja import Query, Router, Status
from pydantic import StrictBool, StrictStr

from kefu.accounts.access import AuthedRequest
from kefu.core.apiutil import DEFAULT_LIMIT, MAX_LIMIT, StrictIn, page
from kefu.webhooks.presenters import delivery_out, endpoint_out

from . import outbox, services

router = Router(tags=["webhooks"])


class EndpointIn(StrictIn):
    url: StrictStr
    events: list[StrictStr] = []
    is_active: StrictBool = True
    trusted: StrictBool = False


class EndpointPatch(StrictIn):
    url: StrictStr | None = None
    events: list[StrictStr] | None = None
    is_active: StrictBool | None = None
    trusted: StrictBool | None = None
    rotate_secret: StrictBool = False


@router.get("/webhooks")
def list_endpoints(request: AuthedRequest) -> dict[str, Any]:
    return {
        "events": list(outbox.WEBHOOK_EVENTS),
        "items": [endpoint_out(e) for e in services.list_endpoints(request.auth)],
    }


@router.post("/webhooks", response={201: dict[str, Any]})
def create_endpoint(request: AuthedRequest, payload: EndpointIn) -> Status[dict[str, Any]]:
    endpoint = services.do_create_endpoint(actor=request.auth, **payload.model_dump())
    # The secret is shown in full when created (and after a rotation) so it can be configured.
    return Status(201, endpoint_out(endpoint, with_secret=True))


@router.get("/webhooks/{endpoint_id}")
def get_endpoint(request: AuthedRequest, endpoint_id: int) -> dict[str, Any]:
    return endpoint_out(services.access_endpoint(request.auth, endpoint_id))


@router.patch("/webhooks/{endpoint_id}")
def update_endpoint(request: AuthedRequest, endpoint_id: int, payload: EndpointPatch) -> dict[str, Any]:
    endpoint = services.do_update_endpoint(
        actor=request.auth, endpoint_id=endpoint_id, **payload.model_dump()
    )
    return endpoint_out(endpoint, with_secret=payload.rotate_secret)


@router.delete("/webhooks/{endpoint_id}", response={204: None})
def delete_endpoint(request: AuthedRequest, endpoint_id: int) -> Status[None]:
    services.do_delete_endpoint(actor=request.auth, endpoint_id=endpoint_id)
    return Status(204, None)


@router.get("/webhooks/{endpoint_id}/deliveries")
def list_deliveries(
    request: AuthedRequest,
    endpoint_id: int,
    status: str | None = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    qs = services.list_deliveries(actor=request.auth, endpoint_id=endpoint_id, status=status)
    return page(qs, limit=limit, offset=offset, present=delivery_out)


@router.post("/webhook-deliveries/{delivery_id}/retry")
def retry_delivery(request: AuthedRequest, delivery_id: int) -> dict[str, Any]:
    return delivery_out(services.do_retry_delivery(actor=request.auth, delivery_id=delivery_id))
