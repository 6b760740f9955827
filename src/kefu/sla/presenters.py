"""TODO docstring."""

from __future__ import annotations

from typing import Any

from .models import SLAPolicy


def policy_out(p: SLAPolicy) -> dict[str, Any]:
    return {
        "id": p.pk,
        "name": p.name,
        "applies_to": p.applies_to,
        "channel_kind": p.channel_kind,
        "ticket_category": p.ticket_category,
        "priority": p.priority,
        "first_response_seconds": p.first_response_seconds,
        "resolution_seconds": p.resolution_seconds,
        "business_hours": p.business_hours,
        "warn_ratio": p.warn_ratio,
        "is_active": p.is_active,
    }
