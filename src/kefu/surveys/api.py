"""REST: satisfaction surveys (the customer's public answer by signed link), their settings
(admins) and the follow-up (回访) list of team leads."""

from __future__ import annotations

from typing import Any

from ninja import Router, Status
from pydantic import StrictBool, StrictInt, StrictStr

from kefu.accounts.access import AuthedRequest, client_ip
from kefu.core import ratelimit
from kefu.core.apiutil import StrictIn

from . import services
from .presenters import answer_dict, follow_up_dict, public_survey_dict, setting_dict

router = Router(tags=["surveys"])


class SurveySettingsIn(StrictIn):
    channel_id: StrictInt | None = None
    enabled: StrictBool
    nps_enabled: StrictBool
    expiry_days: StrictInt
    low_score_threshold: StrictInt
    complaint_follow_up_days: StrictInt


class SurveyAnswerIn(StrictIn):
    score: StrictInt
    nps: StrictInt | None = None
    comment: StrictStr = ""


class FollowUpOutcomeIn(StrictIn):
    outcome: StrictStr
    note: StrictStr


@router.get("/surveys/settings")
def get_settings(request: AuthedRequest) -> dict[str, Any]:
    """The desk-wide survey settings and each channel's own (admins)."""
    default, channels = services.access_settings(request.user)
    return {
        "default": setting_dict(default),
        "channels": [
            {
                "channel_id": c.pk,
                "channel": c.name,
                "kind": c.kind,
                "own": row is not None,
                "settings": setting_dict(row or default),
            }
            for c, row in channels
        ],
    }


@router.put("/surveys/settings")
def put_settings(request: AuthedRequest, payload: SurveySettingsIn) -> dict[str, Any]:
    """Save the desk-wide settings (no ``channel_id``) or one channel's own (admins, audited)."""
    data = payload.model_dump()
    channel_id = data.pop("channel_id")
    row = services.do_save_settings(actor=request.user, channel_id=channel_id, data=data)
    return setting_dict(row)


@router.get("/surveys/answers")
def list_answers(request: AuthedRequest, limit: int = 100) -> dict[str, Any]:
    """The latest answers (team leads: their teams'; supervisors and above: every team's), with their NPS."""
    rows = list(services.access_answers(request.user, limit=limit))
    scored = [s.nps for s in rows if s.nps is not None]
    return {"answers": [answer_dict(s) for s in rows], "nps": services.nps_of(scored)}


@router.get("/surveys/follow-ups")
def list_follow_ups(request: AuthedRequest, state: str = "open") -> dict[str, Any]:
    """The 回访 list: ``state`` open (default), done or all."""
    rows = services.access_follow_ups(request.user, state=state)[:200]
    return {"follow_ups": [follow_up_dict(f) for f in rows]}


@router.post("/surveys/follow-ups/{follow_up_id}/outcome")
def record_outcome(request: AuthedRequest, follow_up_id: int, payload: FollowUpOutcomeIn) -> dict[str, Any]:
    """Record the call back: ``satisfied``, or ``unhappy`` (the conversation and complaint are reopened)."""
    follow_up = services.do_record_follow_up(
        actor=request.user, follow_up_id=follow_up_id, outcome=payload.outcome, note=payload.note
    )
    return follow_up_dict(follow_up)


@router.get("/surveys/public/{token}", auth=None)
def get_public_survey(request: AuthedRequest, token: str) -> dict[str, Any]:
    """Public: what a survey link asks and whether it can still be answered."""
    return public_survey_dict(services.access_survey_by_token(token))


@router.post("/surveys/public/{token}/answer", auth=None, response={201: dict[str, Any]})
def answer_public_survey(
    request: AuthedRequest, token: str, payload: SurveyAnswerIn
) -> Status[dict[str, Any]]:
    """Public: the customer's one answer through the signed link (rate limited per address)."""
    ratelimit.take_for_address("csat_ip", client_ip(request), message="评价提交太频繁，请稍后再试")
    survey = services.access_survey_by_token(token)
    survey = services.do_answer_survey(
        survey=survey, csat=payload.score, nps=payload.nps, comment=payload.comment
    )
    return Status(201, public_survey_dict(survey))
