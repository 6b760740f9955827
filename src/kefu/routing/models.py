"""Routing rules: which team's queue a new conversation joins."""

from __future__ import annotations

from django.db import models


class RoutingRule(models.Model):
    """A keyword (or channel) rule; lower ``order`` is tried first.

    A rule with a channel and no keywords sends all that channel's conversations to the
    team; with keywords it matches when any keyword occurs in the first message.
    """

    name = models.CharField(max_length=64)
    channel = models.ForeignKey("inboxes.Channel", null=True, blank=True, on_delete=models.CASCADE)
    keywords = models.JSONField(default=list, blank=True)
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE)
    priority = models.CharField(max_length=2, blank=True, help_text="为匹配的会话设置优先级（可空）")
    order = models.PositiveIntegerField(default=100)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["order", "id"]
