"""The pages of incidents (事件): proposals and open incidents, one incident, its review."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_http_methods

from kefu.accounts.access import AuthedRequest, check_desk_user
from kefu.core.errors import InvalidInput, KefuError
from kefu.core.params import whole_param

from . import services
from .models import Incident
from .presenters import public_post_out


def _int(value: str | None, field: str) -> int | None:
    return whole_param(value, field, message="选择有误", hi=10**12 - 1)


def _lines(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").replace("，", ",").replace("\n", ",").split(",") if v.strip()]


@login_required
@require_http_methods(["GET", "POST"])
def incident_list(request: AuthedRequest) -> HttpResponse:
    user = request.user
    check_desk_user(user)
    error: KefuError | None = None
    if request.method == "POST":
        try:
            incident = services.do_open_incident(
                actor=user,
                team_id=_int(request.POST.get("team_id"), "team_id"),
                title=request.POST.get("title", ""),
                statement=request.POST.get("statement", ""),
                internal_note=request.POST.get("internal_note", ""),
                intent=request.POST.get("intent", ""),
                skus=_lines(request.POST.get("skus")),
                routes=_lines(request.POST.get("routes")),
                keywords=_lines(request.POST.get("keywords")),
            )
            messages.success(request, "事件已创建")
            return redirect(f"/desk/incidents/{incident.pk}/")
        except KefuError as exc:
            if exc.status in (401, 403, 404):
                raise
            error = exc
    status = request.GET.get("status") or "active"
    items = services.list_incidents(user, status=status if status != "all" else None)
    counts = services.link_counts([i.pk for i in items])
    for i in items:
        i.conversation_count = counts.get(i.pk, 0)  # type: ignore[attr-defined]
    context: dict[str, Any] = {
        "nav": "incidents",
        "items": items,
        "status": status,
        "statuses": [("active", "进行中"), *Incident.Status.choices, ("all", "全部")],
        "can_manage": user.has_role_at_least(services.MANAGE_ROLE),
        "public_posts_open": services.open_public_post_count(user)
        if user.has_role_at_least(services.MANAGE_ROLE)
        else None,
        "teams": list(services.incident_team_choices(user)),
        "error": error,
        "form": request.POST if error else {},
    }
    return render(request, "incidents/list.html", context, status=400 if error else 200)


def _act(request: AuthedRequest, incident_id: int) -> str:
    user = request.user
    action = request.POST.get("action", "")
    p = request.POST
    if action == "confirm":
        services.do_confirm_incident(
            actor=user,
            incident_id=incident_id,
            owner_id=_int(p.get("owner_id"), "owner_id"),
            statement=p.get("statement") if "statement" in p else None,
        )
        return "已确认事件"
    if action == "dismiss":
        services.do_dismiss_incident(actor=user, incident_id=incident_id, reason=p.get("reason", ""))
        return "已忽略"
    if action == "merge":
        target = services.do_merge_incident(
            actor=user, incident_id=incident_id, into_id=_int(p.get("into_id"), "into_id")
        )
        return f"已合并到事件 #{target.pk}"
    if action == "update":
        services.do_update_incident(
            actor=user,
            incident_id=incident_id,
            title=p.get("title"),
            statement=p.get("statement"),
            internal_note=p.get("internal_note"),
            owner_id=_int(p.get("owner_id"), "owner_id"),
            notice=p.get("notice") == "on",
            notify_customers=p.get("notify_customers") == "on",
            lessons=p.get("lessons"),
        )
        return "已保存"
    if action == "tag":
        services.do_tag_conversation(
            actor=user,
            incident_id=incident_id,
            conversation_id=_int(p.get("conversation_id"), "conversation_id"),
        )
        return "已关联会话"
    if action == "resolve":
        incident = services.do_resolve_incident(
            actor=user, incident_id=incident_id, follow_up_text=p.get("follow_up_text", "")
        )
        return f"事件已解决，已向 {incident.follow_ups_sent} 位客户发送回访"
    if action == "compensate":
        result = services.do_compensate_incident(
            actor=user,
            incident_id=incident_id,
            kind=p.get("kind", ""),
            amount=p.get("amount", ""),
            reason=p.get("reason", ""),
        )
        return f"已为 {result.granted} 位客户补偿，合计 {result.amount} 元"
    raise InvalidInput("未知操作", fields={"action": "无效"})


@login_required
@require_http_methods(["GET", "POST"])
def incident_detail(request: AuthedRequest, incident_id: int) -> HttpResponse:
    user = request.user
    error: KefuError | None = None
    if request.method == "POST":
        try:
            messages.success(request, _act(request, incident_id))
            return redirect(f"/desk/incidents/{incident_id}/")
        except KefuError as exc:
            if exc.status in (401, 403, 404):
                raise
            error = exc
    incident = services.access_incident(user, incident_id)
    links = list(
        incident.links.select_related("conversation__customer", "conversation__assignee").order_by(
            "-conversation__created_at"
        )[:100]
    )
    can_manage = True
    try:
        services.check_may_manage(user, incident.team_id)
    except KefuError:
        can_manage = False
    others = [
        i
        for i in services.list_incidents(user, status="active")
        if i.pk != incident.pk and i.team_id == incident.team_id
    ]
    context = {
        "nav": "incidents",
        "incident": incident,
        "links": links,
        "link_total": incident.links.count(),
        "events": list(incident.events.select_related("actor")),
        "event_labels": services.EVENT_LABELS,
        "can_manage": can_manage,
        "others": others,
        "owners": services.possible_owners(incident),
        "error": error,
    }
    return render(request, "incidents/detail.html", context, status=400 if error else 200)


@login_required
@require_GET
def incident_review(request: AuthedRequest, incident_id: int) -> HttpResponse:
    review = services.incident_review(request.user, incident_id)
    peak = max((n for _, n in review.per_hour), default=0)
    context = {
        "nav": "incidents",
        "review": review,
        "incident": review.incident,
        "bars": [(h, n, round(100 * n / peak) if peak else 0) for h, n in review.per_hour],
        "event_labels": services.EVENT_LABELS,
    }
    return render(request, "incidents/review.html", context)


@login_required
@require_GET
def incident_review_csv(request: AuthedRequest, incident_id: int) -> HttpResponse:
    review = services.incident_review(request.user, incident_id)
    response = HttpResponse("\ufeff" + services.review_csv(review), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, f"事件复盘-{incident_id}.csv")
    return response


@login_required
@require_GET
def public_posts(request: AuthedRequest) -> HttpResponse:
    """Negative, visible social and live-stream posts waiting for (or given) a public reply."""
    status = request.GET.get("status") or "open"
    items = services.list_public_posts(request.user, status=status)
    now = timezone.now()
    rows = []
    for post in items:
        row = public_post_out(post, now=now)
        row["due"], row["answered"] = post.due_at, post.answered_at
        rows.append(row)
    context: dict[str, Any] = {
        "nav": "incidents",
        "items": rows,
        "status": status,
        "statuses": [("open", "待公开回复"), ("late", "已超时"), ("answered", "已公开回复"), ("all", "全部")],
    }
    return render(request, "incidents/public_posts.html", context)
