"""``{% linked_tickets conversation as tickets %}`` for the conversation page's ticket panel."""

from __future__ import annotations

from typing import Any

from django import template

from kefu.tickets.records import tickets_for_conversation

register = template.Library()


@register.simple_tag(takes_context=True)
def linked_tickets(context: dict[str, Any], conversation: Any) -> list[Any]:
    """The tickets linked to ``conversation`` that the viewing user may see."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if conversation is None or user is None or not user.is_authenticated:
        return []
    return tickets_for_conversation(user, conversation)
