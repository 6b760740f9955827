"""REST: training under /api/v1/training — cases, sessions with a virtual customer, progress, certification."""

from __future__ import annotations

from typing import Any

from ninja import Router, Status
from pydantic import StrictBool, StrictFloat, StrictInt, StrictStr

from kefu.accounts.access import AuthedRequest
from kefu.accounts.models import Role
from kefu.core.apiutil import StrictIn
from kefu.core.errors import InvalidInput
from kefu.quality.presenters import finding_dict
from kefu.replies.presenters import reply_dict

from . import services
from .presenters import case_out, certification_out, session_out, turn_out

router = Router(tags=["training"])


class TrainingEscalationIn(StrictIn):
    supervisor_after: StrictInt = 2
    threat_after: StrictInt = 3
    resolve_below: StrictFloat | StrictInt = 3.0


class TrainingCaseIn(StrictIn):
    title: StrictStr
    category: StrictStr
    goal: StrictStr
    opening: StrictStr
    model_answers: list[StrictStr]
    persona: dict[StrictStr, StrictStr] = {}
    facts: dict[StrictStr, StrictStr] = {}
    start_mood: StrictFloat | StrictInt = 6.0
    needs: list[StrictStr] = ["solution", "time"]
    topic_words: list[StrictStr] = []
    solution_words: list[StrictStr] = []
    replies: dict[StrictStr, list[StrictStr]] = {}
    escalation: TrainingEscalationIn = TrainingEscalationIn()
    max_turns: StrictInt = 6
    traditional: StrictBool = False
    is_active: StrictBool = True


class TrainingFromConversationIn(StrictIn):
    conversation_id: StrictInt


class TrainingStartIn(StrictIn):
    case_id: StrictInt
    seed: StrictInt | None = None


class TrainingReplyIn(StrictIn):
    text: StrictStr


class TrainingDraftIn(StrictIn):
    text: StrictStr


class TrainingCertifyIn(StrictIn):
    trainee_id: StrictInt
    note: StrictStr = ""


class TrainingSettingsIn(StrictIn):
    require_certification: StrictBool
    pass_score: StrictInt


def _case_detail(request: AuthedRequest, case: Any) -> dict[str, Any]:
    # The script holds the model answers: authors see it, trainees meet the customer unprepared.
    return case_out(case, full=request.auth.has_role_at_least(Role.SUPERVISOR))


def _session_detail(session: Any) -> dict[str, Any]:
    return session_out(session, turns=services.session_turns(session))


def _progress_out(p: dict[str, Any]) -> dict[str, Any]:
    return {**p, "certification": certification_out(p["certification"])}


@router.get("/training/cases")
def list_cases(request: AuthedRequest, all: bool = False) -> list[dict[str, Any]]:
    """Active cases; ``all=true`` (supervisors and above) includes those switched off."""
    return [case_out(c) for c in services.visible_cases(request.auth, include_inactive=all)]


@router.post("/training/cases", response={201: dict[str, Any]})
def create_case(request: AuthedRequest, payload: TrainingCaseIn) -> Status[dict[str, Any]]:
    """Write a case (supervisors and above)."""
    data = payload.model_dump()
    is_active = data.pop("is_active")
    case = services.do_save_case(actor=request.auth, data=data, is_active=is_active)
    return Status(201, _case_detail(request, case))


@router.post("/training/cases/from-conversation", response={201: dict[str, Any]})
def case_from_conversation(
    request: AuthedRequest, payload: TrainingFromConversationIn
) -> Status[dict[str, Any]]:
    """A draft case (switched off) from a resolved conversation, personal data removed."""
    case = services.do_case_from_conversation(actor=request.auth, conversation_id=payload.conversation_id)
    return Status(201, _case_detail(request, case))


@router.get("/training/cases/{case_id}")
def get_case(request: AuthedRequest, case_id: int) -> dict[str, Any]:
    return _case_detail(request, services.access_case(request.auth, case_id))


@router.put("/training/cases/{case_id}")
def update_case(request: AuthedRequest, case_id: int, payload: TrainingCaseIn) -> dict[str, Any]:
    data = payload.model_dump()
    is_active = data.pop("is_active")
    case = services.do_save_case(actor=request.auth, data=data, case_id=case_id, is_active=is_active)
    return _case_detail(request, case)


@router.get("/training/sessions")
def list_sessions(
    request: AuthedRequest, trainee_id: int | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Sessions the caller may follow (own; a lead's team; everyone's for supervisors), newest first."""
    if not 1 <= limit <= 200:
        raise InvalidInput("limit 无效", fields={"limit": "1–200"})
    qs = services.visible_sessions(request.auth)
    if trainee_id is not None:
        qs = qs.filter(trainee_id=trainee_id)
    return [session_out(s) for s in qs[:limit]]


@router.post("/training/sessions", response={201: dict[str, Any]})
def start_session(request: AuthedRequest, payload: TrainingStartIn) -> Status[dict[str, Any]]:
    """Start a case; the same ``seed`` replays the same customer (random when left out)."""
    session = services.do_start_session(trainee=request.auth, case_id=payload.case_id, seed=payload.seed)
    return Status(201, _session_detail(session))


@router.get("/training/sessions/{session_id}")
def get_session(request: AuthedRequest, session_id: int) -> dict[str, Any]:
    return _session_detail(services.access_session(request.auth, session_id))


@router.post("/training/sessions/{session_id}/replies")
def reply(request: AuthedRequest, session_id: int, payload: TrainingReplyIn) -> dict[str, Any]:
    """The trainee's reply: answered with its feedback, the customer's next message and the state."""
    session = services.do_training_reply(trainee=request.auth, session_id=session_id, text=payload.text)
    turns = services.session_turns(session)
    out = session_out(session)
    out["feedback"] = turn_out(turns[-2])
    out["customer"] = turn_out(turns[-1])
    out["coaching"] = services.coaching_for(turns[-1])
    return out


@router.post("/training/sessions/{session_id}/reply-check")
def reply_check(request: AuthedRequest, session_id: int, payload: TrainingDraftIn) -> dict[str, Any]:
    """The composer's coaching on a draft, as in a real conversation."""
    checked = services.access_draft_check(user=request.auth, session_id=session_id, text=payload.text)
    return {
        "ruleset_version": checked.ruleset_version,
        "findings": [finding_dict(f) for f in checked.findings],
    }


@router.post("/training/sessions/{session_id}/end")
def end_session(request: AuthedRequest, session_id: int) -> dict[str, Any]:
    """Stop now; an unresolved customer counts as one who left angry."""
    return _session_detail(services.do_end_session(trainee=request.auth, session_id=session_id))


@router.get("/training/sessions/{session_id}/scripts")
def session_scripts(request: AuthedRequest, session_id: int, q: str = "") -> list[dict[str, Any]]:
    """The `/` picker in a session."""
    return [reply_dict(r) for r in services.training_scripts(user=request.auth, session_id=session_id, q=q)]


@router.post("/training/sessions/{session_id}/scripts/{reply_id}/use")
def use_script(request: AuthedRequest, session_id: int, reply_id: int) -> dict[str, Any]:
    """A script's text filled from the case's facts (no use is counted for practice)."""
    text, missing = services.training_script_text(user=request.auth, session_id=session_id, reply_id=reply_id)
    return {"text": text, "missing": missing}


@router.get("/training/progress")
def my_progress(request: AuthedRequest) -> dict[str, Any]:
    """The caller's learning path (week one) and certification."""
    return _progress_out(services.trainee_progress(request.auth))


@router.get("/training/team")
def team(request: AuthedRequest) -> dict[str, Any]:
    """Team leads and above: progress of each trainee they coach and the team's weak spots."""
    out = services.team_progress(request.auth)
    return {**out, "trainees": [_progress_out(p) for p in out["trainees"]]}


@router.post("/training/certifications", response={201: dict[str, Any]})
def certify(request: AuthedRequest, payload: TrainingCertifyIn) -> Status[dict[str, Any]]:
    cert = services.do_certify(actor=request.auth, trainee_id=payload.trainee_id, note=payload.note)
    return Status(201, {"trainee_id": cert.trainee_id, **(certification_out(cert) or {})})


@router.delete("/training/certifications/{trainee_id}", response={204: None})
def revoke(request: AuthedRequest, trainee_id: int) -> Status[None]:
    services.do_revoke_certification(actor=request.auth, trainee_id=trainee_id)
    return Status(204, None)


@router.get("/training/settings")
def get_settings(request: AuthedRequest) -> dict[str, Any]:
    current = services.access_training_settings(request.auth)
    return {"require_certification": current.require_certification, "pass_score": current.pass_score}


@router.put("/training/settings")
def put_settings(request: AuthedRequest, payload: TrainingSettingsIn) -> dict[str, Any]:
    """Admins: whether uncertified agents get live chats, and the passing score."""
    current = services.do_update_training_settings(
        actor=request.auth, require_certification=payload.require_certification, pass_score=payload.pass_score
    )
    return {"require_certification": current.require_certification, "pass_score": current.pass_score}
