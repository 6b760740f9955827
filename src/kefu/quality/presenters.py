"""Quality: reply findings, reviews, scores and samples as the API and pages show them."""

from __future__ import annotations

from typing import Any

from kefu.quality import rulesets

from .models import QualityScore, ReplyFindings, Review, RuleSetVersion, Sample
from .rules import (
    Finding,
)

RULE_LABELS = {
    "vague_wording": "表达含糊",
    "blame_policy": "推诿指责",
    "apology_but": "道歉后转折",
    "negative_framing": "否定式表达",
    "no_empathy": "缺少安抚",
    "promise_without_time": "承诺无时限",
    "compensation_over_limit": "补偿超权限",
    "absolute_guarantee": "绝对化承诺",
    "pii_exposed": "泄露个人信息",
    "internal_jargon": "内部术语",
    "missing_greeting": "缺少问候",
    "missing_closing": "缺少结束语",
    "slang": "网络用语",
    "incident_statement": "与事件口径不符",
}
SEVERITY_LABELS = {"low": "提示", "medium": "注意", "high": "严重"}


def finding_dict(f: Finding) -> dict[str, Any]:
    return {
        **f.to_dict(),
        "rule_label": RULE_LABELS.get(f.rule, f.rule),
        "severity_label": SEVERITY_LABELS.get(f.severity, f.severity),
    }


def override_dict(r: ReplyFindings) -> dict[str, Any]:
    """A reply sent despite high findings, with the findings the agent confirmed."""
    return {
        "id": r.pk,
        "message_id": r.message_id,
        "conversation_id": r.conversation_id,
        "agent_id": r.agent_id,
        "agent": r.agent.name if r.agent else None,
        "text": r.message.text,
        "findings": [f for f in r.findings if f.get("severity") == "high"],
        "high_count": r.high_count,
        "ruleset_version": r.ruleset_version,
        "sent_at": r.created_at.isoformat(),
    }


def review_counts(status: str, original_items: Any) -> bool:
    """An overturned review without a re-scoring no longer counts."""
    return not (status == Review.Status.OVERTURNED and original_items is None)


def review_dict(r: Review) -> dict[str, Any]:
    return {
        "id": r.pk,
        "conversation_id": r.conversation_id,
        "agent_id": r.agent_id,
        "agent": r.agent.name if r.agent else None,
        "reviewer": r.reviewer.name if r.reviewer else None,
        "items": r.items,
        "total": r.total,
        "auto_total": r.auto_total,
        "comment": r.comment,
        "status": r.status,
        "status_label": Review.Status(r.status).label,
        "counts": review_counts(r.status, r.original_items),
        "created_at": r.created_at.isoformat(),
        "appeal": (
            {
                "reason": r.appeal_reason,
                "at": r.appealed_at.isoformat(),
                "comment": r.appeal_comment,
                "resolved_by": r.appeal_resolved_by.name if r.appeal_resolved_by else None,
                "resolved_at": r.appeal_resolved_at.isoformat() if r.appeal_resolved_at else None,
                "original_items": r.original_items,
                "original_total": r.original_total,
            }
            if r.appealed_at
            else None
        ),
    }


def score_dict(s: QualityScore) -> dict[str, Any]:
    return {
        "conversation_id": s.conversation_id,
        "agent_id": s.agent_id,
        "total": s.total,
        "items": s.items,
        "rubric_version": s.rubric_version,
        "kb_correctness": s.kb_correctness,
        "high_findings": s.high_findings,
        "angry_customer": s.angry_customer,
        "rule_counts": s.rule_counts,
        "closed_at": s.closed_at.isoformat(),
    }


def sample_dict(s: Sample) -> dict[str, Any]:
    c = s.conversation
    score = getattr(c, "quality_score", None)
    return {
        "id": s.pk,
        "conversation_id": c.pk,
        "customer": c.customer.name if c.customer_id else "",
        "reasons": s.reasons,
        "reason_labels": [Sample.Reason(r).label for r in s.reasons if r in Sample.Reason.values],
        "status": s.status,
        "auto_total": score.total if score else None,
        "drawn_at": s.drawn_at.isoformat(),
    }


def version_dict(v: RuleSetVersion, *, with_data: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "version": v.version,
        "author": v.author.name if v.author else None,
        "note": v.note,
        "created_at": v.created_at.isoformat(),
    }
    if with_data:
        out["ruleset"] = rulesets.cached_ruleset(v.data).to_dict()
    return out
