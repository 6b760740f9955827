"""Customers, identities, orders and the timeline as the API shows them, personal data masked."""

from __future__ import annotations

from typing import Any

from kefu.core.masking import mask, mask_text

from .models import Customer, Identity, LogisticsEvent, Order, OrderItem


def identity_dict(i: Identity) -> dict[str, Any]:
    return {
        "id": i.pk,
        "customer_id": i.customer_id,
        "kind": i.kind,
        "kind_label": i.get_kind_display(),
        "value": masked_identity_value(i),
        "created_at": i.created_at.isoformat(),
    }


def customer_dict(c: Customer) -> dict[str, Any]:
    """Callers prefetch ``identities``."""
    return {
        "id": c.pk,
        "name": c.name,
        "tags": c.tags,
        "vip_level": c.vip_level,
        "is_vip": c.is_vip,
        "notes": c.notes,
        "preferences": c.preferences,
        **masked_pii(c),
        "email": c.email,
        "identities": [identity_dict(i) for i in c.identities.all()],
        "merged_into_id": c.merged_into_id,
        "created_at": c.created_at.isoformat(),
        "updated_at": c.updated_at.isoformat(),
    }


def _item_dict(i: OrderItem) -> dict[str, Any]:
    return {"sku": i.sku, "name": i.name, "quantity": i.quantity, "price": str(i.price)}


def _event_dict(e: LogisticsEvent) -> dict[str, Any]:
    return {"at": e.at.isoformat(), "location": e.location, "description": e.description}


def order_dict(o: Order) -> dict[str, Any]:
    """Callers prefetch ``items`` and ``logistics`` (newest event first)."""
    return {
        "id": o.pk,
        "order_no": o.order_no,
        "customer_id": o.customer_id,
        "amount": str(o.amount),
        "currency": o.currency,
        "payment_status": o.payment_status,
        "payment_status_label": o.get_payment_status_display(),
        "shipping_status": o.shipping_status,
        "shipping_status_label": o.get_shipping_status_display(),
        "carrier": o.carrier,
        "tracking_no": o.tracking_no,
        "address": mask("address", o.address),
        "placed_at": o.placed_at.isoformat(),
        "updated_at": o.updated_at.isoformat(),
        "items": [_item_dict(i) for i in o.items.all()],
        "logistics": [_event_dict(e) for e in o.logistics.all()],
    }


def _timeline_dict(e: dict[str, Any]) -> dict[str, Any]:
    """A timeline entry; its title (a conversation's subject, a ticket's title, a call's summary) masked."""
    return {
        **e,
        "title": mask_text(e["title"]),
        "at": e["at"].isoformat(),
        "started_at": e["started_at"].isoformat(),
    }


def masked_pii(customer: Customer) -> dict[str, str]:
    return {
        "phone": mask("phone", customer.phone),
        "id_card": mask("id_card", customer.id_card),
        "bank_card": mask("bank_card", customer.bank_card),
    }


def masked_identity_value(identity: Identity) -> str:
    """Phone numbers used as identities are personal data too."""
    if identity.kind == Identity.Kind.PHONE:
        return mask("phone", identity.value)
    return identity.value
