"""Customer pages: the searchable list and one profile with orders and history.

Personal data is rendered masked; the 查看 button asks ``POST /api/v1/customers/<id>/reveal``,
which checks the role and writes the audit row. Edits post to small form views that
call one service each and come back to the profile.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import prefetch_related_objects
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from kefu.accounts.access import AuthedRequest, can_reveal_pii
from kefu.core.errors import InvalidInput, KefuError
from kefu.core.labels import field_label
from kefu.core.masking import mask
from kefu.core.params import required_whole_param, whole

from . import presenters, services
from .models import Identity

PAGE_SIZE = 50
PROFILE_ORDERS = 20
PROFILE_TIMELINE = 100


def _profile_url(customer_id: int) -> str:
    return f"/desk/customers/{customer_id}/"


@require_GET
@login_required
def customer_list_view(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "")[:100]
    tag = request.GET.get("tag", "")[:32]
    vip = {"1": True, "0": False}.get(request.GET.get("vip", ""))
    qs = services.search_customers(q=q, tag=tag, vip=vip).order_by("-vip_level", "-id")
    paginator = Paginator(qs, PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    rows = [{"customer": c, "pii": presenters.masked_pii(c)} for c in page.object_list]
    # Opened from a conversation with an unknown web visitor: each row offers to link them.
    link = _link_request(request)
    return render(
        request,
        "customers/list.html",
        {
            "nav": "customers",
            "page": page,
            "rows": rows,
            "q": q,
            "tag": tag,
            "vip": request.GET.get("vip", ""),
            "link": link,
        },
    )


def _link_request(request: HttpRequest) -> dict[str, int] | None:
    source, conversation = request.GET.get("link_from", ""), request.GET.get("conversation", "")
    source_id, conversation_id = whole(source), whole(conversation)
    if source_id is None or conversation_id is None:
        return None
    return {"source_id": source_id, "conversation_id": conversation_id}


@require_GET
@login_required
def customer_profile_view(request: AuthedRequest, customer_id: int) -> HttpResponse:
    customer = services.access_customer(request.user, customer_id)
    if customer.merged_into_id:
        messages.info(
            request, f"客户 {customer.pk} 已合并到客户 {customer.merged_into_id}，已为您打开合并后的资料。"
        )
        return redirect(_profile_url(customer.merged_into_id))
    orders = list(customer.orders.order_by("-placed_at", "-id")[:PROFILE_ORDERS])
    prefetch_related_objects(orders, "items", "logistics")
    identities = [
        {"identity": i, "value": presenters.masked_identity_value(i)}
        for i in sorted(customer.identities.all(), key=lambda i: (i.kind, i.pk))
    ]
    context: dict[str, Any] = {
        "nav": "customers",
        "customer": customer,
        "pii": presenters.masked_pii(customer),
        "identities": identities,
        "identity_kinds": Identity.Kind.choices,
        "orders": [{"order": o, "address": mask("address", o.address)} for o in orders],
        "timeline": services.customer_timeline(customer, user=request.user, limit=PROFILE_TIMELINE),
        "can_reveal": can_reveal_pii(request.user),
        "is_admin": request.user.has_role_at_least("admin"),
        "tags_text": "，".join(customer.tags),
    }
    return render(request, "customers/profile.html", context)


def _back(request: HttpRequest, customer_id: int, error: KefuError | None = None) -> HttpResponseRedirect:
    if error is not None:
        detail = "；".join(f"{field_label(k)}：{v}" for k, v in error.fields.items())
        messages.error(request, error.message + (f"（{detail}）" if detail else ""))
    return redirect(_profile_url(customer_id))


def _parse_tags(text: str) -> list[str]:
    for sep in ("，", ",", "、", ";", "；"):
        text = text.replace(sep, " ")
    return [t for t in text.split() if t]


@require_POST
@login_required
def customer_edit_view(request: AuthedRequest, customer_id: int) -> HttpResponse:
    customer = services.access_customer(request.user, customer_id)
    changes: dict[str, Any] = {}
    if "notes" in request.POST:
        changes["notes"] = request.POST["notes"]
    if "tags" in request.POST:
        changes["tags"] = _parse_tags(request.POST["tags"])
    if "name" in request.POST:
        changes["name"] = request.POST["name"]
    try:
        if "vip_level" in request.POST:
            changes["vip_level"] = required_whole_param(
                request.POST["vip_level"],
                "vip_level",
                message="VIP 等级无效",
                hint="必须是整数",
            )
        services.do_update_customer(actor=request.user, customer=customer, changes=changes)
    except KefuError as exc:
        return _back(request, customer.pk, exc)
    messages.success(request, "客户资料已保存")
    return _back(request, customer.pk)


@require_POST
@login_required
def identity_add_view(request: AuthedRequest, customer_id: int) -> HttpResponse:
    customer = services.access_customer(request.user, customer_id)
    try:
        services.do_add_identity(
            actor=request.user,
            customer=customer,
            kind=request.POST.get("kind", ""),
            value=request.POST.get("value", ""),
        )
    except KefuError as exc:
        return _back(request, customer.pk, exc)
    messages.success(request, "已添加身份标识")
    return _back(request, customer.pk)


@require_POST
@login_required
def identity_delete_view(request: AuthedRequest, customer_id: int, identity_id: int) -> HttpResponse:
    customer = services.access_customer(request.user, customer_id)
    if not customer.identities.filter(pk=identity_id).exists():
        return _back(request, customer.pk, InvalidInput("该身份不属于此客户"))
    services.do_delete_identity(actor=request.user, identity_id=identity_id)
    messages.success(request, "已删除身份标识")
    return _back(request, customer.pk)


@require_POST
@login_required
def customer_merge_view(request: AuthedRequest, customer_id: int) -> HttpResponse:
    """Merge another customer (``source_id``) into this one."""
    target = services.access_customer(request.user, customer_id)
    try:
        source_id = required_whole_param(
            request.POST.get("source_id"),
            "source_id",
            message="请输入要合并进来的客户编号",
            hint="必须是客户编号",
        )
        source = services.access_customer(request.user, source_id)
        services.do_merge_customers(actor=request.user, source=source, target=target, request=request)
    except KefuError as exc:
        if exc.status == 403:
            raise
        return _back(request, target.pk, exc)
    messages.success(request, f"已将客户 {source.pk} 合并到当前客户")
    return _back(request, target.pk)


@require_POST
@login_required
def customer_link_view(request: AuthedRequest, customer_id: int) -> HttpResponse:
    """Link the web visitor ``source_id`` (of conversation ``conversation_id``) to this known customer."""
    target = services.access_customer(request.user, customer_id)
    raw_source, raw_conversation = request.POST.get("source_id", ""), request.POST.get("conversation_id", "")
    source_id, conversation_id = whole(raw_source), whole(raw_conversation)
    if source_id is None or (raw_conversation and conversation_id is None):
        raise InvalidInput("请求缺少访客或会话编号", fields={"source_id": "必须是客户编号"})
    source = services.access_customer(request.user, source_id)
    try:
        services.do_link_visitor(
            actor=request.user, source=source, target=target, conversation_id=conversation_id, request=request
        )
    except KefuError as exc:
        if exc.status == 403:
            raise
        messages.error(request, exc.message)
        return redirect(f"/desk/c/{conversation_id}/" if conversation_id else _profile_url(source.pk))
    messages.success(request, f"已把访客关联到客户「{target.name or target.pk}」，历史会话和订单已合并。")
    return redirect(f"/desk/c/{conversation_id}/" if conversation_id else _profile_url(target.pk))
