"""Quality pages: the review desk (/desk/quality/), one conversation's quality, the rule editor."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, cast

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from kefu.accounts.access import check_role
from kefu.accounts.models import Role, User
from kefu.conversations.models import Message
from kefu.conversations.timeline import access_conversation
from kefu.core.errors import InvalidInput, KefuError
from kefu.core.params import whole

from . import presenters, ruleset_store, rulesets, scoring, services
from .models import Review, Sample

# Rule-set tables a supervisor edits as "left => right" lines: (rule, param, kind).
TABLES = (
    ("negative_framing", "rewrites", "regex"),
    ("internal_jargon", "glossary", "dict"),
    ("slang", "terms", "dict"),
    ("blame_policy", "phrases", "dict"),
)
TABLE_HELP = {
    "negative_framing": "否定式表达改写表：每行「正则 => 改写」，改写中可用 \\1 引用括号内容",
    "internal_jargon": "内部术语表：每行「术语 => 通俗说法」",
    "slang": "网络用语表：每行「用语 => 规范说法」，右侧留空表示删除",
    "blame_policy": "推诿说法：每行「说法 => 建议改写」",
}


def me(request: HttpRequest) -> User:
    """The signed-in user (the views are behind ``login_required``)."""
    return cast(User, request.user)


def _date(value: str | None, field: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput("日期格式应为 YYYY-MM-DD", fields={field: "日期格式应为 YYYY-MM-DD"}) from exc


def _number(value: str | None, field: str) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError as exc:
        raise InvalidInput("请输入数字", fields={field: "应为数字"}) from exc


@login_required
@require_http_methods(["GET", "POST"])
def quality_home(request: HttpRequest) -> HttpResponse:
    """Samples to review, the disagreement report, agent averages and one's own reviews."""
    user = me(request)
    error: KefuError | None = None
    drawn = None
    since = until = None
    try:
        since = _date(request.GET.get("since"), "since")
        until = _date(request.GET.get("until"), "until")
        services.date_bounds(since, until)
    except InvalidInput as exc:
        error, since, until = exc, None, None
    if request.method == "POST":
        try:
            drawn = services.do_draw_samples(
                actor=user,
                percent=_number(request.POST.get("percent"), "percent"),
                since=_date(request.POST.get("since"), "since"),
                until=_date(request.POST.get("until"), "until"),
                triggers=request.POST.get("triggers") == "on",
            )
        except InvalidInput as exc:
            error = exc
    is_reviewer = user.has_role_at_least(services.REVIEW_ROLE)
    is_lead = user.has_role_at_least(Role.TEAM_LEAD)
    context: dict[str, Any] = {
        "nav": "quality",
        "error": error,
        "drawn": drawn,
        "since": since,
        "until": until,
        "is_reviewer": is_reviewer,
        "is_lead": is_lead,
        "default_percent": services.sample_percent_default(),
        "stats": services.agent_stats(user, since=since, until=until),
        "my_reviews": list(services.access_reviews(user, agent_id=user.pk)[:50]),
    }
    if is_reviewer:
        context["samples"] = list(services.access_samples(user, status=Sample.Status.PENDING)[:100])
        context["appeals"] = list(services.access_reviews(user, status=Review.Status.APPEALED)[:50])
    if is_lead:
        context["team_reviews"] = list(services.access_reviews(user).exclude(agent_id=user.pk)[:50])
        context["report"] = services.disagreement_report(user, since=since, until=until)
        context["overrides"] = list(services.access_overrides(user, since=since, until=until)[:50])
    return render(request, "quality/home.html", context, status=400 if error else 200)


def _transcript(conversation_id: int) -> list[dict[str, Any]]:
    rows = (
        Message.objects.filter(conversation_id=conversation_id, is_private=False)
        .exclude(kind=Message.Kind.EVENT)
        .select_related("sender", "quality")
        .order_by("id")[:300]
    )
    out = []
    for m in rows:
        q = getattr(m, "quality", None)
        findings = (
            [
                {**f, "rule_label": presenters.RULE_LABELS.get(f.get("rule"), f.get("rule"))}
                for f in q.findings
            ]
            if q
            else []
        )
        out.append({"message": m, "findings": findings})
    return out


def _items_from_post(post: Any, prefix: str = "") -> dict[str, Any] | None:
    items: dict[str, Any] = {}
    for key in services.ITEM_LABELS:
        raw = post.get(f"{prefix}points_{key}", "")
        if raw == "":
            continue
        try:
            points: Any = float(raw)
        except ValueError:
            points = raw  # the service names the field
        items[key] = {"points": points, "comment": post.get(f"{prefix}comment_{key}", "")}
    return items or None


@login_required
@require_http_methods(["GET", "POST"])
def conversation_quality(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """One conversation: replies with findings, the automatic score, reviews, appeal forms."""
    user = me(request)
    conversation = access_conversation(user, conversation_id)
    error: KefuError | None = None
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "review":
                services.do_create_review(
                    actor=user,
                    conversation_id=conversation.pk,
                    items=_items_from_post(request.POST),
                    comment=request.POST.get("comment", ""),
                )
            elif action == "appeal":
                services.do_appeal(
                    actor=user,
                    review_id=whole(request.POST.get("review_id")) or 0,
                    reason=request.POST.get("reason", ""),
                )
            elif action == "resolve":
                services.do_resolve_appeal(
                    actor=user,
                    review_id=whole(request.POST.get("review_id")) or 0,
                    decision=request.POST.get("decision"),
                    comment=request.POST.get("comment", ""),
                    items=_items_from_post(request.POST, "new_"),
                )
            else:
                raise InvalidInput("未知操作", fields={"action": "应为 review、appeal 或 resolve"})
            return redirect("quality-conversation", conversation_id=conversation.pk)
        except (InvalidInput, ValueError) as exc:
            error = (
                exc
                if isinstance(exc, InvalidInput)
                else InvalidInput("参数有误", fields={"review_id": "无效"})
            )
        except KefuError as exc:
            error = exc
    score = services.access_score(user, conversation.pk)
    visible = services.visible_agent_ids(user)
    if score is not None and visible is not None and score.agent_id not in visible:
        score = None
    reviews = list(services.access_reviews(user).filter(conversation_id=conversation.pk))
    ruleset = ruleset_store.active_ruleset()
    weights = {k: int(w) for k, w in ruleset.rubric.get("weights", {}).items() if int(w) > 0}
    auto = {i["key"]: i for i in score.items} if score else {}
    rubric_items = [
        {"key": k, "label": services.ITEM_LABELS.get(k, k), "max_points": weights[k], "auto": auto.get(k)}
        for k in services.ITEM_LABELS
        if k in weights
    ]
    can_review = (
        user.has_role_at_least(services.REVIEW_ROLE)
        and conversation.status in scoring.FINISHED
        and not any(r.reviewer_id == user.pk for r in reviews)
    )
    return render(
        request,
        "quality/conversation.html",
        {
            "nav": "quality",
            "conversation": conversation,
            "transcript": _transcript(conversation.pk),
            "score": score,
            "reviews": reviews,
            "rubric_items": rubric_items,
            "can_review": can_review,
            "is_reviewer": user.has_role_at_least(services.REVIEW_ROLE),
            "error": error,
        },
        status=error.status if error else 200,
    )


def _table_text(ruleset: Any, rule: str, param: str, kind: str) -> str:
    value = ruleset.rule(rule).params.get(param, [] if kind == "regex" else {})
    if kind == "regex":
        return "\n".join(
            f"{e.get('regex', '')} => {e.get('rewrite', '')}" for e in value if isinstance(e, dict)
        )
    return "\n".join(f"{k} => {v if v is not None else ''}" for k, v in value.items())


def _parse_table(text: str, rule: str, kind: str) -> Any:
    entries: list[tuple[str, str]] = []
    for n, line in enumerate(text.replace("\r\n", "\n").split("\n"), start=1):
        if not line.strip():
            continue
        if "=>" not in line:
            raise InvalidInput("表格格式有误", fields={f"table_{rule}": f"第 {n} 行缺少「=>」"})
        left, right = (part.strip() for part in line.split("=>", 1))
        if not left:
            raise InvalidInput("表格格式有误", fields={f"table_{rule}": f"第 {n} 行左侧为空"})
        entries.append((left, right))
    if kind == "regex":
        return [{"regex": left, "rewrite": right} for left, right in entries]
    return dict(entries)


def overrides_from_post(post: Any, ruleset: Any) -> dict[str, Any]:
    """The rule editor's form as a partial override holding only what changed."""
    current = ruleset.to_dict()["rules"]
    rules: dict[str, Any] = {}
    for rid in rulesets.RULE_IDS:
        cfg = current.get(rid, {"enabled": False, "severity": "medium", "params": {}})
        change: dict[str, Any] = {}
        enabled = post.get(f"enabled_{rid}") == "on"
        if enabled != cfg["enabled"]:
            change["enabled"] = enabled
        severity = post.get(f"severity_{rid}", cfg["severity"])
        if severity != cfg["severity"]:
            change["severity"] = severity
        if change:
            rules[rid] = change
    for rid, param, kind in TABLES:
        field = f"table_{rid}"
        if field not in post:
            continue
        parsed = _parse_table(post.get(field, ""), rid, kind)
        before = current.get(rid, {}).get("params", {}).get(param)
        if kind == "regex" and isinstance(before, list):
            # Flags the table does not show (``inline``) stay with their regex.
            flags = {e.get("regex"): e for e in before if isinstance(e, dict)}
            parsed = [{**flags.get(e["regex"], {}), **e} for e in parsed]
        if parsed != before:
            rules.setdefault(rid, {}).setdefault("params", {})[param] = parsed
    overrides: dict[str, Any] = {"rules": rules} if rules else {}
    raw = (post.get("overrides_json") or "").strip()
    if raw:
        try:
            extra = json.loads(raw)
        except ValueError as exc:
            raise InvalidInput(
                "高级修改不是有效的 JSON", fields={"overrides_json": f"不是有效的 JSON：{exc}"}
            ) from exc
        if not isinstance(extra, dict):
            raise InvalidInput(
                "高级修改应为 JSON 对象", fields={"overrides_json": '应为对象，如 {"rules": {…}}'}
            )
        overrides = _merge(overrides, extra)
    return overrides


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = (
            _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        )
    return out


@login_required
@require_http_methods(["GET", "POST"])
def rules_page(request: HttpRequest) -> HttpResponse:
    """Supervisors switch rules, set severities and edit the rewrite tables; each save is a version."""
    check_role(me(request), services.REVIEW_ROLE)
    ruleset = ruleset_store.active_ruleset()
    error: InvalidInput | None = None
    if request.method == "POST":
        try:
            overrides = overrides_from_post(request.POST, ruleset)
            ruleset_store.do_save_ruleset(
                actor=me(request), overrides=overrides, note=request.POST.get("note", "")
            )
            return redirect("quality-rules")
        except InvalidInput as exc:
            error = exc
    rules = [
        {
            "id": rid,
            "label": presenters.RULE_LABELS.get(rid, rid),
            "enabled": ruleset.rule(rid).enabled,
            "severity": request.POST.get(f"severity_{rid}") if error else ruleset.rule(rid).severity,
        }
        for rid in rulesets.RULE_IDS
    ]
    tables = [
        {
            "rule": rid,
            "label": presenters.RULE_LABELS.get(rid, rid),
            "help": TABLE_HELP[rid],
            "field": f"table_{rid}",
            "text": request.POST.get(f"table_{rid}", "") if error else _table_text(ruleset, rid, param, kind),
            "error": error.fields.get(f"table_{rid}") or error.fields.get(f"rules.{rid}") if error else None,
        }
        for rid, param, kind in TABLES
    ]
    return render(
        request,
        "quality/rules.html",
        {
            "nav": "quality",
            "version": ruleset.version,
            "rules": rules,
            "tables": tables,
            "severities": [(s, presenters.SEVERITY_LABELS[s]) for s in ("low", "medium", "high")],
            "versions": list(ruleset_store.ruleset_versions()[:30]),
            "error": error,
            "note": request.POST.get("note", "") if error else "",
            "overrides_json": request.POST.get("overrides_json", "") if error else "",
        },
        status=400 if error else 200,
    )
