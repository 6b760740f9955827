"""REST: the reports (team leads and above) — the figures the page shows, the conversations
behind one, and the same view as a CSV or Excel file."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from django.http import HttpResponse
from django.utils.http import content_disposition_header
from ninja import Field, Query, Router, Schema

from kefu.accounts.access import AuthedRequest

from . import exports, reports

router = Router(tags=["reports"])


class ReportFilters(Schema):
    period: Literal["today", "7d", "30d", "custom"] = Field("7d", description="today、7d、30d 或 custom")
    start: date | None = Field(None, description="custom 的开始日期（含），如 2026-11-01")
    end: date | None = Field(None, description="custom 的结束日期（含）")
    team_id: int | None = None
    channel_id: int | None = None
    agent_id: int | None = None
    intent: str | None = Field(None, max_length=32, description="意图名称")


class DrillQuery(ReportFilters):
    metric: str = Field("volume", max_length=64, description="指标名，如 volume、first_response_p50")
    by: str | None = Field(
        None,
        max_length=32,
        description="维度：channel、intent、team、agent、day、hour、weekday；热力图格子为 weekday,hour",
    )
    key: str | None = Field(None, max_length=130, description="维度取值（与 by 对应，逗号分隔）")


class ExportQuery(ReportFilters):
    format: Literal["csv", "xlsx"] = "csv"


def _filters(request: AuthedRequest, q: ReportFilters) -> reports.Filters:
    return reports.parse_filters(
        request.auth,
        period=q.period,
        start=q.start,
        end=q.end,
        team_id=q.team_id,
        channel_id=q.channel_id,
        agent_id=q.agent_id,
        intent=q.intent,
    )


@router.get("/reports")
def get_report(request: AuthedRequest, filters: Query[ReportFilters]) -> dict[str, Any]:
    """The report: KPI figures against the previous period and the targets, the trend by day,
    first response by hour, the weekday × hour heat map, breakdowns by channel, intent, team, agent."""
    return reports.build_report(_filters(request, filters))


@router.get("/reports/conversations")
def get_report_conversations(request: AuthedRequest, q: Query[DrillQuery]) -> dict[str, Any]:
    """The conversations behind a figure that the caller may see (the newest 200, and how many in all)."""
    return reports.drilldown(request.auth, _filters(request, q), metric=q.metric, by=q.by, key=q.key)


_FILE_TYPES = {"csv": exports.CSV_CONTENT_TYPE, "xlsx": exports.XLSX_CONTENT_TYPE}


@router.get(
    "/reports/export",
    response={200: None},
    openapi_extra={
        "responses": {
            "200": {
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
