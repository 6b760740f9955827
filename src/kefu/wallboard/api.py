"""REST: the wallboard snapshot, a lead's actions on it, and the wall screens' display tokens."""

from __future__ import annotations

from typing import Any

from ninja import Router, Status

from kefu.accounts.access import AuthedRequest
from kefu.conversations.models import Conversation
from kefu.conversations.presenters import conversation_out
from kefu.core.apiutil import StrictIn

from . import services

router = Router(tags=["wallboard"])


class DisplayTokenIn(StrictIn):
    name: str
    team_id: int | None = None


class TakeOverIn(StrictIn):
    note: str = ""


class ReassignIn(StrictIn):
    to_user_id: int
    note: str = ""


class WhisperIn(StrictIn):
    text: str


@router.get("/wallboard")
def wallboard(request: AuthedRequest, team_id: int | None = None) -> dict[str, Any]:
    """The live board: queues, agents by status and load, SLA timers about to breach,
    high emotion and complaint threats, today's KPI tiles — for the teams the caller may see."""
    return services.access_wallboard(request.auth, team_id)


def _after_transfer(conversation_id: int) -> dict[str, Any]:
    # The actor may no longer see the conversation after it moved: answer with what it became.
    c = Conversation.objects.select_related("channel", "customer", "assignee", "team").get(pk=conversation_id)
    return conversation_out(c)


@router.post("/wallboard/conversations/{conversation_id}/take-over")
def take_over(request: AuthedRequest, conversation_id: int, payload: TakeOverIn) -> dict[str, Any]:
    services.do_take_over(actor=request.auth, conversation_id=conversation_id, note=payload.note)
    return _after_transfer(conversation_id)


@router.post("/wallboard/conversations/{conversation_id}/reassign")
def reassign(request: AuthedRequest, conversation_id: int, payload: ReassignIn) -> dict[str, Any]:
    services.do_reassign(
        actor=request.auth, conversation_id=conversation_id, to_user_id=payload.to_user_id, note=payload.note
    )
    return _after_transfer(conversation_id)


@router.get("/wallboard/conversations/{conversation_id}/observe")
def observe(request: AuthedRequest, conversation_id: int) -> dict[str, Any]:
    """Join silently: the conversation and its messages. Neither the customer nor the agent is
    told; the audit log records who observed which conversation and when (``observe``)."""
    return services.do_observe_conversation(request.auth, conversation_id, request=request)


@router.post("/wallboard/conversations/{conversation_id}/whisper", response={201: dict[str, Any]})
def whisper(request: AuthedRequest, conversation_id: int, payload: WhisperIn) -> Status[dict[str, Any]]:
    """A private word to the conversation's agent: never a message, never to the customer."""
    w = services.do_whisper(actor=request.auth, conversation_id=conversation_id, text=payload.text)
    return Status(201, services.whisper_dict(w))


@router.get("/wallboard/conversations/{conversation_id}/whispers")
def whispers(request: AuthedRequest, conversation_id: int) -> dict[str, Any]:
    """The whispers to or from the caller on a conversation."""
    items = [services.whisper_dict(w) for w in services.access_whispers(request.auth, conversation_id)]
    return {"count": len(items), "items": items}


@router.get("/wallboard/displays")
def list_displays(request: AuthedRequest) -> dict[str, Any]:
    items = [services.display_token_dict(t) for t in services.list_display_tokens(actor=request.auth)]
    return {"count": len(items), "items": items}


@router.post("/wallboard/displays", response={201: dict[str, Any]})
def create_display(request: AuthedRequest, payload: DisplayTokenIn) -> Status[dict[str, Any]]:
    """A read-only wall-screen link (supervisors and above; audited). The key is in this answer only."""
    token, key = services.do_create_display_token(
        actor=request.auth, name=payload.name, team_id=payload.team_id, request=request
    )
    return Status(
        201, {**services.display_token_dict(token), "key": key, "url": f"/wallboard/display/{key}/"}
    )


@router.delete("/wallboard/displays/{display_id}", response={204: None})
def revoke_display(request: AuthedRequest, display_id: int) -> Status[None]:
    services.do_revoke_display_token(actor=request.auth, token_id=display_id, request=request)
    return Status(204, None)
