"""kefu.core.params: whole numbers from query strings and forms, never a 500."""

from __future__ import annotations

import pytest

from kefu.core.errors import InvalidInput
from kefu.core.params import MAX_DIGITS, required_whole_param, whole, whole_param


@pytest.mark.parametrize(
    ("text", "expected"),
    [("12", 12), (" 12 ", 12), ("0", 0), ("007", 7), ("9" * MAX_DIGITS, int("9" * MAX_DIGITS))],
)
def test_ascii_digits_are_read(text: str, expected: int) -> None:
    assert whole(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "abc",
        "-1",
        "+1",
        "1.5",
        "1e3",
        "1_000",
        "²",
        "١٢",
        "１２",
        "1\x002",
        "9" * (MAX_DIGITS + 1),
        "9" * 20_000,
    ],
)
def test_anything_else_is_none(text: str) -> None:
    # "²".isdigit() is true and int("²") fails; int() refuses more than 4,300 digits and
    # accepts "1_000" and Arabic-Indic or full-width digits, which are not what a form sends.
    assert whole(text) is None


def test_not_a_string_is_none() -> None:
    assert whole(None) is None and whole(12) is None and whole(["1"]) is None


def test_signed_reads_a_leading_minus_only_when_asked() -> None:
    assert whole("-3", signed=True) == -3 and whole("3", signed=True) == 3
    assert whole("--3", signed=True) is None and whole("-", signed=True) is None


def test_whole_param_names_the_field_and_keeps_the_range() -> None:
    assert whole_param("", "page") is None and whole_param(None, "page") is None
    assert whole_param("5", "page", lo=1, hi=9) == 5
    for bad in ("0", "10", "²", "x"):
        with pytest.raises(InvalidInput) as info:
            whole_param(bad, "page", message="页码无效", hint="应为 1 到 9", lo=1, hi=9)
        assert info.value.fields == {"page": "应为 1 到 9"} and info.value.message == "页码无效"
    with pytest.raises(InvalidInput) as info:
        required_whole_param(" ", "case_id")
    assert info.value.fields == {"case_id": "不能为空"}
