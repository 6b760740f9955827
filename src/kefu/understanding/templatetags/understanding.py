"""``{% assist_panel conversation %}``: the assistant beside the composer."""

from __future__ import annotations

from typing import Any

from django import template

from kefu.nlp.emotion import LABEL_NAMES
from kefu.understanding.models import Intent
from kefu.understanding.services import TREND_LABELS, guidance_for, outlook

register = template.Library()


@register.inclusion_tag("understanding/_assist_panel.html")
def assist_panel(conversation: Any) -> dict[str, Any]:
    label = conversation.emotion_label or "calm"
    return {
        "conversation": conversation,
        "emotion_text": LABEL_NAMES.get(label, label),
        "trend_text": TREND_LABELS.get(conversation.emotion_trend, "") if conversation.emotion_trend else "",
        "guidance": guidance_for(label),
        "outlook": outlook(conversation.dissatisfied_probability),
        "intents": list(Intent.objects.filter(is_active=True).values_list("name", flat=True)),
    }
