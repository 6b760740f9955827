"""Masking of personal data in profile fields: shown as ``138****5678`` unless revealed."""

from __future__ import annotations

import re

_DIGITS = re.compile(r"\d")


def mask_phone(value: str) -> str:
    digits = value.strip()
    if len(digits) >= 7:
        return f"{digits[:3]}****{digits[-4:]}"
    return "****" if digits else ""


def mask_id_card(value: str) -> str:
    v = value.strip()
    if len(v) >= 10:
        return f"{v[:6]}{'*' * (len(v) - 10)}{v[-4:]}"
    return "****" if v else ""


def mask_bank_card(value: str) -> str:
    v = re.sub(r"\s", "", value)
    if len(v) >= 8:
        return f"{v[:4]}{'*' * (len(v) - 8)}{v[-4:]}"
    return "****" if v else ""


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
