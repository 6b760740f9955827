"""The REST API under /api/v1: one NinjaAPI, a router per app, one error handler."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer, django_auth

from kefu.accounts.api import router as accounts_router
from kefu.accounts.services import authenticate_token
from kefu.channels.api import router as channels_router
from kefu.complaints.api import router as complaints_router
from kefu.conversations.api import router as conversations_router
from kefu.core.errors import KefuError
from kefu.customers.api import router as customers_router
from kefu.hours.api import router as hours_router
from kefu.kb.api import router as kb_router
from kefu.quality.api import router as quality_router
from kefu.replies.api import router as replies_router
from kefu.routing.api import router as routing_router
from kefu.sla.api import router as sla_router
from kefu.tickets.api import router as tickets_router
from kefu.understanding.api import router as understanding_router
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


AUTH = [TokenAuth(), django_auth]

api = NinjaAPI(
    title="kefu API",
    version="1",
    description="kefu 客服系统 REST API：客户、身份、订单、会话、消息、工单、用户与团队。",
    auth=AUTH,
    urls_namespace="api",
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
    return api.create_response(request, {"error": "http_error", "detail": str(exc)}, status=exc.status_code)


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


_mount()
