"""Pages: 主动服务 settings (/desk/settings/proactive/) and the widget's page report (/chat/page)."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from kefu.accounts.access import AuthedRequest, check_role, client_ip, team_ids_of
from kefu.accounts.models import Role, Team
from kefu.core.errors import InvalidInput, KefuError
from kefu.core.params import whole_param
from kefu.replies.models import CannedReply

from . import services
from .models import Kind, Notice, PageKind, Statement
from .presenters import notice_dict, rule_dict, statement_dict


def _cors(response: HttpResponse) -> HttpResponse:
    response["Access-Control-Allow-Origin"] = "*"
    response["Cache-Control"] = "no-store"
    return response


@csrf_exempt
@require_http_methods(["POST", "OPTIONS"])
def widget_page(request: HttpRequest) -> HttpResponse:
    """``widget.js`` reports the page it sits on: JSON ``{token?, channel?, url, page_kind}`` → ``{token, invite}``.

    Public and cross-origin, sent as text/plain so no preflight is needed; the server
    decides whether to invite.
    """
    response: HttpResponse
    if request.method == "OPTIONS":
        response = HttpResponse(status=204)
        response["Access-Control-Allow-Methods"] = "POST"
        response["Access-Control-Allow-Headers"] = "Content-Type"
        return _cors(response)
    try:
        try:
            body = json.loads(request.body or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidInput("请求内容不是有效的 JSON", fields={"body": "JSON 对象"}) from exc
        if not isinstance(body, dict):
            raise InvalidInput("请求内容应为 JSON 对象", fields={"body": "JSON 对象"})
        result = services.do_widget_report(
            ip=client_ip(request),
            token=body.get("token"),
            channel_id=body.get("channel"),
            url=body.get("url"),
            page_kind=body.get("page_kind"),
        )
        response = JsonResponse(result, json_dumps_params={"ensure_ascii": False})
    except KefuError as exc:
        response = exc.add_headers(
            JsonResponse(exc.as_dict(), status=exc.status, json_dumps_params={"ensure_ascii": False})
        )
    return _cors(response)


def _int(value: Any, field: str, *, required: bool = True) -> int | None:
    text = value if isinstance(value, str) else ""
    if required and not text.strip():
        raise InvalidInput("请填写", fields={field: "必填"})
    return whole_param(text, field)


def _rule_form(post: Any, *, partial: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": post.get("name", ""),
        "reply_id": _int(post.get("reply_id"), "reply_id"),
        "team_id": _int(post.get("team_id"), "team_id", required=False),
        "is_enabled": post.get("is_enabled") == "on",
    }
    if not partial:
        data["kind"] = post.get("kind", "")
    for field in ("daily_limit", "stall_hours", "estimate_days", "linger_seconds"):
        if post.get(field):
            data[field] = _int(post.get(field), field)
    kind = post.get("kind", "")
    if kind == Kind.PAGE_LINGER:
        data["page_kinds"] = post.getlist("page_kinds")
    return data


def _act(request: AuthedRequest) -> str:
    post, actor = request.POST, request.user
    action = post.get("action", "")
    if action == "create_rule":
        services.do_create_rule(actor=actor, data=_rule_form(post, partial=False))
        return "规则已添加"
    if action == "update_rule":
        rule_id = _int(post.get("id"), "id") or 0
        services.do_update_rule(actor=actor, rule_id=rule_id, data=_rule_form(post, partial=True))
        return "规则已保存"
    if action == "delete_rule":
        services.do_delete_rule(actor=actor, rule_id=_int(post.get("id"), "id") or 0)
        return "规则已删除"
    if action == "create_statement":
        services.do_create_statement(
            actor=actor,
            data={
                "title": post.get("title", ""),
                "reason": post.get("reason", ""),
                "text": post.get("text", ""),
                "team_id": _int(post.get("team_id"), "team_id", required=False),
                "order_nos": post.get("order_nos", ""),
                "carrier": post.get("carrier", ""),
                "new_estimate": post.get("new_estimate") or None,
            },
        )
        return "声明已提交，等待主管审批"
    if action == "approve_statement":
        s = services.do_approve_statement(actor=actor, statement_id=_int(post.get("id"), "id") or 0)
        return f"已审批，正在发送给 {s.recipient_count} 位客户"
    if action == "cancel_statement":
        services.do_cancel_statement(actor=actor, statement_id=_int(post.get("id"), "id") or 0)
        return "声明已撤销"
    raise InvalidInput("未知操作", fields={"action": "无效"})


@login_required
@require_http_methods(["GET", "POST"])
def proactive_settings(request: AuthedRequest) -> HttpResponse:
    check_role(request.user, Role.TEAM_LEAD)
    error: KefuError | None = None
    if request.method == "POST":
        try:
            messages.success(request, _act(request))
            return redirect(request.path)
        except KefuError as exc:
            if exc.status in (401, 403, 404):
                raise
            error = exc
    user = request.user
    editor = user.has_role_at_least(Role.SUPERVISOR)
    rules = [rule_dict(r) for r in services.access_rules(user)] if editor else []
    notices = [notice_dict(n) for n in services.access_notices(user)[:50]] if editor else []
    statements = [statement_dict(s) for s in services.visible_statements(user)[:30]]
    teams = (
        Team.objects.order_by("id")
        if editor
        else Team.objects.filter(pk__in=team_ids_of(user)).order_by("id")
    )
    replies = (
        CannedReply.objects.filter(is_active=True)
        .exclude(scope=CannedReply.Scope.PERSONAL)
        .order_by("scenario", "id")
    )
    context = {
        "nav": "settings",
        "error": error,
        "posted": request.POST if error else {},
        "editor": editor,
        "rules": rules,
        "notices": notices,
        "statements": statements,
        "teams": teams,
        "replies": replies,
        "kinds": Kind.choices,
        "page_kinds": PageKind.choices,
        "reasons": Statement.Reason.choices,
        "notice_statuses": Notice.Status.choices,
        "variables": services.STATEMENT_VARIABLES,
    }
    return render(request, "proactive/settings.html", context, status=400 if error else 200)
