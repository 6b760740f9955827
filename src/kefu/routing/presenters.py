"""Routing: rules as the API and pages show them."""

from __future__ import annotations

from typing import Any

from .models import RoutingRule


def rule_dict(r: RoutingRule) -> dict[str, Any]:
    return {
        "id": r.pk,
        "name": r.name,
        "team_id": r.team_id,
        "team": r.team.name,
        "channel_id": r.channel_id,
        "keywords": r.keywords,
        "priority": r.priority,
        "order": r.order,
        "is_active": r.is_active,
    }
