"""Complaint pages: the guided workflow, approvals of compensation, and promises."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from kefu.accounts.access import AuthedRequest
from kefu.accounts.models import Role
from kefu.core.errors import InvalidInput, KefuError
from kefu.core.params import whole, whole_param
from kefu.tickets.models import Department

from . import access, compensation, guards, promises, services, stages
from .models import CompensationKind, Stage


@login_required
def complaint_list(request: AuthedRequest) -> HttpResponse:
    stage = request.GET.get("stage") or ""
    if stage and stage not in Stage.values:
        raise InvalidInput("没有这个投诉阶段", fields={"stage": "请从列表中选择"})
    qs = access.visible_complaints(request.user)
    if stage:
        qs = qs.filter(stage=stage)
    return render(
        request,
        "complaints/list.html",
        {"complaints": list(qs[:200]), "stages": Stage.choices, "stage": stage, "now": timezone.now()},
    )


def _local_datetime(value: str, field: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput("时间格式错误", fields={field: "格式 YYYY-MM-DDTHH:MM"}) from exc
    return timezone.make_aware(parsed) if timezone.is_naive(parsed) else parsed


def _act(request: AuthedRequest, complaint_id: int) -> None:
    """Run the workflow action the form asked for."""
    p, user, action = request.POST, request.user, request.POST.get("action", "")
    if action == "intake":
        services.do_update_intake(
            actor=user,
            complaint_id=complaint_id,
            data={
                "what_happened": p.get("what_happened", ""),
                "customer_request": p.get("customer_request", ""),
                "evidence": [line.strip() for line in p.get("evidence", "").splitlines() if line.strip()],
                "contact_preference": p.get("contact_preference", ""),
            },
        )
    elif action == "advance":
        services.do_advance(actor=user, complaint_id=complaint_id, note=p.get("note", ""))
    elif action == "transfer":
        fields = {k[6:]: str(v) for k, v in p.items() if k.startswith("field_") and str(v).strip()}
        services.do_transfer(
            actor=user,
            complaint_id=complaint_id,
            department_id=whole(p.get("department_id")) or 0,
            fields=fields,
            note=p.get("note", ""),
        )
    elif action == "progress":
        services.do_send_progress(
            actor=user,
            complaint_id=complaint_id,
            text=p.get("text", ""),
            confirm_findings=p.get("confirm_findings") == "on",
        )
    elif action == "resolve":
        services.do_resolve(
            actor=user,
            complaint_id=complaint_id,
            resolution=p.get("resolution", ""),
            confirm_findings=p.get("confirm_findings") == "on",
        )
    elif action == "confirm":
        services.do_confirm_resolution(
            actor=user,
            complaint_id=complaint_id,
            confirmed=p.get("confirmed") == "yes",
            note=p.get("note", ""),
        )
    elif action == "follow_up":
        services.do_record_follow_up(actor=user, complaint_id=complaint_id, note=p.get("note", ""))
    elif action == "compensation":
        compensation.do_request_compensation(
            actor=user,
            complaint_id=complaint_id,
            kind=p.get("kind", ""),
            amount=p.get("amount", ""),
            reason=p.get("reason", ""),
        )
    elif action == "promise":
        promises.do_make_promise(
            actor=user,
            complaint_id=complaint_id,
            description=p.get("description", ""),
            due_at=_local_datetime(p.get("due_at", ""), "due_at"),
        )
    else:
        raise InvalidInput("未知操作", fields={"action": "无效"})


@login_required
@require_http_methods(["GET", "POST"])
def complaint_detail(request: AuthedRequest, complaint_id: int) -> HttpResponse:
    error: KefuError | None = None
    if request.method == "POST":
        try:
            _act(request, complaint_id)
            messages.success(request, "已保存")
            return redirect("complaint-detail", complaint_id=complaint_id)
        except KefuError as exc:
            if exc.status in (401, 403, 404):
                raise
            error = exc
    complaint = access.access_complaint(request.user, complaint_id)

    context: dict[str, Any] = {
        "c": complaint,
        "ticket": complaint.ticket,
        "stage_label": Stage(complaint.stage).label,
        "guide": stages.STAGE_GUIDE[Stage(complaint.stage)],
        "four_steps": stages.FOUR_STEPS,
        "stages": Stage.choices,
        "missing": [stages.INTAKE_LABELS[m] for m in stages.intake_missing(complaint)],
        "departments": Department.objects.all(),
        "kinds": CompensationKind.choices,
        "compensations": complaint.compensations.select_related("requested_by", "decided_by"),
        "promises": complaint.promises.select_related("owner"),
        "repeats": complaint.repeats.select_related("ticket"),
        "my_limit": guards.authority_limit(request.user),
        "error": error,
        # A form refused (e.g. by the quality check) comes back with what was typed.
        "posted": request.POST if error else {},
        "error_findings": [
            f for f in (error.extra.get("findings", []) if error else []) if f.get("severity") == "high"
        ],
    }
    return render(request, "complaints/detail.html", context, status=400 if error else 200)


def _positive_int(value: str | None, field: str) -> int | None:
    return whole_param(value, field, message="参数无效", hint="应为正整数", lo=1)


@login_required
@require_POST
def open_complaint(request: AuthedRequest) -> HttpResponse:
    """「登记投诉」 from a conversation page or a ticket page: the complaint page is next."""
    p = request.POST
    intake = {
        "what_happened": p.get("what_happened", ""),
        "customer_request": p.get("customer_request", ""),
    }
    back = "/desk/"
    try:
        conversation_id = _positive_int(p.get("conversation_id"), "conversation_id")
        ticket_id = _positive_int(p.get("ticket_id"), "ticket_id")
        if ticket_id is not None:
            back = f"/desk/tickets/{ticket_id}/"
            complaint, created = services.do_open_complaint_from_ticket(
                actor=request.user, ticket_id=ticket_id, data=intake
            )
        elif conversation_id is not None:
            back = f"/desk/c/{conversation_id}/"
            complaint, created = services.do_open_case(
                actor=request.user, conversation_id=conversation_id, data=intake
            )
        else:
            raise InvalidInput("请从会话或工单登记投诉", fields={"conversation_id": "必填"})
    except KefuError as exc:
        if exc.status in (401, 403, 404):
            raise
        messages.error(request, exc.message)
        return redirect(back)
    messages.success(request, "已登记投诉" if created else "该会话已有投诉，已为您打开")
    return redirect("complaint-detail", complaint_id=complaint.pk)


@login_required
@require_http_methods(["GET", "POST"])
def approvals(request: AuthedRequest) -> HttpResponse:
    if request.method == "POST":
        try:
            compensation.do_decide_compensation(
                actor=request.user,
                request_id=whole(request.POST.get("request_id")) or 0,
                approve=request.POST.get("decision") == "approve",
                note=request.POST.get("note", ""),
            )
            messages.success(request, "已处理")
        except KefuError as exc:
            messages.error(request, exc.message)
        return redirect("approvals")
    return render(
        request,
        "complaints/approvals.html",
        {
            "pending": list(compensation.pending_approvals(request.user)[:200]),
            "my_limit": guards.authority_limit(request.user),
        },
    )


@login_required
def promises_page(request: AuthedRequest) -> HttpResponse:
    rates = promises.promise_rates() if request.user.has_role_at_least(Role.TEAM_LEAD) else []
    return render(
        request,
        "complaints/promises.html",
        {"promises": list(promises.promises_for(request.user)[:200]), "rates": rates, "now": timezone.now()},
    )


@login_required
@require_POST
def promise_action(request: AuthedRequest, promise_id: int) -> HttpResponse:
    try:
        if request.POST.get("action") == "cancel":
            promises.do_cancel_promise(actor=request.user, promise_id=promise_id)
        else:
            promises.do_keep_promise(actor=request.user, promise_id=promise_id)
    except KefuError as exc:
        messages.error(request, exc.message)
    return redirect("promises")
