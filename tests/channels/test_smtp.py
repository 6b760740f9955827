"""kefu's SMTP listener (kefu.channels.smtp) on loopback: stores, threads, refuses, and answers the relay right."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from typing import Any

import pytest

from kefu.channels.models import OutboundDelivery
from kefu.channels.smtp import start_smtp_listener
from kefu.conversations.models import Conversation, Message
from tests.channels.mail import SUPPORT, free_port, make_mail


@pytest.fixture
def kefu_smtp() -> Iterator[tuple[str, int]]:
    port = free_port()
    controller = start_smtp_listener("127.0.0.1", port, data_size_limit=200_000)
    try:
        yield "127.0.0.1", port
    finally:
        controller.stop()


def smtp_send(addr: tuple[str, int], raw: bytes, *, rcpt: str = SUPPORT) -> None:
    with smtplib.SMTP(*addr, timeout=10) as client:
        client.sendmail("zhangsan@example.com", [rcpt], raw)


@pytest.mark.django_db(transaction=True)
def test_listener_stores_mail_then_threads_replies_and_ignores_resends(
    desk: Any, make_channel: Any, kefu_smtp: tuple[str, int]
) -> None:
    make_channel("email", team=desk.team, email_address=SUPPORT)
    smtp_send(kefu_smtp, make_mail())  # sendmail returns only after 250: stored
    first = Message.objects.get(external_id="<m1@example.com>")

    smtp_send(
        kefu_smtp, make_mail(message_id="<m2@example.com>", references="<m1@example.com>", body="还在吗")
    )
    smtp_send(
        kefu_smtp, make_mail(message_id="<m2@example.com>", references="<m1@example.com>", body="还在吗")
    )
    smtp_send(kefu_smtp, make_mail(message_id="<m3@example.com>", subject="新问题", body="想开发票"))

    incoming = Message.objects.filter(direction="incoming").order_by("id")
    assert [m.external_id for m in incoming] == ["<m1@example.com>", "<m2@example.com>", "<m3@example.com>"]
    assert incoming[1].conversation_id == first.conversation_id
    assert incoming[2].conversation_id != first.conversation_id


@pytest.mark.django_db(transaction=True)
def test_listener_marks_a_bounce_with_null_sender_as_machine_mail(
    make_channel: Any, kefu_smtp: tuple[str, int]
) -> None:
    make_channel("email", email_address=SUPPORT)
    bounce = make_mail(sender="Mail Delivery System <mailer-daemon@example.com>", subject="Undelivered Mail")
    with smtplib.SMTP(*kefu_smtp, timeout=10) as client:
        client.sendmail("", [SUPPORT], bounce)  # MAIL FROM:<>
    message = Message.objects.get(direction="incoming")
    assert message.meta["auto_submitted"] is True
    assert not OutboundDelivery.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_listener_refuses_mail_when_no_email_channel_exists(kefu_smtp: tuple[str, int]) -> None:
    with pytest.raises(smtplib.SMTPDataError) as exc:
        smtp_send(kefu_smtp, make_mail())
    assert exc.value.smtp_code == 550
    assert not Message.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_listener_answers_451_and_stores_nothing_when_storing_fails(
    desk: Any, make_channel: Any, kefu_smtp: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    make_channel("email", team=desk.team, email_address=SUPPORT)

    def broken_routing(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("routing is down")

    # Fails after the conversation and message rows were written in the transaction.
    monkeypatch.setattr("kefu.conversations.services._after_customer_message", broken_routing)
    with pytest.raises(smtplib.SMTPDataError) as exc:
        smtp_send(kefu_smtp, make_mail())
    assert exc.value.smtp_code == 451
    assert not Message.objects.exists()
    assert not Conversation.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_listener_answers_250_when_routing_fails_after_the_mail_is_stored(
    desk: Any, make_channel: Any, kefu_smtp: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    make_channel("email", team=desk.team, email_address=SUPPORT)

    def broken(conversation_id: int) -> None:
        raise RuntimeError("routing is down")

    # Fails after the commit: a 451 now would make the relay send a stored mail again.
    monkeypatch.setattr("kefu.routing.assignment.do_try_assign", broken)
    smtp_send(kefu_smtp, make_mail())  # raises unless the listener answers 250

    message = Message.objects.get(external_id="<m1@example.com>")
    assert message.conversation.queued_at is None  # the worker's routing sweep takes it


@pytest.mark.django_db(transaction=True)
def test_listener_refuses_mail_over_the_size_limit(
    desk: Any, make_channel: Any, kefu_smtp: tuple[str, int]
) -> None:
    make_channel("email", team=desk.team, email_address=SUPPORT)
    with pytest.raises(smtplib.SMTPException) as exc:
        smtp_send(kefu_smtp, make_mail(body="很长" * 150_000))
    assert getattr(exc.value, "smtp_code", None) == 552  # refused at MAIL FROM SIZE=… or during DATA
    assert not Message.objects.exists()


def _png(color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(out, format="PNG")
    return out.getvalue()


def _mail_with(files: list[tuple[str, str, bytes]], *, body: str = "快递盒子压坏了，照片在附件里") -> bytes:
    import email.policy
    from email.message import EmailMessage as MIMEMessage

    msg = MIMEMessage(policy=email.policy.SMTP)
    msg["From"] = "李雷 <lilei@example.com>"
    msg["To"] = SUPPORT
    msg["Subject"] = "商品破损"
    msg["Message-ID"] = "<att-1@example.com>"
    msg.set_content(body)
    for name, content_type, data in files:
        maintype, subtype = content_type.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


@pytest.mark.django_db(transaction=True)
def test_attached_images_become_image_messages_in_the_thread(
    desk: Any, make_channel: Any, kefu_smtp: tuple[str, int], settings: Any, tmp_path: Any
) -> None:
    settings.MEDIA_ROOT = tmp_path
    make_channel("email", team=desk.team, email_address=SUPPORT)
    raw = _mail_with([("破损1.png", "image/png", _png()), ("破损2.png", "image/png", _png((0, 90, 200)))])
    smtp_send(kefu_smtp, raw)
    smtp_send(kefu_smtp, raw)  # a relay's resend stores nothing twice

    text, *images = Message.objects.filter(direction="incoming").order_by("id")
    assert text.text == "快递盒子压坏了，照片在附件里"
    assert [m.kind for m in images] == ["image", "image"]
    assert {m.conversation_id for m in images} == {text.conversation_id}
    assert images[0].image.name.endswith(".png") and images[0].image.size > 0
    assert [f["name"] for f in text.meta["attachments"]] == ["破损1.png", "破损2.png"]


@pytest.mark.django_db(transaction=True)
def test_files_that_are_not_kept_are_named_in_the_text_with_the_reason(
    desk: Any, make_channel: Any, kefu_smtp: tuple[str, int], settings: Any, tmp_path: Any
) -> None:
    settings.MEDIA_ROOT = tmp_path
    settings.KEFU_MAX_IMAGE_BYTES = 50_000
    make_channel("email", team=desk.team, email_address=SUPPORT)
    files = [
        ("发票.pdf", "application/pdf", b"%PDF-1.4 fake"),
        ("照片.png", "image/png", b"<script>alert(1)</script>"),  # declared an image, is not one
        ("大图.png", "image/png", _png() + b"\0" * 60_000),
        ("正常.png", "image/png", _png()),
    ]
    smtp_send(kefu_smtp, _mail_with(files))

    text, image = Message.objects.filter(direction="incoming").order_by("id")
    assert image.kind == "image"
    assert "[附件未保存] 发票.pdf（只保存 JPG、PNG、GIF、WEBP 图片）" in text.text
    assert "[附件未保存] 照片.png（文件不是有效的图片）" in text.text
    assert "[附件未保存] 大图.png（图片过大" in text.text
    stored = {f["name"]: f["stored"] for f in text.meta["attachments"]}
    assert stored == {"发票.pdf": False, "照片.png": False, "大图.png": False, "正常.png": True}


@pytest.mark.django_db(transaction=True)
def test_a_nul_or_undecodable_bytes_in_a_mail_are_dropped_and_the_mail_is_stored_with_250(
    desk: Any, make_channel: Any, kefu_smtp: tuple[str, int]
) -> None:
    # A raw client: NUL in the subject and body, raw 8-bit in a header.
    make_channel("email", team=desk.team, email_address=SUPPORT)
    raw = (
        b"From: =?utf-8?b?546L5Lqu?= <wangliang@example.com>\r\n"
        b"To: support@shop.example\r\n"
        b"Subject: \xe9\x80\x80\xe6\xac\xbe\x00\xff\r\n"
        b"Message-ID: <nul-1@example.com>\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"\r\n" + "退款\x00还没到账".encode() + b"\r\n"
    )
    with smtplib.SMTP(*kefu_smtp, timeout=10) as client:
        code, _ = client.ehlo()
        client.mail("wangliang@example.com")
        client.rcpt(SUPPORT)
        code, reply = client.data(raw)
    assert code == 250, reply
    message = Message.objects.get(external_id="<nul-1@example.com>")
    assert message.text == "退款还没到账"
    assert "\x00" not in message.conversation.subject
    assert message.conversation.subject.startswith("退款")
