"""Knowledge base (知识库): articles and FAQ entries, their history and feedback."""

from __future__ import annotations

from django.db import models


class Category(models.Model):
    name = models.CharField("名称", max_length=64)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    order = models.PositiveIntegerField(default=100)

    class Meta:
        ordering = ["order", "id"]
        constraints = [models.UniqueConstraint(fields=["parent", "name"], name="kb_category_unique_name")]

    def __str__(self) -> str:
        return self.name


class Article(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "草稿"
        PUBLISHED = "published", "已发布"
        ARCHIVED = "archived", "已归档"

    class Kind(models.TextChoices):
        ARTICLE = "article", "文章"
        FAQ = "faq", "常见问题"

    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.FAQ)
    title = models.CharField("标题", max_length=200)
    body = models.TextField("正文(Markdown)", blank=True)
    # The answer an agent inserts into a reply (plain text); defaults to the body.
    answer = models.TextField("标准答复", blank=True)
    similar_questions = models.JSONField("相似问法", default=list, blank=True)
    tags = models.JSONField("标签", default=list, blank=True)
    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.SET_NULL, related_name="articles"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT, db_index=True)
    owner = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    review_by = models.DateField("复审日期", null=True, blank=True)
    version = models.PositiveIntegerField(default=1)
    helpful_yes = models.PositiveIntegerField(default=0)
    helpful_no = models.PositiveIntegerField(default=0)
    views = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]

    def __str__(self) -> str:
        return self.title

    @property
    def helpfulness(self) -> float:
        """-1..1 with a prior of a few neutral votes, so one vote does not swing it."""
        total = self.helpful_yes + self.helpful_no
        return (self.helpful_yes - self.helpful_no) / (total + 5)


class ArticleVersion(models.Model):
    """A snapshot of each saved version: who changed what."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    answer = models.TextField(blank=True)
    similar_questions = models.JSONField(default=list)
    tags = models.JSONField(default=list)
    status = models.CharField(max_length=10)
    editor = models.ForeignKey("accounts.User", null=True, on_delete=models.SET_NULL, related_name="+")
    note = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version"]
        constraints = [models.UniqueConstraint(fields=["article", "version"], name="kb_version_unique")]


class Attachment(models.Model):
    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to="kb/%Y/%m/")
    name = models.CharField(max_length=128)
    content_type = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey("accounts.User", null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)


class SynonymGroup(models.Model):
    """Words customers use for the same thing (快递 = 物流); editable by admins."""

    head = models.CharField(max_length=32, unique=True)
    synonyms = models.JSONField(default=list)


class IndexChange(models.Model):
    """An append-only log of edits; every process's search index replays it.

    Search indexes live in each server process's memory; before searching, a process
    applies the changes with ids above the last one it saw, so an edit made in one
    process is visible to the next search in any other.
    """

    article_id = models.BigIntegerField()
    # "feedback" changes only the helpfulness prior: applied in place, no re-indexing.
    kind = models.CharField(max_length=8, default="text")
    created_at = models.DateTimeField(auto_now_add=True)


class Feedback(models.Model):
    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="feedback")
    helpful = models.BooleanField()
    comment = models.CharField(max_length=500, blank=True)
    session_key = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)


class ArticleUse(models.Model):
    """An article's answer used in a conversation: inserted by an agent, or sent by the bot.

    Customers rate conversations, not articles; joining these rows to the conversations'
    satisfaction (``Conversation.csat_score``) gives each article the ratings of the
    conversations it was used in (``kb.services.article_satisfaction``).
    """

    class Source(models.TextChoices):
        AGENT = "agent", "客服插入"
        SUGGESTION = "suggestion", "采用机器人建议"
        BOT = "bot", "机器人回答"

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="uses")
    conversation = models.ForeignKey("conversations.Conversation", on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=10, choices=Source.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["article", "conversation"], name="kb_use_article_conv")]
