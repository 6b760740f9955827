"""Readable error pages for the desk (the API renders errors as JSON in kefu.api)."""

from __future__ import annotations

import sys

from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render

from . import outage
from .errors import KefuError


def error_page(request: HttpRequest, *, status: int, title: str, detail: str) -> HttpResponse:
    return render(request, "error.html", {"status": status, "title": title, "detail": detail}, status=status)


def render_error(request: HttpRequest, exc: KefuError) -> HttpResponse:
    titles = {
        400: "请求有误",
        401: "需要登录",
        403: "没有权限",
        404: "找不到页面",
        409: "操作冲突",
        429: "操作太频繁",
    }
    return exc.add_headers(
        error_page(request, status=exc.status, title=titles.get(exc.status, "出错了"), detail=exc.message)
    )


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_page(request, status=400, title="请求有误", detail="请求无法处理，请检查后重试。")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_page(request, status=403, title="没有权限", detail="您的角色无权访问此页面。")


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_page(request, status=404, title="找不到页面", detail="您访问的页面不存在或已被删除。")


def server_error(request: HttpRequest) -> HttpResponse:
    # Called while the exception is being handled: a database that is briefly away
    # (a PostgreSQL restart, also in middleware before any view) is a 503 to retry.
    if outage.is_outage(sys.exc_info()[1]):
        return outage.unavailable(request)
    return error_page(request, status=500, title="服务器出错", detail="系统出现错误，已记录，请稍后重试。")


def media(request: HttpRequest, path: str) -> HttpResponseBase:
    """Uploaded images (chat, email, knowledge base), never sniffed into HTML or script.

    Chat and email images are stored under random names (``random_image_name``): the URL
    is the capability, as the customer's chat needs it without a desk login.
    """
    from django.conf import settings
    from django.views.static import serve

    response = serve(request, path, document_root=str(settings.MEDIA_ROOT))
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
