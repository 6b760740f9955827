"""``kefu import_orders FILE.csv``: load store orders from a CSV export.

Each row is its own transaction through ``customers.services.do_upsert_order`` (the
same path as ``POST /api/v1/orders``), so a bad row is reported with its row number
and the good rows are kept; importing the same file again changes nothing.
The columns are documented in docs/customers-and-orders.md.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from kefu.core.errors import InvalidInput, KefuError
from kefu.customers.models import Order
from kefu.customers.orders import do_upsert_order

REQUIRED_COLUMNS = ("order_no", "identity_kind", "identity_value", "amount", "placed_at")
OPTIONAL_COLUMNS = (
    "customer_name",
    "payment_status",
    "shipping_status",
    "carrier",
    "tracking_no",
    "items",
    "address",
)
# Service field names → the CSV column a person should look at.
_FIELD_TO_COLUMN = {
    "customer": "identity_kind/identity_value",
    "customer.kind": "identity_kind",
    "customer.value": "identity_value",
}
_ITEM = re.compile(r"^(?P<name>.+?)\s*(?:[×xX*]\s*(?P<qty>\d+))?\s*@\s*(?P<price>[^@]+)$")


def _status(value: str, choices: type[Order.Payment] | type[Order.Shipping], default: str) -> str:
    """Store exports use either the code (``paid``) or the Chinese label (``已付款``)."""
    value = value.strip()
    if not value:
        return default
    by_label = {label: code for code, label in choices.choices}
    return by_label.get(value, value)


def parse_items(spec: str) -> list[dict[str, Any]]:
    """``真空保温杯×2@89.00;杯刷×1@9.90`` → item dicts; ``×qty`` may be left out (1)."""
    items: list[dict[str, Any]] = []
    for i, part in enumerate(p.strip() for p in re.split(r"[;；]", spec or "")):
        if not part:
            continue
        m = _ITEM.match(part)
        if m is None:
            raise InvalidInput(
                f"商品明细第 {i + 1} 项格式不正确：{part}",
                fields={"items": "格式应为 名称×数量@单价，多项用分号分隔"},
            )
        items.append({"name": m["name"].strip(), "quantity": int(m["qty"] or 1), "price": m["price"].strip()})
    return items


def row_to_order(row: dict[str, str]) -> dict[str, Any]:
    def col(name: str) -> str:
        return (row.get(name) or "").strip()

    return {
        "order_no": col("order_no"),
        "customer": {"kind": col("identity_kind"), "value": col("identity_value")},
        "customer_name": col("customer_name"),
        "amount": col("amount"),
        "payment_status": _status(col("payment_status"), Order.Payment, Order.Payment.PAID),
        "shipping_status": _status(col("shipping_status"), Order.Shipping, Order.Shipping.PENDING),
        "carrier": col("carrier"),
        "tracking_no": col("tracking_no"),
        "placed_at": col("placed_at"),
        "items": parse_items(col("items")),
        "address": col("address"),
    }


class Command(BaseCommand):
    help = "从 CSV 导入订单（按订单号幂等；逐行事务，错误行报告行号，不影响其他行）"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="CSV 文件路径（首行为列名）")
        parser.add_argument(
            "--encoding", default="utf-8-sig", help="文件编码，默认 UTF-8（Excel 导出可用 gbk）"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        try:
            text = path.read_text(encoding=options["encoding"])
        except FileNotFoundError as exc:
            raise CommandError(f"找不到文件：{path}") from exc
        except (UnicodeDecodeError, LookupError) as exc:
            raise CommandError(f"无法按 {options['encoding']} 编码读取文件，可用 --encoding 指定") from exc
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = [h.strip() for h in reader.fieldnames or []]
        reader.fieldnames = header
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise CommandError(f"缺少必需的列：{', '.join(missing)}")
        created = updated = 0
        failed: list[str] = []
        # Row 1 is the header, so the first order is row 2, as in a spreadsheet.
        for row_no, row in enumerate(reader, start=2):
            if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
                continue
            try:
                _, was_created = do_upsert_order(actor=None, **row_to_order(row))
            except KefuError as exc:
                where = "，".join(f"{_FIELD_TO_COLUMN.get(f, f)}: {m}" for f, m in exc.fields.items())
                failed.append(
                    f"第 {row_no} 行（{(row.get('order_no') or '').strip() or '无订单号'}）：{exc.message}"
                    + (f"（{where}）" if where else "")
                )
                continue
            if was_created:
                created += 1
            else:
                updated += 1
        for line in failed:
            self.stderr.write(line)
        summary = f"导入完成：新建 {created} 个，更新 {updated} 个，失败 {len(failed)} 行"
        if failed:
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(summary))
