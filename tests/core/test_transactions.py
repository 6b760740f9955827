"""Best-effort work inside a customer's transaction (kefu.core.transactions).

The forced errors are database errors on purpose: on PostgreSQL a failed statement
aborts the whole transaction unless it ran in a savepoint, so these tests fail there if
``best_effort`` loses its savepoint (SQLite forgives a failed statement either way).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction

from kefu.accounts.models import Team
from kefu.conversations.models import Message
from kefu.conversations.services import do_receive_customer_message, do_send_agent_message
from kefu.core.transactions import best_effort

pytestmark = pytest.mark.django_db


def _broken_sql(*args: Any, **kwargs: Any) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT no_such_column FROM no_such_table")


def test_a_database_error_in_best_effort_work_leaves_the_transaction_usable() -> None:
    with transaction.atomic():
        Team.objects.create(name="售前咨询")
        assert best_effort("a broken query", "fallback", _broken_sql) == "fallback"
        Team.objects.create(name="售后服务")
    assert set(Team.objects.values_list("name", flat=True)) == {"售前咨询", "售后服务"}


def test_work_that_succeeds_returns_its_result() -> None:
    with transaction.atomic():
        team = best_effort("creating a team", None, Team.objects.create, name="投诉处理")
    assert team is not None and Team.objects.filter(pk=team.pk).exists()


def test_on_commit_callbacks_of_failed_work_are_discarded(django_capture_on_commit_callbacks: Any) -> None:
    ran: list[str] = []

    def work() -> None:
        transaction.on_commit(lambda: ran.append("announced"))
        _broken_sql()

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        best_effort("work that fails after queueing an announcement", None, work)
    assert ran == []


def test_a_database_error_in_text_understanding_does_not_lose_the_customer_message(
    desk: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("kefu.understanding.reading.do_update_emotion", _broken_sql)
    message, created = do_receive_customer_message(
        channel=desk.channel, identities=[("web", "visitor-broken-nlp")], text="我的快递三天没动了"
    )
    assert created
    stored = Message.objects.get(pk=message.pk)
    assert stored.text == "我的快递三天没动了"
    assert stored.conversation.emotion_label == ""


def test_database_errors_in_reply_bookkeeping_do_not_lose_the_reply(
    desk: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    incoming, _ = do_receive_customer_message(
        channel=desk.channel, identities=[("web", "visitor-broken-quality")], text="什么时候发货？"
    )
    monkeypatch.setattr("kefu.quality.checks.reply_context", _broken_sql)
    monkeypatch.setattr("kefu.complaints.guards.find_promises", _broken_sql)
    reply, created = do_send_agent_message(
        agent=desk.agent, conversation_id=incoming.conversation_id, text="您好，今天18:00前给您回复。"
    )
    assert created
    assert Message.objects.filter(pk=reply.pk, text="您好，今天18:00前给您回复。").exists()
