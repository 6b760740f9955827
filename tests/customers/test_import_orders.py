from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from kefu.customers.management.commands.import_orders import parse_items
from kefu.customers.models import Customer, Order, OrderItem

pytestmark = pytest.mark.django_db

SAMPLE = Path(__file__).resolve().parents[2] / "docs" / "orders-sample.csv"
HEADER = "order_no,identity_kind,identity_value,customer_name,amount,payment_status,shipping_status,carrier,tracking_no,placed_at,items,address\n"


def run(path: Path) -> tuple[str, str, str | None]:
    out, err = StringIO(), StringIO()
    try:
        call_command("import_orders", str(path), stdout=out, stderr=err)
        failure = None
    except CommandError as exc:
        failure = str(exc)
    return out.getvalue(), err.getvalue(), failure


def test_sample_csv_imports_every_row():
    out, err, failure = run(SAMPLE)
    assert failure is None, err
    assert "新建 4 个" in out
    assert Order.objects.count() == 4
    order = Order.objects.get(order_no="YJ202611190002")
    assert order.payment_status == "paid" and order.shipping_status == "in_transit"
    assert order.customer.name == "王磊"
    assert order.customer.identities.get().kind == "wechat"
    assert [
        (i.name, i.quantity, str(i.price))
        for i in Order.objects.get(order_no="YJ202611180001").items.order_by("id")
    ] == [
        ("真空保温杯 500ml", 1, "89.00"),
        ("竹纤维毛巾", 2, "49.00"),
    ]


def test_reimporting_the_same_file_changes_nothing():
    run(SAMPLE)
    out, _, failure = run(SAMPLE)
    assert failure is None
    assert "新建 0 个，更新 4 个" in out
    assert Order.objects.count() == 4
    assert OrderItem.objects.count() == 6
    assert Customer.objects.count() == 4


def test_bad_rows_are_reported_with_row_numbers_and_good_rows_kept(tmp_path):
    csv = tmp_path / "orders.csv"
    csv.write_text(
        HEADER
        + "A1,phone,13800000001,甲,10.00,paid,pending,,,2026-11-20 10:00,杯子×1@10.00,\n"
        + "A2,phone,13800000002,乙,-5,paid,pending,,,2026-11-20 10:00,,\n"
        + "A3,phone,13800000003,丙,10.00,lost,pending,,,2026-11-20 10:00,,\n"
        + "A4,pager,1,丁,10.00,paid,pending,,,2026-11-20 10:00,,\n"
        + "A5,phone,13800000005,戊,10.00,paid,pending,,,not a date,,\n"
        + "A6,phone,13800000006,己,10.00,paid,pending,,,2026-11-20 10:00,杯子 十个,\n"
        + "A7,phone,13800000007,庚,20.00,已付款,已签收,顺丰速运,SF1,2026-11-20 10:00,杯子x2@10,\n",
        encoding="utf-8",
    )
    _, err, failure = run(csv)
    assert failure is not None and "失败 5 行" in failure
    assert sorted(Order.objects.values_list("order_no", flat=True)) == ["A1", "A7"]
    for row, column in [
        (3, "amount"),
        (4, "payment_status"),
        (5, "identity_kind"),
        (6, "placed_at"),
        (7, "items"),
    ]:
        line = next(line for line in err.splitlines() if line.startswith(f"第 {row} 行"))
        assert column in line, line
    assert Order.objects.get(order_no="A7").shipping_status == "delivered"
    assert not Customer.objects.filter(name="乙").exists()


def test_a_failing_row_leaves_nothing_half_written(tmp_path):
    csv = tmp_path / "orders.csv"
    csv.write_text(HEADER + "B1,phone,13800000009,新客,10.00,paid,pending,,,2026-11-20 10:00,杯子×0@10,\n")
    run(csv)
    assert not Customer.objects.exists()
    assert not Order.objects.exists()


def test_missing_columns_are_refused(tmp_path):
    csv = tmp_path / "orders.csv"
    csv.write_text("order_no,amount\nX,1\n")
    _, _, failure = run(csv)
    assert failure is not None and "identity_kind" in failure


def test_missing_file_is_a_clear_error(tmp_path):
    _, _, failure = run(tmp_path / "nope.csv")
    assert failure is not None and "找不到文件" in failure


def test_parse_items_accepts_several_spellings():
    assert parse_items("保温杯×2@89.00；杯刷@9.9; 毛巾 x 3 @ 19") == [
        {"name": "保温杯", "quantity": 2, "price": "89.00"},
        {"name": "杯刷", "quantity": 1, "price": "9.9"},
        {"name": "毛巾", "quantity": 3, "price": "19"},
    ]
