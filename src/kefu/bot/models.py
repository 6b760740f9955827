"""The bot (智能客服): its configuration per channel and team, its sessions, turns and the agents' use of its suggestions."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from kefu.nlp.verify import ANSWER_THRESHOLD

# The operating threshold on the bot's answer score (the search's confidence × the paraphrase
# verifier, ``kefu.nlp.verify``), chosen by ``bench/bot.py`` on its tuning split (docs/bot.md);
# below it the bot offers up to three questions instead.
DEFAULT_THRESHOLD = ANSWER_THRESHOLD

DEFAULT_GREETING = "您好，我是智能客服小悦，很高兴为您服务。请问有什么可以帮您？"


class BotSetting(models.Model):
    """Whether and how the bot answers first on one channel, for one team (or every team: ``team`` null)."""

    channel = models.ForeignKey("inboxes.Channel", on_delete=models.CASCADE, related_name="bot_settings")
    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="bot_settings"
    )
    enabled = models.BooleanField("启用", default=False)

    class Days(models.TextChoices):
        """Which days the bot answers, read from the business calendar of the conversation's team
        and channel (kefu.hours: its weekly hours, public holidays and 调休 make-up working days)."""

        EVERY_DAY = "every_day", "每天"
        WORKING_DAYS = "working_days", "工作日（按营业日历：节假日不接待，调休日接待）"
        REST_DAYS = "rest_days", "休息日（周末和节假日，调休日除外）"
        DESK_CLOSED = "desk_closed", "人工客服下班时（按营业日历）"

    days = models.CharField("接待日", max_length=16, choices=Days.choices, default=Days.EVERY_DAY)
    # Both empty: around the clock. A window across midnight (22:00–08:00) is allowed.
    start_time = models.TimeField("开始时间", null=True, blank=True)
    end_time = models.TimeField("结束时间", null=True, blank=True)
    greeting = models.CharField("欢迎语", max_length=255, default=DEFAULT_GREETING)
    # Intent names the bot may answer; empty means every intent.
    intents = models.JSONField("可回答的意图", default=list, blank=True)
    vip_skip = models.BooleanField("VIP 客户直接转人工", default=True)
    vip_level = models.PositiveSmallIntegerField("VIP 等级下限", default=1)
    threshold = models.FloatField("回答置信度阈值", default=DEFAULT_THRESHOLD)
    updated_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "team"], name="bot_setting_channel_team"),
            models.UniqueConstraint(
                fields=["channel"], condition=Q(team__isnull=True), name="bot_setting_channel_all_teams"
            ),
        ]
        ordering = ["channel_id", "team_id"]


class HandoverReason(models.TextChoices):
    EXPLICIT = "explicit", "客户要求人工"
    EMOTION = "emotion", "客户不满或生气"
    COMPLAINT = "complaint", "投诉或投诉威胁"
    REJECTED = "rejected", "两次回答未解决"
    OUT_OF_SCOPE = "out_of_scope", "超出机器人可回答的意图"
    UNANSWERED = "unanswered", "连续两次无法回答"
    VIP = "vip", "VIP 客户直接转人工"
    AGENT = "agent", "客服已介入"
    NEEDS_PERSON = "needs_person", "需要人工办理"


class BotSession(models.Model):
    """The bot's part of one conversation: from the first message until it hands over (or is no longer needed)."""

    class State(models.TextChoices):
        ACTIVE = "active", "机器人接待中"
        HANDED_OVER = "handed_over", "已转人工"

    class Awaiting(models.TextChoices):
        NOTHING = "", "—"
        FEEDBACK = "feedback", "是否解决"
        CHOICE = "choice", "选择问题"
        ORDER_NO = "order_no", "订单号"

    conversation = models.OneToOneField(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="bot_session"
    )
    setting = models.ForeignKey(
        BotSetting, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    state = models.CharField(max_length=12, choices=State.choices, default=State.ACTIVE, db_index=True)
    handover_reason = models.CharField(max_length=16, choices=HandoverReason.choices, blank=True)
    awaiting = models.CharField(max_length=12, choices=Awaiting.choices, blank=True, default="")
    # What an awaited order number is for: status, logistics, refund, invoice.
    order_topic = models.CharField(max_length=12, blank=True)
    # Article ids offered as buttons, best first (awaiting a choice).
    choices = models.JSONField(default=list, blank=True)
    last_article = models.ForeignKey(
        "kb.Article", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rejections = models.PositiveSmallIntegerField(default=0)
    misses = models.PositiveSmallIntegerField(default=0)
    resolved = models.BooleanField(default=False)  # the customer said the answer solved it
    # The customer's emotion after each of their messages: [{"label", "score"}].
    emotions = models.JSONField(default=list, blank=True)
    summary = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    handed_over_at = models.DateTimeField(null=True, blank=True)


class BotTurn(models.Model):
    """One customer question and what the bot did with it."""

    class Kind(models.TextChoices):
        ANSWER = "answer", "知识库回答"
        ORDER = "order", "订单信息"
        STATEMENT = "statement", "事件统一口径"
        CHOICES = "choices", "提供选项"
        ASK_ORDER = "ask_order", "询问订单号"
        FEEDBACK = "feedback", "客户反馈"
        UNANSWERED = "unanswered", "无法回答"
        HANDOVER = "handover", "转人工"

    session = models.ForeignKey(BotSession, on_delete=models.CASCADE, related_name="turns")
    message = models.ForeignKey(
        "conversations.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reply = models.ForeignKey(
        "conversations.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    question = models.TextField(blank=True)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    article = models.ForeignKey(
        "kb.Article", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    confidence = models.FloatField(null=True, blank=True)
    helpful = models.BooleanField(null=True, blank=True)  # the customer's verdict on an answer
    # An unanswered question turned into a knowledge-base draft.
    draft_article = models.ForeignKey(
        "kb.Article", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["id"]


class SuggestionUse(models.Model):
    """An agent's choice about the bot's suggested answer beside the composer."""

    class Action(models.TextChoices):
        ACCEPT = "accept", "采用"
        EDIT = "edit", "编辑后采用"
        IGNORE = "ignore", "忽略"

    conversation = models.ForeignKey(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="bot_suggestion_uses"
    )
    message = models.ForeignKey("conversations.Message", on_delete=models.CASCADE, related_name="+")
    article = models.ForeignKey("kb.Article", on_delete=models.CASCADE, related_name="bot_suggestion_uses")
    agent = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="+")
    action = models.CharField(max_length=8, choices=Action.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["message", "article", "agent"], name="bot_suggestion_use_once_per_agent"
            )
        ]
