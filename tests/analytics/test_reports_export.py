"""Exports of the reports: CSV (UTF-8 with BOM) and Excel, Chinese headers, the API's numbers."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.test import Client
from openpyxl import load_workbook

from kefu.analytics.exports import Column, Sheet, to_csv, to_xlsx

from .reports_shop import build_shop

HEADERS = ["部分", "维度", "项目", "指标", "数值", "单位", "样本数", "上期数值", "变化", "目标"]


def test_csv_has_a_bom_chinese_headers_and_no_formulas() -> None:
    sheet = Sheet("报表", [Column("name", "客户"), Column("n", "数量")], [{"name": "=HYPERLINK(1)", "n": 3}])
    body = to_csv(sheet)
    assert body.startswith(b"\xef\xbb\xbf")
    assert body.decode("utf-8-sig").splitlines() == ["客户,数量", "'=HYPERLINK(1),3"]


def test_xlsx_writes_text_that_looks_like_a_formula_as_text() -> None:
    sheet = Sheet("报表/十二月", [Column("name", "客户")], [{"name": "=1+1"}, {"name": None}])
    ws = load_workbook(io.BytesIO(to_xlsx([sheet]))).active
    assert ws.title == "报表_十二月"
    assert [c.value for c in ws["A"]] == ["客户", "=1+1"]
    assert ws["A2"].data_type == "s"


@pytest.fixture
def shop(make_team: Any, make_user: Any, make_channel: Any) -> Any:
    return build_shop(make_team, make_user, make_channel)


def _kpi_rows(rows: list[list[Any]]) -> dict[str, Any]:
    return {r[3]: r[4] for r in rows[1:] if r[0] == "关键指标"}


def _as_number(value: Any) -> float | None:
    return None if value in ("", None) else float(value)


@pytest.mark.django_db
def test_csv_and_xlsx_exports_hold_the_apis_numbers(shop: Any) -> None:
    client = Client()
    client.force_login(shop.lead)
    params = {"period": "7d", "channel": shop.web.pk}
    report = client.get("/api/v1/reports", params).json()
    expected = {k["label"]: k["value"] for k in report["kpis"]}
    assert any(v for v in expected.values())

    response = client.get("/api/v1/reports/export", {**params, "format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"] and ".csv" in response["Content-Disposition"]
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == HEADERS
    assert {k: _as_number(v) for k, v in _kpi_rows(rows).items()} == expected

    response = client.get("/api/v1/reports/export", {**params, "format": "xlsx"})
    assert response.status_code == 200
    workbook = load_workbook(io.BytesIO(response.content))
    assert workbook.sheetnames == ["报表", "热力图", "筛选条件"]
    sheet_rows = [list(r) for r in workbook["报表"].iter_rows(values_only=True)]
    assert sheet_rows[0] == HEADERS
    assert {k: _as_number(v) for k, v in _kpi_rows(sheet_rows).items()} == expected
    filters = dict(workbook["筛选条件"].iter_rows(min_row=2, values_only=True))
    assert filters["团队"] == "售后服务" and filters["渠道"] == "官网在线客服"
    heat = list(workbook["热力图"].iter_rows(values_only=True))
    assert heat[0][:3] == ("星期", "0 时", "1 时") and len(heat) == 8
    [volume] = [k["value"] for k in report["kpis"] if k["name"] == "volume"]
    assert sum(v or 0 for row in heat[1:] for v in row[1:]) == volume


@pytest.mark.django_db
def test_exports_refuse_agents_and_bad_formats(shop: Any) -> None:
    client = Client()
    client.force_login(shop.agent)
    assert client.get("/api/v1/reports/export", {"format": "csv"}).status_code == 403
    client.force_login(shop.supervisor)
    assert client.get("/api/v1/reports/export", {"format": "pdf"}).status_code == 422
