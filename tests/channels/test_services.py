"""Messages into the desk from the channels (kefu.channels.services): mail stored and threaded, platform messages once."""

from __future__ import annotations

from typing import Any

import pytest

from kefu.channels.models import Channel, OutboundDelivery
from kefu.channels.services import do_receive_email
from kefu.conversations.models import Message
from kefu.core.errors import InvalidInput
from tests.channels.mail import SUPPORT, make_mail


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


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_one_platform_message_store_it_once(make_channel: Any) -> None:
    import threading

    from django.db import connection, connections

    from kefu.channels.services import PlatformMessage, do_receive_platform_message

    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL")
    channel = make_channel("im")
    start = threading.Barrier(4)
    created: list[bool] = []
    errors: list[BaseException] = []

    def deliver(n: int) -> None:
        try:
            start.wait(5)
            _, was_created = do_receive_platform_message(
                channel=channel,
                delivery_id=f"d-{n}",
                incoming=PlatformMessage(sender_id="wx-1", sender_name="", message_id="pm-1", text="在吗"),
            )
            created.append(was_created)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert errors == []
    assert sorted(created) == [False, False, False, True]
    assert Message.objects.filter(direction="incoming").count() == 1
