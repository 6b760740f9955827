"""The REST API under /api/v1: one NinjaAPI, a router per app, one error handler.

Every answer is JSON, errors included (``{"error", "detail", "fields"?}``, docs/api.md):
domain errors carry their status, schema mismatches are 422, a body too large 413, a
body that is not JSON 415, the database briefly unreachable 503 with ``Retry-After``
(``kefu.core.outage``), and an unexpected failure a logged 500 with the same shape.
``kefu.core.middleware.ApiErrorMiddleware`` does the same for what fails before a view.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import DataError, InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.openapi.schema import OpenAPISchema
from ninja.security import HttpBearer, django_auth

from kefu.accounts.api import router as accounts_router
from kefu.accounts.services import authenticate_token
from kefu.analytics.api import router as analytics_router
from kefu.bot.api import router as bot_router
from kefu.channels.api import router as channels_router
from kefu.complaints.api import router as complaints_router
from kefu.conversations.api import router as conversations_router
from kefu.core import outage
from kefu.core.apiutil import BoundaryParser, document_errors
from kefu.core.errors import KefuError, TooLarge
from kefu.customers.api import router as customers_router
from kefu.hours.api import router as hours_router
from kefu.incidents.api import router as incidents_router
from kefu.kb.api import router as kb_router
from kefu.performance.api import router as performance_router
from kefu.proactive.api import router as proactive_router
from kefu.quality.api import router as quality_router
from kefu.replies.api import router as replies_router
from kefu.routing.api import router as routing_router
from kefu.sla.api import router as sla_router
from kefu.staffing.api import router as staffing_router
from kefu.surveys.api import router as surveys_router
from kefu.tickets.api import router as tickets_router
from kefu.training.api import router as training_router
from kefu.understanding.api import router as understanding_router
from kefu.wallboard.api import router as wallboard_router
from kefu.webhooks.api import router as webhooks_router


class TokenAuth(HttpBearer):
    """``Authorization: Bearer kefu_…`` tokens for integrations."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:

        try:
            user = authenticate_token(token)
        except KefuError:
            return None
        request.user = user
        return user


log = logging.getLogger("django.request")

AUTH = [TokenAuth(), django_auth]


class KefuAPI(NinjaAPI):
    """NinjaAPI whose document names the error answers of every operation."""

    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> OpenAPISchema:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        document_errors(schema)
        return schema


api = KefuAPI(
    title="kefu API",
    version="1",
    description="kefu 客服系统 REST API：客户、身份、订单、会话、消息、工单、用户与团队。",
    auth=AUTH,
    urls_namespace="api",
    parser=BoundaryParser(),
)


@api.exception_handler(KefuError)
def _kefu_error(request: HttpRequest, exc: KefuError) -> HttpResponse:
    return exc.add_headers(api.create_response(request, exc.as_dict(), status=exc.status))


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    fields: dict[str, str] = {}
    for err in exc.errors:
        loc = [str(p) for p in err.get("loc", []) if p not in ("body", "query", "path", "form", "payload")]
        fields[".".join(loc) or "body"] = err.get("msg", "invalid")
    return api.create_response(
        request, {"error": "invalid_input", "detail": "请求参数有误", "fields": fields}, status=422
    )


@api.exception_handler(AuthenticationError)
def _auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return api.create_response(
        request, {"error": "unauthorized", "detail": "需要登录或有效的 API 令牌"}, status=401
    )


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    # Ninja turns every failure of the body parser into "Cannot parse request body";
    # the parser's own refusals (415, a control character) keep their words.
    if isinstance(exc.__cause__, KefuError):
        return _kefu_error(request, exc.__cause__)
    return api.create_response(request, {"error": "http_error", "detail": str(exc)}, status=exc.status_code)


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return api.create_response(request, {"error": "not_found", "detail": "不存在"}, status=404)


@api.exception_handler(RequestDataTooBig)
def _too_large(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return _kefu_error(request, TooLarge("请求体过大", fields={"body": "超过服务器接受的大小"}))


@api.exception_handler(OverflowError)
@api.exception_handler(DataError)
def _out_of_range(request: HttpRequest, exc: Exception) -> HttpResponse:
    # A value the database cannot hold (an integer past 2**63 on SQLite, a number or
    # a time zone out of PostgreSQL's range) came from the request: the caller's to fix.
    log.warning("value out of range: %s", request.path, exc_info=exc)
    return api.create_response(request, {"error": "invalid_input", "detail": "数值超出允许范围"}, status=400)


@api.exception_handler(OperationalError)
@api.exception_handler(InterfaceError)
def _unavailable(request: HttpRequest, exc: Exception) -> HttpResponse:
    # The database is briefly away (a PostgreSQL restart): nothing was stored, retry.
    log.warning("database unavailable: %s %s: %r", request.method, request.path, exc)
    return outage.unavailable(request)


@api.exception_handler(Exception)
def _server_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    log.error("Internal Server Error: %s", request.path, exc_info=exc, extra={"status_code": 500})
    return api.create_response(
        request, {"error": "server_error", "detail": "服务器内部错误，请稍后再试"}, status=500
    )


@api.get("/ping", auth=None, tags=["meta"])
def ping(request: HttpRequest) -> dict[str, str]:
    return {"status": "ok"}


def _mount() -> None:

    api.add_router("/", accounts_router)
    api.add_router("/", customers_router)
    api.add_router("/", channels_router)
    api.add_router("/", conversations_router)
    api.add_router("/", routing_router)
    api.add_router("/", tickets_router)
    api.add_router("/", sla_router)
    api.add_router("/", hours_router)
    api.add_router("/", webhooks_router)
    api.add_router("/", kb_router)
    api.add_router("/", understanding_router)
    api.add_router("/", replies_router)
    api.add_router("/", complaints_router)
    api.add_router("/", quality_router)
    api.add_router("/", wallboard_router)
    api.add_router("/", performance_router)
    api.add_router("/", analytics_router)
    api.add_router("/", staffing_router)
    api.add_router("/", incidents_router)
    api.add_router("/", surveys_router)
    api.add_router("/", bot_router)
    api.add_router("/", proactive_router)
    api.add_router("/", training_router)


_mount()
