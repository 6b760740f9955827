"""REST: customers, identities, the cross-channel timeline, orders and logistics.

Personal data is masked in every shape below; ``POST /customers/{id}/reveal`` is the
one audited way to a clear value.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from ninja import Query, Router, Status
from pydantic import Field, StrictInt, StrictStr

from kefu.accounts.access import AuthedRequest
from kefu.core.apiutil import DEFAULT_LIMIT, MAX_LIMIT, StrictIn, page
from kefu.customers.presenters import _timeline_dict, customer_dict, identity_dict, order_dict

from . import orders, services
from .models import Order

router = Router(tags=["customers"])


# --- shapes --------------------------------------------------------------------------


def _paged(qs: Any, *, limit: int, offset: int, present: Any) -> dict[str, Any]:
    result = page(qs, limit=limit, offset=offset, present=present)
    result["total"] = result["count"]
    return result


# --- input ---------------------------------------------------------------------------


class IdentityIn(StrictIn):
    kind: StrictStr
    value: StrictStr


class CustomerIn(StrictIn):
    name: StrictStr = ""
    tags: list[StrictStr] = []
    vip_level: StrictInt = 0
    notes: StrictStr = ""
    preferences: dict[str, Any] = {}
    phone: StrictStr = ""
    id_card: StrictStr = ""
    bank_card: StrictStr = ""
    email: StrictStr = ""
    identities: list[IdentityIn] = []


class CustomerPatch(StrictIn):
    name: StrictStr | None = None
    tags: list[StrictStr] | None = None
    vip_level: StrictInt | None = None
    notes: StrictStr | None = None
    preferences: dict[str, Any] | None = None
    phone: StrictStr | None = None
    id_card: StrictStr | None = None
    bank_card: StrictStr | None = None
    email: StrictStr | None = None


class RevealIn(StrictIn):
    field: Literal["phone", "id_card", "bank_card", "address"]
    order_no: StrictStr | None = None


class MergeIn(StrictIn):
    source_id: StrictInt
    target_id: StrictInt


class ItemIn(StrictIn):
    sku: StrictStr = ""
    name: StrictStr
    quantity: StrictInt = Field(1, ge=1, le=100000)
    price: Decimal = Field(ge=0, max_digits=12, decimal_places=2)


class LogisticsIn(StrictIn):
    at: datetime
    location: StrictStr = ""
    description: StrictStr


class OrderIn(StrictIn):
    order_no: StrictStr = Field(min_length=1, max_length=64)
    customer_id: StrictInt | None = None
    customer: IdentityIn | None = None
    customer_name: StrictStr = ""
    amount: Decimal = Field(ge=0, max_digits=12, decimal_places=2)
    currency: StrictStr = "CNY"
    payment_status: StrictStr = Order.Payment.PAID
    shipping_status: StrictStr = Order.Shipping.PENDING
    carrier: StrictStr = ""
    tracking_no: StrictStr = ""
    address: StrictStr = ""
    placed_at: datetime
    items: list[ItemIn] = []
    logistics: list[LogisticsIn] = []


class LogisticsAppendIn(StrictIn):
    events: list[LogisticsIn] = []
    shipping_status: StrictStr | None = None


# --- customers -----------------------------------------------------------------------


@router.get("/customers")
def list_customers(
    request: AuthedRequest,
    q: str = "",
    tag: str = "",
    vip: bool | None = None,
    identity: str = "",
    identity_kind: str = "",
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    qs = services.search_customers(q=q, tag=tag, vip=vip, identity=identity, identity_kind=identity_kind)
    return _paged(qs, limit=limit, offset=offset, present=customer_dict)


@router.post("/customers", response={201: dict[str, Any]})
def create_customer(request: AuthedRequest, payload: CustomerIn) -> Status[dict[str, Any]]:
    fields = payload.model_dump(exclude={"identities"})
    customer = services.do_create_customer(
        actor=request.auth, identities=[(i.kind, i.value) for i in payload.identities], **fields
    )
    return Status(201, customer_dict(services.access_customer(request.auth, customer.pk)))


@router.get("/customers/{int:customer_id}")
def get_customer(request: AuthedRequest, customer_id: int) -> dict[str, Any]:
    return customer_dict(services.access_customer(request.auth, customer_id))


@router.patch("/customers/{int:customer_id}")
def update_customer(request: AuthedRequest, customer_id: int, payload: CustomerPatch) -> dict[str, Any]:
    customer = services.access_customer(request.auth, customer_id)
    services.do_update_customer(
        actor=request.auth, customer=customer, changes=payload.model_dump(exclude_unset=True)
    )
    return customer_dict(services.access_customer(request.auth, customer_id))


@router.post("/customers/merge")
def merge_customers(request: AuthedRequest, payload: MergeIn) -> dict[str, Any]:
    services.check_may_merge_customers(request.auth)
    source = services.access_customer(request.auth, payload.source_id)
    target = services.access_customer(request.auth, payload.target_id)
    services.do_merge_customers(actor=request.auth, source=source, target=target, request=request)
    return customer_dict(services.access_customer(request.auth, target.pk))


@router.post("/customers/{int:customer_id}/reveal")
def reveal(request: AuthedRequest, customer_id: int, payload: RevealIn) -> dict[str, Any]:
    customer = services.access_customer(request.auth, customer_id)
    order = None
    if payload.order_no:
        order = orders.access_order(request.auth, payload.order_no)
    value = services.do_reveal_pii(
        user=request.auth, customer=customer, field=payload.field, request=request, order=order
    )
    return {"customer_id": customer.pk, "field": payload.field, "order_no": payload.order_no, "value": value}


@router.get("/customers/{int:customer_id}/identities")
def list_identities(request: AuthedRequest, customer_id: int) -> dict[str, Any]:
    customer = services.access_customer(request.auth, customer_id)
    items = [identity_dict(i) for i in customer.identities.all()]
    return {"count": len(items), "total": len(items), "items": items}


@router.post("/customers/{int:customer_id}/identities", response={201: dict[str, Any]})
def add_identity(request: AuthedRequest, customer_id: int, payload: IdentityIn) -> Status[dict[str, Any]]:
    customer = services.access_customer(request.auth, customer_id)
    identity = services.do_add_identity(
        actor=request.auth, customer=customer, kind=payload.kind, value=payload.value
    )
    return Status(201, identity_dict(identity))


@router.delete("/identities/{int:identity_id}", response={204: None})
def delete_identity(request: AuthedRequest, identity_id: int) -> Status[None]:
    services.do_delete_identity(actor=request.auth, identity_id=identity_id)
    return Status(204, None)


@router.get("/customers/{int:customer_id}/timeline")
def timeline(
    request: AuthedRequest, customer_id: int, limit: int = Query(100, ge=1, le=MAX_LIMIT)
) -> dict[str, Any]:
    customer = services.access_customer(request.auth, customer_id)
    items = [_timeline_dict(e) for e in services.customer_timeline(customer, user=request.auth, limit=limit)]
    return {"customer_id": customer.pk, "count": len(items), "total": len(items), "items": items}


# --- orders --------------------------------------------------------------------------


@router.get("/orders")
def list_orders(
    request: AuthedRequest,
    customer_id: int | None = None,
    payment_status: str = "",
    shipping_status: str = "",
    q: str = "",
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    if customer_id is not None:
        services.access_customer(request.auth, customer_id)
    qs = orders.list_orders(
        customer_id=customer_id, payment_status=payment_status, shipping_status=shipping_status, q=q
    )
    return _paged(qs, limit=limit, offset=offset, present=order_dict)


@router.post("/orders", response={200: dict[str, Any], 201: dict[str, Any]})
def upsert_order(request: AuthedRequest, payload: OrderIn) -> Status[dict[str, Any]]:
    """Create or update an order (idempotent on ``order_no``): 201 when new, 200 when updated."""
    data = payload.model_dump()
    data["items"] = [i.model_dump() for i in payload.items]
    data["logistics"] = [e.model_dump() for e in payload.logistics]
    data["customer"] = payload.customer.model_dump() if payload.customer else None
    order, created = orders.do_upsert_order(actor=request.auth, **data)
    return Status(201 if created else 200, order_dict(orders.access_order(request.auth, order.order_no)))


@router.get("/orders/{order_no}")
def get_order(request: AuthedRequest, order_no: str) -> dict[str, Any]:
    return order_dict(orders.access_order(request.auth, order_no))


@router.post("/orders/{order_no}/logistics")
def add_logistics(request: AuthedRequest, order_no: str, payload: LogisticsAppendIn) -> dict[str, Any]:
    order = orders.access_order(request.auth, order_no)
    _, added = orders.do_add_logistics(
        actor=request.auth,
        order=order,
        events=[e.model_dump() for e in payload.events],
        shipping_status=payload.shipping_status,
    )
    return {**order_dict(orders.access_order(request.auth, order_no)), "added_events": added}
