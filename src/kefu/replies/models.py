"""The script library (话术库 / 快捷语): canned replies with variables, and their use."""

from __future__ import annotations

import re

from django.db import models


class Scenario(models.TextChoices):
    GREETING = "问候", "问候"
    WAITING = "等待", "等待"
    PRESALES = "售前咨询", "售前咨询"
    LOGISTICS = "物流查询", "物流查询"
    DELAY = "物流延迟", "物流延迟"
    RETURNS = "退换货", "退换货"
    QUALITY = "质量问题", "质量问题"
    COMPLAINT = "服务态度投诉", "服务态度投诉"
    PAYMENT = "下单与支付", "下单与支付"
    INVOICE = "发票", "发票"
    TECH = "账户与技术", "账户与技术"
    CLOSING = "结束语", "结束语"
    OTHER = "其他", "其他"


class CannedReply(models.Model):
    class Scope(models.TextChoices):
        PERSONAL = "personal", "个人"
        TEAM = "team", "团队"
        GLOBAL = "global", "全员"

    title = models.CharField("标题", max_length=64)
    shortcut = models.CharField("快捷码", max_length=16, blank=True, db_index=True)
    text = models.TextField("内容")
    scenario = models.CharField("场景", max_length=16, choices=Scenario.choices, default=Scenario.OTHER)
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.GLOBAL)
    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    owner = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # Context the reply fits, for ranking in the picker.
    intents = models.JSONField(default=list, blank=True)
    emotions = models.JSONField(default=list, blank=True)
    order_states = models.JSONField(default=list, blank=True)
    # Search keys, derived from title + shortcut + text on save.
    pinyin_initials = models.CharField(max_length=255, blank=True)
    pinyin_full = models.CharField(max_length=512, blank=True)
    review_by = models.DateField("复审日期", null=True, blank=True)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey("accounts.User", null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["scenario", "id"]

    def __str__(self) -> str:
        return self.title


class ReplyUsage(models.Model):
    """One insertion of a canned reply, linked to the message the agent then sent."""

    reply = models.ForeignKey(CannedReply, on_delete=models.CASCADE, related_name="usages")
    agent = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey("conversations.Conversation", on_delete=models.CASCADE, related_name="+")
    inserted_text = models.TextField()
    message = models.ForeignKey(
        "conversations.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # 1.0 = sent exactly as inserted; lower = edited more.
    similarity = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]


class ShopProfile(models.Model):
    """Facts about the shop that replies quote (one row)."""

    shop_name = models.CharField("店铺名称", max_length=64, blank=True)
    return_address = models.CharField("退货地址", max_length=255, blank=True)
    service_hours = models.CharField("客服时间", max_length=64, blank=True)
    updated_at = models.DateTimeField(auto_now=True)


VARIABLE_RE = re.compile(r"\{([\u4e00-\u9fff]{2,6})\}")
