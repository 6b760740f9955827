"""The weekly review (复盘) of one team and one week.

The figures and their change come from ``kefu.analytics.metrics`` only. What this module
reads itself are lists to discuss, not figures: the conversations ranked by their stored
quality score and CSAT (the cases), the week's complaints and their causes, the promises
that were missed, and the script-library entries and knowledge-base articles that need
an update (low-rated, unused, or edited by hand before sending).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from kefu.accounts.access import check_role, team_ids_of
from kefu.accounts.models import Role, Team, User
from kefu.analytics import metrics
from kefu.complaints.models import Complaint, Promise
from kefu.conversations.models import Conversation
from kefu.core.errors import NotFound, PermissionDenied
from kefu.core.masking import mask_text
from kefu.kb.models import Article, Feedback
from kefu.kb.services import article_satisfaction
from kefu.replies.models import CannedReply, ReplyUsage

from .periods import Period, parse_week, week_of
from .presenters import change_text, value_text

# The review's figures, in order (those the metrics registry has).
REVIEW_FIGURES = (
    "volume",
    "first_response_mean",
    "first_response_p50",
    "first_response_within_target",
    "response_time_mean",
    "resolution_rate",
    "fcr_rate",
    "reopen_rate",
    "transfer_rate",
    "aht_mean",
    "sla_conversation_first_response",
    "csat_mean",
    "csat_satisfied_rate",
    "nps",
    "complaint_count",
    "complaint_rate",
    "promise_kept_rate",
    "emotion_recovery_rate",
    "quality_score_mean",
)
CASES = 5
TOP_INTENTS = 8
MOVED_INTENTS = 5
# Script-library thresholds: edited when sent on average less than this similar to what was
# inserted (over at least EDITED_MIN_USES uses); low-rated below LOW_CSAT over LOW_CSAT_MIN ratings.
EDITED_SIMILARITY = 0.8
EDITED_MIN_USES = 3
LOW_CSAT = 3.5
LOW_CSAT_MIN = 2
UNUSED_WEEKS = 4
LIST_LIMIT = 10
# Knowledge base: low-rated with at least this many 「没有帮助」 votes in the week, more than 「有帮助」.
KB_LOW_MIN_NO = 2


def access_review_team(user: User, team_id: int | None) -> Team:
    """The team whose review ``user`` may read: leads their own teams, supervisors and above any."""
    check_role(user, Role.TEAM_LEAD)
    mine = sorted(team_ids_of(user))
    if team_id is None:
        if mine:
            team_id = mine[0]
        elif user.sees_all:
            first = Team.objects.order_by("id").first()
            if first is None:
                raise NotFound("还没有团队")
            return first
        else:
            raise PermissionDenied("您不属于任何团队")
    team = Team.objects.filter(pk=team_id).first()
    if team is None:
        raise NotFound(f"团队 {team_id} 不存在", extra={"fields": {"team": "不存在"}})
    if not user.sees_all and team.pk not in mine:
        raise PermissionDenied("组长只能查看本组的复盘")
    return team


def access_review(user: User, *, team_id: int | None = None, week: str | None = None) -> dict[str, Any]:
    team = access_review_team(user, team_id)
    return build_review(team, parse_week(week))


def reviewable_teams(user: User) -> list[Team]:
    if user.sees_all:
        return list(Team.objects.order_by("id"))
    return list(Team.objects.filter(pk__in=team_ids_of(user)).order_by("id"))


# --- figures ------------------------------------------------------------------------------


def _names() -> list[str]:
    return [name for name in REVIEW_FIGURES if name in metrics.METRICS]


def _figure_row(current: Any, previous: Any) -> dict[str, Any]:
    value, before = current.value, previous.value
    change = value - before if value is not None and before is not None else None
    target = current.target
    met = None
    if value is not None and target is not None:
        met = value >= target if current.better == "higher" else value <= target
    improved = None
    if change:
        improved = change > 0 if current.better == "higher" else change < 0
    return {
        "name": current.name,
        "label": current.label,
        "unit": current.unit,
        "better": current.better,
        "value": value,
        "count": current.count,
        "previous": before,
        "change": change,
        "change_pct": round(change / before * 100, 1) if change is not None and before else None,
        "improved": improved,
        "target": target,
        "target_met": met,
        "value_text": value_text(value, current.unit),
        "previous_text": value_text(before, current.unit),
        "change_text": change_text(change, current.unit),
        "target_text": value_text(target, current.unit) if target is not None else "",
    }


def review_figures(scope: Any) -> list[dict[str, Any]]:
    return [_figure_row(cur, prev) for cur, prev in metrics.compare(scope, _names()).values()]


def review_intents(scope: Any) -> dict[str, list[dict[str, Any]]]:
    """The week's top intents by volume and the ones that moved most against the week before."""
    if "volume" not in metrics.METRICS:
        return {"top": [], "moved": []}
    now = {
        key: (label, fig.value or 0) for key, label, fig in metrics.breakdown(scope, "volume", by="intent")
    }
    before = {
        key: (label, fig.value or 0)
        for key, label, fig in metrics.breakdown(scope.previous(), "volume", by="intent")
    }
    rows: list[dict[str, Any]] = []
    for key in now.keys() | before.keys():
        label = (now.get(key) or before[key])[0]
        count, previous = now.get(key, ("", 0))[1], before.get(key, ("", 0))[1]
        rows.append(
            {
                "intent": key,
                "label": label or "未识别",
                "count": int(count),
                "previous": int(previous),
                "change": int(count - previous),
            }
        )
    top = sorted((r for r in rows if r["count"]), key=lambda r: (-r["count"], r["label"]))[:TOP_INTENTS]
    moved = sorted((r for r in rows if r["change"]), key=lambda r: (-abs(r["change"]), r["label"]))
    return {"top": top, "moved": moved[:MOVED_INTENTS]}


# --- cases --------------------------------------------------------------------------------


def case_score(quality: int | None, csat: int | None) -> float | None:
    """One 0–100 score to rank a case: the mean of the quality score and CSAT on the same scale."""
    parts = [float(quality)] if quality is not None else []
    if csat is not None:
        parts.append((csat - 1) * 25.0)
    return round(sum(parts) / len(parts), 1) if parts else None


def review_cases(team: Team, week: Period) -> dict[str, list[dict[str, Any]]]:
    """The five best and five worst conversations of the week by stored quality score and CSAT.

    A conversation belongs to the week when it was scored (closed) or rated in it.
    """
    in_week = Q(quality_score__closed_at__gte=week.start, quality_score__closed_at__lt=week.end) | Q(
        csat_at__gte=week.start, csat_at__lt=week.end
    )
    rows = (
        Conversation.objects.filter(team=team)
        .filter(in_week)
        .values_list("id", "quality_score__total", "csat_score")
        .distinct()
    )
    ranked = [(score, pk) for pk, q, c in rows if (score := case_score(q, c)) is not None]
    best = sorted(ranked, key=lambda r: (-r[0], r[1]))[:CASES]
    taken = {pk for _, pk in best}
    worst = [r for r in sorted(ranked, key=lambda r: (r[0], r[1])) if r[1] not in taken][:CASES]
    ids = [pk for _, pk in best + worst]
    found = {
        c.pk: c
        for c in Conversation.objects.filter(pk__in=ids).select_related(
            "assignee", "customer", "quality_score", "channel"
        )
    }
    return {
        "best": [_case(found[pk], score) for score, pk in best],
        "worst": [_case(found[pk], score) for score, pk in worst],
    }


def _case(conversation: Conversation, score: float) -> dict[str, Any]:
    quality = getattr(conversation, "quality_score", None)
    return {
        "conversation_id": conversation.pk,
        "score": score,
        "quality": quality.total if quality is not None else None,
        "csat": conversation.csat_score,
        "csat_comment": mask_text(conversation.csat_comment),
        "agent": conversation.assignee.name if conversation.assignee else "",
        "agent_id": conversation.assignee_id,
        "customer": conversation.customer.name if conversation.customer else "",
        "channel": conversation.channel.name if conversation.channel else "",
        "intent": conversation.intent or "未识别",
        "subject": mask_text(conversation.subject),
        "url": f"/desk/c/{conversation.pk}/",
        "quality_url": f"/desk/quality/c/{conversation.pk}/",
    }


# --- complaints and promises ----------------------------------------------------------------


def review_complaints(team: Team, week: Period) -> dict[str, Any]:
    """The complaints opened in the week on the team's tickets, grouped by cause.

    The cause is the intent of the conversation behind the complaint, else the ticket's category.
    """
    complaints = list(
        Complaint.objects.filter(ticket__team=team, created_at__gte=week.start, created_at__lt=week.end)
        .select_related("ticket")
        .prefetch_related("ticket__conversations")
        .order_by("created_at", "id")
    )
    items = []
    for complaint in complaints:
        ticket = complaint.ticket
        intents = [c.intent for c in sorted(ticket.conversations.all(), key=lambda c: c.pk) if c.intent]
        cause = intents[0] if intents else ticket.get_category_display()
        items.append(
            {
                "complaint_id": complaint.pk,
                "ticket": ticket.number,
                "title": mask_text(ticket.title),
                "cause": cause,
                "stage": complaint.get_stage_display(),
                "what_happened": mask_text(complaint.what_happened)[:200],
                "repeat": complaint.repeat_of_id is not None,
                "url": f"/desk/complaints/{complaint.pk}/",
            }
        )
    causes = Counter(item["cause"] for item in items)
    return {
        "items": items,
        "causes": [
            {"cause": cause, "count": n}
            for cause, n in sorted(causes.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
    }


def review_missed_promises(team: Team, week: Period) -> list[dict[str, Any]]:
    """Promises due in the week that were broken, made by the team's people or on its conversations."""
    promises = (
        Promise.objects.filter(status=Promise.Status.BROKEN, due_at__gte=week.start, due_at__lt=week.end)
        .filter(Q(conversation__team=team) | Q(complaint__ticket__team=team) | Q(owner__teams=team))
        .select_related("owner")
        .distinct()
        .order_by("due_at", "id")
    )
    return [
        {
            "promise_id": p.pk,
            "description": mask_text(p.description),
            "owner": p.owner.name,
            "due_at": timezone.localtime(p.due_at).isoformat(),
            "due_text": f"{timezone.localtime(p.due_at):%m-%d %H:%M}",
            "customer_told": p.customer_told_at is not None,
            "url": f"/desk/c/{p.conversation_id}/" if p.conversation_id else "/desk/promises/",
        }
        for p in promises
    ]


# --- the script library and the knowledge base ---------------------------------------------------


def _usage_by_reply(team: Team, week: Period) -> dict[int, dict[str, Any]]:
    usages = ReplyUsage.objects.filter(
        conversation__team=team, created_at__gte=week.start, created_at__lt=week.end
    ).values_list("reply_id", "similarity", "conversation_id", "conversation__csat_score")
    stats: dict[int, dict[str, Any]] = defaultdict(lambda: {"uses": 0, "similarities": [], "csat": {}})
    for reply_id, similarity, conversation_id, csat in usages:
        entry = stats[reply_id]
        entry["uses"] += 1
        if similarity is not None:
            entry["similarities"].append(similarity)
        if csat is not None:
            entry["csat"][conversation_id] = csat  # each conversation once
    return stats


def review_replies(team: Team, week: Period) -> dict[str, Any]:
    """Script-library entries to update: edited by hand before sending, low-rated, past review, unused."""
    stats = _usage_by_reply(team, week)
    team_replies = CannedReply.objects.filter(is_active=True).filter(
        Q(scope=CannedReply.Scope.GLOBAL) | Q(scope=CannedReply.Scope.TEAM, team=team)
    )
    flagged: list[dict[str, Any]] = []
    for reply in team_replies.filter(Q(pk__in=list(stats)) | Q(review_by__lt=week.end.date())).order_by("id"):
        entry = stats.get(reply.pk, {"uses": 0, "similarities": [], "csat": {}})
        sims, ratings = entry["similarities"], list(entry["csat"].values())
        similarity = round(sum(sims) / len(sims), 2) if sims else None
        csat = round(sum(ratings) / len(ratings), 2) if ratings else None
        reasons = []
        if entry["uses"] >= EDITED_MIN_USES and similarity is not None and similarity < EDITED_SIMILARITY:
            reasons.append(f"常被手改后发送（平均相似度 {similarity:.0%}）")
        if len(ratings) >= LOW_CSAT_MIN and csat is not None and csat < LOW_CSAT:
            reasons.append(f"使用后满意度低（{csat:g} 分）")
        if reply.review_by and reply.review_by < week.end.date():
            reasons.append(f"已过复审日期（{reply.review_by:%Y-%m-%d}）")
        if reasons:
            flagged.append(_reply_row(reply, entry["uses"], similarity, csat, reasons))
    since = week.end - timedelta(weeks=UNUSED_WEEKS)
    used_lately = ReplyUsage.objects.filter(
        conversation__team=team, created_at__gte=since, created_at__lt=week.end
    )
    unused = team_replies.exclude(pk__in=used_lately.values("reply_id")).order_by("scenario", "id")
    return {
        "flagged": flagged,
        "unused": [
            _reply_row(r, 0, None, None, [f"近 {UNUSED_WEEKS} 周本组未使用"]) for r in unused[:LIST_LIMIT]
        ],
        "unused_total": unused.count(),
    }


def _reply_row(
    reply: CannedReply, uses: int, similarity: float | None, csat: float | None, reasons: list[str]
) -> dict[str, Any]:
    return {
        "reply_id": reply.pk,
        "title": reply.title,
        "scenario": reply.scenario,
        "shortcut": reply.shortcut,
        "uses": uses,
        "similarity": similarity,
        "csat": csat,
        "reasons": reasons,
        "url": "/desk/replies/",
    }


def review_articles(week: Period) -> dict[str, Any]:
    """Knowledge-base articles to update (the whole desk's: articles belong to no team)."""
    votes = Feedback.objects.filter(created_at__gte=week.start, created_at__lt=week.end).values_list(
        "article_id", "helpful", "comment"
    )
    tally: dict[int, dict[str, Any]] = defaultdict(lambda: {"yes": 0, "no": 0, "comments": []})
    for article_id, helpful, comment in votes:
        entry = tally[article_id]
        entry["yes" if helpful else "no"] += 1
        if comment and not helpful and len(entry["comments"]) < 3:
            entry["comments"].append(mask_text(comment))
    low_ids = [pk for pk, t in tally.items() if t["no"] >= KB_LOW_MIN_NO and t["no"] > t["yes"]]
    # Conversations this week's answers from an article went into, and how customers rated them.
    rated = article_satisfaction(None, since=week.start, until=week.end)
    low_csat = {
        pk: r
        for pk, r in rated.items()
        if r["rated"] >= LOW_CSAT_MIN and r["csat"] is not None and r["csat"] < LOW_CSAT
    }
    today = week.end.date()
    flagged = []
    candidates = Article.objects.filter(status=Article.Status.PUBLISHED).filter(
        Q(pk__in=low_ids) | Q(pk__in=list(low_csat)) | Q(review_by__lt=today)
    )
    for article in candidates.order_by("id"):
        t = tally.get(article.pk, {"yes": 0, "no": 0, "comments": []})
        reasons = []
        if article.pk in low_ids:
            reasons.append(f"本周 {t['no']} 人认为没有帮助（{t['yes']} 人认为有帮助）")
        if article.pk in low_csat:
            r = low_csat[article.pk]
            reasons.append(
                f"本周用过它的 {r['rated']} 个会话平均满意度 {r['csat']:.1f} 分（低于 {LOW_CSAT}）"
            )
        if article.review_by and article.review_by < today:
            reasons.append(f"已过复审日期（{article.review_by:%Y-%m-%d}）")
        flagged.append(_article_row(article, reasons, t))
    unused = Article.objects.filter(
        status=Article.Status.PUBLISHED, views=0, feedback__isnull=True, uses__isnull=True
    ).order_by("id")
    return {
        "flagged": flagged,
        "unused": [_article_row(a, ["发布后无人查看"], None) for a in unused[:LIST_LIMIT]],
        "unused_total": unused.count(),
    }


def _article_row(article: Article, reasons: list[str], tally: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "article_id": article.pk,
        "title": article.title,
        "reasons": reasons,
        "helpful_yes": tally["yes"] if tally else 0,
        "helpful_no": tally["no"] if tally else 0,
        "comments": tally["comments"] if tally else [],
        "url": f"/desk/kb/{article.pk}/",
    }


# --- the whole review ---------------------------------------------------------------------


def build_review(team: Team, week: Period) -> dict[str, Any]:
    """The review of ``team`` for ``week`` as plain data (the page, the print view, the email, the API)."""
    scope = metrics.Scope(start=week.start, end=week.end, team_id=team.pk)
    previous = week.previous()
    following = week_of(week.first_day + timedelta(days=7))
    return {
        "team": {"id": team.pk, "name": team.name},
        "week": week.key,
        "week_label": week.label,
        "start": week.start.isoformat(),
        "end": week.end.isoformat(),
        "previous_week": previous.key,
        "next_week": following.key if following.is_complete() else None,
        "complete": week.is_complete(),
        "generated_at": timezone.localtime().isoformat(timespec="seconds"),
        "generated_text": f"{timezone.localtime():%Y-%m-%d %H:%M}",
        "figures": review_figures(scope),
        "intents": review_intents(scope),
        "cases": review_cases(team, week),
        "complaints": review_complaints(team, week),
        "missed_promises": review_missed_promises(team, week),
        "replies": review_replies(team, week),
        "articles": review_articles(week),
    }
