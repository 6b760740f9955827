"""Masking of free text (core.masking.mask_text): what customers type in real e-commerce chats."""

from __future__ import annotations

import pytest

from kefu.core.masking import has_masked_text, mask_payload, mask_text

PHONE = "13812345678"
ID_CARD = "11010519491231002X"
CARD = "6222021234567890128"  # UnionPay prefix, passes Luhn


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("我手机 138 1234 5678，麻烦回电", "我手机 138 **** 5678，麻烦回电"),
        ("电话138-1234-5678，下午都在", "电话138-****-5678，下午都在"),
        ("联系我 +86 138 1234 5678", "联系我 +86 138 **** 5678"),
        ("手机号13812345678收件", "手机号138****5678收件"),
        ("身份证 11010519491231002X 报关用", "身份证 110105********002X 报关用"),
        ("身份证号：11010519491231002x", "身份证号：110105********002x"),
        ("退款到这张卡 6222021234567890128 吧", "退款到这张卡 6222***********0128 吧"),
        ("卡号6228 4800 1234 5671", "卡号**** **** **** 5671"),
    ],
)
def test_phone_id_card_and_bank_card_are_masked(text: str, masked: str) -> None:
    assert mask_text(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "身份證號碼：１１０１０５１９４９１２３１００２Ｘ",  # Traditional label, full-width digits and Ｘ
        "銀行卡號：6222021234567890120",  # labelled: counts even with a typo in the check digit
        "我的手機是１３８１２３４５６７８",
        "退到4627 3918 7263 5471 89",  # Visa-like, Luhn, written in groups, no label
    ],
)
def test_traditional_labels_full_width_digits_and_groups_are_masked(text: str) -> None:
    masked = mask_text(text)
    assert masked != text
    assert len(masked) == len(text)
    assert "*" in masked


@pytest.mark.parametrize(
    "text",
    [
        "我的订单号 202612020001234 还没发货",
        "訂單號 2026120200012344 還沒到",
        "我的单子2026120200012344怎么还没发",  # passes Luhn but starts with a date: an order number
        "顺丰 SF1234567890123 一直没更新",
        "中通快递 75312345678901 到哪了",
        "发票号 1234567890123456 开错了",
        "实付 1299.00 元，2026-12-02 14:30 下单，优惠 200",
        "淘宝订单 3462739187263547182",
        "尺码 175/92A，体重 65kg，要 XL 吗",
        "客服热线 400-800-8820",
    ],
)
def test_order_tracking_numbers_amounts_and_dates_stay(text: str) -> None:
    assert mask_text(text) == text
    assert not has_masked_text(text)


def test_masking_is_idempotent_and_keeps_length() -> None:
    text = f"手机{PHONE}，身份证{ID_CARD}，卡号{CARD}，订单202612020001234"
    once = mask_text(text)
    assert mask_text(once) == once
    assert len(once) == len(text)
    assert PHONE not in once and ID_CARD not in once and CARD not in once
    assert "202612020001234" in once


def test_addresses_in_messages_are_not_masked() -> None:
    # Agents need the address a customer types to change a delivery.
    text = "请改寄到北京市朝阳区建国路88号"
    assert mask_text(text) == text


def test_empty_nul_and_huge_texts() -> None:
    assert mask_text("") == ""
    assert mask_text(None) == ""
    assert mask_text("电话\x0013812345678") == "电话\x00138****5678"
    huge = ("尺码偏小，想换大一号。" * 20_000) + PHONE
    assert mask_text(huge).endswith("138****5678")


def test_mask_payload_masks_free_text_keys_only() -> None:
    payload = {
        "message": {"id": 7, "text": f"我电话{PHONE}", "client_msg_id": "13812345678"},
        "conversation": {"subject": f"退款到{CARD}", "order_no": CARD},
        "events": [{"text": f"身份证{ID_CARD}"}],
    }
    masked = mask_payload(payload)
    assert masked["message"]["text"] == "我电话138****5678"
    assert masked["message"]["client_msg_id"] == "13812345678"  # not free text
    assert masked["conversation"]["subject"] == "退款到6222***********0128"
    assert masked["conversation"]["order_no"] == CARD
    assert masked["events"][0]["text"] == "身份证110105********002X"
    assert payload["message"]["text"] == f"我电话{PHONE}"  # the original is untouched
