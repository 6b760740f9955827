"""The navigation's counts, rendered with the page so a reload shows them at once.

``{% desk_counts as counts %}`` in base.html; desk.js keeps them current from then on
(``GET /api/v1/desk/counts`` after events that may change them). Both read them through
the desk cache (``desk_counts_cached``): fresh after every event, a few seconds old at most.
"""

from __future__ import annotations

from typing import Any

from django import template

from kefu.conversations.services import desk_counts_cached as count_for

register = template.Library()


@register.simple_tag(takes_context=True)
def desk_counts(context: dict[str, Any]) -> dict[str, int]:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return count_for(user)
