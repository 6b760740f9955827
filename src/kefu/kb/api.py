"""Knowledge-base API: articles, categories, synonyms, search, suggestions, feedback."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import File, Query, Router, Schema, Status, UploadedFile

from kefu.accounts.access import AuthedRequest, client_ip
from kefu.core.apiutil import StrictIn, page
from kefu.core.errors import InvalidInput
from kefu.kb.presenters import article_dict, result_dict

from . import index, services
from .models import SynonymGroup

router = Router(tags=["knowledge base"])


class ArticleIn(StrictIn):
    title: str
    body: str = ""
    answer: str = ""
    kind: str = "faq"
    similar_questions: list[str] = []
    tags: list[str] = []
    category_id: int | None = None
    status: str = "draft"
    review_by: dt.date | None = None


class ArticlePatch(StrictIn):
    title: str | None = None
    body: str | None = None
    answer: str | None = None
    kind: str | None = None
    similar_questions: list[str] | None = None
    tags: list[str] | None = None
    category_id: int | None = None
    status: str | None = None
    review_by: dt.date | None = None
    note: str = ""


class ArticleFilters(Schema):
    status: str | None = None
    category_id: int | None = None
    stale: bool = False
    limit: int = 50
    offset: int = 0


@router.get("/kb/articles")
def list_articles(request: AuthedRequest, filters: Query[ArticleFilters]) -> dict[str, Any]:
    if not 1 <= filters.limit <= 200 or filters.offset < 0:
        raise InvalidInput("分页参数无效", fields={"limit": "1–200", "offset": ">= 0"})
    qs = services.list_articles(
        status=filters.status, category_id=filters.category_id, stale_only=filters.stale
    )
    return page(
        qs, limit=filters.limit, offset=filters.offset, present=lambda a: article_dict(a, with_body=False)
    )


@router.post("/kb/articles", response={201: dict})
def create_article(request: AuthedRequest, payload: ArticleIn) -> Status:
    article = services.do_create_article(actor=request.user, data=payload.model_dump())
    return Status(201, article_dict(article))


@router.get("/kb/articles/{article_id}")
def get_article(request: AuthedRequest, article_id: int) -> dict[str, Any]:
    article = services.access_article(request.user, article_id)
    return {**article_dict(article), "satisfaction": services.satisfaction_of(article.pk)}


class ArticleUseIn(StrictIn):
    conversation_id: int


@router.post("/kb/articles/{article_id}/uses", response={201: dict})
def record_use(request: AuthedRequest, article_id: int, payload: ArticleUseIn) -> Status:
    """The agent put this article's answer into the conversation's composer (插入)."""
    use = services.do_record_article_use(
        agent=request.user,
        conversation_id=payload.conversation_id,
        article_id=article_id,
    )
    return Status(
        201,
        {
            "id": use.pk,
            "article_id": use.article_id,
            "conversation_id": use.conversation_id,
            "source": use.source,
        },
    )


@router.patch("/kb/articles/{article_id}")
def update_article(request: AuthedRequest, article_id: int, payload: ArticlePatch) -> dict[str, Any]:
    data = payload.model_dump(exclude_unset=True)
    note = data.pop("note", "")
    article = services.do_update_article(actor=request.user, article_id=article_id, data=data, note=note)
    return article_dict(article)


@router.delete("/kb/articles/{article_id}", response={204: None})
def delete_article(request: AuthedRequest, article_id: int) -> Status:
    services.do_delete_article(actor=request.user, article_id=article_id)
    return Status(204, None)


@router.get("/kb/articles/{article_id}/versions")
def article_versions(request: AuthedRequest, article_id: int) -> list[dict[str, Any]]:
    article = services.access_article(request.user, article_id)
    return [
        {
            "version": v.version,
            "title": v.title,
            "status": v.status,
            "editor": v.editor.name if v.editor_id and v.editor else None,
            "note": v.note,
            "created_at": v.created_at.isoformat(),
        }
        for v in article.versions.select_related("editor")
    ]


@router.post("/kb/articles/{article_id}/attachments", response={201: dict})
def upload_attachment(request: AuthedRequest, article_id: int, file: File[UploadedFile]) -> Status:
    """Attach an image or document to an article; returns its URL for use in the Markdown body."""
    a = services.do_add_attachment(actor=request.user, article_id=article_id, upload=file)
    return Status(201, {"id": a.pk, "name": a.name, "url": a.file.url, "content_type": a.content_type})


class SearchQuery(Schema):
    q: str
    category_id: int | None = None
    status: str = "published"
    limit: int = 10


@router.get("/kb/search")
def search(request: AuthedRequest, params: Query[SearchQuery]) -> dict[str, Any]:
    if not 1 <= params.limit <= 50:
        raise InvalidInput("limit 无效", fields={"limit": "1–50"})
    statuses = tuple(s for s in params.status.split(",") if s)
    results = index.search_articles(
        params.q, limit=params.limit, category_id=params.category_id, statuses=statuses
    )
    return {"query": params.q, "results": [result_dict(r) for r in results]}


@router.get("/conversations/{conversation_id}/kb-suggestions")
def suggestions(request: AuthedRequest, conversation_id: int) -> dict[str, Any]:
    found = index.suggestions_for_conversation(request.user, conversation_id)
    return {"query": found["query"], "results": [result_dict(r) for r in found["results"]]}


class CategoryIn(StrictIn):
    name: str
    parent_id: int | None = None


@router.get("/kb/categories")
def categories(request: AuthedRequest) -> list[dict[str, Any]]:
    return services.category_tree()


@router.post("/kb/categories", response={201: dict})
def create_category(request: AuthedRequest, payload: CategoryIn) -> Status:
    c = services.do_create_category(actor=request.user, name=payload.name, parent_id=payload.parent_id)
    return Status(201, {"id": c.pk, "name": c.name, "parent_id": c.parent_id})


class SynonymsIn(StrictIn):
    head: str
    synonyms: list[str]


@router.get("/kb/synonyms")
def list_synonyms(request: AuthedRequest) -> list[dict[str, Any]]:

    return [{"head": g.head, "synonyms": g.synonyms} for g in SynonymGroup.objects.order_by("head")]


@router.put("/kb/synonyms")
def set_synonyms(request: AuthedRequest, payload: SynonymsIn) -> dict[str, Any]:
    g = services.do_set_synonyms(actor=request.user, head=payload.head, synonyms=payload.synonyms)
    return {"head": g.head, "synonyms": g.synonyms}


class FeedbackIn(StrictIn):
    helpful: bool
    comment: str = ""


@router.post("/help/articles/{article_id}/feedback", auth=None)
def feedback(request: AuthedRequest, article_id: int, payload: FeedbackIn) -> dict[str, Any]:
    """Public: the help centre's "was this helpful?" buttons (rate limited per address)."""
    session_key = request.session.session_key or "" if hasattr(request, "session") else ""
    article = services.do_record_feedback(
        article_id=article_id,
        helpful=payload.helpful,
        comment=payload.comment,
        session_key=session_key,
        ip=client_ip(request),
    )
    return {"helpful_yes": article.helpful_yes, "helpful_no": article.helpful_no}


@router.get("/help/search", auth=None)
def public_search(request: AuthedRequest, q: str, category_id: int | None = None) -> dict[str, Any]:
    """Public: customers search the published articles."""
    results = index.search_articles(q, limit=10, category_id=category_id)
    return {
        "query": q,
        "results": [
            {"id": r.article.pk, "title": r.article.title, "snippet_html": r.snippet_html} for r in results
        ],
    }
