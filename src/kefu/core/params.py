"""Whole numbers typed into a query string or a form field.

"``isdigit()``, then ``int()``" turns odd input into a 500: ``"²".isdigit()`` is true and
``int("²")`` fails, and ``int`` refuses strings of more than 4,300 digits. These helpers read
ASCII digits only (an optional leading minus where asked), at most ``MAX_DIGITS`` of them,
with surrounding spaces ignored, and never raise anything but ``InvalidInput``.
"""

from __future__ import annotations

from typing import Any

from .errors import InvalidInput

# Enough for any id or amount kefu stores (a PostgreSQL bigint has 19 digits).
MAX_DIGITS = 18


def whole(value: Any, *, signed: bool = False, lo: int | None = None, hi: int | None = None) -> int | None:
    """``value`` as an int if it is a whole number written in ASCII digits (between ``lo`` and
    ``hi`` when given), else None."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    digits = text[1:] if signed and text.startswith("-") else text
    if not digits or len(digits) > MAX_DIGITS or not (digits.isascii() and digits.isdigit()):
        return None
    number = int(text)
    if (lo is not None and number < lo) or (hi is not None and number > hi):
        return None
    return number


def whole_param(
    value: Any,
    field: str,
    *,
    message: str = "应为整数",
    hint: str = "应为整数",
    lo: int | None = None,
    hi: int | None = None,
    signed: bool = False,
) -> int | None:
    """The whole number in ``value``; None when it is empty; otherwise ``InvalidInput`` naming
    ``field`` when it is not a whole number between ``lo`` and ``hi``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    number = whole(value, signed=signed, lo=lo, hi=hi)
    if number is None:
        raise InvalidInput(message, fields={field: hint})
    return number


def required_whole_param(value: Any, field: str, *, message: str = "应为整数", **limits: Any) -> int:
    """``whole_param``, refusing an empty value too (``{field: "不能为空"}``)."""
    number = whole_param(value, field, message=message, **limits)
    if number is None:
        raise InvalidInput(message, fields={field: "不能为空"})
    return number
