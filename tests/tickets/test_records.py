"""Ticket records (kefu.tickets.records): numbers of the day and the category guessed from the words."""

from __future__ import annotations

import pytest

from kefu.tickets import records
from kefu.tickets.records import guess_category
from kefu.tickets.services import do_create_ticket

pytestmark = pytest.mark.django_db


def test_numbers_count_up_within_a_day(shop):
    first = do_create_ticket(actor=shop.agent, conversation_id=shop.conversation.pk)
    second = do_create_ticket(actor=shop.agent, customer_id=shop.conversation.customer_id, title="回访")
    assert first.number[:-4] == second.number[:-4]
    assert int(second.number[-4:]) == int(first.number[-4:]) + 1


def test_number_collision_is_retried(shop, monkeypatch):
    first = do_create_ticket(actor=shop.agent, conversation_id=shop.conversation.pk)

    calls = iter([first.number])
    real = records.next_number
    monkeypatch.setattr(records, "next_number", lambda now: next(calls, None) or real(now))
    second = do_create_ticket(actor=shop.agent, conversation_id=shop.conversation.pk)
    assert second.number != first.number


@pytest.mark.parametrize(
    ("intent", "text", "category"),
    [
        ("服务态度投诉", "", "complaint"),
        ("账户与技术问题", "", "technical"),
        ("", "App 登录一直提示验证码错误", "technical"),
        ("", "我要投诉你们的快递员", "complaint"),
        ("", "想问下这款有没有红色", "service"),
    ],
)
def test_category_is_guessed_from_intent_or_words(intent, text, category):
    assert guess_category(intent=intent, text=text) == category
