"""Pages: the public help centre (/help) and the agents' knowledge-base editor (/desk/kb/)."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from kefu.accounts.access import AuthedRequest
from kefu.core.errors import InvalidInput
from kefu.core.params import whole
from kefu.incidents.facts import open_notices

from . import index, markdown, services
from .models import Article, Category, SynonymGroup


def help_home(request: AuthedRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()[:200]
    category_id = whole(request.GET.get("category"))
    results = index.search_articles(q, limit=20, category_id=category_id) if q else []
    popular = []
    if not q:
        qs = services.list_articles(status=Article.Status.PUBLISHED, category_id=category_id)
        popular = list(qs.order_by("-helpful_yes", "-updated_at")[:20])
    return render(
        request,
        "kb/help_home.html",
        {
            "q": q,
            "results": results,
            "popular": popular,
            "categories": services.category_tree(),
            "category_id": category_id,
            "incident_notices": open_notices(),
        },
    )


def help_article(request: AuthedRequest, article_id: int) -> HttpResponse:
    article = services.access_article(None, article_id)
    return render(
        request,
        "kb/help_article.html",
        {
            "article": article,
            "body_html": markdown.render_markdown(article.body),
            "incident_notices": open_notices(),
        },
    )


@login_required
def kb_list(request: AuthedRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()[:200]
    status = request.GET.get("status") or None
    stale = request.GET.get("stale") == "1"
    if q:
        statuses = (status,) if status else tuple(Article.Status.values)
        results = index.search_articles(q, limit=50, statuses=statuses)
        articles = [r.article for r in results]
    else:
        results = []
        articles = list(services.list_articles(status=status, stale_only=stale)[:200])
    return render(
        request,
        "kb/kb_list.html",
        {
            "q": q,
            "status": status or "",
            "stale": stale,
            "results": results,
            "articles": articles,
            "today": dt.date.today(),
            "can_edit": services.can_edit(request.user),
            "statuses": Article.Status.choices,
        },
    )


def _form_data(request: AuthedRequest) -> dict[str, object]:
    post = request.POST
    review = post.get("review_by") or None
    try:
        review_by = dt.date.fromisoformat(review) if review else None
    except ValueError as exc:
        raise InvalidInput("复审日期格式应为 YYYY-MM-DD", fields={"review_by": "日期格式错误"}) from exc
    return {
        "title": post.get("title", ""),
        "body": post.get("body", ""),
        "answer": post.get("answer", ""),
        "kind": post.get("kind", "faq"),
        "similar_questions": [
            line for line in post.get("similar_questions", "").splitlines() if line.strip()
        ],
        "tags": [t for t in post.get("tags", "").replace("，", ",").split(",") if t.strip()],
        "category_id": whole(post.get("category_id")),
        "status": post.get("status", "draft"),
        "review_by": review_by,
    }


@login_required
@require_http_methods(["GET", "POST"])
def kb_edit(request: AuthedRequest, article_id: int | None = None) -> HttpResponse:
    article = services.access_article(request.user, article_id) if article_id else None
    error = None
    if request.method == "POST":
        services.check_can_edit(request.user)
        try:
            data = _form_data(request)
            if article is None:
                article = services.do_create_article(actor=request.user, data=data)
            else:
                article = services.do_update_article(
                    actor=request.user, article_id=article.pk, data=data, note=request.POST.get("note", "")
                )
            return redirect("kb-edit", article_id=article.pk)
        except InvalidInput as exc:
            error = exc
    return render(
        request,
        "kb/kb_edit.html",
        {
            "article": article,
            "error": error,
            "form": request.POST if request.method == "POST" else None,
            "categories": Category.objects.all(),
            "versions": article.versions.select_related("editor")[:50] if article else [],
            "body_html": markdown.render_markdown(article.body) if article else "",
            "satisfaction": services.satisfaction_of(article.pk) if article else None,
            "can_edit": services.can_edit(request.user),
            "statuses": Article.Status.choices,
            "kinds": Article.Kind.choices,
        },
        status=400 if error else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def kb_synonyms(request: AuthedRequest) -> HttpResponse:
    error = None
    if request.method == "POST":
        try:
            words = [w for w in request.POST.get("synonyms", "").replace("，", ",").split(",") if w.strip()]
            services.do_set_synonyms(actor=request.user, head=request.POST.get("head", ""), synonyms=words)
            return redirect("kb-synonyms")
        except InvalidInput as exc:
            error = exc
    return render(
        request,
        "kb/kb_synonyms.html",
        {
            "groups": SynonymGroup.objects.order_by("head"),
            "error": error,
            "can_edit": services.can_edit(request.user),
        },
        status=400 if error else 200,
    )
