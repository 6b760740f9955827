"""Email in (parsing, threading, the SMTP listener) and out (threaded replies over SMTP).

The network tests talk to real SMTP servers on loopback: kefu's own listener, and an
aiosmtpd sink standing in for the outbound relay.
"""

from __future__ import annotations

import base64
import email
import email.policy
import smtplib
import socket
from collections.abc import Iterator
from email.message import EmailMessage as MIMEMessage
from typing import Any

import pytest
from django.test import override_settings

from kefu.channels.email import parse_email
from kefu.channels.models import Channel, OutboundDelivery
from kefu.channels.outbound import send_outbound
from kefu.channels.services import do_receive_email
from kefu.channels.smtp import start_smtp_listener
from kefu.conversations.models import Conversation, Message
from kefu.conversations.services import do_send_agent_message
from kefu.core.errors import InvalidInput

SUPPORT = "support@shop.example"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_mail(
    *,
    subject: str = "订单咨询",
    body: str = "你好，我的订单还没发货。",
    sender: str = "张三 <zhangsan@example.com>",
    to: str = SUPPORT,
    message_id: str | None = "<m1@example.com>",
    in_reply_to: str | None = None,
    references: str | None = None,
    charset: str = "utf-8",
    html: str | None = None,
) -> bytes:
    msg = MIMEMessage(policy=email.policy.SMTP)
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    if message_id:
        msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    if html is None:
        msg.set_content(body, charset=charset)
    else:
        msg.set_content(html, subtype="html", charset=charset)
    return msg.as_bytes()


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def email_channel(desk: Any, make_channel: Any) -> Channel:
    return make_channel("email", team=desk.team, name="邮件客服", email_address=SUPPORT)


# --- parsing --------------------------------------------------------------------


def test_gb2312_mail_with_encoded_word_subject_is_decoded() -> None:
    body = base64.b64encode("您好，发票抬头写错了，能重开吗？".encode("gb2312")).decode()
    raw = (
        "From: =?GB2312?B?wO7LxA==?= <lisi@example.cn>\r\n"
        f"To: {SUPPORT}\r\n"
        "Subject: =?gb2312?B?t6LGsdbYv6o=?=\r\n"
        "Message-ID: <gb@example.cn>\r\n"
        "Content-Type: text/plain; charset=gb2312\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
        f"{body}\r\n"
    ).encode()
    parsed = parse_email(raw)
    assert parsed.subject == "发票重开"
    assert parsed.from_name == "李四"
    assert parsed.from_address == "lisi@example.cn"
    assert parsed.text == "您好，发票抬头写错了，能重开吗？"


def test_gbk_characters_in_a_mail_labelled_gb2312_still_decode() -> None:
    # 镕 is in GBK but not in GB2312; mailers label such text gb2312 anyway.
    raw = (
        b"From: a@example.cn\r\nSubject: x\r\nContent-Type: text/plain; charset=gb2312\r\n\r\n"
        + "朱镕基路的门店".encode("gbk")
    )
    assert parse_email(raw).text == "朱镕基路的门店"


def test_html_only_mail_is_stored_as_text_without_markup() -> None:
    raw = make_mail(
        html="<html><style>p{color:red}</style><body><p>退货&amp;退款</p><p>订单 A123</p></body></html>"
    )
    assert parse_email(raw).text == "退货&退款\n\n订单 A123"


def test_plain_part_is_preferred_over_html() -> None:
    msg = MIMEMessage(policy=email.policy.SMTP)
    msg["From"] = "c@example.com"
    msg["Subject"] = "hi"
    msg.set_content("纯文本内容")
    msg.add_alternative("<p>HTML 内容</p>", subtype="html")
    assert parse_email(msg.as_bytes()).text == "纯文本内容"


# --- storing and threading ------------------------------------------------------


@pytest.mark.django_db
def test_mail_opens_conversation_for_the_email_identity(email_channel: Channel) -> None:
    message, created = do_receive_email(make_mail(), rcpt_tos=[SUPPORT])
    assert created
    conv = message.conversation
    assert conv.channel == email_channel
    assert conv.subject == "订单咨询"
    assert conv.customer.identities.filter(kind="email", value="zhangsan@example.com").exists()
    assert message.external_id == "<m1@example.com>"
    assert message.meta["from"] == "zhangsan@example.com"


@pytest.mark.django_db
def test_reply_naming_an_earlier_message_id_continues_the_conversation(email_channel: Channel) -> None:
    first, _ = do_receive_email(make_mail(), rcpt_tos=[SUPPORT])
    reply, _ = do_receive_email(
        make_mail(
            subject="Re: 订单咨询",
            body="补充一下：订单号 A123\n\n> 你好，我的订单还没发货。",
            message_id="<m2@example.com>",
            in_reply_to="<m1@example.com>",
            references="<m1@example.com>",
        ),
        rcpt_tos=[SUPPORT],
    )
    assert reply.conversation_id == first.conversation_id
    assert reply.text == "补充一下：订单号 A123"  # the quoted mail is not repeated


@pytest.mark.django_db
def test_new_mail_without_references_opens_a_new_conversation(email_channel: Channel) -> None:
    first, _ = do_receive_email(make_mail(), rcpt_tos=[SUPPORT])
    other, _ = do_receive_email(
        make_mail(subject="另一件事", message_id="<m9@example.com>"), rcpt_tos=[SUPPORT]
    )
    assert other.conversation_id != first.conversation_id
    assert other.conversation.customer_id == first.conversation.customer_id


@pytest.mark.django_db
def test_same_message_id_is_stored_once(email_channel: Channel) -> None:
    first, _ = do_receive_email(make_mail(), rcpt_tos=[SUPPORT])
    again, created = do_receive_email(make_mail(), rcpt_tos=[SUPPORT])
    assert not created
    assert again.pk == first.pk
    assert Message.objects.filter(direction="incoming").count() == 1


@pytest.mark.django_db
def test_recipient_address_picks_the_channel_else_the_first_active_one(
    email_channel: Channel, make_channel: Any
) -> None:
    billing = make_channel("email", name="财务邮箱", email_address="billing@shop.example")
    to_billing, _ = do_receive_email(make_mail(message_id="<b@x>"), rcpt_tos=["Billing@Shop.Example"])
    elsewhere, _ = do_receive_email(make_mail(message_id="<c@x>"), rcpt_tos=["unknown@shop.example"])
    assert to_billing.conversation.channel == billing
    assert elsewhere.conversation.channel == email_channel


@pytest.mark.django_db
def test_mail_without_a_sender_address_is_refused(email_channel: Channel) -> None:
    with pytest.raises(InvalidInput):
        do_receive_email(make_mail(sender="nobody"), rcpt_tos=[SUPPORT])
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_out_of_office_mail_is_stored_but_gets_no_queue_auto_reply(
    make_channel: Any, django_capture_on_commit_callbacks: Any
) -> None:
    make_channel("email", email_address=SUPPORT)  # nobody online: the customer waits
    raw = make_mail(subject="自动回复：休假中").replace(
        b"Subject:", b"Auto-Submitted: auto-replied\r\nSubject:", 1
    )
    with django_capture_on_commit_callbacks(execute=True):
        message, _ = do_receive_email(raw, rcpt_tos=[SUPPORT])
    assert message.meta["auto_submitted"] is True
    # Routing queued it and wrote the usual position reply …
    assert message.conversation.messages.filter(kind="auto").exists()
    # … which is not mailed: two robots would answer each other for ever.
    assert not OutboundDelivery.objects.exists()


@pytest.mark.django_db
def test_ordinary_mail_in_the_queue_is_told_its_position_by_mail(
    make_channel: Any, django_capture_on_commit_callbacks: Any
) -> None:
    make_channel("email", email_address=SUPPORT)  # nobody online: the customer waits
    with django_capture_on_commit_callbacks(execute=True):
        message, _ = do_receive_email(make_mail(), rcpt_tos=[SUPPORT])
    assert message.meta["auto_submitted"] is False
    auto = message.conversation.messages.get(kind="auto")
    assert OutboundDelivery.objects.filter(message=auto).exists()


# --- the SMTP listener ----------------------------------------------------------


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


# --- replies out ------------------------------------------------------------------


class _Capture:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), envelope.original_content or envelope.content))
        return "250 OK"


@pytest.fixture
def relay() -> Iterator[_Capture]:
    """A real SMTP server on loopback standing in for the outbound relay; MAILERS point at it."""
    from aiosmtpd.controller import Controller

    capture = _Capture()
    port = free_port()
    controller = Controller(capture, hostname="127.0.0.1", port=port)
    controller.start()
    mailers = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": port, "timeout": 5},
        }
    }
    try:
        with override_settings(MAILERS=mailers):
            yield capture
    finally:
        controller.stop()


@pytest.mark.django_db
def test_agent_reply_is_mailed_threaded_under_the_customer_mail_and_the_answer_threads_back(
    desk: Any, email_channel: Channel, relay: _Capture, django_capture_on_commit_callbacks: Any
) -> None:
    first, _ = do_receive_email(make_mail(), rcpt_tos=[SUPPORT])
    second, _ = do_receive_email(
        make_mail(subject="Re: 订单咨询", message_id="<m2@example.com>", references="<m1@example.com>"),
        rcpt_tos=[SUPPORT],
    )
    with django_capture_on_commit_callbacks(execute=True):
        reply, _ = do_send_agent_message(
            agent=desk.agent, conversation_id=first.conversation_id, text="已为您加急发货。"
        )
    delivery = OutboundDelivery.objects.get(message=reply)

    send_outbound.call(delivery.pk)

    delivery.refresh_from_db()
    reply.refresh_from_db()
    assert delivery.status == "sent" and delivery.attempts == 1
    [(rcpt, raw)] = relay.messages
    assert rcpt == ["zhangsan@example.com"]
    sent = email.message_from_bytes(raw, policy=email.policy.default)
    assert sent["Subject"] == "Re: 订单咨询"
    assert sent["In-Reply-To"] == "<m2@example.com>"
    assert sent["References"].split() == ["<m1@example.com>", "<m2@example.com>"]
    assert sent["Message-ID"] == reply.meta["message_id"] == reply.external_id
    assert sent["From"].addresses[0].addr_spec == SUPPORT
    assert sent.get_content().strip() == "已为您加急发货。"

    answer, _ = do_receive_email(
        make_mail(message_id="<m3@example.com>", in_reply_to=sent["Message-ID"], subject="Re: Re: 订单咨询"),
        rcpt_tos=[SUPPORT],
    )
    assert answer.conversation_id == first.conversation_id


@pytest.mark.django_db
def test_unreachable_relay_costs_an_attempt_and_schedules_a_retry(
    desk: Any, email_channel: Channel, django_capture_on_commit_callbacks: Any
) -> None:
    from django_tasks_db.models import DBTaskResult

    first, _ = do_receive_email(make_mail(), rcpt_tos=[SUPPORT])
    reply, _ = do_send_agent_message(agent=desk.agent, conversation_id=first.conversation_id, text="稍等")
    delivery = OutboundDelivery.objects.get(message=reply)
    closed_port = {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {"host": "127.0.0.1", "port": free_port(), "timeout": 2},
    }
    with (
        override_settings(MAILERS={"default": closed_port}),
        django_capture_on_commit_callbacks(execute=True),
    ):
        send_outbound.call(delivery.pk)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert "SMTP" in delivery.last_error
    retry = DBTaskResult.objects.get(
        task_path="kefu.channels.outbound.send_outbound", args_kwargs__args=[delivery.pk]
    )
    assert retry.run_after == delivery.next_attempt_at
