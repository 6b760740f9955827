"""``{% bot_summary conversation %}`` at the top of the thread, ``{% bot_suggestion conversation %}`` beside the
composer, ``{% bot_article_feedback article %}`` on a knowledge-base article's page."""

from __future__ import annotations

from typing import Any

from django import template

from kefu.bot.services import article_feedback, summary_for
from kefu.nlp.emotion import LABEL_NAMES

register = template.Library()


@register.inclusion_tag("bot/_summary.html")
def bot_summary(conversation: Any) -> dict[str, Any]:
    summary = summary_for(conversation)
    if summary:
        summary = {
            **summary,
            "emotion_path": " → ".join(
                f"{LABEL_NAMES.get(e.get('label', ''), e.get('label', ''))} {e.get('score', 0)}"
                for e in summary.get("emotions", [])
            ),
        }
    return {"summary": summary, "conversation": conversation}


@register.inclusion_tag("bot/_suggestion.html")
def bot_suggestion(conversation: Any) -> dict[str, Any]:
    return {"conversation": conversation}


@register.inclusion_tag("bot/_article_feedback.html")
def bot_article_feedback(article: Any) -> dict[str, Any]:
    rows = article_feedback(article_ids=[article.pk]) if article is not None and article.pk else []
    return {"feedback": rows[0] if rows else None}
