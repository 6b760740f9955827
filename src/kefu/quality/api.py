"""Reply-quality API: draft checks, rule-set versions, scores, samples, reviews, appeals."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from django.http import HttpRequest
from ninja import Router, Status

from kefu.accounts.access import check_role
from kefu.accounts.models import User
from kefu.core.apiutil import StrictIn
from kefu.core.errors import NotFound
from kefu.quality.presenters import version_dict

from . import checks, presenters, ruleset_store, rulesets, services
from .models import RuleSetVersion

router = Router(tags=["quality"])


def me(request: HttpRequest) -> User:
    """The caller; the API's auth has already refused anonymous requests."""
    return cast(User, request.user)


class ReplyCheckIn(StrictIn):
    text: str
    closing: bool = False


@router.post("/conversations/{conversation_id}/reply-check")
def reply_check(request: HttpRequest, conversation_id: int, payload: ReplyCheckIn) -> dict[str, Any]:
    """Findings for the draft an agent is typing (or about to send)."""
    result = checks.access_reply_check(
        user=me(request), conversation_id=conversation_id, text=payload.text, closing=payload.closing
    )
    findings = [presenters.finding_dict(f) for f in result.findings]
    return {
        "ruleset_version": result.ruleset_version,
        "findings": findings,
        "high": sum(1 for f in result.findings if f.severity == "high"),
        "context": {
            "customer_emotion": result.context.customer_emotion,
            "is_first_agent_reply": result.context.is_first_agent_reply,
            "expects_time": result.context.expects_time,
            "agent_role": result.context.agent_role,
        },
    }


class FindingIn(StrictIn):
    rule: str = ""
    severity: str = "low"
    start: int
    end: int
    excerpt: str
    why: str = ""
    suggestion: str | None = None
    replacement: str | None = None
    rule_label: str = ""
    severity_label: str = ""


class ApplyIn(StrictIn):
    text: str
    finding: FindingIn


@router.post("/quality/apply")
def apply(request: HttpRequest, payload: ApplyIn) -> dict[str, Any]:
    """The draft with one finding's replacement applied (the client may also do it itself)."""
    return {"text": checks.apply_fix(payload.text, payload.finding.model_dump())}


# --- rule sets ------------------------------------------------------------------------------


@router.get("/quality/rules")
def active_rules(request: HttpRequest) -> dict[str, Any]:
    """The active rule set (all data), its version and who saved it."""
    check_role(me(request), services.REVIEW_ROLE)
    row = RuleSetVersion.objects.select_related("author").order_by("-version").first()
    if row is None:
        rs = rulesets.default_ruleset()
        return {
            "version": rs.version,
            "author": None,
            "note": "默认规则",
            "created_at": None,
            "ruleset": rs.to_dict(),
        }
    return version_dict(row, with_data=True)


@router.get("/quality/rules/versions")
def rule_versions(request: HttpRequest) -> list[dict[str, Any]]:
    check_role(me(request), services.REVIEW_ROLE)
    return [version_dict(v) for v in ruleset_store.ruleset_versions()[:200]]


@router.get("/quality/rules/versions/{version}")
def rule_version(request: HttpRequest, version: int) -> dict[str, Any]:
    check_role(me(request), services.REVIEW_ROLE)
    row = RuleSetVersion.objects.select_related("author").filter(version=version).first()
    if row is None:
        raise NotFound(f"规则集版本 {version} 不存在")
    return version_dict(row, with_data=True)


class RulesIn(StrictIn):
    rules: dict[str, Any] | None = None
    rubric: dict[str, Any] | None = None
    note: str = ""


@router.post("/quality/rules", response={201: dict[str, Any]})
def save_rules(request: HttpRequest, payload: RulesIn) -> Status[dict[str, Any]]:
    """Save an edit (any subset of rules/rubric, same shape as the rule set) as a new version."""
    overrides = {k: v for k, v in (("rules", payload.rules), ("rubric", payload.rubric)) if v is not None}
    row = ruleset_store.do_save_ruleset(actor=me(request), overrides=overrides, note=payload.note)
    return Status(201, version_dict(row))


# --- scores ----------------------------------------------------------------------------------


@router.get("/quality/conversations/{conversation_id}")
def conversation_quality(request: HttpRequest, conversation_id: int) -> dict[str, Any]:
    """A conversation's automatic score, the findings of each sent reply, and its reviews."""
    score = services.access_score(me(request), conversation_id)
    ids = services.visible_agent_ids(me(request))
    if score is not None and ids is not None and score.agent_id not in ids:
        score = None  # agents see the conversation but only their own scores
    findings = services.findings_of_conversation(me(request), conversation_id)
    reviews = services.access_reviews(me(request)).filter(conversation_id=conversation_id)
    return {
        "score": presenters.score_dict(score) if score else None,
        "replies": [
            {"message_id": f.message_id, "ruleset_version": f.ruleset_version, "findings": f.findings}
            for f in findings
        ],
        "reviews": [presenters.review_dict(r) for r in reviews],
    }


@router.get("/quality/agents")
def agents(
    request: HttpRequest, since: dt.date | None = None, until: dt.date | None = None
) -> dict[str, Any]:
    """Per agent: average automatic score, count and per-item averages (closing dates, inclusive)."""
    return {"items": services.agent_stats(me(request), since=since, until=until)}


@router.get("/quality/overrides")
def overrides(
    request: HttpRequest, since: dt.date | None = None, until: dt.date | None = None
) -> dict[str, Any]:
    """Replies sent although the agent confirmed high-severity findings (team leads: their teams)."""
    rows = services.access_overrides(me(request), since=since, until=until)[:200]
    return {"items": [presenters.override_dict(r) for r in rows]}


# --- samples ----------------------------------------------------------------------------------


class SampleIn(StrictIn):
    percent: float | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    triggers: bool = True
    seed: int | None = None


@router.post("/quality/samples", response={201: dict[str, Any]})
def draw_samples(request: HttpRequest, payload: SampleIn) -> Status[dict[str, Any]]:
    created = services.do_draw_samples(actor=me(request), **payload.model_dump())
    rows = services.access_samples(me(request)).filter(pk__in=[s.pk for s in created])
    return Status(201, {"created": len(created), "items": [presenters.sample_dict(s) for s in rows]})


@router.get("/quality/samples")
def list_samples(request: HttpRequest, status: str | None = None) -> dict[str, Any]:
    rows = services.access_samples(me(request), status=status)[:500]
    return {"items": [presenters.sample_dict(s) for s in rows]}


# --- reviews and appeals ----------------------------------------------------------------------


class ReviewItemIn(StrictIn):
    points: float
    comment: str = ""


class ReviewIn(StrictIn):
    conversation_id: int
    items: dict[str, ReviewItemIn]
    comment: str = ""


@router.post("/quality/reviews", response={201: dict[str, Any]})
def create_review(request: HttpRequest, payload: ReviewIn) -> Status[dict[str, Any]]:
    review = services.do_create_review(
        actor=me(request),
        conversation_id=payload.conversation_id,
        items={k: v.model_dump() for k, v in payload.items.items()},
        comment=payload.comment,
    )
    return Status(201, presenters.review_dict(services.access_review(me(request), review.pk)))


@router.get("/quality/reviews")
def list_reviews(
    request: HttpRequest, agent_id: int | None = None, status: str | None = None
) -> dict[str, Any]:
    rows = services.access_reviews(me(request), agent_id=agent_id, status=status)[:500]
    return {"items": [presenters.review_dict(r) for r in rows]}


@router.get("/quality/reviews/{review_id}")
def get_review(request: HttpRequest, review_id: int) -> dict[str, Any]:
    return presenters.review_dict(services.access_review(me(request), review_id))


class AppealIn(StrictIn):
    reason: str


@router.post("/quality/reviews/{review_id}/appeal")
def appeal(request: HttpRequest, review_id: int, payload: AppealIn) -> dict[str, Any]:
    services.do_appeal(actor=me(request), review_id=review_id, reason=payload.reason)
    return presenters.review_dict(services.access_review(me(request), review_id))


class ResolveIn(StrictIn):
    decision: str
    comment: str
    items: dict[str, ReviewItemIn] | None = None


@router.post("/quality/reviews/{review_id}/resolve")
def resolve_appeal(request: HttpRequest, review_id: int, payload: ResolveIn) -> dict[str, Any]:
    services.do_resolve_appeal(
        actor=me(request),
        review_id=review_id,
        decision=payload.decision,
        comment=payload.comment,
        items={k: v.model_dump() for k, v in payload.items.items()} if payload.items is not None else None,
    )
    return presenters.review_dict(services.access_review(me(request), review_id))


@router.get("/quality/disagreements")
def disagreements(
    request: HttpRequest, since: dt.date | None = None, until: dt.date | None = None, threshold: int = 15
) -> dict[str, Any]:
    return services.disagreement_report(me(request), since=since, until=until, threshold=threshold)
