"""The PII detector and masks: ID-card and bank-card checks, spans, masking, speed."""

from __future__ import annotations

import time

import pytest

from kefu.nlp.pii import (
    find_pii,
    is_valid_id_card,
    luhn_ok,
    mask_bank_card,
    mask_id_card,
    mask_phone,
    mask_pii,
)


@pytest.mark.parametrize(
    "number", ["11010519491231002X", "11010519491231002x", "44030419900307123X", "110101200001011232"]
)
def test_valid_id_cards(number: str) -> None:
    assert is_valid_id_card(number)


@pytest.mark.parametrize(
    "number",
    [
        "110105194912310021",  # wrong check code
        "440304199003071234",  # wrong check code
        "110101200013011232",  # month 13
        "110101190002291231",  # 1900 is not a leap year
        "01010519491231002X",  # no province 01
        "11010519491231002",  # 17 characters
        "１１０１０５１９４９１２３１００２Ｘ",  # full-width is not normalised by the validator
    ],
)
def test_invalid_id_cards(number: str) -> None:
    assert not is_valid_id_card(number)


@pytest.mark.parametrize(
    "number", ["4111111111111111", "6222021234567890128", "6228480012345671", "79927398713"]
)
def test_luhn_accepts_valid_numbers(number: str) -> None:
    assert luhn_ok(number)


@pytest.mark.parametrize("number", ["4111111111111112", "6222021234567890127", "", "7", "1234abcd"])
def test_luhn_rejects_invalid_numbers(number: str) -> None:
    assert not luhn_ok(number)


def test_find_pii_kinds_and_spans() -> None:
    text = "手机13812345678，身份证11010519491231002X，卡号6222021234567890128，地址北京市朝阳区建国路88号。"
    found = find_pii(text)
    assert [p.kind for p in found] == ["phone", "id_card", "bank_card", "address"]
    assert [text[p.start : p.end] for p in found] == [
        "13812345678",
        "11010519491231002X",
        "6222021234567890128",
        "北京市朝阳区建国路88号",
    ]


def test_find_pii_rejects_numbers_failing_checks() -> None:
    assert find_pii("单据 6222021234567890127 和 110105194912310021") == []
    assert find_pii("编号12345678901，电话12812345678") == []  # not a mobile prefix


def test_mask_pii_formats() -> None:
    assert mask_pii("电话13812345678") == "电话138****5678"
    assert mask_pii("身份证110101200001011232") == "身份证110101********1232"
    assert mask_pii("卡号6222021234567890128") == "卡号6222***********0128"
    assert mask_pii("数字 6222 0212 3456 7890") == "数字 6222 0212 3456 7890"  # fails Luhn: untouched
    assert mask_pii("卡号 4111 1111 1111 1111") == "卡号 **** **** **** 1111"
    assert mask_pii("寄到上海市浦东新区张江路100号") == "寄到上海市浦东新区*******"


def test_find_pii_trusts_a_label_over_a_failed_check_digit() -> None:
    assert [p.kind for p in find_pii("身份证号：440304199003071234")] == ["id_card"]
    assert [p.kind for p in find_pii("卡号 6222 0212 3456 7890")] == ["bank_card"]
    assert find_pii("数字 440304199003071234") == []


def test_mask_helpers_keep_length_and_separators() -> None:
    assert mask_phone("+86 138-1234-5678") == "+86 138-****-5678"
    assert mask_id_card("11010519491231002X") == "110105********002X"
    assert mask_bank_card("6222021234567890") == "6222********7890"
    text = "客户 张三，手机 １３８１２３４５６７８，身份证 11010519491231002X"
    assert len(mask_pii(text)) == len(text)
    assert mask_pii("没有个人信息的文本") == "没有个人信息的文本"


def test_mask_pii_is_fast_on_profile_text() -> None:
    text = "张三 13812345678 11010519491231002X 北京市朝阳区建国路88号院3号楼2单元1201室 6222021234567890128"
    mask_pii(text)
    # CPU time of this thread: the budget is mask_pii's own cost, not the wait for a core
    # on a machine busy with other test workers.
    t0 = time.thread_time()
    for _ in range(1000):
        mask_pii(text)
    assert (time.thread_time() - t0) / 1000 < 0.001
