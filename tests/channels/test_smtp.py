"""kefu's SMTP listener (kefu.channels.smtp) on loopback: stores, threads, refuses, and answers the relay right."""

from __future__ import annotations

import base64
import re
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
    assert "破损" not in images[0].image.name  # served without a login: not guessable
    assert [f["name"] for f in text.meta["attachments"]] == ["破损1.png", "破损2.png"]


@pytest.mark.django_db(transaction=True)
def test_images_that_are_not_kept_are_recorded_as_refused_attachments_with_the_reason(
    desk: Any, make_channel: Any, kefu_smtp: tuple[str, int], settings: Any, tmp_path: Any
) -> None:
    settings.MEDIA_ROOT = tmp_path
    settings.KEFU_FILE_ROOT = tmp_path / "files"
    settings.KEFU_MAX_IMAGE_BYTES = 50_000
    make_channel("email", team=desk.team, email_address=SUPPORT)
    files = [
        ("照片.png", "image/png", b"<script>alert(1)</script>"),  # declared an image, is not one
        ("大图.png", "image/png", _png() + b"\0" * 60_000),
        ("正常.png", "image/png", _png()),
        ("矢量图.svg", "image/svg+xml", b"<svg onload='alert(1)'/>"),
    ]
    smtp_send(kefu_smtp, _mail_with(files))

    text, image = Message.objects.filter(direction="incoming").order_by("id")
    assert image.kind == "image"
    assert text.text == "快递盒子压坏了，照片在附件里"
    refused = {a.name: a.refused_reason for a in text.attachments.all()}
    assert refused == {"照片.png": "附件类型不支持", "大图.png": "附件过大", "矢量图.svg": "附件类型不支持"}
    stored = {f["name"]: f["stored"] for f in text.meta["attachments"]}
    assert stored == {"照片.png": False, "大图.png": False, "正常.png": True, "矢量图.svg": False}


# --- files (PDF, Office, …) -----------------------------------------------------------------

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
EXE = (
    b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff"
    + b"\x00" * 48
    + b"This program cannot be run in DOS mode."
)


def _docx() -> bytes:
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:  # fixed times: the same bytes on every call
        z.writestr(
            zipfile.ZipInfo("[Content_Types].xml", (2026, 1, 1, 0, 0, 0)), '<?xml version="1.0"?><Types/>'
        )
        z.writestr(
            zipfile.ZipInfo("word/document.xml", (2026, 1, 1, 0, 0, 0)), "<w:document>退货申请</w:document>"
        )
    return out.getvalue()


def _b64(data: bytes) -> str:
    import base64

    return "\r\n".join(base64.encodebytes(data).decode().split())


def _raw_mail_with_files(
    parts: list[tuple[str, str, bytes]], *, message_id: str = "<files-1@example.com>"
) -> bytes:
    """A multipart mail as Chinese mailers write it: each part's headers given raw (RFC 2231, encoded words)."""
    boundary = "kefu-b0undary"
    lines = [
        "From: =?utf-8?b?5p2O6Zu3?= <lilei@example.com>",
        f"To: {SUPPORT}",
        "Subject: =?utf-8?b?6YCA6LSn55Sz6K+3?=",
        f"Message-ID: {message_id}",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/mixed; boundary="{boundary}"',
        "",
        f"--{boundary}",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: base64",
        "",
        _b64("你好，发票和退货单在附件里，麻烦处理一下。".encode()),
    ]
    for headers, content_type, data in parts:
        lines += [
            f"--{boundary}",
            f"Content-Type: {content_type}",
            "Content-Transfer-Encoding: base64",
            headers,
            "",
            _b64(data),
        ]
    lines += [f"--{boundary}--", ""]
    return "\r\n".join(lines).encode()


@pytest.fixture
def mailed_files(
    desk: Any, make_channel: Any, kefu_smtp: tuple[str, int], settings: Any, tmp_path: Any
) -> Message:
    """A customer mails a PDF (RFC 2231 Chinese name), a docx (GBK encoded-word name, with folders),
    an executable named .pdf and a file over the size limit; returns the stored mail."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.KEFU_FILE_ROOT = tmp_path / "files"
    settings.KEFU_MAX_FILE_BYTES = 20_000
    make_channel("email", team=desk.team, email_address=SUPPORT)
    gbk_name = base64.b64encode("退货单.docx".encode("gbk")).decode()
    parts = [
        ("Content-Disposition: attachment; filename*=UTF-8''%E5%8F%91%E7%A5%A8.pdf", "application/pdf", PDF),
        (
            f'Content-Disposition: attachment; filename="..\\..\\=?GBK?B?{gbk_name}?="',
            "application/octet-stream",
            _docx(),
        ),
        ('Content-Disposition: attachment; filename="说明书.pdf"', "application/pdf", EXE),
        (
            'Content-Disposition: attachment; filename="物流记录.txt"',
            "text/plain",
            "顺丰单号 SF1234567890\n".encode() * 2000,
        ),
    ]
    smtp_send(kefu_smtp, _raw_mail_with_files(parts))
    return Message.objects.get(external_id="<files-1@example.com>")


@pytest.mark.django_db(transaction=True)
def test_mailed_files_are_kept_when_their_bytes_confirm_an_allowed_type_and_refused_visibly_otherwise(
    mailed_files: Message, settings: Any
) -> None:
    import pathlib

    files = list(mailed_files.attachments.order_by("id"))
    assert [(a.name, a.is_stored, a.refused_reason) for a in files] == [
        ("发票.pdf", True, ""),
        ("退货单.docx", True, ""),
        ("说明书.pdf", False, "附件类型不支持"),
        ("物流记录.txt", False, "附件过大"),
    ]
    pdf, docx = files[0], files[1]
    assert pdf.content_type == "application/pdf" and pdf.size == len(PDF)
    assert docx.content_type.endswith("wordprocessingml.document")
    # Stored under random names in the private root, never under MEDIA_ROOT (served to anyone).
    stored = pathlib.Path(pdf.file.path)
    assert stored.read_bytes() == PDF
    assert stored.is_relative_to(pathlib.Path(settings.KEFU_FILE_ROOT).resolve())
    assert "发票" not in pdf.file.name and re.fullmatch(r"\d{4}/\d{2}/[0-9a-f]{32}\.pdf", pdf.file.name)
    assert not files[2].file and not files[3].file
    assert mailed_files.text == "你好，发票和退货单在附件里，麻烦处理一下。"


@pytest.mark.django_db(transaction=True)
def test_the_conversation_page_shows_file_chips_and_downloads_are_for_those_who_may_see_it(
    mailed_files: Message, desk: Any, client: Any, make_team: Any, make_user: Any
) -> None:
    pdf, docx, exe, big = mailed_files.attachments.order_by("id")
    client.force_login(desk.agent)
    page = client.get(f"/desk/c/{mailed_files.conversation_id}/").content.decode()
    assert f'href="/desk/files/{pdf.pk}/"' in page and f'href="/desk/files/{docx.pk}/"' in page
    assert "发票.pdf" in page and "退货单.docx" in page and "Word" in page
    assert "说明书.pdf" in page and "未保存：附件类型不支持" in page
    assert "物流记录.txt" in page and "未保存：附件过大" in page
    assert f"/desk/files/{exe.pk}/" not in page

    response = client.get(f"/desk/files/{pdf.pk}/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == (
        "attachment; filename=\"__.pdf\"; filename*=UTF-8''%E5%8F%91%E7%A5%A8.pdf"
    )
    assert response["X-Content-Type-Options"] == "nosniff"
    assert client.get(f"/desk/files/{exe.pk}/").status_code == 404  # refused: no bytes to serve

    outsider = make_user("waibu", teams=(make_team("售后服务"),))
    client.force_login(outsider)
    assert client.get(f"/desk/files/{pdf.pk}/").status_code == 403
    assert client.get(f"/api/v1/attachments/{pdf.pk}/download").status_code == 403
    assert client.get("/desk/files/999999/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_the_api_lists_a_mails_attachments_and_serves_them_to_a_token(
    mailed_files: Message, desk: Any, client: Any
) -> None:
    from kefu.accounts.services import do_create_token

    _, key = do_create_token(user=desk.agent, name="工单系统")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    listed = client.get(f"/api/v1/conversations/{mailed_files.conversation_id}/messages", **auth).json()
    message = next(m for m in listed["items"] if m["id"] == mailed_files.pk)
    files = {a["name"]: a for a in message["attachments"]}
    assert files["发票.pdf"]["stored"] is True and files["发票.pdf"]["type_label"] == "PDF"
    assert files["说明书.pdf"] == {
        **files["说明书.pdf"],
        "stored": False,
        "refused_reason": "附件类型不支持",
        "download_url": None,
    }
    assert files["物流记录.txt"]["refused_reason"] == "附件过大"

    response = client.get(files["退货单.docx"]["download_url"], **auth)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == _docx()
    assert response["Content-Disposition"].startswith("attachment;")
    assert "filename*=UTF-8''%E9%80%80%E8%B4%A7%E5%8D%95.docx" in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"


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
