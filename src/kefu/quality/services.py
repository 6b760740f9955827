"""Quality, top floor: sampling, manual reviews, appeals, agents' figures and the
disagreement report.

Checking replies (:mod:`kefu.quality.checks`), scoring finished conversations
(:mod:`kefu.quality.scoring`) and the stored rule sets (:mod:`kefu.quality.ruleset_store`)
are the ground floor; the engine itself is the pure :mod:`kefu.quality.rules`.

Who sees what: supervisors and above everything; team leads the agents of their teams
(and themselves); agents only their own scores and reviews. Only supervisors and above
edit rules, draw samples, review and resolve appeals.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from kefu.accounts.access import check_role, team_ids_of
from kefu.accounts.models import Role, User
from kefu.conversations.timeline import access_conversation
from kefu.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from kefu.core.events import publish
from kefu.core.fields import check_text

from .models import QualityScore, ReplyFindings, Review, Sample
from .presenters import RULE_LABELS, review_counts
from .rules import ITEM_LABELS
from .ruleset_store import active_ruleset
from .rulesets import (
    RuleSet,
)
from .scoring import FINISHED

REVIEW_ROLE = Role.SUPERVISOR
EMOTIONS = ("calm", "anxious", "dissatisfied", "angry")
# Rubric items whose points come from one rule; clarity and conduct take theirs from
# the rule set's rubric lists.
ITEM_RULES = {
    "greeting": ("missing_greeting",),
    "empathy": ("no_empathy",),
    "promise": ("promise_without_time",),
    "closing": ("missing_closing",),
}
# An item "disagrees" when auto and manual differ by this share of its maximum.
ITEM_DISAGREEMENT = 0.3
MAX_COMMENT = 1000


def sample_percent_default() -> float:
    return float(getattr(settings, "KEFU_QUALITY_SAMPLE_PERCENT", 5))


def low_score_threshold() -> int:
    return int(getattr(settings, "KEFU_QUALITY_LOW_SCORE", 60))


# --- who sees whom ----------------------------------------------------------------------------


def visible_agent_ids(user: User) -> set[int] | None:
    """Agents whose scores and reviews ``user`` may see; None means everyone."""
    if not user.is_authenticated or not user.is_active:
        return set()
    if user.sees_all:
        return None
    if user.has_role_at_least(Role.TEAM_LEAD):
        teams = team_ids_of(user)
        ids = set(User.objects.filter(teams__id__in=teams).values_list("id", flat=True))
        return ids | {user.pk}
    return {user.pk}


def _scope(qs: QuerySet[Any], user: User, field: str = "agent_id") -> QuerySet[Any]:
    ids = visible_agent_ids(user)
    return qs if ids is None else qs.filter(**{f"{field}__in": ids})


def access_overrides(
    user: User, *, since: date | None = None, until: date | None = None
) -> QuerySet[ReplyFindings]:
    """Replies sent although the agent was shown high-severity findings, newest first.

    Team leads and above (a lead sees the agents of their teams); an agent, their own.
    """
    qs = ReplyFindings.objects.filter(overridden=True).select_related(
        "agent", "message", "conversation", "conversation__customer"
    )
    return _in_range(_scope(qs, user), "created_at", since, until).order_by("-created_at", "-id")


def date_bounds(since: date | None, until: date | None) -> tuple[datetime | None, datetime | None]:
    """Inclusive local dates → aware datetimes [start, end)."""
    if since and until and since > until:
        raise InvalidInput("开始日期晚于结束日期", fields={"since": "不能晚于 until"})
    tz = timezone.get_current_timezone()
    start = datetime.combine(since, time.min, tzinfo=tz) if since else None
    end = datetime.combine(until + timedelta(days=1), time.min, tzinfo=tz) if until else None
    return start, end


def _in_range(qs: QuerySet[Any], field: str, since: date | None, until: date | None) -> QuerySet[Any]:
    start, end = date_bounds(since, until)
    if start:
        qs = qs.filter(**{f"{field}__gte": start})
    if end:
        qs = qs.filter(**{f"{field}__lt": end})
    return qs


def access_score(user: User, conversation_id: int) -> QualityScore | None:

    access_conversation(user, conversation_id)
    return QualityScore.objects.filter(conversation_id=conversation_id).select_related("agent").first()


def agent_stats(user: User, *, since: date | None = None, until: date | None = None) -> list[dict[str, Any]]:
    """Average automatic score, count and per-item averages per agent over closing dates."""
    qs = _in_range(_scope(QualityScore.objects.all(), user), "closed_at", since, until).filter(
        agent__isnull=False
    )
    rows = list(qs.values_list("agent_id", "total", "items"))
    reviews = _in_range(_scope(Review.objects.all(), user), "created_at", since, until)
    manual: dict[int, list[int]] = defaultdict(list)
    for agent_id, total, status, original in reviews.values_list(
        "agent_id", "total", "status", "original_items"
    ):
        if agent_id and review_counts(status, original):
            manual[agent_id].append(total)
    per_agent: dict[int, dict[str, Any]] = {}
    for agent_id, total, items in rows:
        a = per_agent.setdefault(agent_id, {"totals": [], "items": defaultdict(list)})
        a["totals"].append(total)
        for item in items:
            a["items"][item["key"]].append((item["points"], item["max_points"]))
    agents = User.objects.in_bulk(set(per_agent) | set(manual))
    out = []
    for agent_id in sorted(set(per_agent) | set(manual), key=lambda i: agents[i].name if i in agents else ""):
        a = per_agent.get(agent_id, {"totals": [], "items": {}})
        totals = a["totals"]
        out.append(
            {
                "agent_id": agent_id,
                "name": agents[agent_id].name if agent_id in agents else str(agent_id),
                "count": len(totals),
                "average": round(sum(totals) / len(totals), 1) if totals else None,
                "items": {
                    key: {
                        "label": ITEM_LABELS.get(key, key),
                        "average": round(sum(p for p, _ in vals) / len(vals), 1),
                        "max_points": vals[0][1],
                        "count": len(vals),
                    }
                    for key, vals in a["items"].items()
                },
                "reviews": len(manual.get(agent_id, [])),
                "review_average": (
                    round(sum(manual[agent_id]) / len(manual[agent_id]), 1) if manual.get(agent_id) else None
                ),
            }
        )
    return out


# --- sampling ---------------------------------------------------------------------------------


def do_draw_samples(
    *,
    actor: User,
    percent: float | None = None,
    since: date | None = None,
    until: date | None = None,
    triggers: bool = True,
    seed: int | None = None,
) -> list[Sample]:
    """Draw finished, scored, not yet sampled conversations for review.

    ``percent`` of them at random, plus (with ``triggers``) every one where a
    high-severity finding was sent, the automatic score is low, or the customer was angry.
    """
    check_role(actor, REVIEW_ROLE)
    percent = sample_percent_default() if percent is None else percent
    if isinstance(percent, bool) or not isinstance(percent, int | float) or not 0 <= percent <= 100:
        raise InvalidInput("抽样比例应为 0–100", fields={"percent": "应为 0–100 的数字"})
    candidates = list(
        _in_range(
            QualityScore.objects.filter(conversation__quality_sample__isnull=True), "closed_at", since, until
        )
        .order_by("conversation_id")
        .values_list("conversation_id", "total", "high_findings", "angry_customer")
    )
    reasons: dict[int, list[str]] = defaultdict(list)
    if triggers:
        low = low_score_threshold()
        for cid, total, high, angry in candidates:
            if high:
                reasons[cid].append(Sample.Reason.HIGH_FINDING)
            if total < low:
                reasons[cid].append(Sample.Reason.LOW_SCORE)
            if angry:
                reasons[cid].append(Sample.Reason.ANGRY_CUSTOMER)
    pool = [cid for cid, *_ in candidates]
    k = math.ceil(len(pool) * percent / 100) if percent else 0
    for cid in random.Random(seed).sample(pool, min(k, len(pool))):
        reasons[cid].insert(0, Sample.Reason.RANDOM)
    created = []
    with transaction.atomic():
        for cid in sorted(reasons):
            try:
                with transaction.atomic():
                    created.append(
                        Sample.objects.create(conversation_id=cid, reasons=list(reasons[cid]), drawn_by=actor)
                    )
            except IntegrityError:
                continue  # drawn by someone else at the same moment
    return created


def access_samples(user: User, *, status: str | None = None) -> QuerySet[Sample]:
    check_role(user, REVIEW_ROLE)
    qs = Sample.objects.select_related(
        "conversation", "conversation__customer", "conversation__quality_score", "conversation__assignee"
    )
    if status:
        if status not in Sample.Status.values:
            raise InvalidInput("未知状态", fields={"status": "应为 pending 或 reviewed"})
        qs = qs.filter(status=status)
    return qs


# --- reviews and appeals ------------------------------------------------------------------------


def _check_items(items: Any, ruleset: RuleSet, *, field: str = "items") -> list[dict[str, Any]]:
    weights = {k: int(w) for k, w in ruleset.rubric.get("weights", {}).items() if int(w) > 0}
    if not isinstance(items, Mapping) or not items:
        raise InvalidInput("请至少为一个评分项打分", fields={field: "应为以评分项为键的对象"})
    fields: dict[str, str] = {}
    out = []
    for key, value in items.items():
        path = f"{field}.{key}"
        if key not in weights:
            fields[path] = "未知评分项"
            continue
        if not isinstance(value, Mapping):
            fields[path] = "应为对象 {points, comment}"
            continue
        points, comment = value.get("points"), value.get("comment", "") or ""
        if isinstance(points, bool) or not isinstance(points, int | float) or not 0 <= points <= weights[key]:
            fields[f"{path}.points"] = f"应为 0–{weights[key]} 的数字"
            continue
        if not isinstance(comment, str) or len(comment) > MAX_COMMENT:
            fields[f"{path}.comment"] = f"最多{MAX_COMMENT}个字符"
            continue
        out.append(
            {
                "key": key,
                "label": ITEM_LABELS.get(key, key),
                "points": round(float(points), 1),
                "max_points": weights[key],
                "comment": comment.strip(),
            }
        )
    if fields:
        raise InvalidInput("评分有误", fields=fields)
    order = list(ITEM_LABELS)
    return sorted(out, key=lambda i: order.index(i["key"]))


def _total(items: Sequence[Mapping[str, Any]]) -> int:
    max_total = sum(i["max_points"] for i in items)
    return round(100 * sum(i["points"] for i in items) / max_total) if max_total else 0


def do_create_review(*, actor: User, conversation_id: int, items: Any, comment: Any = "") -> Review:
    """A supervisor scores a finished conversation on the rubric items, with comments."""

    check_role(actor, REVIEW_ROLE)
    comment = check_text(comment, field="comment", max_len=MAX_COMMENT, required=False)
    checked = _check_items(items, active_ruleset())
    with transaction.atomic():
        conversation = access_conversation(actor, conversation_id, for_update=True)
        if conversation.status not in FINISHED:
            raise Conflict("会话尚未结束，不能复核")
        score = QualityScore.objects.filter(conversation=conversation).first()
        agent_id = score.agent_id if score else conversation.assignee_id
        if agent_id is None:
            raise Conflict("该会话没有可复核的客服")
        if Review.objects.filter(conversation=conversation, reviewer=actor).exists():
            raise Conflict("您已复核过该会话")
        review = Review.objects.create(
            conversation=conversation,
            agent_id=agent_id,
            reviewer=actor,
            items=checked,
            total=_total(checked),
            comment=comment,
            auto_total=score.total if score else None,
        )
        Sample.objects.filter(conversation=conversation).update(status=Sample.Status.REVIEWED)
        publish(
            "quality.reviewed",
            {"review_id": review.pk, "conversation_id": conversation.pk, "total": review.total},
            user_ids=[agent_id],
            webhook=False,
        )
    return review


def access_reviews(user: User, *, agent_id: int | None = None, status: str | None = None) -> QuerySet[Review]:
    qs = _scope(
        Review.objects.select_related(
            "agent", "reviewer", "appeal_resolved_by", "conversation", "conversation__customer"
        ),
        user,
    )
    if agent_id is not None:
        qs = qs.filter(agent_id=agent_id)
    if status:
        if status not in Review.Status.values:
            raise InvalidInput("未知状态", fields={"status": f"应为 {', '.join(Review.Status.values)} 之一"})
        qs = qs.filter(status=status)
    return qs


def access_review(user: User, review_id: int, *, for_update: bool = False) -> Review:
    qs = Review.objects.select_related(
        "agent", "reviewer", "appeal_resolved_by", "conversation", "conversation__customer"
    )
    if for_update:
        qs = qs.select_for_update(of=("self",))
    review = qs.filter(pk=review_id).first()
    if review is None:
        raise NotFound(f"复核 {review_id} 不存在")
    ids = visible_agent_ids(user)
    if ids is not None and review.agent_id not in ids:
        raise PermissionDenied("您无权查看该复核")
    return review


def do_appeal(*, actor: User, review_id: int, reason: Any) -> Review:
    """The reviewed agent disputes a review once, with a reason."""
    reason = check_text(reason, field="reason", max_len=MAX_COMMENT)
    with transaction.atomic():
        review = access_review(actor, review_id, for_update=True)
        if review.agent_id != actor.pk:
            raise PermissionDenied("只有被复核的客服本人可以申诉")
        if review.status != Review.Status.FINAL:
            raise Conflict("该复核已申诉过")
        review.status = Review.Status.APPEALED
        review.appeal_reason = reason
        review.appealed_at = timezone.now()
        review.save(update_fields=["status", "appeal_reason", "appealed_at"])
        publish(
            "quality.appealed",
            {"review_id": review.pk, "conversation_id": review.conversation_id, "agent": actor.name},
            user_ids=[review.reviewer_id],
            webhook=False,
        )
    return review


def do_resolve_appeal(
    *, actor: User, review_id: int, decision: Any, comment: Any = "", items: Any = None
) -> Review:
    """A supervisor upholds the review or overturns it (optionally with a re-scoring)."""
    check_role(actor, REVIEW_ROLE)
    if decision not in (Review.Status.UPHELD, Review.Status.OVERTURNED):
        raise InvalidInput("请选择维持或改判", fields={"decision": "应为 upheld 或 overturned"})
    comment = check_text(comment, field="comment", max_len=MAX_COMMENT)
    if items is not None and decision != Review.Status.OVERTURNED:
        raise InvalidInput("维持原判时不能修改评分", fields={"items": "仅在改判时提供"})
    checked = _check_items(items, active_ruleset()) if items is not None else None
    with transaction.atomic():
        review = access_review(actor, review_id, for_update=True)
        if review.status != Review.Status.APPEALED:
            raise Conflict("该复核没有待处理的申诉")
        review.status = decision
        review.appeal_comment = comment
        review.appeal_resolved_by = actor
        review.appeal_resolved_at = timezone.now()
        if checked is not None:
            review.original_items, review.original_total = review.items, review.total
            review.items, review.total = checked, _total(checked)
        review.save()
        publish(
            "quality.appeal_resolved",
            {"review_id": review.pk, "conversation_id": review.conversation_id, "decision": decision},
            user_ids=[review.agent_id],
            webhook=False,
        )
    return review


# --- disagreements -------------------------------------------------------------------------------


def _rules_of_item(key: str, ruleset: RuleSet) -> tuple[str, ...]:
    if key == "clarity":
        return tuple(ruleset.rubric.get("clarity_rules", ()))
    if key == "conduct":
        return tuple(ruleset.rubric.get("conduct_rules", ()))
    return ITEM_RULES.get(key, ())


def disagreement_report(
    user: User, *, since: date | None = None, until: date | None = None, threshold: int = 15
) -> dict[str, Any]:
    """Where manual reviews and automatic scores disagree, per conversation, item and rule.

    A conversation is listed when the totals differ by ``threshold`` points or more, or
    an item differs by 30 % of its maximum. Per rule: how often it fired in reviewed
    conversations and how often the reviewer then gave its item clearly more than the
    engine did (a sign of false alarms); per item: the mean manual − auto difference.
    """
    check_role(user, Role.TEAM_LEAD)
    if isinstance(threshold, bool) or not isinstance(threshold, int) or not 0 <= threshold <= 100:
        raise InvalidInput("阈值应为 0–100", fields={"threshold": "应为 0–100 的整数"})
    ruleset = active_ruleset()
    reviews = [
        r
        for r in _in_range(access_reviews(user), "created_at", since, until).select_related(
            "conversation__quality_score"
        )
        if review_counts(r.status, r.original_items)
    ]
    conversations = []
    items: dict[str, dict[str, Any]] = {}
    rules: dict[str, dict[str, Any]] = {}
    for r in reviews:
        score = getattr(r.conversation, "quality_score", None)
        if score is None:
            continue
        auto = {i["key"]: i for i in score.items}
        counts = score.rule_counts or {}
        diffs = []
        for m in r.items:
            a = auto.get(m["key"])
            if a is None or not m["max_points"]:
                continue
            delta = m["points"] / m["max_points"] * a["max_points"] - a["points"]
            agg = items.setdefault(
                m["key"],
                {
                    "key": m["key"],
                    "label": ITEM_LABELS.get(m["key"], m["key"]),
                    "compared": 0,
                    "disagreements": 0,
                    "auto_harsher": 0,
                    "auto_lenient": 0,
                    "delta_sum": 0.0,
                    "max_points": a["max_points"],
                },
            )
            agg["compared"] += 1
            agg["delta_sum"] += delta
            disagree = abs(delta) >= ITEM_DISAGREEMENT * a["max_points"]
            if disagree:
                agg["disagreements"] += 1
                agg["auto_harsher" if delta > 0 else "auto_lenient"] += 1
                diffs.append(
                    {
                        "key": m["key"],
                        "label": agg["label"],
                        "auto": a["points"],
                        "manual": m["points"],
                        "max_points": m["max_points"],
                    }
                )
            for rule in _rules_of_item(m["key"], ruleset):
                ragg = rules.setdefault(
                    rule,
                    {
                        "rule": rule,
                        "label": RULE_LABELS.get(rule, rule),
                        "item": m["key"],
                        "item_label": ITEM_LABELS.get(m["key"], m["key"]),
                        "reviewed": 0,
                        "fired": 0,
                        "disputed": 0,
                        "missed": 0,
                    },
                )
                ragg["reviewed"] += 1
                fired = counts.get(rule, 0) > 0
                ragg["fired"] += fired
                if disagree and delta > 0 and fired:
                    ragg["disputed"] += 1  # the rule cost points the reviewer gave back
                if disagree and delta < 0 and not fired:
                    ragg["missed"] += 1  # the reviewer took points the engine kept
        gap = r.total - score.total
        if abs(gap) >= threshold or diffs:
            conversations.append(
                {
                    "review_id": r.pk,
                    "conversation_id": r.conversation_id,
                    "agent": r.agent.name if r.agent else "",
                    "auto_total": score.total,
                    "manual_total": r.total,
                    "gap": gap,
                    "items": diffs,
                }
            )
    item_rows = []
    for agg in items.values():
        agg["mean_delta"] = round(agg.pop("delta_sum") / agg["compared"], 1)
        item_rows.append(agg)
    item_rows.sort(key=lambda a: (-a["disagreements"], a["key"]))
    rule_rows = sorted(rules.values(), key=lambda a: (-a["disputed"], -a["missed"], a["rule"]))
    for agg in rule_rows:
        agg["dispute_rate"] = round(agg["disputed"] / agg["fired"], 2) if agg["fired"] else None
    conversations.sort(key=lambda c: -abs(c["gap"]))
    return {
        "threshold": threshold,
        "reviews": len(reviews),
        "conversations": conversations,
        "items": item_rows,
        "rules": rule_rows,
    }


def findings_of_conversation(user: User, conversation_id: int) -> list[ReplyFindings]:

    access_conversation(user, conversation_id)
    return list(ReplyFindings.objects.filter(conversation_id=conversation_id).select_related("message"))
