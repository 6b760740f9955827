"""Sign-in pages: login (audited, rate limited, with the idle-lock notice), logout, password change, tokens;
the settings hub and the users and teams settings pages."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm
from django.contrib.auth.views import LoginView, PasswordChangeView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from kefu.accounts.access import AuthedRequest, audit, check_role, client_ip
from kefu.accounts.hub import HUB_ROLE, sections_for
from kefu.accounts.services import check_login_rate, do_create_token, do_revoke_token
from kefu.core.errors import RateLimited
from kefu.core.ratelimit import Reservation

from .models import APIToken, AuditLog

LOCKED_SESSION_KEY = "kefu_locked"


class KefuLoginView(LoginView):
    template_name = "accounts/login.html"
    authentication_form = AuthenticationForm
    redirect_authenticated_user = True
    attempt: Reservation

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        username = str(request.POST.get("username", ""))[:150]
        try:
            self.attempt = check_login_rate(username=username, ip=client_ip(request))
        except RateLimited as exc:
            audit(
                AuditLog.Action.LOGIN_FAILED,
                actor=None,
                detail={"username": username, "rate_limit": exc.limit},
                ip=client_ip(request),
            )
            form = self.get_form_class()(request, initial={"username": username})
            return exc.add_headers(
                self.render_to_response(
                    self.get_context_data(form=form, refused=exc.message), status=exc.status
                )
            )
        return super().post(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        # Set by the idle-timeout middleware (or the desk's own countdown) when the
        # session ended for inactivity: the agent should know why they are here.
        locked = self.request.session.pop(LOCKED_SESSION_KEY, False)
        context["locked"] = bool(locked) or self.request.GET.get("locked") == "1"
        return context

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        self.attempt.release()  # only failures count against the limits
        response = super().form_valid(form)
        audit(AuditLog.Action.LOGIN, actor=form.get_user(), ip=client_ip(self.request))
        return response

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        # No actor: a failed attempt must not confirm that the account exists.
        username = str(form.data.get("username", ""))[:150]
        audit(
            AuditLog.Action.LOGIN_FAILED,
            actor=None,
            detail={"username": username},
            ip=client_ip(self.request),
        )
        return super().form_invalid(form)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    """``reason=idle`` comes from the desk's idle countdown and is recorded as a lock."""
    idle = request.POST.get("reason") == "idle"
    if request.user.is_authenticated:
        action = AuditLog.Action.IDLE_LOCK if idle else AuditLog.Action.LOGOUT
        audit(action, actor=request.user, ip=client_ip(request))
    logout(request)
    if idle:
        request.session[LOCKED_SESSION_KEY] = True
    return redirect("accounts:login")


class KefuPasswordChangeView(PasswordChangeView):
    template_name = "accounts/password_change.html"
    form_class = PasswordChangeForm
    success_url = reverse_lazy("conversations:inbox")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), "nav": "password"}

    def form_valid(self, form: PasswordChangeForm) -> HttpResponse:
        response = super().form_valid(form)
        audit(AuditLog.Action.PASSWORD_CHANGE, actor=form.user, ip=client_ip(self.request))
        messages.success(self.request, _("密码已修改。"))
        return response


class TokenForm(forms.Form):
    name = forms.CharField(label=_("令牌名称"), max_length=64)


@never_cache
@login_required
def tokens_view(request: AuthedRequest) -> HttpResponse:
    """List and create API tokens; a new key is shown in this one response only."""
    new_key = None
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        _token, new_key = do_create_token(user=request.user, name=form.cleaned_data["name"], request=request)
        form = TokenForm()
    tokens = APIToken.objects.filter(user=request.user)
    return render(
        request, "accounts/tokens.html", {"form": form, "tokens": tokens, "new_key": new_key, "nav": "tokens"}
    )


@require_POST
@login_required
def revoke_token_view(request: AuthedRequest, token_id: int) -> HttpResponse:
    do_revoke_token(user=request.user, token_id=token_id, request=request)
    messages.success(request, _("令牌已吊销。"))
    return redirect("accounts:tokens")


@never_cache
@login_required
def settings_hub(request: AuthedRequest) -> HttpResponse:
    """The list of settings pages the user may open (``kefu.accounts.hub.PAGES``)."""
    check_role(request.user, HUB_ROLE)
    return render(request, "accounts/settings/hub.html", {"sections": sections_for(request.user)})
