"""Sign-in pages: login (audited, rate limited, with the idle-lock notice), logout, password change, tokens;
the settings hub and the users and teams settings pages."""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm
from django.contrib.auth.views import LoginView, PasswordChangeView
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from kefu.accounts.access import (
    AuthedRequest,
    access_team,
    access_user,
    audit,
    check_admin,
    check_role,
    client_ip,
)
from kefu.accounts.hub import HUB_ROLE, sections_for
from kefu.accounts.presenters import audit_row
from kefu.accounts.services import (
    MAX_REQUEUE_MINUTES,
    access_audit_log,
    check_login_rate,
    do_add_user_with_password,
    do_create_team,
    do_create_token,
    do_edit_user,
    do_reset_password,
    do_revoke_token,
    do_set_active,
    do_set_presence_rule,
    do_update_team,
)
from kefu.core.errors import InvalidInput, KefuError, RateLimited
from kefu.core.forms import add_errors
from kefu.core.params import whole_param
from kefu.core.ratelimit import Reservation

from . import presence
from .apps import LOGOUT_REASON_ATTR
from .models import (
    AgentStatus,
    APIToken,
    AuditLog,
    PresenceRule,
    Role,
    StatusChange,
    StatusReason,
    Team,
    User,
)

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
    setattr(request, LOGOUT_REASON_ATTR, StatusReason.IDLE_LOCK if idle else StatusReason.LOGOUT)
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


AUDIT_PAGE_SIZE = 50


@require_GET
@login_required
def audit_view(request: AuthedRequest) -> HttpResponse:
    """审计日志: supervisors and above; filters by user, action, customer and days."""
    check_role(request.user, Role.SUPERVISOR)
    filters = {
        "actor": request.GET.get("actor", "")[:12],
        "action": request.GET.get("action", "")[:32],
        "customer": request.GET.get("customer", "")[:12],
        "date_from": request.GET.get("date_from", "")[:10],
        "date_to": request.GET.get("date_to", "")[:10],
    }
    error = ""
    try:
        actor_id, customer_id = (
            whole_param(filters[k], k, message="请填写编号（数字）", hint="应为数字", hi=10**11 - 1)
            for k in ("actor", "customer")
        )
        qs = access_audit_log(
            request.user,
            action=filters["action"] or None,
            actor_id=actor_id,
            customer_id=customer_id,
            date_from=filters["date_from"] or None,
            date_to=filters["date_to"] or None,
        )
    except InvalidInput as exc:
        error = exc.message
        qs = AuditLog.objects.none()
    page = Paginator(qs, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    query = urlencode({k: v for k, v in filters.items() if v})
    return render(
        request,
        "accounts/audit.html",
        {
            "nav": "audit",
            "page": page,
            "rows": [audit_row(a) for a in page.object_list],
            "filters": filters,
            "query": query,
            "error": error,
            "actions": AuditLog.Action.choices,
            "users": User.objects.order_by("id").only("id", "username", "display_name"),
        },
    )


@never_cache
@login_required
def settings_hub(request: AuthedRequest) -> HttpResponse:
    """The list of settings pages the user may open (``kefu.accounts.hub.PAGES``)."""
    check_role(request.user, HUB_ROLE)
    return render(request, "accounts/settings/hub.html", {"sections": sections_for(request.user)})


# --- presence settings: the offline rule, online time, the status history --------------


class PresenceRuleForm(forms.Form):
    on_offline = forms.ChoiceField(
        label=_("客服离线后，其未结束的会话"), choices=PresenceRule.OnOffline.choices
    )
    requeue_after_minutes = forms.IntegerField(
        label=_("离线多少分钟后退回队列"),
        min_value=0,
        max_value=MAX_REQUEUE_MINUTES,
        error_messages={
            "required": _("请填写分钟数"),
            "invalid": _("请输入整数"),
            "min_value": _("不能小于 0"),
            "max_value": _("不能超过 %(limit_value)s"),
        },
    )


def _day(value: str | None) -> tuple[date, str]:
    """The day asked for in ``?date=``, or today; with an error to show when it is not a date."""
    today = timezone.localdate()
    if not value:
        return today, ""
    try:
        return date.fromisoformat(value), ""
    except ValueError:
        return today, "日期格式应为 YYYY-MM-DD，已显示今天"


def _hm(seconds: int) -> str:
    minutes = seconds // 60
    return f"{minutes // 60}小时{minutes % 60:02d}分" if minutes >= 60 else f"{minutes}分"


def _time_row(user: Any, row: dict[str, Any]) -> dict[str, Any]:
    reasons = dict(StatusReason.choices)
    return {
        "user": user,
        "online": _hm(row["online_seconds"]),
        "busy": _hm(row["busy_seconds"]),
        "break": _hm(row["break_seconds"]),
        "at_desk": _hm(row["at_desk_seconds"]),
        "break_reasons": "、".join(f"{reasons.get(k, k)} {_hm(v)}" for k, v in row["break_reasons"].items()),
    }


@never_cache
@login_required
def presence_settings_view(request: AuthedRequest) -> HttpResponse:
    """在线与离线: the admin's offline rule; agents' time per status on a day and their recent changes."""
    check_role(request.user, Role.TEAM_LEAD)
    rule = presence.presence_rule()
    can_edit = request.user.has_role_at_least(Role.ADMIN)
    form = PresenceRuleForm(
        request.POST if request.method == "POST" else None,
        initial={"on_offline": rule.on_offline, "requeue_after_minutes": rule.requeue_after_minutes},
    )
    if request.method == "POST":
        check_admin(request.user)
        if form.is_valid():
            do_set_presence_rule(
                actor=request.user,
                on_offline=form.cleaned_data["on_offline"],
                requeue_after_minutes=form.cleaned_data["requeue_after_minutes"],
                request=request,
            )
            messages.success(request, _("在线规则已保存。"))
            return redirect("accounts:presence_settings")
    day, day_error = _day(request.GET.get("date"))
    users = list(presence.access_history_users(request.user).filter(is_active=True).order_by("id"))
    names = {u.pk: u for u in users}
    times = [_time_row(names[row.user_id], row.as_dict()) for row in presence.online_time(users, day, day)]
    history = (
        StatusChange.objects.filter(user__in=[u.pk for u in users])
        .select_related("user", "actor")
        .order_by("-at", "-id")[:50]
    )
    return render(
        request,
        "accounts/presence_settings.html",
        {
            "nav": "settings",
            "form": form,
            "rule": rule,
            "can_edit": can_edit,
            "day": day,
            "day_error": day_error,
            "times": times,
            "history": history,
            "grace_seconds": int(settings.KEFU_PRESENCE_GRACE_SECONDS),
            "statuses": dict(AgentStatus.choices),
        },
    )


# --- settings: users and teams (admins) ------------------------------------------------


class _UserFields(forms.Form):
    display_name = forms.CharField(
        label="显示名", max_length=64, required=False, help_text="客户和同事看到的名字"
    )
    employee_no = forms.CharField(label="工号", max_length=32, required=False)
    role = forms.ChoiceField(label="角色", choices=Role.choices, initial=Role.AGENT)
    teams = forms.ModelMultipleChoiceField(
        label="团队", queryset=Team.objects.all(), required=False, widget=forms.CheckboxSelectMultiple
    )
    max_concurrent = forms.IntegerField(
        label="最大同时接待数", min_value=1, max_value=50, initial=5, help_text="1 到 50 之间"
    )
    is_senior = forms.BooleanField(label="资深客服（优先接待情绪激动的客户）", required=False)


class UserCreateForm(_UserFields):
    username = forms.CharField(label="用户名", max_length=150, help_text="登录用，创建后不可修改")
    field_order = ["username"]


class UserEditForm(_UserFields):
    pass


class TeamForm(forms.Form):
    name = forms.CharField(label="团队名称", max_length=64)
    description = forms.CharField(label="说明", max_length=255, required=False)
    is_general = forms.BooleanField(label="通用队列（接收无法判断归属的会话）", required=False)


def _user_args(form: forms.Form) -> dict[str, Any]:
    data = form.cleaned_data
    return {
        "display_name": data["display_name"],
        "employee_no": data["employee_no"],
        "role": data["role"],
        "teams": list(data["teams"]),
        "max_concurrent": data["max_concurrent"],
        "is_senior": data["is_senior"],
    }


@never_cache
@login_required
def settings_users(request: AuthedRequest) -> HttpResponse:
    check_admin(request.user)
    users = User.objects.prefetch_related("teams").order_by("-is_active", "id")
    return render(request, "accounts/settings/users.html", {"users": users})


@never_cache
@login_required
def settings_user_new(request: AuthedRequest) -> HttpResponse:
    """Create a user; the first password is shown in this one response only."""
    check_admin(request.user)
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user, password = do_add_user_with_password(
                actor=request.user,
                username=form.cleaned_data["username"],
                request=request,
                **_user_args(form),
            )
        except KefuError as exc:
            add_errors(form, exc)
        else:
            return _show_password(request, user, password, created=True)
    return render(
        request, "accounts/settings/user_form.html", {"form": form}, status=400 if form.errors else 200
    )


def _show_password(request: AuthedRequest, user: User, password: str, *, created: bool) -> HttpResponse:
    return render(
        request,
        "accounts/settings/password_shown.html",
        {"target": user, "password": password, "created": created},
    )


@never_cache
@login_required
def settings_user_edit(request: AuthedRequest, user_id: int) -> HttpResponse:
    check_admin(request.user)
    user = access_user(user_id)
    initial = {
        "display_name": user.display_name,
        "employee_no": user.employee_no,
        "role": user.role,
        "teams": list(user.teams.all()),
        "max_concurrent": user.max_concurrent,
        "is_senior": user.is_senior,
    }
    form = UserEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            do_edit_user(actor=request.user, user=user, request=request, **_user_args(form))
        except KefuError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, f"已保存 {user.name} 的设置。")
            return redirect("accounts:settings_users")
    return render(
        request,
        "accounts/settings/user_form.html",
        {"form": form, "target": user},
        status=400 if form.errors else 200,
    )


@require_POST
@login_required
def settings_user_active(request: AuthedRequest, user_id: int) -> HttpResponse:
    user = access_user(user_id)
    active = request.POST.get("is_active") == "1"
    do_set_active(actor=request.user, user=user, is_active=active, request=request)
    messages.success(request, f"已{'启用' if active else '停用'}账号 {user.name}。")
    return redirect("accounts:settings_users")


@never_cache
@require_POST
@login_required
def settings_user_password(request: AuthedRequest, user_id: int) -> HttpResponse:
    user = access_user(user_id)
    password = do_reset_password(actor=request.user, user=user, request=request)
    return _show_password(request, user, password, created=False)


@never_cache
@login_required
def settings_teams(request: AuthedRequest) -> HttpResponse:
    check_admin(request.user)
    form = TeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            team = do_create_team(actor=request.user, request=request, **form.cleaned_data)
        except KefuError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, f"已创建团队「{team.name}」。")
            return redirect("accounts:settings_teams")
    teams = Team.objects.annotate(member_count=Count("members", filter=Q(members__is_active=True)))
    return render(
        request,
        "accounts/settings/teams.html",
        {"form": form, "teams": teams},
        status=400 if form.errors else 200,
    )


@never_cache
@login_required
def settings_team_edit(request: AuthedRequest, team_id: int) -> HttpResponse:
    check_admin(request.user)
    team = access_team(team_id)
    form = TeamForm(
        request.POST or None,
        initial={"name": team.name, "description": team.description, "is_general": team.is_general},
    )
    if request.method == "POST" and form.is_valid():
        try:
            do_update_team(actor=request.user, team=team, request=request, **form.cleaned_data)
        except KefuError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, f"已保存团队「{team.name}」。")
            return redirect("accounts:settings_teams")
    members = team.members.filter(is_active=True).order_by("id")
    return render(
        request,
        "accounts/settings/team_form.html",
        {"form": form, "team": team, "members": members},
        status=400 if form.errors else 200,
    )
