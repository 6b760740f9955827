"""Small shared pieces of the REST API: strict input schemas, limit/offset pages, the
request parser that guards the text boundary, and the error answers every operation
documents.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.datastructures import MultiValueDict
from ninja import Schema
from ninja.parser import Parser
from pydantic import ConfigDict

from .errors import UnsupportedMediaType
from .fields import check_json, check_querydict

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

T = TypeVar("T")


class StrictIn(Schema):
    """Request bodies refuse unknown fields, so a typo is a 422 naming it, not a silent no-op."""

    model_config = ConfigDict(extra="forbid")


def page(
    qs: QuerySet[Any], *, limit: int, offset: int, present: Callable[[Any], dict[str, Any]]
) -> dict[str, Any]:
    """One page of ``qs``: ``{"count", "limit", "offset", "items"}``.

    An offset past the end is an empty page; it never reaches the database, whose
    integers end at 2**63 (a larger OFFSET was a 500).
    """
    count = qs.count()
    items = [present(obj) for obj in qs[offset : offset + limit]] if offset < count else []
    return {"count": count, "limit": limit, "offset": offset, "items": items}


def is_json(content_type: str) -> bool:
    """``application/json`` or a ``+json`` type (parameters such as charset ignored)."""
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))


class BoundaryParser(Parser):
    """The API's parser: JSON bodies only as JSON, and no control characters anywhere.

    This is the text boundary of the REST API (docs/api.md, "Text"): every string of a
    JSON body, every query and form value and every name is checked here once, so a
    NUL or a lone surrogate is a 400 naming the field before any service runs.
    """

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        # Ninja's own multipart handling passes a bare HttpRequest (content_type None).
        content_type = getattr(request, "content_type", None)
        if content_type is not None and not is_json(content_type):
            raise UnsupportedMediaType(
                "请求体须为 JSON（Content-Type: application/json）",
                fields={"Content-Type": f"应为 application/json，收到 {content_type or '（空）'}"},
            )
        data = json.loads(request.body)
        check_json(data)
        return data  # type: ignore[no-any-return]

    def parse_querydict(
        self, data: MultiValueDict[str, Any], list_fields: list[str], request: HttpRequest
    ) -> dict[str, Any]:
        check_querydict(data)
        return super().parse_querydict(data, list_fields, request)


# --- the error answers every operation documents ---------------------------------------

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "properties": {
        "error": {"type": "string", "description": "机器可读的错误代码"},
        "detail": {"type": "string", "description": "给人看的说明（简体中文）"},
        "fields": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "出错的字段及原因",
        },
    },
    "required": ["error", "detail"],
}

_ERRORS = {
    "400": "输入不符合规则（含控制字符、空文本、无效取值）",
    "401": "未登录或令牌无效",
    "403": "角色或团队无权操作",
    "404": "路径或请求体中的编号不存在",
    "409": "状态已变化（已关闭、已分配、名称重复）",
    "413": "请求体过大",
    "415": "请求体不是 JSON（Content-Type 须为 application/json）",
    "422": "请求与接口定义不符（类型错误、缺少或多余的字段）",
    "429": "请求太频繁，请按 Retry-After 稍后再试",
}


def _errors_of(method: str, operation: dict[str, Any]) -> list[str]:
    codes = ["400", "404", "422"]
    if operation.get("security"):
        codes += ["401", "403"]
    else:
        codes.append("429")  # public operations are rate limited per address
    if method != "get":
        codes.append("409")
    if "requestBody" in operation:
        codes += ["413", "415"]
    return codes


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the error answers (``Error`` bodies) to every operation of an OpenAPI ``schema``.

    Where an operation documents a status itself, its own words stay.
    """
    schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    ref = {"$ref": "#/components/schemas/Error"}
    for item in schema.get("paths", {}).values():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for code in _errors_of(method, operation):
                operation["responses"].setdefault(
                    code, {"description": _ERRORS[code], "content": {"application/json": {"schema": ref}}}
                )
    return schema
