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
