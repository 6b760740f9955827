"""The customer web chat: the page, visitor tokens and image upload.

The page may be embedded on a shop's site (``widget.js`` opens it in an iframe), so
it alone is exempt from the frame policy. Token, upload and rating endpoints authenticate
with the signed visitor token, not cookies: a third-party iframe often has no
cookies, and without a cookie there is nothing for CSRF to forge. Each is rate
limited (``429`` with ``Retry-After``).
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from kefu.accounts.access import AuthedRequest, check_admin, client_ip
from kefu.accounts.models import Team
from kefu.bot.services import do_receive_chat_and_answer
from kefu.conversations.presenters import public_message_dict
from kefu.conversations.services import access_customer_rated_conversation
from kefu.core import ratelimit
from kefu.core.errors import InvalidInput, KefuError, NotFound, Unauthorized
from kefu.core.forms import add_errors
from kefu.core.params import whole_param
from kefu.core.views import render_error
from kefu.incidents.facts import open_notices
from kefu.surveys.services import chat_survey_config, do_answer_from_chat

from .models import Channel
from .services import (
    WEBHOOK_KINDS,
    check_contact,
    check_desk_state_request,
    do_leave_chat_message,
    do_rotate_channel_secret,
    do_save_channel,
    web_desk_state,
)
from .visitor import issue_visitor_token, read_visitor_token, web_chat_channel


def _channel_id(raw: str | None) -> int | None:
    return whole_param(raw, "channel", message="渠道编号无效", hint="必须是整数")


def _json_body(request: HttpRequest) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("请求内容不是有效的 JSON", fields={"body": "JSON 对象"}) from exc
    if not isinstance(body, dict):
        raise InvalidInput("请求内容应为 JSON 对象", fields={"body": "JSON 对象"})
    return body


def _error(exc: KefuError) -> JsonResponse:
    return exc.add_headers(
        JsonResponse(exc.as_dict(), status=exc.status, json_dumps_params={"ensure_ascii": False})
    )


@require_GET
@xframe_options_exempt
def chat_page(request: HttpRequest) -> HttpResponse:
    try:
        channel = web_chat_channel(_channel_id(request.GET.get("channel")))
        if channel is None:
            raise NotFound("该在线客服渠道不存在或已停用")
    except KefuError as exc:
        return render_error(request, exc)
    context = {
        "channel": channel,
        "desk": web_desk_state(channel),
        "embed": request.GET.get("embed") == "1",
        # A fresh visitor for first-time browsers; chat.js prefers the token it kept.
        # The widget passes the visitor it reported pages as (``vt``), so the chat it
        # opens is that visitor (proactive invitations, docs/proactive.md).
        "token": _widget_visitor_token(request.GET.get("vt"), channel) or issue_visitor_token(channel.pk),
        "incident_notices": open_notices(),
        "survey": chat_survey_config(channel),
    }
    return render(request, "channels/chat.html", context)


def _widget_visitor_token(token: str | None, channel: Channel) -> str | None:
    if not token:
        return None
    try:
        visitor = read_visitor_token(token)
    except KefuError:
        return None
    return token if visitor.channel_id == channel.pk else None


@csrf_exempt
@require_POST
def chat_token(request: HttpRequest) -> JsonResponse:
    """Exchange a kept token for one on this channel, keeping the visitor; or start a new visitor."""
    try:
        ratelimit.take_for_address("chat_token_ip", client_ip(request))
        channel = web_chat_channel(_channel_id(request.POST.get("channel")))
        if channel is None:
            raise NotFound("该在线客服渠道不存在或已停用")
    except KefuError as exc:
        return _error(exc)
    visitor_id = None
    if kept := request.POST.get("token"):
        try:
            visitor_id = read_visitor_token(kept).visitor_id
        except Unauthorized:
            visitor_id = None
    return JsonResponse({"token": issue_visitor_token(channel.pk, visitor_id=visitor_id)})


@csrf_exempt
@require_POST
def chat_upload(request: HttpRequest) -> JsonResponse:
    """An image from the visitor; stored like any customer message (idempotent on ``client_msg_id``)."""
    try:
        visitor = read_visitor_token(request.POST.get("token"))
        channel = web_chat_channel(visitor.channel_id)
        if channel is None:
            raise NotFound("该在线客服渠道不存在或已停用")
        image = request.FILES.get("image")
        if image is None:
            raise InvalidInput("请选择要发送的图片", fields={"image": "必填"})
        client_msg_id = request.POST.get("client_msg_id")
        if not client_msg_id:
            raise InvalidInput("缺少 client_msg_id", fields={"client_msg_id": "必填"})
        message, created = do_receive_chat_and_answer(
            channel=channel,
            visitor=visitor,
            ip=client_ip(request),
            text=request.POST.get("text", ""),
            image=image,
            client_msg_id=client_msg_id,
        )
    except KefuError as exc:
        return _error(exc)
    return JsonResponse(
        {"message": public_message_dict(message), "created": created},
        status=201 if created else 200,
        json_dumps_params={"ensure_ascii": False},
    )


@csrf_exempt
@require_POST
def chat_rate(request: HttpRequest) -> JsonResponse:
    """The visitor's answer to the survey card (JSON ``{token, score, nps?, comment}``) of their resolved conversation."""
    try:
        ratelimit.take_for_address("csat_ip", client_ip(request), message="评价提交太频繁，请稍后再试")
        try:
            body = json.loads(request.body or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidInput("请求内容不是有效的 JSON", fields={"body": "JSON 对象"}) from exc
        if not isinstance(body, dict):
            raise InvalidInput("请求内容应为 JSON 对象", fields={"body": "JSON 对象"})
        visitor = read_visitor_token(body.get("token"))
        channel = web_chat_channel(visitor.channel_id)
        if channel is None:
            raise NotFound("该在线客服渠道不存在或已停用")
        conversation_id = body.get("conversation_id")
        if conversation_id is not None and type(conversation_id) is not int:
            raise InvalidInput("会话编号无效", fields={"conversation_id": "必须是整数"})
        conversation = access_customer_rated_conversation(
            channel=channel, identities=visitor.identities, conversation_id=conversation_id
        )
        survey = do_answer_from_chat(
            conversation=conversation,
            csat=body.get("score"),
            nps=body.get("nps"),
            comment=body.get("comment", ""),
        )
    except KefuError as exc:
        return _error(exc)
    return JsonResponse(
        {"rated": True, "score": survey.csat, "nps": survey.nps, "comment": survey.comment},
        status=201,
        json_dumps_params={"ensure_ascii": False},
    )


@require_GET
def chat_state(request: HttpRequest) -> JsonResponse:
    """Whether the desk of a web channel is open, busy or closed (``widget.js`` asks from a shop's page).

    Public and cross-origin: it tells no more than the chat page itself.
    """
    try:
        check_desk_state_request(client_ip(request))
        channel = web_chat_channel(_channel_id(request.GET.get("channel")))
        if channel is None:
            raise NotFound("该在线客服渠道不存在或已停用")
        response = JsonResponse(web_desk_state(channel), json_dumps_params={"ensure_ascii": False})
    except KefuError as exc:
        response = _error(exc)
    response["Access-Control-Allow-Origin"] = "*"
    response["Cache-Control"] = "no-store"
    return response


@csrf_exempt
@require_POST
def chat_leave_message(request: HttpRequest) -> JsonResponse:
    """A message left (留言): JSON ``{token, client_msg_id, text, name?, phone?, email?}`` → its ticket.

    201 with the ticket number and when the customer will be answered (200 for a resend
    of the same ``client_msg_id``); 400 naming the field for a bad phone or email.
    """
    try:
        body = _json_body(request)
        visitor = read_visitor_token(body.get("token"))
        channel = web_chat_channel(visitor.channel_id)
        if channel is None:
            raise NotFound("该在线客服渠道不存在或已停用")
        client_msg_id = body.get("client_msg_id")
        if not isinstance(client_msg_id, str) or not client_msg_id:
            raise InvalidInput("缺少 client_msg_id", fields={"client_msg_id": "必填"})
        contact = check_contact(name=body.get("name"), phone=body.get("phone"), email=body.get("email"))
        receipt = do_leave_chat_message(
            channel=channel,
            visitor=visitor,
            ip=client_ip(request),
            text=body.get("text"),
            contact=contact,
            client_msg_id=client_msg_id,
        )
    except KefuError as exc:
        return _error(exc)
    return JsonResponse(
        {
            "ticket_number": receipt.ticket.number,
            "reply_by": receipt.ticket.first_response_due.isoformat()
            if receipt.ticket.first_response_due
            else None,
            "reply_by_text": receipt.reply_by,
            "text": receipt.text,
            "message": public_message_dict(receipt.message),
            "created": receipt.created,
        },
        status=201 if receipt.created else 200,
        json_dumps_params={"ensure_ascii": False},
    )


# --- settings: channels (admins) -------------------------------------------------------


class ChannelForm(forms.Form):
    name = forms.CharField(label="渠道名称", max_length=64)
    kind = forms.ChoiceField(label="类型", choices=Channel.Kind.choices, help_text="创建后不可修改")
    team = forms.ModelChoiceField(
        label="默认团队", queryset=Team.objects.all(), required=False, empty_label="（按路由规则和意图分配）"
    )
    email_address = forms.EmailField(
        label="收件地址",
        required=False,
        help_text="邮件渠道：客户来信的地址",
        error_messages={"invalid": "请输入有效的邮箱地址，如 service@example.com"},
    )
    outbound_url = forms.URLField(
        label="回推地址",
        required=False,
        max_length=200,
        help_text="平台渠道：客服回复推送到这个网址（签名）",
        error_messages={"invalid": "请输入有效的网址，以 http:// 或 https:// 开头"},
    )
    is_active = forms.BooleanField(label="启用", required=False, initial=True)

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if editing:
            del self.fields["kind"]


def _channel_info(request: HttpRequest, channel: Channel) -> dict[str, Any]:
    """What an admin copies into other systems: the embed code, the inbound URL."""
    origin = request.build_absolute_uri("/").rstrip("/")
    return {
        "channel": channel,
        "embed_code": f'<script src="{origin}{static("kefu/widget.js")}" data-channel="{channel.pk}" async></script>',
        "chat_url": f"{origin}/chat?channel={channel.pk}",
        "inbound_url": f"{origin}/api/v1/channels/{channel.pk}/inbound",
        "signed": channel.kind in WEBHOOK_KINDS or bool(channel.outbound_url),
    }


@never_cache
@login_required
def settings_channels(request: AuthedRequest) -> HttpResponse:
    check_admin(request.user)
    channels = [_channel_info(request, c) for c in Channel.objects.select_related("team")]
    return render(request, "channels/settings_channels.html", {"channels": channels})


@never_cache
@login_required
def settings_channel_new(request: AuthedRequest) -> HttpResponse:
    """Create a channel; a platform channel's signing secret is shown in this response only."""
    check_admin(request.user)
    form = ChannelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            channel = do_save_channel(actor=request.user, channel=None, request=request, **form.cleaned_data)
        except KefuError as exc:
            add_errors(form, exc)
        else:
            info = _channel_info(request, channel)
            return render(
                request,
                "channels/settings_channel_created.html",
                {**info, "secret": channel.secret if info["signed"] else None},
            )
    return render(
        request, "channels/settings_channel_form.html", {"form": form}, status=400 if form.errors else 200
    )


@never_cache
@login_required
def settings_channel_edit(request: AuthedRequest, channel_id: int) -> HttpResponse:
    check_admin(request.user)
    channel = _channel_or_404(channel_id)
    initial = {
        "name": channel.name,
        "team": channel.team,
        "email_address": channel.email_address,
        "outbound_url": channel.outbound_url,
        "is_active": channel.is_active,
    }
    form = ChannelForm(request.POST or None, initial=initial, editing=True)
    if request.method == "POST" and form.is_valid():
        try:
            do_save_channel(
                actor=request.user, channel=channel, kind=channel.kind, request=request, **form.cleaned_data
            )
        except KefuError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, f"已保存渠道「{channel.name}」。")
            return redirect("channel_settings")
    return render(
        request,
        "channels/settings_channel_form.html",
        {"form": form, **_channel_info(request, channel)},
        status=400 if form.errors else 200,
    )


@never_cache
@require_POST
@login_required
def settings_channel_rotate(request: AuthedRequest, channel_id: int) -> HttpResponse:
    channel = _channel_or_404(channel_id)
    secret = do_rotate_channel_secret(actor=request.user, channel=channel, request=request)
    return render(
        request,
        "channels/settings_channel_created.html",
        {**_channel_info(request, channel), "secret": secret, "rotated": True},
    )


def _channel_or_404(channel_id: int) -> Channel:
    channel = Channel.objects.select_related("team").filter(pk=channel_id).first()
    if channel is None:
        raise NotFound(f"渠道 {channel_id} 不存在")
    return channel
