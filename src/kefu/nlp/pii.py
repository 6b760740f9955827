"""Finding and masking personal data in Chinese customer-service text.

Four kinds are recognised: mainland mobile numbers, resident ID card numbers
(GB 11643, checksum and birth date validated), bank card numbers (16–19 digits
passing Luhn) and full postal addresses (an administrative region followed by a
street and a house number).

Masking is length-preserving — every masked character becomes exactly one ``*``
and separators are kept — so spans found in a text stay valid in its masked form
and a UI can mask in place.

A long digit run that follows an order-number label (订单号, 运单号, 工单 …) is
treated as that reference, not as personal data: order numbers in Chinese
e-commerce are 16–19 digits long and one in ten passes the Luhn check by chance.
Conversely, right after 身份证号 or 卡号 a number of the right shape counts even
when its check digit is wrong: a customer's typo is still their data.

Without a label, a 16–19 digit number is a bank card only when it passes Luhn and
starts like a card number (``plausible_card_prefix``: 3, 4, 5, 6 or 9, or the
Mastercard 2221–2720 range); order numbers that begin with a date (2026…) do not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from kefu.nlp.normalize import to_simplified

PiiKind = Literal["phone", "id_card", "bank_card", "address"]

# Full-width digits and letters (０-９, Ｘ) map 1:1 onto ASCII, so matching on the
# translated text keeps offsets valid in the original.
FULLWIDTH_TABLE = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_FULLWIDTH_RE = re.compile("[\uff01-\uff5e\u3000]")

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CODES = "10X98765432"
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)

_B = r"(?<![0-9A-Za-z])"  # no digit or letter glued on the left
_E = r"(?![0-9A-Za-z])"  # …or on the right
_PHONE_RE = re.compile(_B + r"(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}" + _E)
_ID_RE = re.compile(_B + r"\d{6}[- ]?\d{8}[- ]?\d{3}[0-9Xx]" + _E)
_CARD_RE = re.compile(_B + r"\d{4}(?:[- ]?\d{4}){3}(?:[- ]?\d{1,3})?" + _E)

# Place-name characters: any ideograph except the function words that glue a
# sentence to an address (「您的地址是北京市…」 must not swallow 「您的地址是」).
_NAME = r"(?:(?![的是在到您你我他她请址寄收送填写改为：])[\u4e00-\u9fff])"
_ADDRESS_RE = re.compile(
    r"(?P<region>"
    rf"(?:{_NAME}{{2,7}}?(?:省|自治区))?"
    rf"(?:{_NAME}{{2,7}}?(?:市|州|盟))?"
    rf"(?:{_NAME}{{1,7}}?(?:区|县|旗))?"
    r")"
    r"(?P<detail>"
    rf"(?:{_NAME}{{1,8}}?(?:镇|乡|街道))?"
    rf"(?:{_NAME}|\d){{1,10}}?(?:路|街|大道|巷|弄|胡同|道)(?:[东西南北中一二三四五六七八九十]{{1,2}}段)?"
    r"\s*[0-9一二三四五六七八九十百零]+\s*(?:号|弄)"
    rf"(?:{_NAME}{{0,8}}?(?:小区|大厦|花园|公寓|广场|中心|苑|院))?"
    r"(?:\s*[0-9A-Za-z一二三四五六七八九十\-]+\s*(?:号楼|栋|幢|座|单元|楼|层|室|号|户|区))*"
    r")"
)

_ADDRESS_ANCHOR_RE = re.compile("[号弄]")
_ADDRESS_REACH_BEFORE = 48
_ADDRESS_REACH_AFTER = 40

_REFERENCE_LABEL_RE = re.compile(
    r"(?:订单|单号|运单|快递单|物流单|工单|编号|交易号|流水号|批次|条码|序列号|发票号|发票代码|SN|sn)"
    r"[号码]?\s*(?:是|为)?\s*[:：]?\s*$"
)
_ID_LABEL_RE = re.compile(r"(?:身份证|证件)(?:号码|号)?\s*(?:是|为)?\s*[:：]?\s*$")
_CARD_LABEL_RE = re.compile(
    r"(?:银行卡|储蓄卡|信用卡|借记卡|卡号|账号)(?:号码|号)?\s*(?:是|为)?\s*[:：]?\s*$"
)
_PRIORITY: dict[PiiKind, int] = {"id_card": 0, "bank_card": 1, "phone": 2, "address": 3}


@dataclass(frozen=True, slots=True)
class PiiMatch:
    """One piece of personal data: its kind and span in the scanned text."""

    kind: PiiKind
    start: int
    end: int


def luhn_ok(digits: str) -> bool:
    """True if ``digits`` (ASCII digits only, at least two) passes the Luhn check."""
    if len(digits) < 2 or not digits.isascii() or not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def plausible_card_prefix(digits: str) -> bool:
    """True if ``digits`` starts like a payment card: JCB/Amex 3, Visa 4, Mastercard 5 and
    2221–2720, UnionPay 62 and other 6, and the old domestic debit cards of 9."""
    if not digits:
        return False
    if digits[0] in "34569":
        return True
    return len(digits) >= 4 and "2221" <= digits[:4] <= "2720"


def is_valid_id_card(number: str) -> bool:
    """True for an 18-character resident ID with a valid GB 11643 check code and birth date."""
    if len(number) != 18 or not number.isascii():
        return False
    body, check = number[:17], number[17].upper()
    if not body.isdigit() or not (check.isdigit() or check == "X"):
        return False
    if body[0] not in "12345678":  # province codes run from 11 to 82
        return False
    year, month, day = int(body[6:10]), int(body[10:12]), int(body[12:14])
    if not (1900 <= year <= 2099 and 1 <= month <= 12 and 1 <= day <= _DAYS_IN_MONTH[month - 1]):
        return False
    if month == 2 and day == 29 and not (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)):
        return False
    total = sum((ord(ch) - 48) * w for ch, w in zip(body, _ID_WEIGHTS, strict=True))
    return _ID_CHECK_CODES[total % 11] == check


def scan_text(text: str) -> str:
    """``text`` in Simplified Chinese and half-width forms, with exactly the same length.

    Spans found in the result are spans of ``text``. OpenCC's t2s is character for
    character for almost all text; when it is not, each character is converted alone.
    """
    simplified = to_simplified(text)
    if len(simplified) != len(text):
        chars = []
        for ch in text:
            conv = to_simplified(ch)
            chars.append(conv if len(conv) == 1 else ch)
        simplified = "".join(chars)
    # str.translate with a dict is slow; most replies have nothing to translate.
    return simplified.translate(FULLWIDTH_TABLE) if _FULLWIDTH_RE.search(simplified) else simplified


_CHECK_LETTERS = "XxＸｘ"


def _digits(s: str) -> str:
    return "".join(ch for ch in s if ch.isdigit() or ch in _CHECK_LETTERS)


def _labelled(label_re: re.Pattern[str], text: str, start: int) -> bool:
    return label_re.search(text, max(0, start - 12), start) is not None


ALL_KINDS: frozenset[PiiKind] = frozenset({"phone", "id_card", "bank_card", "address"})


def find_pii(text: str, kinds: frozenset[PiiKind] = ALL_KINDS) -> list[PiiMatch]:
    """All personal data of ``kinds`` in ``text``, ordered by position, without overlaps."""
    return find_pii_scanned(scan_text(text), kinds)


def find_pii_scanned(scan: str, kinds: frozenset[PiiKind] = ALL_KINDS) -> list[PiiMatch]:
    """``find_pii`` for a text already passed through ``scan_text`` (spans are the same).

    Numbers are always looked for (an ID card also passes Luhn, so the kinds settle
    overlaps together); only matches of ``kinds`` are returned, and the address scan
    runs only when addresses are asked for.
    """
    found = _find_numbers(scan)
    if "address" in kinds:
        found.extend(_find_addresses(scan))
    if len(found) >= 2:
        found = _without_overlaps(found)
    return [p for p in found if p.kind in kinds]


def _find_numbers(scan: str) -> list[PiiMatch]:
    found: list[PiiMatch] = []
    if any(ch.isdigit() for ch in scan):
        for m in _ID_RE.finditer(scan):
            # Behind 身份证号 a mistyped number is still somebody's ID.
            valid = is_valid_id_card(_digits(m.group()).upper()) or _labelled(_ID_LABEL_RE, scan, m.start())
            if valid and not _labelled(_REFERENCE_LABEL_RE, scan, m.start()):
                found.append(PiiMatch("id_card", m.start(), m.end()))
        for m in _CARD_RE.finditer(scan):
            digits = _digits(m.group())
            valid = (luhn_ok(digits) and plausible_card_prefix(digits)) or _labelled(
                _CARD_LABEL_RE, scan, m.start()
            )
            if valid and not _labelled(_REFERENCE_LABEL_RE, scan, m.start()):
                found.append(PiiMatch("bank_card", m.start(), m.end()))
        for m in _PHONE_RE.finditer(scan):
            if not _labelled(_REFERENCE_LABEL_RE, scan, m.start()):
                found.append(PiiMatch("phone", m.start(), m.end()))
    return found


def _find_addresses(scan: str) -> list[PiiMatch]:
    found: list[PiiMatch] = []
    # The address pattern backtracks over runs of ideographs, so it only runs in a
    # window around each house number: linear time on long transcripts.
    last_end = 0
    for anchor in _ADDRESS_ANCHOR_RE.finditer(scan):
        if anchor.start() < last_end:
            continue
        lo = max(last_end, anchor.start() - _ADDRESS_REACH_BEFORE)
        hi = min(len(scan), anchor.end() + _ADDRESS_REACH_AFTER)
        for m in _ADDRESS_RE.finditer(scan, lo, hi):
            if m.start() >= last_end and m.group("region"):  # a street alone is not a full address
                found.append(PiiMatch("address", m.start(), m.end()))
                last_end = m.end()
    return found


def _without_overlaps(found: list[PiiMatch]) -> list[PiiMatch]:
    # An 18-digit ID can also pass Luhn: keep the more specific kind on overlap.
    found.sort(key=lambda p: (_PRIORITY[p.kind], p.start))
    kept: list[PiiMatch] = []
    for p in found:
        if all(p.end <= k.start or p.start >= k.end for k in kept):
            kept.append(p)
    kept.sort(key=lambda p: p.start)
    return kept


def _star_digits(s: str, keep_head: int, keep_tail: int) -> str:
    """Replace digits outside the first ``keep_head`` and last ``keep_tail`` by ``*``."""
    total = sum(1 for ch in s if ch.isdigit() or ch in _CHECK_LETTERS)
    out: list[str] = []
    seen = 0
    for ch in s:
        if ch.isdigit() or ch in _CHECK_LETTERS:
            out.append(ch if seen < keep_head or seen >= total - keep_tail else "*")
            seen += 1
        else:
            out.append(ch)
    return "".join(out)


def mask_phone(s: str) -> str:
    """138****5678: keep the first three and last four digits (and a +86 prefix)."""
    head = 5 if s.lstrip("+").startswith("86") and len(_digits(s)) == 13 else 3
    return _star_digits(s, head, 4)


def mask_id_card(s: str) -> str:
    """110101********1234: keep the region code and the last four characters."""
    return _star_digits(s, 6, 4)


def mask_bank_card(s: str) -> str:
    """6222********1234, or **** **** **** 1234 when the number is written in groups."""
    if any(not ch.isdigit() for ch in s):
        return _star_digits(s, 0, 4)
    return _star_digits(s, 4, 4)


def mask_address(s: str) -> str:
    """北京市朝阳区********: keep the administrative region, hide street and number."""
    m = _ADDRESS_RE.fullmatch(scan_text(s))
    keep = len(m.group("region")) if m else 0
    return s[:keep] + "*" * (len(s) - keep)


_MASKERS = {
    "phone": mask_phone,
    "id_card": mask_id_card,
    "bank_card": mask_bank_card,
    "address": mask_address,
}


def mask_match(text: str, match: PiiMatch) -> str:
    """The masked form of one match's span (same length as the span)."""
    return _MASKERS[match.kind](text[match.start : match.end])


def mask_pii(text: str) -> str:
    """``text`` with every piece of personal data masked; the length is unchanged."""
    matches = find_pii(text)
    if not matches:
        return text
    parts: list[str] = []
    pos = 0
    for m in matches:
        parts.append(text[pos : m.start])
        parts.append(mask_match(text, m))
        pos = m.end
    parts.append(text[pos:])
    return "".join(parts)
