"""Knowledge base, ground floor: the search index and what others ask of it.

Each server process keeps its own in-memory :class:`kefu.nlp.search.SearchIndex`. Edits
append an :class:`IndexChange` row in the same transaction, and every search first
replays the changes it has not seen, so an edit is visible to the very next search in
any process. ``search_articles`` serves the desk, the help centre and the reply-quality
check; ``suggestions_for_conversation`` the panel beside the composer.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kefu.accounts.models import User
from kefu.conversations.models import Message
from kefu.conversations.timeline import access_conversation
from kefu.core.errors import InvalidInput
from kefu.core.fields import check_text
from kefu.nlp.search import DEFAULT_SYNONYMS, Document, Hit, SearchIndex
from kefu.understanding.reading import product_names

from .markdown import plain_text
from .models import Article, Category, IndexChange, SynonymGroup

SYNONYMS_CHANGED = 0  # IndexChange.article_id meaning "reload the synonym table"


class _IndexHolder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.index: SearchIndex | None = None
        self.last_change = 0

    def reset(self) -> None:
        with self.lock:
            self.index = None
            self.last_change = 0


_holder = _IndexHolder()


def reset_index() -> None:
    """Forget the in-memory index (tests; the next search rebuilds it)."""
    _holder.reset()


def _document(a: Article) -> Document:
    return Document(
        id=a.pk,
        title=a.title,
        body=plain_text(a.body),
        similar_questions=tuple(a.similar_questions),
        category_id=a.category_id,
        status=a.status,
        tags=tuple(a.tags),
        helpfulness=a.helpfulness,
    )


def _synonym_table() -> dict[str, Sequence[str]]:
    table: dict[str, Sequence[str]] = dict(DEFAULT_SYNONYMS)
    for group in SynonymGroup.objects.all():
        table[group.head] = tuple(group.synonyms)
    return table


def _product_names() -> list[str]:

    return product_names()


def search_index() -> SearchIndex:
    """The process's index, brought up to date with every committed edit."""
    with _holder.lock:
        if _holder.index is None:
            # Read the high-water mark first: a change committed while we load is
            # then replayed by the next call instead of being lost.
            last = IndexChange.objects.order_by("-id").values_list("id", flat=True).first() or 0
            index = SearchIndex(_synonym_table())
            index.add_product_names(_product_names())
            index.bulk_load(_document(a) for a in Article.objects.all().iterator())
            _holder.index, _holder.last_change = index, last
            return index
        index = _holder.index
        changes = list(
            IndexChange.objects.filter(id__gt=_holder.last_change)
            .order_by("id")
            .values_list("id", "article_id", "kind")
        )
        if changes:
            if any(aid == SYNONYMS_CHANGED for _, aid, _ in changes):
                index.set_synonyms(_synonym_table())
                index.add_product_names(_product_names())
            text_ids = {aid for _, aid, kind in changes if aid != SYNONYMS_CHANGED and kind != "feedback"}
            vote_ids = {aid for _, aid, kind in changes if kind == "feedback"} - text_ids
            found = {a.pk: a for a in Article.objects.filter(pk__in=text_ids | vote_ids)}
            for aid in text_ids:
                if aid in found:
                    index.upsert(_document(found[aid]))
                else:
                    index.remove(aid)
            for aid in vote_ids:
                # A vote moves only the helpfulness prior; re-indexing the text for it
                # would pile up dead postings on busy articles.
                if aid in found and not index.set_helpfulness(aid, found[aid].helpfulness):
                    index.upsert(_document(found[aid]))
            _holder.last_change = changes[-1][0]
        return index


def note_index_change(article_id: int, *, kind: str = "text") -> None:
    IndexChange.objects.create(article_id=article_id, kind=kind)


def category_and_descendants(category_id: int) -> list[int]:
    children: dict[int | None, list[int]] = {}
    for cid, parent in Category.objects.values_list("id", "parent_id"):
        children.setdefault(parent, []).append(cid)
    out, stack = [], [category_id]
    while stack:
        cid = stack.pop()
        out.append(cid)
        stack.extend(children.get(cid, []))
    return out


@dataclass(frozen=True)
class SearchResult:
    article: Article
    score: float
    snippet_html: str
    matched_field: str
    # The index's estimate (0..1) that this article answers the query (``nlp.search.Hit``).
    confidence: float = 0.0


def search_articles(
    query: str,
    *,
    limit: int = 10,
    category_id: int | None = None,
    statuses: Sequence[str] = (Article.Status.PUBLISHED,),
) -> list[SearchResult]:
    query = check_text(query, field="q", label="搜索内容", max_len=200, required=False)
    if not query:
        return []
    for s in statuses:
        if s not in Article.Status.values:
            raise InvalidInput(f"未知状态：{s}", fields={"status": "应为 draft/published/archived"})
    categories = category_and_descendants(category_id) if category_id else None
    hits: list[Hit] = search_index().search(
        query, limit=limit, category_ids=categories, statuses=tuple(statuses)
    )
    articles = Article.objects.select_related("category").in_bulk([h.doc_id for h in hits])
    return [
        SearchResult(articles[h.doc_id], h.score, h.snippet_html, h.matched_field, h.confidence)
        for h in hits
        if h.doc_id in articles
    ]


# A suggestion must score at least this fraction of the best one. On the demo shop,
# related answers scored 0.27–0.6 of the best (「保温杯第一次使用怎么清洗」 under
# 「杯子漏水怎么办」, the other invoice articles under 「发票怎么开」) and stray matches
# 0.08–0.25.
SUGGESTION_FLOOR = 0.25


def suggestions_for_conversation(user: User, conversation_id: int, *, limit: int = 5) -> dict[str, Any]:
    """Articles matching the latest customer messages, for the panel beside the composer."""

    conversation = access_conversation(user, conversation_id)
    texts = list(
        conversation.messages.filter(direction=Message.Direction.INCOMING)
        .exclude(text="")
        .order_by("-id")
        .values_list("text", flat=True)[:3]
    )
    query = " ".join(reversed(texts))[-200:]
    results = search_articles(query, limit=limit) if query else []
    if results:
        # Beside the composer every line costs the agent attention: drop hits that
        # only share a stray word with the messages (「用不了」 pulling in a bed-linen
        # article under a coupon question). Scores are relative to the best hit.
        floor = results[0].score * SUGGESTION_FLOOR
        results = [r for r in results if r.score >= floor]
    return {"query": query, "results": results}
