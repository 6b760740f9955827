"""The desk's figures over REST (docs/metrics.md): one scope of filters for every operation;
the reports' view, drill-down and exports (docs/reports.md) under /reports.

Every operation takes the same filters as query parameters: ``start`` and ``end`` (ISO
8601; the period is ``[start, end)``, default the last seven local days), ``team``,
``agent``, ``channel`` and ``intent``. Who may read what is decided in
``kefu.analytics.services.access_scope``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from django.http import HttpResponse
from django.utils.http import content_disposition_header
from ninja import Query, Router, Schema
from pydantic import Field

from kefu.accounts.access import AuthedRequest, check_role
from kefu.accounts.models import Role
from kefu.core.apiutil import StrictIn
from kefu.core.errors import InvalidInput

from . import exports, metrics, reports, services

router = Router(tags=["metrics"])


class ScopeQuery(Schema):
    start: datetime | None = Field(None, description="开始时间（含），ISO 8601；默认最近 7 天")
    end: datetime | None = Field(None, description="结束时间（不含）")
    team: int | None = Field(None, ge=1, description="团队 id")
    agent: int | None = Field(None, ge=1, description="客服 id")
    channel: int | None = Field(None, ge=1, description="渠道 id")
    intent: str | None = Field(None, max_length=32, description="意图")

    def scope(self) -> metrics.Scope:
        return services.check_scope(
            start=self.start,
            end=self.end,
            team_id=self.team,
            agent_id=self.agent,
            channel_id=self.channel,
            intent=self.intent,
        )


def _num(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def figure_dict(f: metrics.Figure, previous: metrics.Figure | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": f.name,
        "label": f.label,
        "value": _num(f.value),
        "unit": f.unit,
        "count": f.count,
        "target": f.target,
        "better": f.better,
    }
    if f.target is not None and f.value is not None:
        out["meets_target"] = f.value >= f.target if f.better == "higher" else f.value <= f.target
    if previous is not None:
        out["previous"] = {"value": _num(previous.value), "count": previous.count}
        out["change"] = (
            _num(f.value - previous.value) if f.value is not None and previous.value is not None else None
        )
    return out


def scope_dict(scope: metrics.Scope) -> dict[str, Any]:
    return {
        "start": scope.start.isoformat(),
        "end": scope.end.isoformat(),
        "team": scope.team_id,
        "agent": scope.agent_id,
        "channel": scope.channel_id,
        "intent": scope.intent,
    }


@router.get("/metrics")
def get_metrics(
    request: AuthedRequest,
    filters: Query[ScopeQuery],
    names: str | None = Query(None, description="指标名，逗号分隔；默认全部", max_length=2000),
) -> dict[str, Any]:
    """Figures for a scope, with the previous period of the same length and the targets."""
    wanted = services.check_names(names)
    scope = services.access_scope(request.auth, filters.scope())
    pairs = metrics.compare(scope, wanted)
    previous = scope.previous()
    return {
        "scope": scope_dict(scope),
        "previous": {"start": previous.start.isoformat(), "end": previous.end.isoformat()},
        "figures": [figure_dict(now, before) for now, before in pairs.values()],
    }


@router.get("/metrics/catalog")
def metric_catalog(request: AuthedRequest) -> dict[str, Any]:
    """Every metric's name, label, unit and direction, and the breakdowns."""
    return {
        "metrics": [
            {"name": m.name, "label": m.label, "unit": m.unit, "better": m.better}
            for m in metrics.METRICS.values()
        ],
        "breakdowns": [{"by": k, "label": v} for k, v in metrics.BREAKDOWNS.items()],
    }


@router.get("/metrics/breakdown")
def get_breakdown(
    request: AuthedRequest,
    filters: Query[ScopeQuery],
    name: str = Query(..., max_length=48),
    by: str = Query(..., max_length=16),
) -> dict[str, Any]:
    """One figure per channel, intent, team, agent, hour, weekday, day or half hour."""
    scope = filters.scope()
    rows = services.access_breakdown(request.auth, scope, name, by)
    return {
        "name": name,
        "by": by,
        "items": [
            {**figure_dict(f), "key": key, "label": label, "metric_label": f.label} for key, label, f in rows
        ],
    }


@router.get("/metrics/heatmap")
def get_heatmap(
    request: AuthedRequest, filters: Query[ScopeQuery], name: str = Query("volume", max_length=48)
) -> dict[str, Any]:
    """7 weekdays (Monday first) × 24 hours of one figure, in the desk's time zone."""
    grid = services.access_heatmap(request.auth, filters.scope(), name)
    return {
        "name": name,
        "weekdays": list(metrics.WEEKDAYS),
        "cells": [[_num(v) for v in row] for row in grid],
    }


@router.get("/metrics/behind")
def get_behind(
    request: AuthedRequest,
    filters: Query[ScopeQuery],
    name: str = Query(..., max_length=48),
    by: str | None = Query(None, max_length=16),
    key: str | None = Query(None, max_length=64),
    offset: int = Query(0, ge=0, le=10**9, description="跳过的会话数"),
    limit: int = Query(100, ge=1, le=metrics.BEHIND_LIMIT, description="每页会话数（最多 500）"),
) -> dict[str, Any]:
    """The ids of the conversations behind a figure (or one breakdown row) that the caller may
    open, newest first, a page at a time: ``total`` counts them all, ``next_offset`` is the
    next page's offset (null on the last page)."""
    keys = [(by, key or "")] if by is not None else []
    ids, total = services.access_behind_page(
        request.auth, filters.scope(), name, keys, offset=offset, limit=limit
    )
    return {
        "name": name,
        "total": total,
        "count": len(ids),
        "offset": offset,
        "limit": limit,
        "next_offset": offset + len(ids) if offset + len(ids) < total else None,
        "conversation_ids": ids,
    }


@router.get("/metrics/distribution")
def get_distribution(
    request: AuthedRequest,
    filters: Query[ScopeQuery],
    name: str = Query("first_response", max_length=32, description="first_response、response_time 或 aht"),
) -> dict[str, Any]:
    """How a duration spreads over buckets (首次响应时间分布 by default): every bucket in order,
    with its count and its share of the total."""
    rows = services.access_distribution(request.auth, filters.scope(), name)
    spec = metrics.DISTRIBUTIONS[name]
    total = sum(n for _, _, n in rows)
    return {
        "name": name,
        "label": spec.label,
        "metric": spec.metric,
        "total": total,
        "items": [
            {"key": k, "label": label, "count": n, "share": round(100.0 * n / total, 2) if total else None}
            for k, label, n in rows
        ],
    }


@router.get("/metrics/arrivals")
def get_arrivals(
    request: AuthedRequest, filters: Query[ScopeQuery], bucket: int = Query(30, ge=5, le=60)
) -> dict[str, Any]:
    """New conversations per bucket of minutes (30 by default), empty buckets included."""
    if 60 % bucket:
        raise InvalidInput("bucket 须能整除 60", fields={"bucket": "5、10、15、20、30 或 60"})
    scope = services.access_scope(request.auth, filters.scope())
    return {
        "bucket_minutes": bucket,
        "items": [[at.isoformat(), n] for at, n in metrics.arrivals(scope, bucket)],
    }


class TargetsIn(StrictIn):
    team: int | None = Field(None, ge=1)
    targets: dict[str, float | None]


@router.get("/metrics/targets")
def get_targets(request: AuthedRequest, team: int | None = Query(None, ge=1)) -> dict[str, Any]:
    """The targets in force (defaults, desk-wide, the team's own), and which are set where."""
    check_role(request.auth, Role.AGENT)
    return {
        "team": team,
        "targets": metrics.targets(team),
        "defaults": dict(metrics.DEFAULT_TARGETS),
        "desk": services.target_rows(None),
        "team_overrides": services.target_rows(team) if team is not None else {},
    }


@router.put("/metrics/targets")
def put_targets(request: AuthedRequest, payload: TargetsIn) -> dict[str, Any]:
    """Set (a number) or clear (null) targets, desk-wide or for a team; admins only."""
    merged = services.do_set_targets(actor=request.auth, values=payload.targets, team_id=payload.team)
    return {"team": payload.team, "targets": merged}


# --- reports (docs/reports.md): the page's view as JSON, its drill-down and its files ---------------


class ReportFilters(Schema):
    period: Literal["today", "7d", "30d", "custom"] = Field("7d", description="today、7d、30d 或 custom")
    start: date | None = Field(None, description="custom 的开始日期（含），如 2026-11-01")
    end: date | None = Field(None, description="custom 的结束日期（含）")
    team: int | None = Field(None, description="团队 id（组长只能选自己的团队）")
    channel: int | None = Field(None, description="渠道 id")
    agent: int | None = Field(None, description="客服 id")
    intent: str | None = Field(None, max_length=32, description="意图名称")


class DrillQuery(ReportFilters):
    metric: str = Field("volume", max_length=64, description="指标名，如 volume、first_response_p50")
    by: str | None = Field(
        None,
        max_length=32,
        description="维度：channel、intent、team、agent、day、hour、weekday；热力图格子为 weekday,hour",
    )
    key: str | None = Field(None, max_length=130, description="维度取值（与 by 对应，逗号分隔）")
    page: int = Field(1, ge=1, le=10**6, description="页码（每页 50 个会话，最新的在前）")


class ExportQuery(ReportFilters):
    format: Literal["csv", "xlsx"] = "csv"


def _filters(request: AuthedRequest, q: ReportFilters) -> reports.Filters:
    return reports.parse_filters(
        request.auth,
        period=q.period,
        start=q.start,
        end=q.end,
        team=q.team,
        channel=q.channel,
        agent=q.agent,
        intent=q.intent,
    )


@router.get("/reports", tags=["reports"])
def get_report(request: AuthedRequest, filters: Query[ReportFilters]) -> dict[str, Any]:
    """The report: KPI figures against the previous period and the targets, the trend by day,
    first response by hour, the weekday × hour heat map, breakdowns by channel, intent, team, agent."""
    return reports.build_report(_filters(request, filters))


@router.get("/reports/conversations", tags=["reports"])
def get_report_conversations(request: AuthedRequest, q: Query[DrillQuery]) -> dict[str, Any]:
    """The conversations behind a figure that the caller may see, 50 a page, newest first, with
    how many in all (``total``, ``pages``, ``next_page``)."""
    return reports.drilldown(
        request.auth, _filters(request, q), metric=q.metric, by=q.by, key=q.key, page=q.page
    )


_FILE_TYPES = {"csv": exports.CSV_CONTENT_TYPE, "xlsx": exports.XLSX_CONTENT_TYPE}


@router.get(
    "/reports/export",
    tags=["reports"],
    openapi_extra={
        "responses": {
            200: {
                "description": "报表文件：CSV（UTF-8 带 BOM，中文表头）或 Excel 工作簿",
                "content": {
                    "text/csv": {"schema": {"type": "string"}},
                    exports.XLSX_CONTENT_TYPE: {"schema": {"type": "string", "format": "binary"}},
                },
            }
        }
    },
)
def export_report(request: AuthedRequest, q: Query[ExportQuery]) -> HttpResponse:
    """The report as a file with Chinese headers: the figures, the heat map and the filters (Excel: three sheets)."""
    filters = _filters(request, q)
    report = reports.build_report(filters)
    sheets = reports.export_sheets(filters, report)
    body = exports.to_csv(sheets[0]) if q.format == "csv" else exports.to_xlsx(sheets)
    response = HttpResponse(body, content_type=_FILE_TYPES[q.format])
    response["Content-Disposition"] = content_disposition_header(
        True, reports.export_filename(filters, q.format)
    )
    return response
