"""Pages: 我的数据 (each agent's own figures), the targets settings page (admins) and 报表 with its drill-down (team leads and above)."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, QueryDict
from django.shortcuts import render
from django.views.decorators.http import require_GET

from kefu.accounts.access import AuthedRequest, check_admin
from kefu.core.errors import InvalidInput

from . import reports


@login_required
def my_figures(request: AuthedRequest) -> HttpResponse:
    return render(request, "analytics/my_figures.html", {})


@login_required
def targets_settings(request: AuthedRequest) -> HttpResponse:
    check_admin(request.user)
    return render(request, "analytics/targets.html", {})


def _date(params: QueryDict, name: str) -> date | None:
    text = (params.get(name) or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput(f"日期「{text[:20]}」无效", fields={name: "日期格式应为 2026-12-01"}) from exc


def _id(params: QueryDict, name: str) -> int | None:
    text = (params.get(name) or "").strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 18:
        raise InvalidInput("选择有误", fields={name: "无效的编号"})
    return int(text)


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
        )
    except InvalidInput as exc:
        return render(request, "analytics/drilldown.html", {"nav": "reports", "error": exc}, status=400)
    return render(
        request,
        "analytics/drilldown.html",
        {"nav": "reports", "filters": filters, "query": filters.query(), "result": result},
    )
