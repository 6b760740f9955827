"""SLA policies per channel kind, category and priority."""

from __future__ import annotations

from django.db import models


class SLAPolicy(models.Model):
    """The most specific active policy wins (channel kind, category, priority each
    either set or blank = any)."""

    class AppliesTo(models.TextChoices):
        ANY = "", "全部"
        CONVERSATION = "conversation", "会话"
        TICKET = "ticket", "工单"
        # A negative post many people can see, waiting for a public reply (docs/incidents.md).
        PUBLIC_POST = "public_post", "公开负面帖子"

    name = models.CharField(max_length=64)
    # A chat's "60 seconds" is not a ticket's first response time: policies say what they time.
    applies_to = models.CharField(max_length=12, choices=AppliesTo.choices, blank=True, default="")
    channel_kind = models.CharField(max_length=8, blank=True)
    ticket_category = models.CharField(max_length=16, blank=True)
    priority = models.CharField(max_length=2, blank=True)
    first_response_seconds = models.PositiveIntegerField(null=True, blank=True)
    resolution_seconds = models.PositiveIntegerField(null=True, blank=True)
    # Count only working hours (Mon–Fri 09:00–18:00 local) — used for email.
    business_hours = models.BooleanField(default=False)
    # Warn when this fraction of the allowed time has passed.
    warn_ratio = models.FloatField(default=0.8)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "SLA策略"
        verbose_name_plural = verbose_name


class Timer(models.TextChoices):
    """The clocks a policy can set; a step with no timer follows each of them."""

    FIRST_RESPONSE = "first_response", "首次响应"
    RESOLUTION = "resolution", "解决"


class EscalationStep(models.Model):
    """One tier of a policy's escalation chain (升级机制).

    Fires once per round of a ticket's timer, ``after_seconds`` (wall-clock) after the
    timer's warning time or its due time, and notifies the people in ``notify`` (a role
    resolved within the ticket's team).
    """

    class Anchor(models.TextChoices):
        WARNING = "warning", "预警时"
        BREACH = "breach", "超时时"

    class Notify(models.TextChoices):
        ASSIGNEE = "assignee", "处理人"
        OWNER = "owner", "负责人"
        TEAM_LEAD = "team_lead", "组长"
        SUPERVISOR = "supervisor", "主管"
        MANAGER = "manager", "经理"

    policy = models.ForeignKey(SLAPolicy, on_delete=models.CASCADE, related_name="escalation_steps")
    # Blank: every timer the policy sets.
    timer = models.CharField(max_length=16, choices=Timer.choices, blank=True, default="")
    anchor = models.CharField(max_length=8, choices=Anchor.choices)
    after_seconds = models.PositiveIntegerField(default=0)
    notify = models.CharField(max_length=16, choices=Notify.choices)
    # Also by email, when KEFU_SLA_EMAIL is on and the person has an address.
    email = models.BooleanField(default=True)

    class Meta:
        ordering = ["policy_id", "anchor", "after_seconds", "id"]
        verbose_name = "SLA升级步骤"
        verbose_name_plural = verbose_name

    @property
    def key(self) -> str:
        """What makes a step the same step (claims survive a chain saved again unchanged)."""
        return f"{self.anchor}+{self.after_seconds}:{self.notify}"


class EscalationNotice(models.Model):
    """A step that fired for one round of one ticket's timer: who was notified, and how.

    The unique constraint is the claim: of two workers, one inserts it; a re-run finds it.
    The step's settings are copied, so the trail stays true after the chain is edited.
    """

    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="escalations")
    timer = models.CharField(max_length=16, choices=Timer.choices)
    round = models.PositiveIntegerField()
    step_key = models.CharField(max_length=48)
    step = models.ForeignKey(EscalationStep, null=True, blank=True, on_delete=models.SET_NULL)
    anchor = models.CharField(max_length=8, choices=EscalationStep.Anchor.choices)
    after_seconds = models.PositiveIntegerField(default=0)
    notify = models.CharField(max_length=16, choices=EscalationStep.Notify.choices)
    due_at = models.DateTimeField(null=True, blank=True)
    # [{"id", "name", "role", "email": "queued" | "sent" | "failed" | "no_address" | "off"}]
    recipients = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["ticket", "timer", "round", "step_key"], name="escalation_once_per_round"
            )
        ]
