"""``{{ text|masked }}``: free text with phone, ID-card and bank-card numbers masked (``core.masking.mask_text``)."""

from __future__ import annotations

from django import template

from kefu.core.masking import has_masked_text, mask_text

register = template.Library()


@register.filter
def masked(value: object) -> str:
    return mask_text(value if isinstance(value, str) else ("" if value is None else str(value)))


@register.filter
def has_pii(value: object) -> bool:
    """Whether ``masked`` hides something in ``value`` (the desk offers to reveal it)."""
    return isinstance(value, str) and has_masked_text(value)
