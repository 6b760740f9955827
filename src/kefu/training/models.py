"""Training (模拟训练): cases with virtual customers, practice sessions, certification.

Training lives in its own tables on purpose: a session is no conversation, so nothing
of it reaches customers, routing, the metrics, SLA timers, webhooks or the wallboard.
"""

from __future__ import annotations

from django.db import models


class Category(models.TextChoices):
    """The modules of week one's learning path (kefu.training.cases.LEARNING_PATH)."""

    PRESALE = "presale", "售前咨询"
    ORDERS = "orders", "订单与物流"
    RETURNS = "returns", "退换货"
    COMPLAINTS = "complaints", "投诉处理"


class TrainingCase(models.Model):
    """A scripted customer: persona, facts, goal, opening, replies per state, escalation."""

    # Built-in cases have a key (kefu.training.cases); authored ones have none.
    key = models.CharField(max_length=40, null=True, blank=True, unique=True)
    title = models.CharField("标题", max_length=100)
    category = models.CharField("模块", max_length=12, choices=Category.choices, db_index=True)
    # The whole case as kefu.training.engine.script_from_dict reads it.
    script = models.JSONField(default=dict)
    is_active = models.BooleanField("启用", default=True)
    position = models.PositiveSmallIntegerField(default=100)
    # A case written from a resolved conversation (its personal data removed).
    source_conversation = models.ForeignKey(
        "conversations.Conversation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]
        verbose_name = "训练案例"
        verbose_name_plural = verbose_name

    def __str__(self) -> str:
        return self.title


class TrainingSession(models.Model):
    """One trainee playing one case with one seed (the same seed replays the same customer)."""

    class Status(models.TextChoices):
        ACTIVE = "active", "进行中"
        FINISHED = "finished", "已结束"

    class Outcome(models.TextChoices):
        RESOLVED = "resolved", "已解决"
        ESCALATED = "escalated", "已升级（要求主管/威胁投诉）"
        LEFT_ANGRY = "left_angry", "顾客不满离开"

    case = models.ForeignKey(TrainingCase, on_delete=models.PROTECT, related_name="sessions")
    trainee = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="training_sessions")
    seed = models.PositiveIntegerField()
    # kefu.training.engine.CustomerState as a dict.
    state = models.JSONField(default=dict)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, blank=True)
    score = models.PositiveSmallIntegerField(null=True, blank=True)
    rubric = models.JSONField(default=list, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["trainee", "case"])]


class TrainingTurn(models.Model):
    """One message of a session: the virtual customer's or the trainee's (with its feedback)."""

    class Role(models.TextChoices):
        CUSTOMER = "customer", "顾客"
        TRAINEE = "trainee", "学员"

    session = models.ForeignKey(TrainingSession, on_delete=models.CASCADE, related_name="turns")
    index = models.PositiveSmallIntegerField()
    role = models.CharField(max_length=8, choices=Role.choices)
    text = models.TextField()
    # Customer turns: kefu.nlp.emotion's reading of the message, the engine's mood and
    # which template state it came from.
    emotion_label = models.CharField(max_length=12, blank=True)
    emotion_score = models.FloatField(null=True, blank=True)
    mood = models.FloatField(null=True, blank=True)
    kind = models.CharField(max_length=20, blank=True)
    # Trainee turns: the rule engine's findings, what worked, the case's model answer.
    findings = models.JSONField(default=list, blank=True)
    worked = models.JSONField(default=list, blank=True)
    ignored = models.BooleanField(default=False)
    model_answer = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["session_id", "index"]
        constraints = [models.UniqueConstraint(fields=["session", "index"], name="training_turn_once")]


class Certification(models.Model):
    """A trainee a lead declared ready for live chats."""

    trainee = models.OneToOneField(
        "accounts.User", on_delete=models.CASCADE, related_name="training_certification"
    )
    certified_by = models.ForeignKey("accounts.User", null=True, on_delete=models.SET_NULL, related_name="+")
    note = models.CharField(max_length=255, blank=True)
    certified_at = models.DateTimeField(auto_now_add=True)


class TrainingSettings(models.Model):
    """One row (pk=1): the admin's training settings."""

    # Routing skips agents without a certification (kefu.training.certification).
    require_certification = models.BooleanField("未认证的客服不接待在线会话", default=False)
    pass_score = models.PositiveSmallIntegerField("通过分数", default=80)
    updated_at = models.DateTimeField(auto_now=True)
