"""POST /api/v1/channels/{id}/inbound: HMAC-signed platform messages."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from django.test import Client

from kefu.channels.models import Channel, InboundNonce
from kefu.conversations.models import Message
from kefu.core.signing import sign, signed_headers
from kefu.customers.models import Identity


def payload(
    *, sender: str = "wx-openid-1", name: str = "小王", msg_id: str = "pm-1", text: str = "在吗？"
) -> dict:
    return {"sender": {"id": sender, "name": name}, "message": {"id": msg_id, "text": text}}


def post(
    channel: Channel,
    body: Any,
    *,
    secret: str | None = None,
    delivery: str | None = None,
    now: float | None = None,
    headers: dict[str, str] | None = None,
    channel_id: Any = None,
) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    if headers is None:
        headers = signed_headers(secret or channel.secret, raw, delivery=delivery, now=now)
    client = Client(enforce_csrf_checks=True)  # no session, no token: the signature is the credential
    return client.post(
        f"/api/v1/channels/{channel_id or channel.pk}/inbound",
        data=raw,
        content_type="application/json",
        headers=headers,
    )


@pytest.fixture
def im(make_channel: Any) -> Channel:
    return make_channel("im", name="微信公众号")


@pytest.mark.django_db
def test_signed_post_stores_the_message_as_the_platform_identity(im: Channel) -> None:
    response = post(im, payload())
    assert response.status_code == 201, response.content
    body = response.json()
    message = Message.objects.get(pk=body["message_id"])
    assert body == {"message_id": message.pk, "conversation_id": message.conversation_id, "created": True}
    assert message.text == "在吗？" and message.external_id == "pm-1"
    assert message.conversation.channel == im
    assert message.conversation.customer.name == "小王"
    assert Identity.objects.filter(kind="wechat", value="wx-openid-1").exists()


@pytest.mark.django_db
def test_resent_platform_message_returns_the_stored_one_with_200(im: Channel) -> None:
    first = post(im, payload()).json()
    again = post(im, payload())  # the platform retries with a new delivery id
    assert again.status_code == 200
    assert again.json() == {**first, "created": False}
    assert Message.objects.filter(direction="incoming").count() == 1


@pytest.mark.django_db
def test_replayed_delivery_id_is_refused_and_stored_once(im: Channel) -> None:
    assert post(im, payload(), delivery="d-1").status_code == 201
    replay = post(im, payload(msg_id="pm-2", text="另一条"), delivery="d-1")
    assert replay.status_code == 401
    assert replay.json()["error"] == "unauthorized"
    assert Message.objects.filter(direction="incoming").count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "tamper",
    [
        "wrong_secret",
        "body_changed",
        "delivery_changed",
        "no_signature",
        "not_hex",
        "old",
        "future",
        "bad_ts",
    ],
)
def test_bad_or_stale_signature_is_401_and_nothing_is_stored(im: Channel, tamper: str) -> None:
    raw = json.dumps(payload()).encode()
    headers = signed_headers(im.secret, raw)
    if tamper == "wrong_secret":
        headers = signed_headers("another-secret", raw)
    elif tamper == "body_changed":
        raw = json.dumps(payload(text="改过的内容")).encode()
    elif tamper == "delivery_changed":
        headers["X-Kefu-Delivery"] = "other"
    elif tamper == "no_signature":
        del headers["X-Kefu-Signature"]
    elif tamper == "not_hex":
        headers["X-Kefu-Signature"] = "sha256=zz"
    elif tamper in ("old", "future"):
        ts = int(time.time()) + (-600 if tamper == "old" else 600)
        headers = signed_headers(im.secret, raw, now=ts)
    elif tamper == "bad_ts":
        ts, delivery = "1e9", uuid.uuid4().hex
        headers = {
            "X-Kefu-Timestamp": ts,
            "X-Kefu-Delivery": delivery,
            "X-Kefu-Signature": sign(im.secret, timestamp=ts, delivery=delivery, body=raw),
        }
    response = post(im, raw, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert not Message.objects.exists()
    assert not InboundNonce.objects.exists()


@pytest.mark.django_db
def test_timestamp_within_five_minutes_is_accepted(im: Channel) -> None:
    assert post(im, payload(), now=time.time() - 240).status_code == 201


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**payload(), "extra": 1}, "extra"),
        ({"sender": {"id": "u", "nick": "x"}, "message": {"id": "m", "text": "hi"}}, "sender.nick"),
        ({"sender": {"id": 42}, "message": {"id": "m", "text": "hi"}}, "sender.id"),
        ({"sender": {"id": "u"}, "message": {"id": "m"}}, "message.text"),
        ({"sender": {"id": "u"}, "message": {"id": "m", "text": ["hi"]}}, "message.text"),
        ({"sender": {"id": "  "}, "message": {"id": "m", "text": "hi"}}, "sender.id"),
        ({"sender": {"id": "u"}, "message": {"id": "m" * 256, "text": "hi"}}, "message.id"),
        ([1, 2], "body"),
        (b"{not json", "body"),
    ],
)
def test_payload_outside_the_schema_is_refused_naming_the_field(im: Channel, body: Any, field: str) -> None:
    response = post(im, body)
    assert response.status_code == 422, response.content
    assert response.json()["error"] == "invalid_input"
    assert field in response.json()["fields"]
    assert not Message.objects.exists() and not InboundNonce.objects.exists()


@pytest.mark.django_db
@pytest.mark.django_db
@pytest.mark.parametrize("text", ["在吗\x00？", "在吗\ud800？"], ids=["nul", "lone-surrogate"])
def test_a_nul_or_lone_surrogate_is_a_final_4xx_and_nothing_is_stored(im: Channel, text: str) -> None:
    # A 4xx tells the platform not to retry (a 500 was retried forever).
    raw = json.dumps(payload(text=text)).encode()  # ASCII escapes, as a platform sends them
    response = post(im, raw)
    assert response.status_code in (400, 422), response.content
    assert "message.text" in response.json()["fields"]
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_json_sent_as_text_plain_is_415(im: Channel) -> None:
    raw = json.dumps(payload()).encode()
    client = Client()
    response = client.post(
        f"/api/v1/channels/{im.pk}/inbound",
        data=raw,
        content_type="text/plain",
        headers=signed_headers(im.secret, raw),
    )
    assert response.status_code == 415
    assert not Message.objects.exists()


def test_empty_text_is_400_naming_message_text(im: Channel) -> None:
    response = post(im, payload(text="   "))
    assert response.status_code == 400
    assert "message.text" in response.json()["fields"]
    assert not InboundNonce.objects.exists()


@pytest.mark.django_db
def test_oversized_body_is_refused(im: Channel) -> None:
    response = post(im, payload(text="长" * 40_000))
    assert response.status_code == 400
    assert "body" in response.json()["fields"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "config", "identity_kind"),
    [
        ("app", {}, "app"),
        ("social", {}, "social"),
        ("live", {}, "live"),
        ("im", {"identity_kind": "external"}, "external"),
    ],
)
def test_identity_kind_follows_the_channel_kind_or_its_config(
    make_channel: Any, kind: str, config: dict, identity_kind: str
) -> None:
    channel = make_channel(kind, config=config)
    assert post(channel, payload(sender="user-7")).status_code == 201
    assert Identity.objects.get(value="user-7").kind == identity_kind


@pytest.mark.django_db
def test_same_sender_continues_the_open_conversation(im: Channel) -> None:
    first = post(im, payload()).json()
    second = post(im, payload(msg_id="pm-2", text="订单号 A123")).json()
    assert second["conversation_id"] == first["conversation_id"]


@pytest.mark.django_db
def test_inactive_channel_is_409_and_keeps_no_nonce(im: Channel) -> None:
    Channel.objects.filter(pk=im.pk).update(is_active=False)
    response = post(im, payload())
    assert response.status_code == 409
    assert not InboundNonce.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("channel_id", ["999999", str(2**70), "abc"])
def test_unknown_channel_is_a_json_error(im: Channel, channel_id: str) -> None:
    response = post(im, payload(), channel_id=channel_id)
    assert response.status_code in (404, 422)
    assert response.json()["error"] in ("not_found", "invalid_input")


@pytest.mark.django_db
def test_web_and_email_channels_do_not_accept_platform_posts(make_channel: Any) -> None:
    web, email = make_channel("web"), make_channel("email", email_address="s@shop.example")
    assert post(web, payload()).status_code == 404
    assert post(email, payload()).status_code == 404


def test_openapi_documents_the_inbound_body_without_dangling_refs() -> None:
    from kefu.api import api

    operation = api.get_openapi_schema()["paths"]["/api/v1/channels/{channel_id}/inbound"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert "$ref" not in json.dumps(schema)
    assert schema["properties"]["sender"]["required"] == ["id"]
    assert operation.get("security", []) == []  # no token or session needed


@pytest.mark.django_db(transaction=True)
def test_stored_message_is_201_when_routing_fails_after_the_commit(
    im: Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(conversation_id: int) -> None:
        raise RuntimeError("routing is down")

    monkeypatch.setattr("kefu.routing.assignment.do_try_assign", broken)
    response = post(im, payload())
    assert response.status_code == 201, response.content
    message = Message.objects.get(pk=response.json()["message_id"])
    assert message.conversation.queued_at is None  # the worker's routing sweep takes it
    assert post(im, payload()).status_code == 200  # a retry finds it stored: no second copy
    assert Message.objects.filter(direction="incoming").count() == 1
