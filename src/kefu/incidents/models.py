"""Incidents: many customers hitting the same problem, one approved answer, a review afterwards."""

from __future__ import annotations

from django.db import models


class Incident(models.Model):
    class Status(models.TextChoices):
        PROPOSED = "proposed", "待确认"
        OPEN = "open", "处理中"
        RESOLVED = "resolved", "已解决"
        DISMISSED = "dismissed", "已忽略"
        MERGED = "merged", "已合并"

    class Kind(models.TextChoices):
        SKU = "sku", "同一商品"
        ROUTE = "route", "同一物流线路/仓库"
        TEXT = "text", "同类问题"
        MANUAL = "manual", "手动创建"

    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.PROTECT, related_name="incidents"
    )
    title = models.CharField("标题", max_length=128)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    # The detector's key ("sku:VC-500"): the same surge is proposed once while active.
    key = models.CharField(max_length=200, blank=True, db_index=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PROPOSED, db_index=True)
    # What makes a conversation part of it: intent, skus, routes, samples, keywords.
    spec = models.JSONField(default=dict, blank=True)
    # What the detector saw: count, rate and normal level, samples, customers, orders.
    evidence = models.JSONField(default=dict, blank=True)
    owner = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_incidents"
    )
    statement = models.TextField("对外口径", blank=True)
    statement_at = models.DateTimeField(null=True, blank=True)
    internal_note = models.TextField("内部说明", blank=True)
    notice = models.BooleanField("在咨询窗口和帮助中心显示公告", default=True)
    # A proactive message to the customers of the orders it names, when the statement is published.
    notify_customers = models.BooleanField("发布口径时主动通知受影响客户", default=True)
    notices_queued = models.PositiveIntegerField(default=0)
    lessons = models.TextField("改进事项", blank=True)
    follow_up_text = models.TextField("解决后回访内容", blank=True)
    follow_ups_sent = models.PositiveIntegerField(default=0)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged"
    )
    first_message_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)  # dismissed or merged
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "事件"
        verbose_name_plural = verbose_name

    def __str__(self) -> str:
        return self.title

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.PROPOSED, self.Status.OPEN)


class IncidentLink(models.Model):
    """A conversation tagged to an incident (by the detector, by matching, or by hand)."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="links")
    conversation = models.ForeignKey(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="incident_links"
    )
    reason = models.CharField(max_length=16)
    created_at = models.DateTimeField(auto_now_add=True)
    followed_up_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["incident", "conversation"], name="incident_link_once")
        ]


class IncidentEvent(models.Model):
    """One line of an incident's timeline."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(db_index=True)
    kind = models.CharField(max_length=16)
    actor = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]


class DetectionState(models.Model):
    """When the detector last ran (one row), so a restarted worker knows where it was."""

    last_run_at = models.DateTimeField(null=True, blank=True)
    last_tagged_conversation_id = models.BigIntegerField(default=0)


class PublicPost(models.Model):
    """A negative customer message that many people can see (a social post or comment, a
    live-stream comment), waiting for a public reply within its SLA.

    Flagged when the message arrives (``kefu.incidents.public_posts``); answered by the
    first public agent reply in its conversation; the worker's sweep records the warning
    and the breach once each (conditional UPDATEs) and tells the team's leads.
    """

    class Status(models.TextChoices):
        OPEN = "open", "待公开回复"
        ANSWERED = "answered", "已公开回复"

    message = models.OneToOneField(
        "conversations.Message", on_delete=models.CASCADE, related_name="public_post"
    )
    conversation = models.ForeignKey(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="public_posts"
    )
    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel_kind = models.CharField(max_length=8)
    # What the platform reported: {"followers", "views", "likes", "shares", "comments"} (ints).
    reach = models.JSONField(default=dict, blank=True)
    post_url = models.CharField(max_length=500, blank=True)
    emotion_label = models.CharField(max_length=16, blank=True)
    emotion_score = models.FloatField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN, db_index=True)
    due_at = models.DateTimeField(db_index=True)
    warned_at = models.DateTimeField(null=True, blank=True)
    breached_at = models.DateTimeField(null=True, blank=True)
    # Who the breach was escalated to: [{"id", "name", "role"}].
    escalated_to = models.JSONField(default=list, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    answered_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    answer = models.ForeignKey(
        "conversations.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["due_at", "id"]
        verbose_name = "公开负面帖子"
        verbose_name_plural = verbose_name
