"""Pages: 我的数据 (each agent's own figures), the targets settings page (admins) and 报表 with its drill-down (team leads and above)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from kefu.accounts.access import AuthedRequest, check_admin
from kefu.accounts.models import Team
from kefu.core.errors import InvalidInput, KefuError
from kefu.core.params import whole, whole_param

from . import metrics, reports, services

PERIODS = {"7": "最近 7 天", "30": "最近 30 天", "90": "最近 90 天"}


def show(value: float | None, unit: str) -> str:
    """A figure as the page writes it: 「45 秒」「92.5%」「4.6 分」「1 小时 5 分」."""
    if value is None:
        return "—"
    if unit == "%":
        return f"{value:.1f}%"
    if unit == "score":
        return f"{value:.2f} 分"
    if unit == "yuan":
        return f"¥{value:,.2f}"
    if unit == "count":
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    seconds = round(value)
    if seconds < 120:
        return f"{seconds} 秒"
    if seconds < 3600:
        return f"{seconds // 60} 分 {seconds % 60} 秒"
    return f"{seconds // 3600} 小时 {seconds % 3600 // 60} 分"


def _period(request: AuthedRequest) -> tuple[datetime, datetime, str]:
    """``?days=7|30|90`` (the last days, today included) or ``?from=&to=`` (dates, both included)."""
    tz = timezone.get_current_timezone()
    today = timezone.localdate()
    start_text, end_text = request.GET.get("from", ""), request.GET.get("to", "")
    if start_text or end_text:
        try:
            first = date.fromisoformat(start_text)
            last = date.fromisoformat(end_text)
        except ValueError as exc:
            raise InvalidInput("日期格式应为 2026-11-02", fields={"from": "日期无效"}) from exc
        key = "custom"
    else:
        key = request.GET.get("days", "7")
        if key not in PERIODS:
            key = "7"
        last, first = today, today - timedelta(days=int(key) - 1)
    start = timezone.make_aware(datetime.combine(first, time.min), tz)
    end = timezone.make_aware(datetime.combine(last + timedelta(days=1), time.min), tz)
    return start, end, key


@login_required
def my_figures(request: AuthedRequest) -> HttpResponse:
    error: KefuError | None = None
    try:
        start, end, key = _period(request)
        team_id = request.GET.get("team", "")
        mine = services.access_my_figures(request.user, start=start, end=end, team_id=whole(team_id))
    except InvalidInput as exc:
        error = exc
        start, end, key = services.default_period()[0], services.default_period()[1], "7"
        mine = services.access_my_figures(request.user, start=start, end=end)
    rows = [
        {
            **r,
            "mine_text": show(r["mine"], r["unit"]),
            "team_text": show(r["team"], r["unit"]),
            "target_text": show(r["target"], r["unit"]) if r["target"] is not None else "—",
            "previous_text": show(r["previous"], r["unit"]),
            "direction": "越高越好" if r["better"] == "higher" else "越低越好",
        }
        for r in mine.rows
    ]
    return render(
        request,
        "analytics/my_figures.html",
        {
            "nav": "my_figures",
            "error": error,
            "rows": rows,
            "team": mine.team,
            "teams": list(request.user.teams.order_by("id")),
            "start": timezone.localtime(mine.scope.start),
            "last_day": timezone.localtime(mine.scope.end - timedelta(seconds=1)),
            "period_key": key,
            "periods": PERIODS,
            "findings": mine.findings,
            "comments": mine.comments,
        },
    )


def _target_values(post: Any) -> dict[str, float | None]:
    values: dict[str, float | None] = {}
    for name in metrics.METRICS:
        raw = (post.get(f"t_{name}") or "").strip()
        if raw == "":
            values[name] = None
            continue
        try:
            values[name] = float(raw)
        except ValueError as exc:
            raise InvalidInput("目标值应为数字", fields={f"targets.{name}": "应为数字"}) from exc
    return values


@login_required
@require_http_methods(["GET", "POST"])
def targets_settings(request: AuthedRequest) -> HttpResponse:
    check_admin(request.user)
    raw_team = request.POST.get("team") or request.GET.get("team") or ""
    team_id = whole(raw_team)
    team = Team.objects.filter(pk=team_id).first() if team_id is not None else None
    error: KefuError | None = None
    if request.method == "POST":
        try:
            services.do_set_targets(
                actor=request.user, values=_target_values(request.POST), team_id=team.pk if team else None
            )
            messages.success(request, f"已保存{'「' + team.name + '」的' if team else '全局'}目标")
            return redirect(f"{request.path}?team={team.pk}" if team else request.path)
        except KefuError as exc:
            if exc.status in (401, 403, 404):
                raise
            error = exc
    stored = services.target_rows(team.pk if team else None)
    desk = services.target_rows(None)
    rows = [
        {
            "name": m.name,
            "label": m.label,
            "unit": {"s": "秒", "%": "%", "count": "个", "score": "分", "yuan": "元"}.get(m.unit, m.unit),
            "direction": "不高于" if m.better == "lower" else "不低于",
            "value": request.POST.get(f"t_{m.name}", "") if error else stored.get(m.name, ""),
            "fallback": (desk.get(m.name) if team else None) or metrics.DEFAULT_TARGETS.get(m.name),
        }
        for m in metrics.METRICS.values()
    ]
    return render(
        request,
        "analytics/targets.html",
        {"rows": rows, "team": team, "teams": Team.objects.order_by("id"), "error": error},
    )


def _date(params: QueryDict, name: str) -> date | None:
    text = (params.get(name) or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput(f"日期「{text[:20]}」无效", fields={name: "日期格式应为 2026-12-01"}) from exc


def _id(params: QueryDict, name: str) -> int | None:
    return whole_param(params.get(name), name, message="选择有误", hint="无效的编号")


def filter_args(params: QueryDict) -> dict[str, Any]:
    """The query string's filters, typed; a malformed date or id is a 400 naming the field."""
    return {
        "period": (params.get("period") or "7d").strip(),
        "start": _date(params, "start"),
        "end": _date(params, "end"),
        "team": _id(params, "team"),
        "channel": _id(params, "channel"),
        "agent": _id(params, "agent"),
        "intent": params.get("intent") or None,
    }


def _tables(report: dict[str, Any]) -> dict[str, Any]:
    """The report's series as rows for the tables the page shows (and keeps without JavaScript)."""
    trend, dist, heat = report["trend"], report["distribution"], report["heatmap"]
    previous = trend["previous"] + [None] * (len(trend["current"]) - len(trend["previous"]))
    breakdowns = [
        {
            **b,
            "cells": [
                {
                    "key": row["key"],
                    "label": row["label"],
                    "cells": [
                        {"name": m["name"], "display": row["displays"].get(m["name"], "—")}
                        for m in b["metrics"]
                    ],
                }
                for row in b["rows"]
            ],
        }
        for b in report["breakdowns"]
    ]
    return {
        "breakdown_tables": breakdowns,
        "tiles": [k for k in report["kpis"] if k["tile"]],
        "trend_rows": list(zip(trend["labels"], trend["keys"], trend["current"], previous, strict=True)),
        "distribution_rows": list(
            zip(dist["labels"], dist["keys"], dist["displays"], dist["counts"], strict=True)
        ),
        "histogram_rows": list(
            zip(
                report["histogram"]["labels"],
                report["histogram"]["keys"],
                report["histogram"]["counts"],
                report["histogram"]["shares"],
                strict=True,
            )
        ),
        "heat_rows": [
            {
                "index": d,
                "label": label,
                "cells": [
                    {"hour": h, "value": v, "level": lvl}
                    for h, (v, lvl) in enumerate(zip(heat["values"][d], heat["levels"][d], strict=True))
                ],
            }
            for d, label in enumerate(heat["weekdays"])
        ],
    }


@login_required
@require_GET
def reports_view(request: AuthedRequest) -> HttpResponse:
    choices = reports.filter_choices(request.user)
    context: dict[str, Any] = {"nav": "reports", "choices": choices, "form": request.GET}
    try:
        filters = reports.parse_filters(request.user, **filter_args(request.GET))
    except InvalidInput as exc:
        context["error"] = exc
        return render(request, "analytics/reports.html", context, status=400)
    report = reports.build_report(filters)
    context.update(
        filters=filters,
        form=filters.params(),
        query=filters.query(),
        report=report,
        **_tables(report),
    )
    return render(request, "analytics/reports.html", context)


def _page(params: QueryDict) -> int:
    page = whole_param(
        params.get("page"), "page", message="页码无效", hint="应为 1 或更大的整数", lo=1, hi=10**7 - 1
    )
    return page or 1


@login_required
@require_GET
def drilldown_view(request: AuthedRequest) -> HttpResponse:
    reports.check_viewer(request.user)
    try:
        filters = reports.parse_filters(request.user, **filter_args(request.GET))
        result = reports.drilldown(
            request.user,
            filters,
            metric=request.GET.get("metric") or "volume",
            by=request.GET.get("by"),
            key=request.GET.get("key"),
            page=_page(request.GET),
        )
    except InvalidInput as exc:
        return render(request, "analytics/drilldown.html", {"nav": "reports", "error": exc}, status=400)
    return render(
        request,
        "analytics/drilldown.html",
        {
            "nav": "reports",
            "filters": filters,
            "query": filters.query(),
            "result": result,
            # This very list, without its page: the pager's links add theirs.
            "list_query": filters.query(
                **{k: v for k in ("metric", "by", "key") if (v := request.GET.get(k))}
            ),
        },
    )
