"""Masking of personal data in profile fields: shown as ``138****5678`` unless revealed.

The formats are those of :mod:`kefu.nlp.pii` (which also finds personal data in
free text); this module adds the profile-field rules: empty stays empty, a value too
short to mask partly is hidden entirely, and addresses keep only their first characters.
"""

from __future__ import annotations

import re

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
