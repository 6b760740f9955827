"""Script-library API: search for the `/` picker, fill variables, manage, statistics."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import Router, Status

from kefu.accounts.access import AuthedRequest
from kefu.conversations.timeline import access_conversation
from kefu.core.apiutil import StrictIn
from kefu.core.errors import InvalidInput
from kefu.incidents.facts import PinnedStatement, pinned_statements
from kefu.replies.presenters import reply_dict

from . import compose, services

router = Router(tags=["script library"])


def incident_reply_dict(p: PinnedStatement) -> dict[str, Any]:
    """An incident's approved statement in the picker's shape (``kind: incident``, no script id)."""
    return {
        "id": None,
        "kind": "incident",
        "incident_id": p.incident_id,
        "title": f"统一口径：{p.title}",
        "shortcut": "",
        "text": p.statement,
        "scenario": "事件口径",
        "variables": [],
    }


@router.get("/replies")
def list_replies(
    request: AuthedRequest, q: str = "", conversation_id: int | None = None, limit: int = 20
) -> list[dict[str, Any]]:
    """Search by Chinese, shortcut or pinyin initials; ranked for the conversation if given."""
    if not 1 <= limit <= 100:
        raise InvalidInput("limit 无效", fields={"limit": "1–100"})
    conversation = None
    pinned: list[dict[str, Any]] = []
    if conversation_id is not None:
        conversation = access_conversation(request.user, conversation_id)
        # The approved wording of an open incident comes before any script: it is the one
        # answer every agent should give (offered while the query is empty or matches it).
        pinned = [
            incident_reply_dict(p)
            for p in pinned_statements(conversation.pk)
            if not q.strip().lstrip("/") or q.strip().lstrip("/") in p.title + p.statement
        ]
    return pinned + [
        reply_dict(r)
        for r in services.search_replies(request.user, q, conversation=conversation, limit=limit)
    ]


class ReplyIn(StrictIn):
    title: str
    text: str
    shortcut: str = ""
    scenario: str = "其他"
    scope: str = "personal"
    team_id: int | None = None
    intents: list[str] = []
    emotions: list[str] = []
    order_states: list[str] = []
    review_by: dt.date | None = None


class ReplyPatch(StrictIn):
    title: str | None = None
    text: str | None = None
    shortcut: str | None = None
    scenario: str | None = None
    intents: list[str] | None = None
    emotions: list[str] | None = None
    order_states: list[str] | None = None
    review_by: dt.date | None = None


@router.post("/replies", response={201: dict})
def create_reply(request: AuthedRequest, payload: ReplyIn) -> Status:
    data = payload.model_dump()
    scope, team_id = data.pop("scope"), data.pop("team_id")
    reply = services.do_create_reply(actor=request.user, data=data, scope=scope, team_id=team_id)
    return Status(201, reply_dict(reply))


@router.patch("/replies/{reply_id}")
def update_reply(request: AuthedRequest, reply_id: int, payload: ReplyPatch) -> dict[str, Any]:
    return reply_dict(
        services.do_update_reply(
            actor=request.user, reply_id=reply_id, data=payload.model_dump(exclude_unset=True)
        )
    )


@router.delete("/replies/{reply_id}", response={204: None})
def delete_reply(request: AuthedRequest, reply_id: int) -> Status:
    services.do_delete_reply(actor=request.user, reply_id=reply_id)
    return Status(204, None)


class UseIn(StrictIn):
    conversation_id: int


@router.post("/replies/{reply_id}/use")
def use_reply(request: AuthedRequest, reply_id: int, payload: UseIn) -> dict[str, Any]:
    """The text to insert, with variables filled; ``missing`` lists those without a value."""
    usage, rendered = services.do_use_reply(
        agent=request.user, reply_id=reply_id, conversation_id=payload.conversation_id
    )
    return {"usage_id": usage.pk, "text": rendered.text, "missing": rendered.missing}


@router.get("/replies-stats")
def stats(request: AuthedRequest) -> list[dict[str, Any]]:
    return services.reply_stats(request.user)


@router.get("/reply-variables")
def variables(request: AuthedRequest) -> list[str]:
    return list(compose.VARIABLES)
