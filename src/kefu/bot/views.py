"""Pages: the bot's settings (admins) and what the bot did (leads, supervisors)."""

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
from kefu.core.errors import InvalidInput, KefuError
from kefu.core.forms import add_errors
from kefu.core.params import whole
from kefu.understanding.models import Intent

from . import services
from .gate import BOT_CHANNEL_KINDS
from .models import DEFAULT_GREETING, DEFAULT_THRESHOLD, BotSetting


class SettingForm(forms.Form):
    channel = forms.ModelChoiceField(
        label="渠道", queryset=Channel.objects.filter(kind__in=BOT_CHANNEL_KINDS), empty_label=None
    )
    team = forms.ModelChoiceField(
        label="团队", queryset=Team.objects.all(), required=False, empty_label="（该渠道的所有团队）"
    )
    enabled = forms.BooleanField(label="启用智能客服", required=False)
    days = forms.ChoiceField(
        label="接待日",
        required=False,
        choices=BotSetting.Days.choices,
        initial=BotSetting.Days.EVERY_DAY,
        help_text="工作日、休息日和下班时间按该渠道和团队的营业时间与节假日日历（设置 › 营业时间）计算",
    )
    start_time = forms.TimeField(
        label="开始时间", required=False, help_text="与结束时间都留空表示全天；可跨零点"
    )
    end_time = forms.TimeField(label="结束时间", required=False)
    greeting = forms.CharField(label="欢迎语", max_length=255, initial=DEFAULT_GREETING)
    intents = forms.MultipleChoiceField(
        label="可回答的意图",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="不选表示都可以回答；其他意图直接转人工",
    )
    vip_skip = forms.BooleanField(label="VIP 客户直接转人工", required=False, initial=True)
    vip_level = forms.IntegerField(label="VIP 等级下限", min_value=1, max_value=10, initial=1)
    threshold = forms.FloatField(
        label="回答置信度阈值",
        min_value=0.05,
        max_value=0.99,
        initial=DEFAULT_THRESHOLD,
        help_text="回答分数 = 检索置信度 × 同义判断（问题与文章的标题或相似问法是否同义）；低于阈值时给出最多三个可能的问题供客户选择（见 docs/bot.md 的测评）",
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        names = Intent.objects.filter(is_active=True).order_by("order", "id").values_list("name", flat=True)
        self.fields["intents"].choices = [(n, n) for n in names]  # type: ignore[attr-defined]


def _initial(setting: BotSetting) -> dict[str, object]:
    return {
        "channel": setting.channel_id,
        "team": setting.team_id,
        "enabled": setting.enabled,
        "days": setting.days,
        "start_time": setting.start_time,
        "end_time": setting.end_time,
        "greeting": setting.greeting,
        "intents": setting.intents,
        "vip_skip": setting.vip_skip,
        "vip_level": setting.vip_level,
        "threshold": setting.threshold,
    }


@never_cache
@login_required
def settings_view(request: AuthedRequest) -> HttpResponse:
    check_admin(request.user)
    initial = None
    edit_id = whole(request.GET.get("edit"))
    if edit_id is not None:
        editing = BotSetting.objects.filter(pk=edit_id).first()
        initial = _initial(editing) if editing else None
    form = SettingForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        channel, team = data.pop("channel"), data.pop("team")
        if not data.get("days"):
            data.pop("days", None)  # not sent: a new setting answers every day, a saved one keeps its days
        try:
            setting = services.do_save_setting(
                actor=request.user,
                channel_id=channel.pk,
                team_id=team.pk if team else None,
                data=data,
                request=request,
            )
        except KefuError as exc:
            add_errors(form, exc)
        else:
            state = "已启用" if setting.enabled else "已关闭"
            messages.success(request, f"已保存「{setting.channel.name}」的智能客服设置（{state}）。")
            return redirect("bot:settings")
    return render(
        request,
        "bot/settings.html",
        {"form": form, "rows": services.settings_list(), "editing": bool(initial)},
        status=400 if form.errors else 200,
    )


@require_POST
@login_required
def delete_setting_view(request: AuthedRequest, setting_id: int) -> HttpResponse:
    services.do_delete_setting(actor=request.user, setting_id=setting_id, request=request)
    messages.success(request, "已删除这条智能客服设置。")
    return redirect("bot:settings")


@never_cache
@login_required
def overview_view(request: AuthedRequest) -> HttpResponse:
    days = whole(request.GET.get("days", "30"))
    if days is None:
        raise InvalidInput("天数应为 1 到 366", fields={"days": "1 到 366 的整数"})
    overview = services.access_overview(request.user, days=days)
    return render(request, "bot/overview.html", {"o": overview, "nav": "bot"})


@require_POST
@login_required
def draft_view(request: AuthedRequest, turn_id: int) -> HttpResponse:
    article = services.do_draft_article_from_question(actor=request.user, turn_id=turn_id, request=request)
    messages.success(request, f"已创建知识库草稿「{article.title}」，请补充答案后发布。")
    return redirect("kb-edit", article_id=article.pk)
