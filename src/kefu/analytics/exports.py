"""Tables to files: CSV (UTF-8 with a BOM, so that Excel opens Chinese text) and Excel workbooks.

A pure helper: it knows nothing of metrics or of who asks; the reports hand it sheets of
rows with Chinese headers. Text that a spreadsheet would run as a formula (``=``, ``+``,
``-``, ``@`` first) is written as text, never as a formula.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.utils import timezone

CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Column:
    key: str
    header: str


@dataclass(frozen=True)
class Sheet:
    title: str
    columns: Sequence[Column]
    rows: Sequence[Mapping[str, Any]]


def _plain(value: Any) -> Any:
    """A value a spreadsheet cell holds: local naive times (Excel has no time zones), None as blank."""
    if isinstance(value, datetime):
        if timezone.is_aware(value):
            value = timezone.localtime(value)
        return value.replace(tzinfo=None, microsecond=0)
    if isinstance(value, bool):
        return "是" if value else "否"
    return value


def _csv_cell(value: Any) -> Any:
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def to_csv(sheet: Sheet) -> bytes:
    """One sheet as CSV: UTF-8 with a BOM, CRLF line ends, the Chinese headers first."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([c.header for c in sheet.columns])
    for row in sheet.rows:
        writer.writerow([_csv_cell(row.get(c.key)) for c in sheet.columns])
    return out.getvalue().encode("utf-8-sig")


def _sheet_title(title: str, used: set[str]) -> str:
    # Excel: at most 31 characters, none of []:*?/\ , unique in the workbook.
    clean = "".join("_" if ch in "[]:*?/\\" else ch for ch in title)[:31] or "Sheet"
    name, n = clean, 2
    while name in used:
        name = f"{clean[:28]}({n})"
        n += 1
    used.add(name)
    return name


def to_xlsx(sheets: Sequence[Sheet]) -> bytes:
    """Sheets as one Excel workbook: bold, frozen headers, columns wide enough for Chinese text."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    wb.remove(wb.active)
    used: set[str] = set()
    for sheet in sheets:
        ws = wb.create_sheet(_sheet_title(sheet.title, used))
        ws.append([c.header for c in sheet.columns])
        for cell in ws[1]:
            cell.font = Font(bold=True)
        ws.freeze_panes = "A2"
        widths = [len(c.header) * 2 + 2 for c in sheet.columns]
        for r, row in enumerate(sheet.rows, start=2):
            for i, col in enumerate(sheet.columns):
                value = _plain(row.get(col.key))
                cell = ws.cell(row=r, column=i + 1, value=value)
                if isinstance(value, str):
                    cell.data_type = "s"  # never a formula
                    widths[i] = max(widths[i], min(60, len(value) * 2 + 2))
                elif isinstance(value, datetime):
                    cell.number_format = "yyyy-mm-dd hh:mm"
                    widths[i] = max(widths[i], 18)
        for i, width in enumerate(widths):
            ws.column_dimensions[get_column_letter(i + 1)].width = width
    if not sheets:
        wb.create_sheet("Sheet")
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
