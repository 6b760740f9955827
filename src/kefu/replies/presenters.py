"""Script library: canned replies as the API and pages show them."""

from __future__ import annotations

from typing import Any

from .models import VARIABLE_RE, CannedReply


def reply_dict(r: CannedReply) -> dict[str, Any]:
    return {
        "id": r.pk,
        "title": r.title,
        "shortcut": r.shortcut,
        "text": r.text,
        "scenario": r.scenario,
        "scope": r.scope,
        "team_id": r.team_id,
        "owner_id": r.owner_id,
        "intents": r.intents,
        "emotions": r.emotions,
        "order_states": r.order_states,
        "variables": sorted(set(VARIABLE_RE.findall(r.text))),
        "review_by": r.review_by.isoformat() if r.review_by else None,
    }
