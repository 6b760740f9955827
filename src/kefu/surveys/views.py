"""Pages: the customer's survey behind a signed link, the team lead's 回访 list, the admins' settings."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from kefu.accounts.access import AuthedRequest, client_ip
from kefu.core import ratelimit
from kefu.core.errors import InvalidInput, KefuError
from kefu.core.forms import add_errors
from kefu.core.params import whole_param

from . import services
from .models import FollowUp
from .presenters import answer_dict, follow_up_dict, setting_dict


def _int_or_none(value: str | None, field: str) -> int | None:
    return whole_param(value, field, message="请选择有效的分数", hint="整数", hi=10**9 - 1)


@never_cache
@require_http_methods(["GET", "POST"])
def survey_page(request: HttpRequest, token: str) -> HttpResponse:
    """The survey a customer opens from an email or IM link: stars, the 0–10 question if asked, a comment."""
    survey = services.access_survey_by_token(token)
    error = ""
    values: dict[str, Any] = {"score": None, "nps": None, "comment": ""}
    if request.method == "POST":
        values = {
            "score": request.POST.get("score"),
            "nps": request.POST.get("nps"),
            "comment": request.POST.get("comment", ""),
        }
        try:
            ratelimit.take_for_address("csat_ip", client_ip(request), message="评价提交太频繁，请稍后再试")
            score = _int_or_none(values["score"], "score")
            if score is None:
                raise InvalidInput("请先选择满意度评分", fields={"score": "必填"})
            services.do_answer_survey(
                survey=survey, csat=score, nps=_int_or_none(values["nps"], "nps"), comment=values["comment"]
            )
            return redirect("surveys:survey_page", token=token)
        except KefuError as exc:
            if exc.status not in (400, 409, 429):
                raise
            error = exc.message
            survey.refresh_from_db()
    return render(
        request,
        "surveys/survey_page.html",
        {
            "survey": survey,
            "state": survey.state(),
            "error": error,
            "values": values,
            "scores": range(1, 6),
            "nps_scores": range(0, 11),
        },
        status=400 if error and survey.state() == "open" else 200,
    )


@never_cache
@login_required
def follow_ups_page(request: AuthedRequest) -> HttpResponse:
    """回访: the low scores and complaints a team lead calls back, and the latest answers."""
    state = request.GET.get("state", "open")
    if state not in ("open", "done"):
        state = "open"
    rows = [follow_up_dict(f) for f in services.access_follow_ups(request.user, state=state)[:200]]
    answers = list(services.access_answers(request.user, limit=50))
    scored = [s.nps for s in answers if s.nps is not None]
    return render(
        request,
        "surveys/follow_ups.html",
        {
            "nav": "follow_ups",
            "state": state,
            "follow_ups": rows,
            "outcomes": FollowUp.Outcome.choices,
            "answers": [answer_dict(s) for s in answers],
            "nps": services.nps_of(scored),
        },
    )


@require_POST
@login_required
def record_follow_up(request: AuthedRequest, follow_up_id: int) -> HttpResponse:
    try:
        services.do_record_follow_up(
            actor=request.user,
            follow_up_id=follow_up_id,
            outcome=request.POST.get("outcome", ""),
            note=request.POST.get("note", ""),
        )
    except InvalidInput as exc:
        messages.error(request, exc.message)
        return redirect("surveys:follow_ups")
    messages.success(request, "回访结果已记录。")
    return redirect("surveys:follow_ups")


class SettingsForm(forms.Form):
    channel = forms.ChoiceField(label="适用范围", required=False)
    enabled = forms.BooleanField(label="会话解决后发送满意度调查", required=False)
    nps_enabled = forms.BooleanField(label="同时询问推荐意愿（NPS，0–10 分）", required=False)
    expiry_days = forms.IntegerField(label="调查有效天数", min_value=1, max_value=services.MAX_EXPIRY_DAYS)
    low_score_threshold = forms.IntegerField(
        label="满意度不高于几分时给组长创建回访（0 = 不创建）", min_value=0, max_value=5
    )
    complaint_follow_up_days = forms.IntegerField(
        label="投诉客户确认处理结果后几天回访", min_value=1, max_value=services.MAX_FOLLOW_UP_DAYS
    )


@never_cache
@login_required
def settings_page(request: AuthedRequest) -> HttpResponse:
    """满意度调查设置 (admins): the desk-wide default and each channel's own."""
    default, channels = services.access_settings(request.user)
    choices = [(0, "全部渠道（默认）")] + [(c.pk, f"{c.name}（{c.get_kind_display()}）") for c, _ in channels]
    form = SettingsForm(request.POST if request.method == "POST" else None, initial=setting_dict(default))
    channel_field = form.fields["channel"]
    assert isinstance(channel_field, forms.ChoiceField)
    channel_field.choices = [(str(pk), label) for pk, label in choices]
    if request.method == "POST":
        if request.POST.get("reset"):
            channel_id = _int_or_none(request.POST.get("reset"), "reset")
            if channel_id:
                services.do_reset_channel_settings(actor=request.user, channel_id=channel_id)
                messages.success(request, "该渠道已恢复为默认设置。")
            return redirect("surveys:settings")
        if form.is_valid():
            data = dict(form.cleaned_data)
            channel_id = int(data.pop("channel") or 0) or None
            try:
                services.do_save_settings(actor=request.user, channel_id=channel_id, data=data)
            except InvalidInput as exc:
                add_errors(form, exc)
            else:
                messages.success(request, "满意度调查设置已保存。")
                return redirect("surveys:settings")
    return render(
        request,
        "surveys/settings.html",
        {
            "nav": "settings",
            "form": form,
            "default": setting_dict(default),
            "channels": [
                {"channel": c, "own": row is not None, "settings": setting_dict(row or default)}
                for c, row in channels
            ],
        },
    )
