"""Numbers written in Arabic or Chinese numerals, as customers and agents write them."""

from __future__ import annotations

_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10000}
# For regexes that find a number to hand to parse_number.
CN_NUMERAL_CHARS = "零〇一二两三四五六七八九十百千万"


def parse_number(s: str) -> float | None:
    """Arabic or Chinese numerals to a number: 五十 → 50, 两百 → 200, 一百五 → 150, 二十四 → 24."""
    if not s:
        return None
    if s[0].isdigit():
        try:
            return float(s)
        except ValueError:
            return None
    total, section, digit, last_unit = 0, 0, 0, 1
    for ch in s:
        if ch in _CN_DIGITS:
            digit = _CN_DIGITS[ch]
        elif ch == "万":
            total += (section + digit) * 10000
            section, digit, last_unit = 0, 0, 10000
        elif ch in _CN_UNITS:
            unit = _CN_UNITS[ch]
            section += (digit or 1) * unit
            digit, last_unit = 0, unit
        else:
            return None
    if digit and last_unit >= 100 and s[-2:-1] in _CN_UNITS:  # colloquial 一百五 = 150
        digit *= last_unit // 10
    return float(total + section + digit)
