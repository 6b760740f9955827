"""Reply-quality data inside the desk: rule-set versions, findings of sent replies,
automatic rubric scores, review samples, supervisors' reviews and agents' appeals."""

from __future__ import annotations

from django.db import models


class RuleSetVersion(models.Model):
    """One saved rule set. The newest version is the active one; versions are never edited."""

    version = models.PositiveIntegerField(unique=True)
    # The exact text of ``RuleSet.to_json()``: ``cached_ruleset`` memoises on it.
    data = models.TextField()
    author = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version"]


class ReplyFindings(models.Model):
    """What the engine found in one agent reply as it was sent, and the context it used."""

    message = models.OneToOneField("conversations.Message", on_delete=models.CASCADE, related_name="quality")
    conversation = models.ForeignKey(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="reply_findings"
    )
    agent = models.ForeignKey("accounts.User", null=True, on_delete=models.SET_NULL, related_name="+")
    ruleset_version = models.PositiveIntegerField()
    context = models.JSONField(default=dict)
    findings = models.JSONField(default=list)
    high_count = models.PositiveSmallIntegerField(default=0)
    # The agent confirmed sending despite high-severity findings (the desk asked, or the
    # API caller sent ``confirm_findings``): an override quality reviewers look at.
    overridden = models.BooleanField(default=False, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]


class QualityScore(models.Model):
    """The automatic rubric score of a finished conversation (recomputed if it closes again)."""

    conversation = models.OneToOneField(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="quality_score"
    )
    agent = models.ForeignKey("accounts.User", null=True, on_delete=models.SET_NULL, related_name="+")
    total = models.PositiveSmallIntegerField()
    items = models.JSONField(default=list)
    rubric_version = models.PositiveIntegerField()
    kb_correctness = models.FloatField(null=True, blank=True)
    high_findings = models.PositiveSmallIntegerField(default=0)
    angry_customer = models.BooleanField(default=False)
    # How often each rule fired over the scored replies: the disagreement report's input.
    rule_counts = models.JSONField(default=dict)
    closed_at = models.DateTimeField(db_index=True)
    scored_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-closed_at", "-id"]


class Sample(models.Model):
    """A finished conversation drawn for manual review."""

    class Reason(models.TextChoices):
        RANDOM = "random", "随机抽检"
        HIGH_FINDING = "high_finding", "发送了高风险回复"
        LOW_SCORE = "low_score", "自动评分偏低"
        ANGRY_CUSTOMER = "angry_customer", "顾客愤怒"

    class Status(models.TextChoices):
        PENDING = "pending", "待复核"
        REVIEWED = "reviewed", "已复核"

    conversation = models.OneToOneField(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="quality_sample"
    )
    reasons = models.JSONField(default=list)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    drawn_by = models.ForeignKey("accounts.User", null=True, on_delete=models.SET_NULL, related_name="+")
    drawn_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-drawn_at", "-id"]


class Review(models.Model):
    """A supervisor's manual scoring of a conversation on the rubric items, and its appeal."""

    class Status(models.TextChoices):
        FINAL = "final", "已复核"
        APPEALED = "appealed", "申诉中"
        UPHELD = "upheld", "申诉驳回（维持）"
        OVERTURNED = "overturned", "申诉成立（改判）"

    conversation = models.ForeignKey("conversations.Conversation", on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey("accounts.User", null=True, on_delete=models.SET_NULL, related_name="+")
    reviewer = models.ForeignKey("accounts.User", null=True, on_delete=models.SET_NULL, related_name="+")
    # [{"key", "label", "points", "max_points", "comment"}]
    items = models.JSONField(default=list)
    total = models.PositiveSmallIntegerField()
    comment = models.TextField(blank=True)
    auto_total = models.PositiveSmallIntegerField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.FINAL, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    appeal_reason = models.TextField(blank=True)
    appealed_at = models.DateTimeField(null=True, blank=True)
    appeal_comment = models.TextField(blank=True)
    appeal_resolved_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    appeal_resolved_at = models.DateTimeField(null=True, blank=True)
    # The scoring before an overturning appeal replaced it.
    original_items = models.JSONField(null=True, blank=True)
    original_total = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "reviewer"], name="quality_review_once_per_reviewer"
            )
        ]
