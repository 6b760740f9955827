"""Conversations and their messages: every channel ends up here."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Coalesce

from kefu.core.files import FILE_TYPES, private_storage, random_file_name, random_image_name

# A conversation's last activity: the inbox's order (never null, so a keyset cursor can start
# from any row), and the expression its index is built on.
ACTIVITY_AT = Coalesce("last_message_at", "created_at")


class Priority(models.TextChoices):
    """The urgent × important matrix."""

    P1 = "P1", "P1 紧急且重要"
    P2 = "P2", "P2 重要不紧急"
    P3 = "P3", "P3 紧急不重要"
    P4 = "P4", "P4 常规"


def priority_for(*, urgent: bool, important: bool) -> str:
    if urgent and important:
        return Priority.P1
    if important:
        return Priority.P2
    if urgent:
        return Priority.P3
    return Priority.P4


class Conversation(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "处理中"
        PENDING = "pending", "等待客户"
        SNOOZED = "snoozed", "已暂缓"
        RESOLVED = "resolved", "已解决"
        CLOSED = "closed", "已关闭"

    # Not yet resolved or closed: on someone's desk, counted, timed and alerted on.
    ACTIVE_STATUSES = (Status.OPEN, Status.PENDING, Status.SNOOZED)

    channel = models.ForeignKey("inboxes.Channel", on_delete=models.PROTECT, related_name="conversations")
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="conversations")
    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    assignee = models.ForeignKey(
        "accounts.User",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_conversations",
    )
    # First-contact ownership (首问负责制): whoever answered first owns what follows.
    first_responder = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN, db_index=True)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    priority = models.CharField(max_length=2, choices=Priority.choices, default=Priority.P4)
    subject = models.CharField(max_length=255, blank=True)
    # The order the customer wrote about (the latest order number they typed).
    order = models.ForeignKey(
        "customers.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    intent = models.CharField(max_length=32, blank=True)
    intent_confidence = models.FloatField(null=True, blank=True)
    emotion_label = models.CharField(max_length=16, blank=True)
    emotion_score = models.FloatField(default=0)
    emotion_trend = models.CharField(max_length=12, blank=True)
    emotion_signals = models.JSONField(default=list, blank=True)
    # P(the customer ends this conversation dissatisfied), learned on rated helpdesk
    # dialogues (kefu.nlp.conversation); None before the first customer message.
    dissatisfied_probability = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_message_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_customer_message_at = models.DateTimeField(null=True, blank=True)
    last_agent_message_at = models.DateTimeField(null=True, blank=True)
    # Queue: set while the conversation waits for an agent.
    queued_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_queue_position = models.PositiveIntegerField(null=True, blank=True)
    # SLA timers are due times, so they survive restarts.
    first_response_at = models.DateTimeField(null=True, blank=True)
    first_response_due = models.DateTimeField(null=True, blank=True, db_index=True)
    sla_warned_at = models.DateTimeField(null=True, blank=True)
    sla_breached_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # Read state: the last message id each side has seen.
    customer_last_read_id = models.BigIntegerField(default=0)
    agent_last_read_id = models.BigIntegerField(default=0)
    # Customer satisfaction (CSAT): one rating, 1–5, given after the conversation ended.
    csat_score = models.PositiveSmallIntegerField(null=True, blank=True)
    csat_comment = models.CharField(max_length=500, blank=True)
    csat_at = models.DateTimeField(null=True, blank=True)
    # How many events have been published about this conversation: the last ``seq``.
    event_seq = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-last_message_at", "-id"]
        indexes = [
            models.Index(fields=["team", "status", "assignee"]),
            # The conversations still open, by id: what the navigation's alert count joins
            # its alerts to, read from the index alone (a year's history holds ~30,000).
            models.Index(
                fields=["id"],
                condition=models.Q(status__in=("open", "pending", "snoozed")),
                name="conversation_active",
            ),
            # An agent's load (kefu.routing.assignment.load_annotation): their open and pending
            # conversations, counted from this index alone rather than from their history.
            models.Index(
                fields=["assignee"],
                condition=models.Q(status__in=("open", "pending")),
                name="conversation_load",
            ),
            # The inbox's order (``ACTIVITY_AT``): a page of 25 is read down this index from a
            # keyset cursor instead of sorting every visible conversation.
            models.Index(ACTIVITY_AT, F("id"), name="conversation_activity"),
            # The rollup worker's once-a-minute pass: the conversations whose FCR window has just
            # passed (kefu.analytics.rollups), a slice of a minute, not a scan of the history.
            models.Index(fields=["resolved_at"], name="conversation_resolved"),
        ]

    def __str__(self) -> str:
        return f"会话#{self.pk}"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES


class Message(models.Model):
    class Direction(models.TextChoices):
        INCOMING = "incoming", "客户"
        OUTGOING = "outgoing", "客服"
        ACTIVITY = "activity", "系统"

    class Kind(models.TextChoices):
        TEXT = "text", "文字"
        IMAGE = "image", "图片"
        NOTE = "note", "内部备注"
        CALL = "call", "通话记录"
        EVENT = "event", "事件"
        AUTO = "auto", "自动回复"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    direction = models.CharField(max_length=8, choices=Direction.choices)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.TEXT)
    sender = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.TextField(blank=True)
    image = models.FileField(upload_to=random_image_name, null=True, blank=True)
    # Private messages (notes, internal activity) never reach the customer.
    is_private = models.BooleanField(default=False)
    client_msg_id = models.CharField(max_length=64, null=True, blank=True)
    external_id = models.CharField(max_length=255, null=True, blank=True, db_index=True)
    meta = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "direction", "client_msg_id"],
                condition=Q(client_msg_id__isnull=False),
                name="message_client_id_unique",
            )
        ]
        indexes = [
            # Agent replies by time, with what the response-time figures read of them (the
            # reports' month of a 200-agent team: 150,000 of the period's 400,000 messages), so
            # PostgreSQL reads them from the index alone instead of every message of the period.
            models.Index(
                fields=["created_at"],
                include=["id", "conversation", "sender"],
                condition=Q(direction="outgoing", sender__isnull=False, is_private=False),
                name="message_agent_reply_time",
            ),
        ]

    @property
    def is_public(self) -> bool:
        return not self.is_private


class Attachment(models.Model):
    """A file that came with a customer's message: kept in private storage, or refused with the reason.

    Refused files are recorded too (no ``file``), so the timeline says what came and
    why it was not kept, and the agent can ask the customer again.
    """

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    # The customer's name for it, made safe (kefu.core.files.safe_filename); shown, never a path.
    name = models.CharField(max_length=255)
    # Kept: the allowed type its bytes were confirmed as; refused: what it was declared as.
    content_type = models.CharField(max_length=100, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    file = models.FileField(storage=private_storage, upload_to=random_file_name, max_length=255, blank=True)
    refused_reason = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_stored(self) -> bool:
        return bool(self.file) and not self.refused_reason

    @property
    def type_label(self) -> str:
        """The kind of file as an agent calls it (PDF, Word, Excel …)."""
        for t in FILE_TYPES.values():
            if t.content_type == self.content_type:
                return t.label
        return "文件"


class CallLog(models.Model):
    class Direction(models.TextChoices):
        INBOUND = "inbound", "呼入"
        OUTBOUND = "outbound", "呼出"

    class Outcome(models.TextChoices):
        RESOLVED = "resolved", "已解决"
        FOLLOW_UP = "follow_up", "需跟进"
        NO_ANSWER = "no_answer", "未接通"
        TRANSFERRED = "transferred", "已转接"
        CALLBACK = "callback", "待回电"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="calls")
    agent = models.ForeignKey("accounts.User", null=True, on_delete=models.SET_NULL, related_name="+")
    direction = models.CharField(max_length=8, choices=Direction.choices)
    duration_seconds = models.PositiveIntegerField(default=0)
    summary = models.TextField()
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="call")
    created_at = models.DateTimeField(auto_now_add=True)
