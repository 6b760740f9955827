"""REST: the bot's settings (admins), its overview (leads and up), agents' suggestions and hand-over summaries."""

from __future__ import annotations

from datetime import time
from typing import Any, Literal

from ninja import Router, Status
from pydantic import Field

from kefu.accounts.access import AuthedRequest, check_admin
from kefu.core.apiutil import StrictIn

from . import services
from .presenters import setting_dict

router = Router(tags=["bot"])


class SettingIn(StrictIn):
    channel_id: int
    team_id: int | None = None
    enabled: bool | None = None
    days: Literal["every_day", "working_days", "rest_days", "desk_closed"] | None = None
    start_time: time | None = None
    end_time: time | None = None
    greeting: str | None = Field(None, max_length=255)
    intents: list[str] | None = None
    vip_skip: bool | None = None
    vip_level: int | None = None
    threshold: float | None = None


class SuggestionUseIn(StrictIn):
    message_id: int
    article_id: int
    action: Literal["accept", "edit", "ignore"]


@router.get("/bot/settings")
def list_settings(request: AuthedRequest) -> dict[str, Any]:
    check_admin(request.auth)
    items = [setting_dict(s) for s in services.settings_list()]
    return {"count": len(items), "items": items}


@router.put("/bot/settings")
def save_setting(request: AuthedRequest, payload: SettingIn) -> dict[str, Any]:
    """Create or change the setting of a channel for one team (``team_id``) or every team (``team_id`` null)."""
    data = payload.model_dump(exclude_unset=True, exclude={"channel_id", "team_id"})
    setting = services.do_save_setting(
        actor=request.auth, channel_id=payload.channel_id, team_id=payload.team_id, data=data, request=request
    )
    return setting_dict(setting)


@router.delete("/bot/settings/{setting_id}", response={204: None})
def delete_setting(request: AuthedRequest, setting_id: int) -> Status[None]:
    services.do_delete_setting(actor=request.auth, setting_id=setting_id, request=request)
    return Status(204, None)


@router.get("/bot/overview")
def overview(request: AuthedRequest, days: int = 30) -> dict[str, Any]:
    """Containment, hand-over reasons and unanswered questions over the last ``days`` (leads: their teams)."""
    return services.access_overview(request.auth, days=days)


@router.post("/bot/unanswered/{turn_id}/draft", response={201: dict[str, Any]})
def draft_article(request: AuthedRequest, turn_id: int) -> Status[dict[str, Any]]:
    """Turn a question the bot could not answer into a knowledge-base draft."""
    article = services.do_draft_article_from_question(actor=request.auth, turn_id=turn_id, request=request)
    return Status(201, {"article_id": article.pk, "title": article.title, "status": article.status})


@router.get("/conversations/{conversation_id}/bot-suggestion")
def suggestion(request: AuthedRequest, conversation_id: int) -> dict[str, Any]:
    """The bot's answer to the customer's latest question, for the agent."""
    return services.access_suggestion(request.auth, conversation_id)


@router.post("/conversations/{conversation_id}/bot-suggestion", response={201: dict[str, Any]})
def record_suggestion(
    request: AuthedRequest, conversation_id: int, payload: SuggestionUseIn
) -> Status[dict[str, Any]]:
    """Record the agent's choice (accept, edit, ignore); it moves the article in later suggestions."""
    use = services.do_record_suggestion_use(
        user=request.auth,
        conversation_id=conversation_id,
        message_id=payload.message_id,
        article_id=payload.article_id,
        action=payload.action,
    )
    return Status(201, {"id": use.pk, "action": use.action, "article_id": use.article_id})


@router.get("/conversations/{conversation_id}/bot-summary")
def summary(request: AuthedRequest, conversation_id: int) -> dict[str, Any]:
    """The bot's hand-over summary of the conversation (``summary`` null when the bot did not hand it over)."""
    return {"summary": services.access_summary(request.auth, conversation_id)}
