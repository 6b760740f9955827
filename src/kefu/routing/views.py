"""The routing rules settings page (the supervisor page grew into the wallboard, kefu.wallboard)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from kefu.accounts.access import AuthedRequest, check_admin
from kefu.accounts.models import Team
from kefu.channels.models import Channel
from kefu.conversations.models import Priority
from kefu.core.errors import KefuError, NotFound
from kefu.core.forms import add_errors

from .models import RoutingRule
from .services import (
    do_create_routing_rule,
    do_delete_routing_rule,
    do_set_routing_rule_active,
)


class RuleForm(forms.Form):
    name = forms.CharField(label="规则名称", max_length=64)
    keywords = forms.CharField(
        label="关键词",
        required=False,
        max_length=2000,
        help_text="客户首条消息包含任一关键词即匹配；用逗号或顿号分隔。留空时按渠道匹配",
    )
    channel = forms.ModelChoiceField(
        label="渠道", queryset=Channel.objects.all(), required=False, empty_label="（所有渠道）"
    )
    team = forms.ModelChoiceField(label="分配给团队", queryset=Team.objects.all(), empty_label=None)
    priority = forms.ChoiceField(
        label="设置优先级", choices=[("", "（不改变）"), *Priority.choices], required=False
    )
    order = forms.IntegerField(
        label="顺序", min_value=0, max_value=10_000, initial=100, help_text="数字小的先匹配"
    )

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        words = str(data.get("keywords") or "")
        for sep in ("，", "、", ";", "；", "\n"):
            words = words.replace(sep, ",")
        data["keywords"] = [w.strip() for w in words.split(",") if w.strip()]
        if not data["keywords"] and not data.get("channel"):
            self.add_error("keywords", "请填写关键词，或选择一个渠道")
        return data


@never_cache
@login_required
def routing_rules_view(request: AuthedRequest) -> HttpResponse:
    check_admin(request.user)
    form = RuleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            rule = do_create_routing_rule(
                actor=request.user,
                name=data["name"],
                team=data["team"],
                channel_id=data["channel"].pk if data["channel"] else None,
                keywords=data["keywords"],
                priority=data["priority"],
                order=data["order"],
                request=request,
            )
        except KefuError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, f"已添加路由规则「{rule.name}」。")
            return redirect("routing:settings_rules")
    rules = RoutingRule.objects.select_related("team", "channel")
    return render(
        request,
        "routing/settings_rules.html",
        {"form": form, "rules": rules, "priorities": dict(Priority.choices)},
        status=400 if form.errors else 200,
    )


@require_POST
@login_required
def routing_rule_action_view(request: AuthedRequest, rule_id: int, action: str) -> HttpResponse:
    if action not in ("enable", "disable", "delete"):
        raise NotFound("没有这个操作")
    if action == "delete":
        do_delete_routing_rule(actor=request.user, rule_id=rule_id, request=request)
        messages.success(request, "已删除路由规则。")
    else:
        rule = do_set_routing_rule_active(
            actor=request.user, rule_id=rule_id, is_active=action == "enable", request=request
        )
        messages.success(request, f"已{'启用' if rule.is_active else '停用'}路由规则「{rule.name}」。")
    return redirect("routing:settings_rules")
