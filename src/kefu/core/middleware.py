"""Middleware of the ground floor.

``KefuErrorMiddleware`` turns domain errors raised under a page view into readable
pages. ``ApiErrorMiddleware`` keeps the REST API's promise that every answer is JSON:
what fails before or around a view (a body over the size limit, an unknown URL, a
refused CSRF token, a method the path does not serve) would otherwise be Django's HTML.
``TelemetryMiddleware`` counts and times every request for ``GET /metrics``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from http import HTTPStatus

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from . import outage, telemetry
from .errors import KefuError
from .fields import check_characters, check_querydict
from .views import render_error

log = logging.getLogger("django.request")

API_PREFIX = "/api/"
_CODES = {
    400: "http_error",
    401: "unauthorized",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
}


class TelemetryMiddleware:
    """Counts every HTTP request by method and status class, and times it (``GET /metrics``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        start = time.perf_counter()
        response = self.get_response(request)
        method = request.method if request.method in _METHODS else "OTHER"
        labels = {"method": method, "status": f"{response.status_code // 100}xx"}
        telemetry.count("kefu_http_requests_total", "HTTP requests answered.", labels)
        telemetry.observe(
            "kefu_http_request_duration_seconds",
            "Time to answer an HTTP request, in seconds.",
            time.perf_counter() - start,
            {"method": method},
        )
        return response


_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


class KefuErrorMiddleware:
    """Pages: a domain error is a readable page, and so is a query string carrying a NUL or
    another control character (the API's ``BoundaryParser`` refuses those for the API; a
    page's filters would otherwise pass them to the database, an error on PostgreSQL)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API_PREFIX):
            try:
                check_querydict(request.GET, name_field="查询参数", width=64)
            except KefuError as exc:
                return render_error(request, exc)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, KefuError) and not request.path.startswith(API_PREFIX):
            return render_error(request, exception)
        return None


def api_error(status: int, detail: str, *, code: str | None = None, **extra: object) -> JsonResponse:
    body = {"error": code or _CODES.get(status, "http_error"), "detail": detail, **extra}
    return JsonResponse(body, status=status, json_dumps_params={"ensure_ascii": False})


def max_api_body_bytes(content_type: str) -> int:
    """The largest request body the API reads: uploads (multipart) have their own limit."""
    if content_type.lower().startswith("multipart/"):
        return int(settings.KEFU_MAX_API_UPLOAD_BYTES)
    return int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)


class ApiErrorMiddleware:
    """Under ``/api/``: 413 before reading a body that is too large, a 400 for a control
    character in the path, and JSON instead of any HTML error page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        refused = self._refuse_early(request)
        if refused is not None:
            return refused
        return self._as_json(self.get_response(request))

    def _refuse_early(self, request: HttpRequest) -> HttpResponse | None:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return api_error(400, "Content-Length 无效", fields={"Content-Length": "应为整数"})
        limit = max_api_body_bytes(request.META.get("CONTENT_TYPE", ""))
        if length > limit:
            return api_error(413, "请求体过大", fields={"body": f"最多 {limit} 字节"})
        try:
            check_characters(request.path, field="path")
        except KefuError as exc:
            return api_error(exc.status, exc.message, code=exc.code, fields=exc.fields)
        return None

    def _as_json(self, response: HttpResponse) -> HttpResponse:
        if response.status_code < 400 or response.get("Content-Type", "").startswith("application/json"):
            return response
        status = response.status_code
        detail = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
        converted = api_error(status, _DETAILS.get(status, detail))
        for header in ("Allow", "Retry-After", "WWW-Authenticate"):
            if header in response:
                converted[header] = response[header]
        return converted

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not request.path.startswith(API_PREFIX) or isinstance(exception, KefuError):
            return None
        if outage.is_outage(exception):
            log.warning("database unavailable: %s %s: %r", request.method, request.path, exception)
            return outage.unavailable(request)
        log.error("Internal Server Error: %s", request.path, exc_info=exception)
        return api_error(500, "服务器内部错误，请稍后再试", code="server_error")


_DETAILS = {
    400: "请求无效",
    403: "无权访问（CSRF 校验失败或权限不足）",
    404: "接口不存在",
    405: "该接口不支持此请求方法",
    413: "请求体过大",
    500: "服务器内部错误，请稍后再试",
}
