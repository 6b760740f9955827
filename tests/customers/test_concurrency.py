"""A new customer's first messages arriving at the same moment make one profile
(PostgreSQL: real concurrent transactions; SQLite admits one writer at a time)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections

from kefu.channels.services import do_receive_email
from kefu.conversations.models import Conversation, Message
from kefu.conversations.services import do_receive_customer_message
from kefu.customers.models import Customer, Identity

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


@pytest.fixture
def race(monkeypatch: pytest.MonkeyPatch) -> Callable[[list[Callable[[], Any]]], None]:
    """Run the calls in threads, each on its own connection, every one of them having
    found no customer (and started a new profile) before any attaches the identity."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL for concurrent transactions")
    customers = Customer.objects
    real = customers.create
    local = threading.local()
    barrier: list[threading.Barrier] = []

    def create_together(**fields: Any) -> Customer:
        created = real(**fields)
        if not getattr(local, "created", False):
            local.created = True
            barrier[0].wait(timeout=30)
        return created

    monkeypatch.setattr(customers, "create", create_together)

    def run(calls: list[Callable[[], Any]]) -> None:
        barrier.append(threading.Barrier(len(calls)))
        errors: list[BaseException] = []

        def target(call: Callable[[], Any]) -> None:
            try:
                call()
            except BaseException as exc:  # reported below
                errors.append(exc)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=target, args=(call,)) for call in calls]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert errors == []

    return run


def test_two_first_chat_messages_at_once_make_one_customer_and_one_conversation(desk: Any, race: Any) -> None:
    race(
        [
            lambda i=i: do_receive_customer_message(
                channel=desk.channel, identities=[("web", "v-new")], text=f"在吗{i}", client_msg_id=f"c-{i}"
            )
            for i in range(2)
        ]
    )

    (identity,) = Identity.objects.filter(kind="web", value="v-new")
    assert list(Customer.objects.all()) == [identity.customer]
    (conversation,) = Conversation.objects.all()
    assert conversation.customer == identity.customer
    assert conversation.messages.filter(direction=Message.Direction.INCOMING).count() == 2


def test_two_first_mails_of_one_sender_at_once_land_on_one_customer(make_channel: Any, race: Any) -> None:
    make_channel("email", email_address="support@shop.example")
    mails = [
        (
            f"From: =?utf-8?b?5byg5LiJ?= <zhangsan@example.com>\r\nTo: support@shop.example\r\n"
            f"Subject: order {i}\r\nMessage-ID: <race-{i}@example.com>\r\n\r\nwhere is my order {i}\r\n"
        ).encode()
        for i in range(2)
    ]
    race([lambda raw=raw: do_receive_email(raw) for raw in mails])

    (identity,) = Identity.objects.filter(kind="email", value="zhangsan@example.com")
    assert list(Customer.objects.all()) == [identity.customer]
    conversations = Conversation.objects.all()
    assert conversations.count() == 2  # a new thread is a new matter, of the same customer
    assert {c.customer_id for c in conversations} == {identity.customer_id}
