"""Pages: the board (/desk/wallboard/), a silent observer's view, the display tokens'
settings page, and the wall screen itself (/wallboard/display/<key>/, no sign-in)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from kefu.accounts.access import AuthedRequest
from kefu.accounts.models import Team
from kefu.core.errors import KefuError
from kefu.core.forms import add_errors
from kefu.core.params import whole

from . import services


def _team_param(request: HttpRequest) -> int | None:
    return whole(request.GET.get("team_id"), hi=10**9 - 1)


@require_GET
@never_cache
@login_required
def board_view(request: AuthedRequest) -> HttpResponse:
    team_id = _team_param(request)
    snapshot = services.access_wallboard(request.user, team_id)  # team leads and above
    return render(
        request,
        "wallboard/board.html",
        {
            "nav": "supervisor",
            "snapshot": snapshot,
            "team_id": team_id,
            "all_teams": snapshot["teams"] if team_id is None else None,
            "refresh_seconds": int(settings.KEFU_WALLBOARD_REFRESH_SECONDS),
            "may_manage_displays": request.user.sees_all,
        },
    )


@require_GET
@never_cache
@login_required
def observe_view(request: AuthedRequest, conversation_id: int) -> HttpResponse:
    data = services.do_observe_conversation(request.user, conversation_id, request=request)
    return render(
        request,
        "wallboard/observe.html",
        {"nav": "supervisor", "conversation": data["conversation"], "observed": data},
    )


class DisplayTokenForm(forms.Form):
    name = forms.CharField(label="名称", max_length=64, help_text="例如：客服大厅电视、售后组投屏")
    team = forms.ModelChoiceField(
        label="团队", queryset=Team.objects.all(), required=False, empty_label="（所有团队）"
    )


@never_cache
@login_required
def displays_view(request: AuthedRequest) -> HttpResponse:
    tokens = services.list_display_tokens(actor=request.user)  # supervisors and above
    form = DisplayTokenForm(request.POST or None)
    new_url = None
    if request.method == "POST" and form.is_valid():
        try:
            token, key = services.do_create_display_token(
                actor=request.user,
                name=form.cleaned_data["name"],
                team_id=form.cleaned_data["team"].pk if form.cleaned_data["team"] else None,
                request=request,
            )
        except KefuError as exc:
            add_errors(form, exc)
        else:
            # The key is in this page only: it is stored as a hash and never shown again.
            new_url = request.build_absolute_uri(f"/wallboard/display/{key}/")
            form = DisplayTokenForm()
            tokens = services.list_display_tokens(actor=request.user)
            messages.success(request, f"已创建投屏令牌「{token.name}」。")
    return render(
        request,
        "wallboard/displays.html",
        {"form": form, "tokens": tokens, "new_url": new_url},
        status=400 if form.errors else 200,
    )


@require_POST
@login_required
def revoke_display_view(request: AuthedRequest, token_id: int) -> HttpResponse:
    token = services.do_revoke_display_token(actor=request.user, token_id=token_id, request=request)
    messages.success(request, f"已吊销投屏令牌「{token.name}」，使用它的屏幕将立即断开。")
    return redirect("wallboard:displays")


@require_GET
@never_cache
def display_view(request: HttpRequest, key: str) -> HttpResponse:
    """The wall screen: the board only, read-only, names masked; no session, so no idle lock."""
    snapshot = services.access_display_board(key)
    response = render(
        request,
        "wallboard/display.html",
        {"snapshot": snapshot, "refresh_seconds": int(settings.KEFU_WALLBOARD_REFRESH_SECONDS)},
    )
    # The key is in the address: keep it out of other sites' logs and search engines.
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response
