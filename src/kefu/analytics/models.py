"""Targets an admin sets for the desk's figures (kefu.analytics.metrics reads them)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class MetricTarget(models.Model):
    """The target of one metric, desk-wide (no team) or for one team (which overrides it)."""

    name = models.CharField("指标", max_length=48)
    team = models.ForeignKey(
        "accounts.Team",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name="团队",
    )
    value = models.FloatField("目标值")
    updated_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = "指标目标"
        verbose_name_plural = verbose_name
        constraints = [
            models.UniqueConstraint(
                fields=["name"], condition=Q(team__isnull=True), name="metric_target_desk_unique"
            ),
            models.UniqueConstraint(
                fields=["name", "team"], condition=Q(team__isnull=False), name="metric_target_team_unique"
            ),
        ]


# --- rollups (kefu.analytics.rollups keeps them; kefu.analytics.metrics reads them) -------------


class RollupState(models.Model):
    """How far the rollups have read: every message and emotion alert up to these ids (one row)."""

    message_mark = models.BigIntegerField(default=0)
    alert_mark = models.BigIntegerField(default=0)
    # Repeat contacts (FCR): conversations resolved before this time, less the FCR window, have had
    # theirs decided; and customers edited before ``customer_mark`` (a merge edits both profiles)
    # have had their conversations' decided again. None: from the beginning.
    repeat_mark = models.DateTimeField(null=True)
    customer_mark = models.DateTimeField(null=True)
    updated_at = models.DateTimeField(auto_now=True)


class ConversationRollup(models.Model):
    """The per-row parts of a conversation's figures, computed once by the worker.

    Valid while no message or emotion alert of the conversation is newer than the
    ``RollupState`` marks; ``kefu.analytics.metrics`` computes the others live.
    """

    conversation = models.OneToOneField(
        "conversations.Conversation", primary_key=True, on_delete=models.CASCADE, related_name="rollup"
    )
    # Open (business-hours) seconds from creation to the first agent reply; None: no agent reply.
    first_response_open_seconds = models.FloatField(null=True)
    transferred = models.BooleanField(default=False)
    reopened = models.BooleanField(default=False)
    upset = models.BooleanField(default=False)
    # FCR's repeat contact: the same customer (merged profiles included) opened another
    # conversation within the window after the resolution. Decided once that window has passed
    # (it cannot change after, but through a merge or another conversation's late change, which
    # the metrics check: ``metrics._repeat_decided``); None until then: computed live.
    repeat_contact = models.BooleanField(null=True)
    # When it was decided (less the settle time): a customer profile edited since (a merge edits
    # both) makes it live again until the worker decides it anew.
    repeat_decided_at = models.DateTimeField(null=True)
    computed_at = models.DateTimeField(auto_now=True)


class ReplyRollup(models.Model):
    """An agent reply that ended a customer turn, and how long the customer had waited (wall clock)."""

    message = models.OneToOneField(
        "conversations.Message", primary_key=True, on_delete=models.CASCADE, related_name="rollup"
    )
    conversation = models.ForeignKey(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="+", db_index=True
    )
    # The reply's time and author, copied from the message: a report reads a period's waits from
    # this table's index alone, without scanning the period's messages (docs/metrics.md, Rollups).
    # The author is cleared with the message's, so a reply whose author was deleted drops out of
    # both paths alike.
    created_at = models.DateTimeField(null=True)
    sender = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    seconds = models.FloatField()

    class Meta:
        indexes = [
            # Covering on PostgreSQL (SQLite ignores INCLUDE): a period's waits by index only.
            models.Index(
                fields=["created_at"],
                include=["conversation", "sender", "seconds"],
                name="reply_rollup_time",
            ),
        ]
