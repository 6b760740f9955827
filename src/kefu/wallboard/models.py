"""The wallboard's own rows: read-only display tokens for wall screens, and whispers."""

from __future__ import annotations

from django.db import models


class DisplayToken(models.Model):
    """A read-only key for a wall screen: shows the board of one team (or all), nothing else.

    Only the key's SHA-256 is stored; the plain key is shown once, in the link.
    """

    name = models.CharField("名称", max_length=64)
    # None: every team (only supervisors and above may create such a token).
    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    prefix = models.CharField(max_length=12)
    key_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey("accounts.User", null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "看板投屏令牌"
        verbose_name_plural = verbose_name


class Whisper(models.Model):
    """A lead's private word to the agent serving a conversation: never a message of it."""

    conversation = models.ForeignKey("conversations.Conversation", on_delete=models.CASCADE, related_name="+")
    author = models.ForeignKey("accounts.User", null=True, on_delete=models.SET_NULL, related_name="+")
    agent = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="+")
    text = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["agent", "conversation"])]
