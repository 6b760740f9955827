"""Satisfaction surveys (CSAT and NPS) sent after resolution, and follow-up visits (回访)."""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django.utils import timezone


class SurveySetting(models.Model):
    """How surveys work on one channel; the row without a channel is the desk-wide default."""

    # "desk" for the default, "channel-<id>" for a channel: unique, so two admins saving at once
    # cannot leave two defaults (NULL channels are never equal in a unique constraint).
    key = models.CharField(max_length=32, unique=True)
    channel = models.OneToOneField(
        "inboxes.Channel", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    enabled = models.BooleanField("发送满意度调查", default=True)
    nps_enabled = models.BooleanField("同时询问推荐意愿（NPS）", default=False)
    expiry_days = models.PositiveSmallIntegerField("调查有效天数", default=7)
    low_score_threshold = models.PositiveSmallIntegerField("低分回访阈值（满意度不高于）", default=2)
    complaint_follow_up_days = models.PositiveSmallIntegerField("投诉结案后几天回访", default=3)
    updated_at = models.DateTimeField(auto_now=True)


class Survey(models.Model):
    """The one survey of a conversation; its answer is written once, before it expires."""

    conversation = models.OneToOneField(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="survey"
    )
    # The secret half of the link: the signature alone would make a link for a known id forgeable
    # by anyone holding the key, the nonce makes each link unguessable even then.
    nonce = models.CharField(max_length=32, unique=True)
    channel = models.ForeignKey("inboxes.Channel", on_delete=models.CASCADE, related_name="+")
    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    agent = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    nps_asked = models.BooleanField(default=False)
    sent_at = models.DateTimeField(db_index=True)
    expires_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True, db_index=True)
    csat = models.PositiveSmallIntegerField(null=True, blank=True)
    nps = models.PositiveSmallIntegerField(null=True, blank=True)
    comment = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-id"]

    def state(self, now: datetime | None = None) -> str:
        """``answered``, ``expired`` or ``open``."""
        if self.answered_at is not None:
            return "answered"
        return "expired" if self.expires_at <= (now or timezone.now()) else "open"


class FollowUp(models.Model):
    """A call back (回访) on a team lead's list: after a low score, or a few days after a complaint closed."""

    class Kind(models.TextChoices):
        LOW_SCORE = "low_score", "低分回访"
        COMPLAINT = "complaint", "投诉回访"

    class Outcome(models.TextChoices):
        SATISFIED = "satisfied", "客户满意"
        UNHAPPY = "unhappy", "仍不满意（已重新打开）"

    kind = models.CharField(max_length=12, choices=Kind.choices)
    conversation = models.ForeignKey("conversations.Conversation", on_delete=models.CASCADE, related_name="+")
    survey = models.OneToOneField(
        Survey, null=True, blank=True, on_delete=models.CASCADE, related_name="follow_up"
    )
    complaint = models.ForeignKey(
        "complaints.Complaint", null=True, blank=True, on_delete=models.CASCADE, related_name="call_backs"
    )
    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    due_at = models.DateTimeField(db_index=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, blank=True)
    note = models.TextField(blank=True)
    done_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    done_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["due_at", "id"]
        constraints = [
            # One 回访 per confirmation of a complaint (its due time derives from the confirmation),
            # so two workers scheduling at once leave one; a complaint reopened and confirmed
            # again gets a new one.
            models.UniqueConstraint(
                fields=["complaint", "due_at"], name="surveys_one_call_back_per_confirmation"
            )
        ]
