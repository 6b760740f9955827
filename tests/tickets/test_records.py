"""Ticket records (kefu.tickets.records): numbers of the day (a counter row per day) and the category guessed from the words."""

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


def test_a_number_taken_without_the_counter_moves_the_counter_past_it(shop):
    """Rows numbered by something else (an import, ``kefu generate``) are never overwritten."""
    from django.utils import timezone

    from kefu.tickets.models import Ticket

    prefix = f"TK-{timezone.localdate():%Y%m%d}-"
    Ticket.objects.create(number=f"{prefix}0001", title="导入的工单", customer=shop.conversation.customer)
    Ticket.objects.create(number=f"{prefix}0007", title="导入的工单", customer=shop.conversation.customer)
    ticket = do_create_ticket(actor=shop.agent, conversation_id=shop.conversation.pk)
    assert ticket.number == f"{prefix}0008"
    assert do_create_ticket(actor=shop.agent, conversation_id=shop.conversation.pk).number == f"{prefix}0009"


def test_a_rolled_back_creation_gives_its_number_back(shop):
    from django.db import transaction

    first = do_create_ticket(actor=shop.agent, conversation_id=shop.conversation.pk)
    with pytest.raises(RuntimeError), transaction.atomic():
        do_create_ticket(actor=shop.agent, conversation_id=shop.conversation.pk)
        raise RuntimeError("the caller's transaction fails after the ticket was written")
    after = do_create_ticket(actor=shop.agent, conversation_id=shop.conversation.pk)
    assert int(after.number[-4:]) == int(first.number[-4:]) + 1


def test_each_day_counts_from_one(shop):
    from datetime import date

    assert records.take_ticket_number(date(2026, 11, 11)) == 1
    assert records.take_ticket_number(date(2026, 11, 11)) == 2
    assert records.take_ticket_number(date(2026, 11, 12)) == 1


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
