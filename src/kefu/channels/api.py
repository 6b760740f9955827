"""Channels API: platforms (IM, app, social, live streams) post customer messages here.

Authentication is the HMAC signature of the raw body (see ``kefu.core.signing``), so
the signature is checked before the body is even parsed: an unsigned caller learns
nothing about the schema.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest
from ninja import Router, Schema, Status
from ninja.errors import ValidationError
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from kefu.bot.services import do_receive_platform_and_answer
from kefu.core import signing
from kefu.core.apiutil import is_json
from kefu.core.errors import InvalidInput, UnsupportedMediaType
from kefu.core.fields import check_json

from . import services

router = Router(tags=["channels"])

MAX_INBOUND_BODY_BYTES = 64 * 1024


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True)


class InboundSender(_Strict):
    id: str = Field(min_length=1, max_length=255)
    name: str = Field(default="", max_length=128)


class InboundText(_Strict):
    id: str = Field(min_length=1, max_length=255, description="平台消息编号（重复推送按它去重）")
    text: str
    public: bool | None = Field(
        default=None, description="社交/直播：公开可见的帖子或评论为 true，私信为 false（默认 true）"
    )
    url: str = Field(default="", max_length=500, pattern=r"^(https?://\S+)?$", description="帖子地址")


def _reach(description: str) -> Any:
    return Field(default=None, ge=0, le=10**12, description=description)


class InboundReach(_Strict):
    """What a social or live-stream platform knows of the post's reach (all optional)."""

    followers: int | None = _reach("发帖人粉丝数")
    views: int | None = _reach("浏览量/直播间在线人数")
    likes: int | None = _reach("点赞数")
    shares: int | None = _reach("转发数")
    comments: int | None = _reach("评论数")


class InboundPayload(_Strict):
    sender: InboundSender
    message: InboundText
    reach: InboundReach | None = None


def _inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with nested models written in place (no ``$defs`` refs,
    which would not resolve inside the OpenAPI document)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return resolve(schema)


class InboundOut(Schema):
    message_id: int
    conversation_id: int
    created: bool


def _raw_body(request: HttpRequest) -> bytes:
    try:
        body = request.body
    except RequestDataTooBig as exc:
        raise InvalidInput("请求体过大", fields={"body": f"最多 {MAX_INBOUND_BODY_BYTES} 字节"}) from exc
    if len(body) > MAX_INBOUND_BODY_BYTES:
        raise InvalidInput("请求体过大", fields={"body": f"最多 {MAX_INBOUND_BODY_BYTES} 字节"})
    return body


@router.post(
    "/channels/{channel_id}/inbound",
    auth=None,
    response={200: InboundOut, 201: InboundOut},
    summary="平台推送客户消息（HMAC 签名）",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _inline_schema(InboundPayload)}},
        }
    },
)
def inbound(request: HttpRequest, channel_id: int) -> Status[dict[str, object]]:
    """201 with the stored message; 200 when the platform message id was already stored."""
    channel = services.access_webhook_channel(channel_id)
    body = _raw_body(request)
    signing.check_signature(
        channel.secret,
        timestamp=request.headers.get(signing.TIMESTAMP_HEADER),
        delivery=request.headers.get(signing.DELIVERY_HEADER),
        signature=request.headers.get(signing.SIGNATURE_HEADER),
        body=body,
    )
    if not is_json(request.content_type or ""):
        raise UnsupportedMediaType("请求体须为 JSON", fields={"Content-Type": "应为 application/json"})
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise ValidationError([{"loc": ("body",), "msg": f"Invalid JSON: {exc}"}]) from exc
    # The text boundary (docs/api.md, "Text"): a 400 is final, so the platform stops retrying.
    check_json(data)
    try:
        payload = InboundPayload.model_validate(data)
    except PydanticValidationError as exc:
        raise ValidationError(
            [dict(e) for e in exc.errors(include_url=False, include_context=False)]
        ) from exc
    message, created = do_receive_platform_and_answer(
        channel=channel,
        delivery_id=request.headers[signing.DELIVERY_HEADER],
        incoming=services.PlatformMessage(
            sender_id=payload.sender.id,
            sender_name=payload.sender.name,
            message_id=payload.message.id,
            text=payload.message.text,
            reach=payload.reach.model_dump(exclude_none=True) if payload.reach else None,
            public=payload.message.public,
            post_url=payload.message.url,
        ),
    )
    out: dict[str, object] = {
        "message_id": message.pk,
        "conversation_id": message.conversation_id,
        "created": created,
    }
    return Status(201 if created else 200, out)
