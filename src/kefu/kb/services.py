"""Knowledge base, top floor: editing with version history, categories, synonyms,
attachments and the public help centre's feedback.

Search and the per-process index are the ground floor (:mod:`kefu.kb.index`); every
edit notes an index change in its own transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from kefu.accounts.access import check_role
from kefu.accounts.models import Role, User
from kefu.conversations.timeline import access_conversation, check_image
from kefu.core import ratelimit
from kefu.core.errors import InvalidInput, NotFound, PermissionDenied
from kefu.core.fields import check_text, check_text_list
from kefu.kb.index import SYNONYMS_CHANGED, category_and_descendants, note_index_change

from .models import Article, ArticleUse, ArticleVersion, Attachment, Category, Feedback, SynonymGroup

EDITOR_ROLE = Role.TEAM_LEAD
MAX_SIMILAR_QUESTIONS = 50


# --- reads ---------------------------------------------------------------------------


def can_edit(user: User) -> bool:
    return user.is_authenticated and user.has_role_at_least(EDITOR_ROLE)


def access_article(user: User | None, article_id: int) -> Article:
    """Staff see every article; the public (user None/anonymous) only published ones."""
    qs = Article.objects.select_related("category", "owner")
    if user is None or not user.is_authenticated:
        qs = qs.filter(status=Article.Status.PUBLISHED)
    try:
        return qs.get(pk=article_id)
    except Article.DoesNotExist as exc:
        raise NotFound(f"文章 {article_id} 不存在") from exc


def list_articles(
    *, status: str | None = None, category_id: int | None = None, stale_only: bool = False
) -> QuerySet[Article]:
    qs = Article.objects.select_related("category", "owner")
    if status:
        if status not in Article.Status.values:
            raise InvalidInput(f"未知状态：{status}", fields={"status": "应为 draft/published/archived"})
        qs = qs.filter(status=status)
    if category_id:
        qs = qs.filter(category_id__in=category_and_descendants(category_id))
    if stale_only:
        qs = qs.filter(review_by__lt=timezone.localdate())
    return qs


# --- writes --------------------------------------------------------------------------


def _check_fields(data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "title" in data or not partial:
        out["title"] = check_text(data.get("title"), field="title", max_len=200)
    for key, limit in (("body", 50_000), ("answer", 5_000)):
        if key in data:
            # Markdown keeps its leading indentation and trailing line breaks.
            out[key] = check_text(data[key], field=key, max_len=limit, required=False, strip=False)
    if "similar_questions" in data:
        out["similar_questions"] = check_text_list(
            data["similar_questions"], field="similar_questions", max_items=MAX_SIMILAR_QUESTIONS, max_len=200
        )
    if "tags" in data:
        out["tags"] = check_text_list(data["tags"], field="tags", max_items=20, max_len=32)
    if "status" in data:
        if data["status"] not in Article.Status.values:
            raise InvalidInput("状态无效", fields={"status": "应为 draft/published/archived"})
        out["status"] = data["status"]
    if "kind" in data:
        if data["kind"] not in Article.Kind.values:
            raise InvalidInput("类型无效", fields={"kind": "应为 article/faq"})
        out["kind"] = data["kind"]
    if "category_id" in data:
        cid = data["category_id"]
        if cid is not None and not Category.objects.filter(pk=cid).exists():
            raise InvalidInput("分类不存在", fields={"category_id": "不存在"})
        out["category_id"] = cid
    if "review_by" in data:
        out["review_by"] = data["review_by"]
    return out


def _snapshot(article: Article, editor: User | None, note: str) -> None:
    ArticleVersion.objects.create(
        article=article,
        version=article.version,
        title=article.title,
        body=article.body,
        answer=article.answer,
        similar_questions=article.similar_questions,
        tags=article.tags,
        status=article.status,
        editor=editor,
        note=note[:255],
    )


def do_create_article(*, actor: User, data: dict[str, Any]) -> Article:
    check_role(actor, EDITOR_ROLE)
    fields = _check_fields(data, partial=False)
    with transaction.atomic():
        article = Article.objects.create(owner=actor, **fields)
        _snapshot(article, actor, "创建")
        note_index_change(article.pk)
    return article


def do_update_article(*, actor: User, article_id: int, data: dict[str, Any], note: str = "") -> Article:
    check_role(actor, EDITOR_ROLE)
    fields = _check_fields(data, partial=True)
    with transaction.atomic():
        article = Article.objects.select_for_update().filter(pk=article_id).first()
        if article is None:
            raise NotFound(f"文章 {article_id} 不存在")
        changed = [k for k, v in fields.items() if getattr(article, k) != v]
        if not changed:
            return article
        for key, value in fields.items():
            setattr(article, key, value)
        article.version += 1
        article.save()
        _snapshot(article, actor, note or "修改：" + "、".join(changed))
        note_index_change(article.pk)
    return article


def do_delete_article(*, actor: User, article_id: int) -> None:
    check_role(actor, EDITOR_ROLE)
    with transaction.atomic():
        deleted, _ = Article.objects.filter(pk=article_id).delete()
        if not deleted:
            raise NotFound(f"文章 {article_id} 不存在")
        note_index_change(article_id)


ATTACHMENT_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp", "application/pdf")
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024


def do_add_attachment(*, actor: User, article_id: int, upload: Any) -> Attachment:
    check_role(actor, EDITOR_ROLE)
    article = access_article(actor, article_id)
    if upload.size is None or upload.size > MAX_ATTACHMENT_BYTES:
        raise InvalidInput("附件过大（最大 10 MB）", fields={"file": "文件过大"})
    if upload.content_type not in ATTACHMENT_TYPES:
        raise InvalidInput("只支持图片和 PDF 附件", fields={"file": "类型不支持"})
    if upload.content_type.startswith("image/"):
        try:
            check_image(upload)
        except InvalidInput as exc:
            raise InvalidInput(exc.message, fields={"file": next(iter(exc.fields.values()), "无效")}) from exc
    name = (upload.name or "attachment")[-128:]
    return Attachment.objects.create(
        article=article, file=upload, name=name, content_type=upload.content_type, uploaded_by=actor
    )


def do_record_feedback(
    *, article_id: int, helpful: bool, comment: str = "", session_key: str = "", ip: str | None = None
) -> Article:
    """A "was this helpful?" vote from the help centre; it nudges the article's ranking.

    Votes count against the address's ``help_feedback_ip`` limit (``RateLimited``).
    """
    ratelimit.take_for_address("help_feedback_ip", ip, message="提交太频繁，请稍后再试")
    if not isinstance(helpful, bool):
        raise InvalidInput("请选择是否有帮助", fields={"helpful": "必须是 true/false"})
    if len(comment) > 500:
        raise InvalidInput("留言过长", fields={"comment": "最多500个字符"})
    with transaction.atomic():
        article = access_article(None, article_id)
        Feedback.objects.create(
            article=article, helpful=helpful, comment=comment, session_key=session_key[:64]
        )
        field = "helpful_yes" if helpful else "helpful_no"
        Article.objects.filter(pk=article.pk).update(**{field: F(field) + 1})
        note_index_change(article.pk, kind="feedback")
    article.refresh_from_db()
    return article


def do_set_synonyms(*, actor: User, head: str, synonyms: Iterable[str]) -> SynonymGroup:
    check_role(actor, EDITOR_ROLE)
    head = check_text(head, field="head", label="词条", max_len=32)
    words = check_text_list(list(synonyms), field="synonyms", label="同义词", max_items=30, max_len=32)
    with transaction.atomic():
        if words:
            group, _ = SynonymGroup.objects.update_or_create(head=head, defaults={"synonyms": words})
        else:
            SynonymGroup.objects.filter(head=head).delete()
            group = SynonymGroup(head=head, synonyms=[])
        note_index_change(SYNONYMS_CHANGED)
    return group


def do_create_category(*, actor: User, name: str, parent_id: int | None = None) -> Category:
    check_role(actor, EDITOR_ROLE)
    name = check_text(name, field="name", label="分类名称", max_len=64)
    if parent_id is not None and not Category.objects.filter(pk=parent_id).exists():
        raise InvalidInput("上级分类不存在", fields={"parent_id": "不存在"})
    return Category.objects.create(name=name, parent_id=parent_id)


def category_tree() -> list[dict[str, Any]]:
    nodes: dict[int, dict[str, Any]] = {
        c.pk: {"id": c.pk, "name": c.name, "parent_id": c.parent_id, "children": []}
        for c in Category.objects.all()
    }
    roots: list[dict[str, Any]] = []
    for node in nodes.values():
        parent = nodes.get(node["parent_id"]) if node["parent_id"] else None
        (parent["children"] if parent else roots).append(node)
    return roots


def check_can_edit(user: User) -> None:
    if not can_edit(user):
        raise PermissionDenied("需要组长及以上权限才能编辑知识库")


# --- articles used in conversations, and those conversations' ratings ----------------------


def do_record_article_use(*, agent: User, conversation_id: int, article_id: int) -> ArticleUse:
    """Record an agent's 插入 of an article's answer into a conversation; the conversation's
    rating then counts for it. Only on a conversation the agent may see, and only a published
    article (a draft has no answer to give a customer)."""
    access_conversation(agent, conversation_id)
    if not Article.objects.filter(pk=article_id, status=Article.Status.PUBLISHED).exists():
        raise NotFound(f"已发布的知识库文章 {article_id} 不存在", fields={"article_id": "不存在或未发布"})
    return record_article_use(
        article_id=article_id, conversation_id=conversation_id, source=ArticleUse.Source.AGENT, agent=agent
    )


def record_article_use(
    *, article_id: int, conversation_id: int, source: ArticleUse.Source, agent: User | None = None
) -> ArticleUse:
    """Record that a published article's answer went into a conversation (an agent's 插入, an
    accepted bot suggestion, the bot's own answer); the caller has checked the conversation's
    access and that the article is published."""
    return ArticleUse.objects.create(
        article_id=article_id, conversation_id=conversation_id, agent=agent, source=source
    )


def article_satisfaction(
    article_ids: Iterable[int] | None, *, since: Any = None, until: Any = None
) -> dict[int, dict[str, Any]]:
    """Per article: the conversations it was used in, how many were rated, their mean CSAT and
    the share rated 4–5 (``docs/knowledge-base.md``).

    A conversation counts once per article however often the article went into it, so one
    long conversation does not outweigh the others; ``since``/``until`` bound the uses;
    ``article_ids`` None: every article used in that window.
    """
    uses = ArticleUse.objects.all()
    if article_ids is not None:
        uses = uses.filter(article_id__in=list(article_ids))
    if since is not None:
        uses = uses.filter(created_at__gte=since)
    if until is not None:
        uses = uses.filter(created_at__lt=until)
    pairs = (
        uses.order_by()  # the default ordering's column would defeat DISTINCT
        .values_list("article_id", "conversation_id", "conversation__csat_score", "source")
        .distinct()
    )
    seen: dict[int, dict[int, int | None]] = {}
    by_bot: dict[int, set[int]] = {}
    for article_id, conversation_id, score, source in pairs:
        seen.setdefault(article_id, {})[conversation_id] = score
        if source == ArticleUse.Source.BOT:
            by_bot.setdefault(article_id, set()).add(conversation_id)
    return {
        article_id: _satisfaction(conversations, len(by_bot.get(article_id, ())))
        for article_id, conversations in seen.items()
    }


def _satisfaction(scores_by_conversation: dict[int, int | None], by_bot: int) -> dict[str, Any]:
    scores = [s for s in scores_by_conversation.values() if s is not None]
    return {
        "conversations": len(scores_by_conversation),
        "by_bot": by_bot,
        "rated": len(scores),
        "csat": round(sum(scores) / len(scores), 2) if scores else None,
        "satisfied_share": round(sum(1 for s in scores if s >= 4) / len(scores), 3) if scores else None,
    }


def satisfaction_of(article_id: int) -> dict[str, Any]:
    """One article's figures (zeros before its first use)."""
    return article_satisfaction([article_id]).get(article_id) or _satisfaction({}, 0)
