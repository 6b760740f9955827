"""Knowledge base: articles and search results as the API and pages show them."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from kefu.kb import markdown

from .models import Article

if TYPE_CHECKING:  # the index (ground floor) builds results; presenters only read them
    from .index import SearchResult


def article_dict(a: Article, *, with_body: bool = True) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": a.pk,
        "kind": a.kind,
        "title": a.title,
        "answer": a.answer or markdown.plain_text(a.body)[:500],
        "similar_questions": a.similar_questions,
        "tags": a.tags,
        "category_id": a.category_id,
        "category": a.category.name if a.category_id and a.category else None,
        "status": a.status,
        "owner_id": a.owner_id,
        "review_by": a.review_by.isoformat() if a.review_by else None,
        "stale": is_stale(a),
        "version": a.version,
        "helpful_yes": a.helpful_yes,
        "helpful_no": a.helpful_no,
        "updated_at": a.updated_at.isoformat(),
    }
    if with_body:
        d["body"] = a.body
        d["body_html"] = markdown.render_markdown(a.body)
    return d


def result_dict(r: SearchResult) -> dict[str, Any]:
    return {
        "article": article_dict(r.article, with_body=False),
        "score": round(r.score, 4),
        "snippet_html": r.snippet_html,
        "matched_field": r.matched_field,
    }


def is_stale(article: Article, today: dt.date | None = None) -> bool:
    return article.review_by is not None and article.review_by < (today or timezone.localdate())
