"""``{{ key|field_label }}``: a field key's Chinese name (``core.labels``) in templates."""

from __future__ import annotations

from django import template

from kefu.core.labels import field_label as _field_label

register = template.Library()


@register.filter
def field_label(key: object) -> str:
    return _field_label(str(key))
