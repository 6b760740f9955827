"""Masking of personal data: profile fields and the free text customers type.

Profile fields (``mask``) are shown as ``138****5678`` unless revealed: empty stays
empty, a value too short to mask partly is hidden entirely, and addresses keep only
their first characters.

Free text (``mask_text``) — message texts, conversation subjects, inbox previews,
ticket titles and descriptions, customer timelines, emails and exports — has its
phone, ID-card and bank-card numbers masked wherever :mod:`kefu.nlp.pii` finds them
(docs/masking.md says precisely what is and is not found). It is the one function every
presenter, template filter (``{{ text|masked }}``), the desk's event copy and untrusted
webhooks use; the stored text stays as typed. ``mask_payload`` applies it to the
free-text keys of an event payload.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from kefu.nlp import pii


def mask_phone(value: str) -> str:
    v = value.strip()
    return pii.mask_phone(v) if len(v) >= 7 else ("****" if v else "")


def mask_id_card(value: str) -> str:
    v = value.strip()
    return pii.mask_id_card(v) if len(v) >= 10 else ("****" if v else "")


def mask_bank_card(value: str) -> str:
    v = re.sub(r"\s", "", value)
    return pii.mask_bank_card(v) if len(v) >= 8 else ("****" if v else "")


def mask_address(value: str) -> str:
    v = value.strip()
    # Keep the region (first ~6 characters) so the agent sees where it ships to,
    # hide the street and number.
    if len(v) > 6:
        return v[:6] + "*" * min(len(v) - 6, 8)
    return v


MASKERS = {
    "phone": mask_phone,
    "id_card": mask_id_card,
    "bank_card": mask_bank_card,
    "address": mask_address,
}


def mask(kind: str, value: str | None) -> str:
    if not value:
        return ""
    return MASKERS[kind](value)


# The kinds masked in free text. Addresses are not: agents need the address a customer
# types to change a delivery, and the profile masks the order's address already.
TEXT_KINDS: frozenset[pii.PiiKind] = frozenset({"phone", "id_card", "bank_card"})
# A phone number has 11 digits, an ID 17 and a bank card 16: fewer digits, nothing to find.
_MIN_DIGITS = 11
_DIGIT_RE = re.compile("[0-9\uff10-\uff19]")
# Keys of event and webhook payloads whose values are free text that may carry what a
# customer typed (a message, a subject, a ticket's title and description, a note ...).
FREE_TEXT_KEYS = frozenset(
    {"text", "subject", "preview", "title", "description", "note", "comment", "summary", "body", "excerpt"}
)


def mask_text(text: str | None) -> str:
    """``text`` with phone, ID-card and bank-card numbers masked (same length; idempotent)."""
    if not text or len(_DIGIT_RE.findall(text)) < _MIN_DIGITS:
        return text or ""
    return _mask_text(text)


@lru_cache(maxsize=2048)
def _mask_text(text: str) -> str:
    # A message is masked for the API, the page, the desk's event and maybe a webhook:
    # the cache makes the repeats free.
    matches = pii.find_pii(text, TEXT_KINDS)
    if not matches:
        return text
    parts: list[str] = []
    pos = 0
    for m in matches:
        parts.append(text[pos : m.start])
        parts.append(pii.mask_match(text, m))
        pos = m.end
    parts.append(text[pos:])
    return "".join(parts)


def has_masked_text(text: str | None) -> bool:
    """Whether ``mask_text`` changes ``text`` (the desk offers to reveal it)."""
    return bool(text) and mask_text(text) != text


def mask_payload(value: Any) -> Any:
    """A copy of ``value`` (dicts and lists of JSON values) with its free-text keys masked."""
    if isinstance(value, dict):
        return {
            k: mask_text(v) if k in FREE_TEXT_KEYS and isinstance(v, str) else mask_payload(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [mask_payload(v) for v in value]
    return value
