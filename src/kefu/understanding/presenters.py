"""Plain dicts of intents and alerts for the API, pages and events."""

from __future__ import annotations

from typing import Any

from kefu.conversations.models import Conversation
from kefu.nlp.emotion import LABEL_NAMES

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


def alert_dict(a: EmotionAlert, conversation: Conversation | None = None) -> dict[str, Any]:
    """An alert; ``conversation`` (with its customer) defaults to ``a.conversation``.

    The customer is named as everywhere in the desk: their name, else 客户#<id>.
    """
    c = conversation if conversation is not None else a.conversation
    return {
        "id": a.pk,
        "conversation_id": a.conversation_id,
        "customer_id": c.customer_id,
        "customer_name": str(c.customer),
        "level": a.level,
        "level_text": EmotionAlert.Level(a.level).label,
        "score": a.score,
        "previous_score": a.previous_score,
        "label": a.label,
        "reason": a.reason,
        "created_at": a.created_at.isoformat(),
        "acknowledged": a.acknowledged_at is not None,
        "acknowledged_at": a.acknowledged_at.isoformat() if a.acknowledged_at else None,
        "acknowledged_by_id": a.acknowledged_by_id,
        "acknowledged_by_name": a.acknowledged_by.name
        if a.acknowledged_by_id and a.acknowledged_by
        else None,
    }


def model_reading_text(label: str) -> str:
    """The reason shown when the emotion comes from the model's reading of the wording alone
    (no keyword, punctuation or history rule fired): an agent should still see why."""
    return f"措辞整体偏{LABEL_NAMES.get(label, label)}（模型判断，无明显关键词）"
