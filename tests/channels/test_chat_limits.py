"""Rate limits on the public chat surfaces: socket messages and signals, upload, token, rating.

Cross-cutting, so kept together: one limit table (``KEFU_RATE_LIMITS``, kefu.core.ratelimit)
guards the chat consumer, the chat views and the chat service alike.

A refused message is never stored and its error frame carries the ``client_msg_id``
(chat.js then drops it instead of resending); an acked one always is stored.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from kefu.channels.visitor import issue_visitor_token
from kefu.conversations.models import Message
from tests.realtime.sockets import chat_socket, drain, receive_until

count_messages = database_sync_to_async(lambda **kw: Message.objects.filter(**kw).count())


@pytest.fixture(autouse=True)
async def fresh_layer() -> Any:
    yield
    layer = get_channel_layer()
    if hasattr(layer, "flush"):
        await layer.flush()


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = tmp_path


async def _open(token: str, *, ip: str | None = None) -> Any:
    comm = chat_socket(token)
    if ip is not None:
        comm.scope["client"] = [ip, 50123]
    connected, _ = await comm.connect(timeout=10)
    assert connected
    return comm


async def _say(comm: Any, cmid: str, text: str = "在吗") -> dict[str, Any]:
    """The ack or the error frame answering message ``cmid``."""
    await comm.send_json_to({"type": "message", "client_msg_id": cmid, "text": text})
    return await receive_until(
        comm, lambda f: f["type"] in ("ack", "error") and f.get("client_msg_id") == cmid
    )


# --- the chat socket ---------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_a_message_past_the_visitor_limit_gets_an_error_frame_and_is_not_stored(
    desk, rate_clock, rate_limits
):
    rate_limits(chat_message="2/1m")
    comm = await _open(issue_visitor_token(desk.channel.pk))
    assert (await _say(comm, "c-1"))["type"] == "ack"
    assert (await _say(comm, "c-2"))["type"] == "ack"
    refused = await _say(comm, "c-3", "第三条")
    assert refused["detail"] == "发送太频繁，请稍后再试"
    assert refused["limit"] == "chat_message"
    assert 1 <= refused["retry_after"] <= 60
    assert await count_messages(client_msg_id="c-3") == 0
    assert await count_messages(direction="incoming") == 2
    # The socket stays open: the next window takes messages again.
    rate_clock.now += refused["retry_after"]
    ack = await _say(comm, "c-4", "第四条")
    assert ack["type"] == "ack" and ack["message"]["text"] == "第四条"
    assert await count_messages(client_msg_id="c-4") == 1
    await comm.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_resend_of_a_stored_message_is_acked_and_costs_nothing(desk, rate_clock, rate_limits):
    rate_limits(chat_message="2/1m")
    token = issue_visitor_token(desk.channel.pk)
    first = await _open(token)
    stored = await _say(first, "c-1", "快递三天没动了")
    await first.disconnect()
    # The ack got lost; the page reconnects and sends c-1 again, twice.
    again = await _open(token)
    for _ in range(2):
        ack = await _say(again, "c-1", "快递三天没动了")
        assert ack["type"] == "ack" and ack["message"]["id"] == stored["message"]["id"]
    assert (await _say(again, "c-2"))["type"] == "ack"
    assert (await _say(again, "c-3"))["type"] == "error"
    # With the limit used up, a resend is still answered with the stored message.
    ack = await _say(again, "c-1", "快递三天没动了")
    assert ack["type"] == "ack" and ack["message"]["id"] == stored["message"]["id"]
    assert await count_messages(client_msg_id="c-1") == 1
    await again.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_visitors_behind_one_address_share_its_limit(desk, rate_clock, rate_limits):
    rate_limits(chat_message_ip="3/1m")
    one = await _open(issue_visitor_token(desk.channel.pk), ip="203.0.113.7")
    two = await _open(issue_visitor_token(desk.channel.pk), ip="203.0.113.7")
    elsewhere = await _open(issue_visitor_token(desk.channel.pk), ip="198.51.100.20")
    assert [(await _say(one, f"a-{n}"))["type"] for n in range(2)] == ["ack", "ack"]
    assert (await _say(two, "b-1"))["type"] == "ack"
    refused = await _say(two, "b-2")
    assert refused["type"] == "error" and refused["limit"] == "chat_message_ip"
    assert (await _say(elsewhere, "c-1"))["type"] == "ack"
    assert await count_messages(client_msg_id="b-2") == 0
    for comm in (one, two, elsewhere):
        await comm.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_typing_read_and_resume_past_the_signal_limit_get_an_error_frame(desk, rate_clock, rate_limits):
    rate_limits(chat_signal="3/10s")
    comm = await _open(issue_visitor_token(desk.channel.pk))
    await comm.send_json_to({"type": "resume", "after": 0})
    await receive_until(comm, lambda f: f["type"] == "history")
    assert (await receive_until(comm, lambda f: f["type"] == "desk"))["state"] == "open"
    await comm.send_json_to({"type": "typing"})
    await comm.send_json_to({"type": "read", "message_id": 1})
    assert await drain(comm) == []
    await comm.send_json_to({"type": "typing"})
    refused = await receive_until(comm, lambda f: f["type"] == "error")
    assert refused["limit"] == "chat_signal" and "client_msg_id" not in refused
    # Messages have their own limit.
    assert (await _say(comm, "c-1"))["type"] == "ack"
    rate_clock.now += refused["retry_after"]
    await comm.send_json_to({"type": "resume", "after": 0})
    history = await receive_until(comm, lambda f: f["type"] == "history")
    assert [m["client_msg_id"] for m in history["messages"] if m["direction"] == "incoming"] == ["c-1"]
    await comm.disconnect()


# --- HTTP: upload, token, rating ------------------------------------------------------


def _png() -> SimpleUploadedFile:
    buf = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buf, format="PNG")
    return SimpleUploadedFile("photo.png", buf.getvalue(), content_type="image/png")


def _upload(client: Any, token: str, cmid: str) -> Any:
    return client.post("/chat/upload", {"token": token, "client_msg_id": cmid, "image": _png()})


@pytest.mark.django_db
def test_an_upload_past_the_limit_is_429_with_retry_after_and_not_stored(
    client, desk, rate_clock, rate_limits
):
    rate_limits(chat_upload="1/1m")
    token = issue_visitor_token(desk.channel.pk)
    assert _upload(client, token, "img-1").status_code == 201
    refused = _upload(client, token, "img-2")
    assert refused.status_code == 429
    body = refused.json()
    assert body["error"] == "rate_limited" and body["limit"] == "chat_upload"
    assert body["detail"] == "发送太频繁，请稍后再试"
    assert refused["Retry-After"] == str(body["retry_after"])
    assert not Message.objects.filter(client_msg_id="img-2").exists()
    # A resend of the stored image is answered, not refused.
    assert _upload(client, token, "img-1").status_code == 200
    rate_clock.now += body["retry_after"]
    assert _upload(client, token, "img-2").status_code == 201


@pytest.mark.django_db
def test_uploads_from_one_address_share_its_limit(client, desk, rate_clock, rate_limits):
    rate_limits(chat_upload_ip="2/1m")
    assert _upload(client, issue_visitor_token(desk.channel.pk), "i-1").status_code == 201
    assert _upload(client, issue_visitor_token(desk.channel.pk), "i-2").status_code == 201
    refused = _upload(client, issue_visitor_token(desk.channel.pk), "i-3")
    assert refused.status_code == 429 and refused.json()["limit"] == "chat_upload_ip"
    other = client.post(
        "/chat/upload",
        {"token": issue_visitor_token(desk.channel.pk), "client_msg_id": "i-4", "image": _png()},
        REMOTE_ADDR="198.51.100.20",
    )
    assert other.status_code == 201


@pytest.mark.django_db
def test_token_exchange_past_the_limit_is_429(client, desk, rate_clock, rate_limits):
    rate_limits(chat_token_ip="2/1m")
    for _ in range(2):
        assert client.post("/chat/token", {"channel": desk.channel.pk}).status_code == 200
    refused = client.post("/chat/token", {"channel": desk.channel.pk})
    assert refused.status_code == 429
    assert refused.json()["limit"] == "chat_token_ip"
    assert int(refused["Retry-After"]) >= 1
    rate_clock.now += int(refused["Retry-After"])
    assert client.post("/chat/token", {"channel": desk.channel.pk}).status_code == 200


@pytest.mark.django_db
def test_ratings_past_the_limit_are_429(client, desk, rate_clock, rate_limits):
    rate_limits(csat_ip="2/1m")
    token = issue_visitor_token(desk.channel.pk)

    def rate() -> Any:
        return client.post("/chat/rate", {"token": token, "score": 5}, content_type="application/json")

    # Nothing to rate yet: 404, but each try counts.
    assert [rate().status_code for _ in range(2)] == [404, 404]
    refused = rate()
    assert refused.status_code == 429
    assert refused.json()["limit"] == "csat_ip" and "Retry-After" in refused


@pytest.mark.django_db
def test_a_message_kefu_failed_to_store_is_not_counted(desk, rate_clock, rate_limits, monkeypatch):
    from kefu.channels import services as channels
    from kefu.channels.services import do_receive_chat_message
    from kefu.channels.visitor import read_visitor_token

    rate_limits(chat_message="1/1m")
    visitor = read_visitor_token(issue_visitor_token(desk.channel.pk))
    # Patched where the chat path looks it up.
    real = channels.do_receive_customer_message

    def database_away(**kwargs: Any) -> Any:
        raise ConnectionError("database is away")

    monkeypatch.setattr(channels, "do_receive_customer_message", database_away)
    with pytest.raises(ConnectionError):
        do_receive_chat_message(
            channel=desk.channel, visitor=visitor, ip=None, text="在吗", client_msg_id="c-1"
        )
    monkeypatch.setattr(channels, "do_receive_customer_message", real)
    message, created = do_receive_chat_message(
        channel=desk.channel, visitor=visitor, ip=None, text="在吗", client_msg_id="c-1"
    )
    assert created and message.client_msg_id == "c-1"


@pytest.mark.django_db(transaction=True)
async def test_too_many_connections_from_one_address_are_closed_with_4429(desk, rate_clock, rate_limits):
    from tests.realtime.sockets import close_code

    rate_limits(chat_connect_ip="2/10s")
    token = issue_visitor_token(desk.channel.pk)
    first = await _open(token, ip="203.0.113.7")
    second = await _open(token, ip="203.0.113.7")
    third = chat_socket(token)
    third.scope["client"] = ["203.0.113.7", 50124]
    assert await close_code(third) == 4429
    # Another address is not affected, and the address may connect again next window.
    await (await _open(token, ip="198.51.100.9")).disconnect()
    rate_clock.now += 10
    await (await _open(token, ip="203.0.113.7")).disconnect()
    await first.disconnect()
    await second.disconnect()
