"""Promises found in a reply (kefu.complaints.promises): commitments with a time, and what is not one."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from kefu.complaints.promise_text import find_promises

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 23, 14, 0, tzinfo=SH)  # a Monday


@pytest.mark.parametrize(
    ("text", "due"),
    [
        ("我已联系快递核实，今天18:00前给您回复结果。", datetime(2026, 11, 23, 18, 0, tzinfo=SH)),
        ("我们会在24小时内为您退款。", datetime(2026, 11, 24, 14, 0, tzinfo=SH)),
        ("明天上午10点前我再联系您确认。", datetime(2026, 11, 24, 10, 0, tzinfo=SH)),
        ("下午三点半前给您回电", datetime(2026, 11, 23, 15, 30, tzinfo=SH)),
        ("我们将在2个工作日内完成处理", datetime(2026, 11, 25, 14, 0, tzinfo=SH)),
        ("我们会在二十四小时内给您答复", datetime(2026, 11, 24, 14, 0, tzinfo=SH)),
    ],
)
def test_commitments_with_a_time_are_found(text, due):
    assert [p.due_at for p in find_promises(text, NOW)] == [due]


def test_traditional_reply_is_found_and_quoted_as_written():
    found = find_promises("我們會在24小時內為您退款。", NOW)
    assert found[0].due_at == NOW + timedelta(hours=24)
    assert found[0].description == "我們會在24小時內為您退款。"


@pytest.mark.parametrize(
    "text",
    [
        "退款一般1-3个工作日到账。",  # information, not a commitment
        "好的，我马上为您查询，大约需要2分钟。",  # no deadline
        "您好，请问有什么可以帮您？",
    ],
)
def test_information_and_pleasantries_are_not_promises(text):
    assert find_promises(text, NOW) == []


def test_a_clock_time_already_past_today_means_tomorrow():
    found = find_promises("我10:00前给您回电", NOW)
    assert found[0].due_at == datetime(2026, 11, 24, 10, 0, tzinfo=SH)
