"""Training: cases, sessions and their turns as the API and pages show them."""

from __future__ import annotations

from typing import Any

from kefu.nlp.emotion import LABEL_NAMES

from .engine import CATEGORIES, NEED_LABELS, OUTCOME_LABELS
from .models import Certification, TrainingCase, TrainingSession, TrainingTurn

KIND_LABELS = {
    "supervisor": "要求找主管",
    "threat": "威胁投诉/差评",
    "resolved": "接受方案",
    "leave": "不满离开",
    "blamed": "被指责后更生气",
    "ignored": "觉得问题被忽视",
}


def case_out(case: TrainingCase, *, full: bool = False) -> dict[str, Any]:
    script = case.script or {}
    out: dict[str, Any] = {
        "id": case.pk,
        "key": case.key,
        "title": case.title,
        "category": case.category,
        "category_label": CATEGORIES.get(case.category, case.category),
        "goal": script.get("goal", ""),
        "persona": script.get("persona", {}),
        "is_active": case.is_active,
        "from_conversation": case.source_conversation_id is not None,
    }
    if full:
        out["script"] = script
    return out


def turn_out(turn: TrainingTurn) -> dict[str, Any]:
    out: dict[str, Any] = {"index": turn.index, "role": turn.role, "text": turn.text}
    if turn.role == TrainingTurn.Role.CUSTOMER:
        out.update(
            emotion=turn.emotion_label,
            emotion_label=LABEL_NAMES.get(turn.emotion_label, turn.emotion_label),
            emotion_score=turn.emotion_score,
            mood=turn.mood,
            kind=turn.kind,
            kind_label=KIND_LABELS.get(turn.kind, ""),
        )
    else:
        out.update(
            findings=turn.findings,
            worked=[{"code": w, "label": NEED_LABELS.get(w, w)} for w in turn.worked],
            ignored=turn.ignored,
            model_answer=turn.model_answer,
        )
    return out


def session_out(session: TrainingSession, *, turns: list[TrainingTurn] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": session.pk,
        "case": case_out(session.case),
        "trainee_id": session.trainee_id,
        "trainee": session.trainee.name,
        "seed": session.seed,
        "status": session.status,
        "outcome": session.outcome or None,
        "outcome_label": OUTCOME_LABELS.get(session.outcome, "") if session.outcome else "",
        "score": session.score,
        "rubric": session.rubric,
        "mood": (session.state or {}).get("mood"),
        "started_at": session.started_at.isoformat(),
        "ended_at": session.ended_at.isoformat() if session.ended_at else None,
    }
    if turns is not None:
        out["turns"] = [turn_out(t) for t in turns]
    return out


def certification_out(cert: Certification | None) -> dict[str, Any] | None:
    if cert is None:
        return None
    return {
        "certified_at": cert.certified_at.isoformat(),
        "certified_by": cert.certified_by.name if cert.certified_by else None,
        "note": cert.note,
    }
