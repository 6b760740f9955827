"""TODO docstring."""

from __future__ import annotations

from typing import Any

from .models import EmotionAlert, Intent


def intent_dict(i: Intent) -> dict[str, Any]:
    return {
        "id": i.pk,
        "name": i.name,
        "description": i.description,
        "team_id": i.team_id,
        "team": i.team.name if i.team_id and i.team else None,
        "default_priority": i.default_priority,
        "is_active": i.is_active,
    }


def alert_dict(a: EmotionAlert) -> dict[str, Any]:
    return {
        "id": a.pk,
        "conversation_id": a.conversation_id,
        "customer_name": a.conversation.customer.name,
        "score": a.score,
        "previous_score": a.previous_score,
        "label": a.label,
        "reason": a.reason,
        "created_at": a.created_at.isoformat(),
        "acknowledged": a.acknowledged_at is not None,
    }
