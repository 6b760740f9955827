"""Ticket pages: my tickets with follow-up reminders, one ticket with its actions and
timeline, and the one-click "创建工单" from a conversation.

Forms post here and redirect back (post/redirect/get). Input mistakes and state
conflicts come back as a message on the page; missing permission or a missing
ticket become the error page.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from kefu.accounts.access import AuthedRequest, check_admin
from kefu.accounts.models import Team, User
from kefu.complaints.models import Complaint
from kefu.conversations.models import Priority
from kefu.core import labels
from kefu.core.errors import Conflict, InvalidInput, KefuError, NotFound
from kefu.core.forms import add_errors
from kefu.core.keyset import capped_count, keyset_page
from kefu.core.params import whole
from kefu.quality.checks import FindingsUnconfirmed
from kefu.sla.presenters import notice_dict

from . import models, records, services
from .models import Ticket
from .presenters import TICKET_ROW_FIELDS, ticket_row

# Rows per page of the ticket list; pages follow each other by a keyset cursor, and the
# count stops at ``COUNT_CAP`` (kefu.core.keyset): both cost the same at any size.
PAGE_SIZE = 25
# A customer update held back by the quality check waits here for the page to show again.
_DRAFT_KEY = "kefu_ticket_update_draft_{}"
VIEWS = (("mine", "我的工单"), ("all", "全部可见"))


def _user(request: HttpRequest) -> User:
    """The signed-in desk user (every view here is behind ``login_required``)."""
    assert isinstance(request.user, User)
    return request.user


def _detail_url(ticket_id: int) -> str:
    return reverse("tickets:detail", args=[ticket_id])


def _int(value: str | None, *, field: str) -> int:
    number = whole(value, signed=True)
    if number is None:
        raise InvalidInput("请选择有效的选项", fields={field: "无效"})
    return number


def _local_datetime(value: str | None, *, field: str) -> datetime:
    """A ``datetime-local`` form value in the desk's time zone."""
    try:
        parsed = datetime.fromisoformat((value or "").strip())
    except ValueError as exc:
        raise InvalidInput("请填写有效的时间", fields={field: "格式应为 YYYY-MM-DDTHH:MM"}) from exc
    return timezone.make_aware(parsed) if timezone.is_naive(parsed) else parsed


def _posted_fields(request: HttpRequest) -> dict[str, str]:
    """``field_<key>`` inputs, plus one free ``new_field_key`` / ``new_field_value`` pair."""
    fields = {
        k[len("field_") :]: str(request.POST.get(k) or "") for k in request.POST if k.startswith("field_")
    }
    new_key = (request.POST.get("new_field_key") or "").strip()
    if new_key:
        fields[new_key] = request.POST.get("new_field_value") or ""
    return fields


@require_GET
@login_required
def ticket_list_view(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    filters = {
        "view": request.GET.get("view") or "mine",
        "status": request.GET.get("status") or "",
        "priority": request.GET.get("priority") or "",
        "category": request.GET.get("category") or "",
        "sort": request.GET.get("sort") or records.DEFAULT_SORT,
    }
    if filters["view"] not in dict(VIEWS):
        raise InvalidInput("未知视图", fields={"view": "应为 mine 或 all"})
    qs = records.list_tickets(
        user,
        status=filters["status"] or None,
        priority=filters["priority"] or None,
        category=filters["category"] or None,
        mine=filters["view"] == "mine",
        sort=filters["sort"],
    )
    page = keyset_page(
        qs.values(*TICKET_ROW_FIELDS),
        sort=filters["sort"],
        limit=PAGE_SIZE,
        after=request.GET.get("after") or None,
        before=request.GET.get("before") or None,
    )
    count = capped_count(qs)
    context = {
        "nav": "tickets",
        "tickets": [ticket_row(r) for r in page.items],
        "next_cursor": page.next_cursor,
        "prev_cursor": page.prev_cursor,
        "count": count,
        "count_text": f"{count.value:,}",
        "filters": filters,
        "query": urlencode({k: v for k, v in filters.items() if v}),
        "views": VIEWS,
        "statuses": Ticket.Status.choices,
        "priorities": Priority.choices,
        "categories": Ticket.Category.choices,
        "sorts": records.SORTS.items(),
        "follow_ups": records.follow_ups_for(user),
        "now": timezone.now(),
    }
    return render(request, "tickets/list.html", context)


@require_GET
@login_required
def ticket_detail_view(request: HttpRequest, ticket_id: int) -> HttpResponse:
    ticket = records.access_ticket(_user(request), ticket_id)
    departments = list(records.list_departments())
    required_keys = list(dict.fromkeys(k for d in departments for k in d.required_fields))
    context = {
        "nav": "tickets",
        "ticket": ticket,
        "conversations": list(ticket.conversations.select_related("channel").order_by("-id")[:20]),
        "orders": list(ticket.orders.order_by("-placed_at")[:20]),
        "timeline": records.timeline(ticket),
        "escalations": [
            {**notice_dict(n), "at": n.created_at} for n in ticket.escalations.order_by("created_at", "id")
        ],
        "follow_ups": list(ticket.follow_ups.select_related("owner").order_by("done_at", "due_at", "id")),
        "field_rows": [(k, labels.field_label(k), v) for k, v in ticket.fields.items()],
        "allowed": [
            (s, "重新打开" if reopen else Ticket.Status(s).label)
            for s in models.TRANSITIONS[ticket.status]
            for reopen in [
                s == Ticket.Status.IN_PROGRESS
                and ticket.status in (Ticket.Status.RESOLVED, Ticket.Status.CLOSED)
            ]
        ],
        "can_transfer": ticket.status in records.TRANSFERABLE,
        "departments": [
            {
                "obj": d,
                "required": [
                    {"key": k, "label": labels.field_label(k), "value": ticket.fields.get(k, "")}
                    for k in d.required_fields
                ],
            }
            for d in departments
        ],
        "transfer_fields": [
            {"key": k, "label": labels.field_label(k), "value": ticket.fields.get(k, "")}
            for k in required_keys
        ],
        "categories": Ticket.Category.choices,
        "now": timezone.now(),
        "update_draft": request.session.pop(_DRAFT_KEY.format(ticket.pk), ""),
        "complaint": Complaint.objects.filter(ticket=ticket).first(),
    }
    return render(request, "tickets/detail.html", context)


def _back_to_conversation(request: HttpRequest, conversation_id: int) -> str:
    target = request.POST.get("next") or f"/desk/c/{conversation_id}/"
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = f"/desk/c/{conversation_id}/"
    return target


@require_POST
@login_required
def create_from_conversation_view(request: HttpRequest, conversation_id: int) -> HttpResponse:
    back = _back_to_conversation(request, conversation_id)
    try:
        ticket = services.do_create_ticket(actor=_user(request), conversation_id=conversation_id)
    except (InvalidInput, Conflict) as exc:
        messages.error(request, exc.message)
        return HttpResponseRedirect(back)
    messages.success(request, f"已创建工单 {ticket.number}")
    if request.POST.get("open") == "1":
        return HttpResponseRedirect(_detail_url(ticket.pk))
    return HttpResponseRedirect(back)


def _status(request: HttpRequest, ticket_id: int) -> str:
    ticket = services.do_change_status(
        actor=_user(request),
        ticket_id=ticket_id,
        status=request.POST.get("status") or "",
        note=request.POST.get("note") or "",
    )
    return f"工单状态已改为「{ticket.get_status_display()}」"


def _transfer(request: HttpRequest, ticket_id: int) -> str:
    department_id = _int(request.POST.get("department_id"), field="department_id")
    department = records.access_department(department_id)
    # Only the fields this department asks for are taken from the form; the others
    # on the page belong to other departments.
    posted = _posted_fields(request)
    fields = {k: posted[k] for k in department.required_fields if k in posted}
    services.do_transfer_ticket(
        actor=_user(request),
        ticket_id=ticket_id,
        department_id=department_id,
        fields=fields,
        note=request.POST.get("note") or "",
    )
    return f"已转交「{department.name}」"


def _comment(request: HttpRequest, ticket_id: int) -> str:
    services.do_add_comment(actor=_user(request), ticket_id=ticket_id, text=request.POST.get("text") or "")
    return "已添加备注"


def _follow_up(request: HttpRequest, ticket_id: int) -> str:
    services.do_add_follow_up(
        actor=_user(request),
        ticket_id=ticket_id,
        due_at=_local_datetime(request.POST.get("due_at"), field="due_at"),
        note=request.POST.get("note") or "",
    )
    return "已设置跟进提醒"


def _customer_update(request: HttpRequest, ticket_id: int) -> str:
    text = request.POST.get("text") or ""
    try:
        services.do_send_customer_update(
            actor=_user(request),
            ticket_id=ticket_id,
            text=text,
            confirm_findings=request.POST.get("confirm_findings") == "on",
        )
    except FindingsUnconfirmed as exc:
        # The page comes back with the draft and the findings; ticking 「仍然发送」 confirms.
        request.session[_DRAFT_KEY.format(ticket_id)] = text[:5000]
        high = [f for f in exc.extra.get("findings", []) if f.get("severity") == "high"]
        raise FindingsUnconfirmed(
            exc.message.split("；")[0]
            + "："
            + "；".join(f"「{f['excerpt'][:30]}」{f['why']}" for f in high)
            + "。修改后再发，或勾选「已确认质检提示，仍然发送」。",
            fields=exc.fields,
            extra=exc.extra,
        ) from exc
    request.session.pop(_DRAFT_KEY.format(ticket_id), None)
    return "已发送进展给客户"


def _edit(request: HttpRequest, ticket_id: int) -> str:
    services.do_update_ticket(
        actor=_user(request),
        ticket_id=ticket_id,
        title=request.POST.get("title") or "",
        description=request.POST.get("description") or "",
        category=request.POST.get("category") or "",
        urgent=request.POST.get("urgent") == "on",
        important=request.POST.get("important") == "on",
        fields=_posted_fields(request),
    )
    return "工单已更新"


ACTIONS: dict[str, Callable[[HttpRequest, int], str]] = {
    "status": _status,
    "transfer": _transfer,
    "comment": _comment,
    "follow-up": _follow_up,
    "customer-update": _customer_update,
    "edit": _edit,
}


@require_POST
@login_required
def ticket_action_view(request: HttpRequest, ticket_id: int, action: str) -> HttpResponse:
    handler = ACTIONS.get(action)
    if handler is None:
        raise NotFound("没有这个操作")
    try:
        done = handler(request, ticket_id)
    except (InvalidInput, Conflict) as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done)
    return HttpResponseRedirect(_detail_url(ticket_id))


@require_POST
@login_required
def follow_up_done_view(request: HttpRequest, follow_up_id: int) -> HttpResponse:
    follow_up = services.do_complete_follow_up(actor=_user(request), follow_up_id=follow_up_id)
    messages.success(request, "跟进已完成")
    target = request.POST.get("next") or _detail_url(follow_up.ticket_id)
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = _detail_url(follow_up.ticket_id)
    return HttpResponseRedirect(target)


# --- settings: departments (admins) ----------------------------------------------------


class DepartmentForm(forms.Form):
    name = forms.CharField(label="部门名称", max_length=64)
    team = forms.ModelChoiceField(
        label="处理团队", queryset=Team.objects.all(), required=False, empty_label="（不指定）"
    )
    required_fields = forms.MultipleChoiceField(
        label="转交前必填的信息",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="转交到这个部门的工单必须先填好这些信息",
    )
    deadline_hours = forms.IntegerField(label="处理时限（小时）", min_value=1, max_value=720, initial=24)

    def __init__(self, *args: Any, current: list[str] = (), **kwargs: Any) -> None:  # type: ignore[assignment]
        super().__init__(*args, **kwargs)
        keys = list(labels.DEPARTMENT_FIELD_KEYS) + [
            k for k in current if k not in labels.DEPARTMENT_FIELD_KEYS
        ]
        self.fields["required_fields"].choices = [(k, labels.field_label(k)) for k in keys]  # type: ignore[attr-defined]


@never_cache
@login_required
def settings_departments_view(request: AuthedRequest) -> HttpResponse:
    check_admin(request.user)
    form = DepartmentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            department = services.do_save_department(
                actor=request.user, department=None, request=request, **form.cleaned_data
            )
        except KefuError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, f"已创建部门「{department.name}」。")
            return redirect("tickets:settings_departments")
    departments = [
        {"department": d, "required": [labels.field_label(k) for k in d.required_fields]}
        for d in records.list_departments()
    ]
    return render(
        request,
        "tickets/settings_departments.html",
        {"form": form, "departments": departments},
        status=400 if form.errors else 200,
    )


@never_cache
@login_required
def settings_department_edit_view(request: AuthedRequest, department_id: int) -> HttpResponse:
    check_admin(request.user)
    department = records.access_department(department_id)
    initial = {
        "name": department.name,
        "team": department.team,
        "required_fields": department.required_fields,
        "deadline_hours": department.deadline_hours,
    }
    form = DepartmentForm(request.POST or None, initial=initial, current=department.required_fields)
    if request.method == "POST" and form.is_valid():
        try:
            services.do_save_department(
                actor=request.user, department=department, request=request, **form.cleaned_data
            )
        except KefuError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, f"已保存部门「{department.name}」。")
            return redirect("tickets:settings_departments")
    return render(
        request,
        "tickets/settings_department_form.html",
        {"form": form, "department": department},
        status=400 if form.errors else 200,
    )
