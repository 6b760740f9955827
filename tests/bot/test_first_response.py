"""A bot answer is not the desk's first response: the SLA clock starts at the hand-over."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from kefu.bot.models import BotSession
from kefu.conversations.models import Conversation
from kefu.conversations.services import do_send_agent_message
from kefu.sla.services import do_sweep

from .conftest import chat

pytestmark = pytest.mark.django_db


def test_no_first_response_clock_runs_while_the_bot_answers(bot: Any) -> None:
    m = chat(bot.channel, "v-frt", "怎么开发票")
    conversation = Conversation.objects.get(pk=m.conversation_id)
    assert conversation.messages.filter(kind="auto").count() >= 2  # greeting and answer
    assert conversation.first_response_due is None
    assert conversation.first_response_at is None and conversation.first_responder_id is None
    result = do_sweep(timezone.now() + timedelta(hours=1))
    assert result.conversation_warnings == result.conversation_breaches == 0


def test_the_clock_starts_at_the_hand_over_and_only_an_agent_stops_it(bot: Any) -> None:
    m = chat(bot.channel, "v-frt2", "怎么开发票")
    before = timezone.now()
    chat(bot.channel, "v-frt2", "转人工")
    conversation = Conversation.objects.get(pk=m.conversation_id)
    session = BotSession.objects.get(conversation=conversation)
    assert session.state == BotSession.State.HANDED_OVER
    assert conversation.first_response_due is not None
    # The web chat's policy gives the desk 60 seconds from the hand-over, not from the first message.
    assert before + timedelta(seconds=59) <= conversation.first_response_due
    assert conversation.first_response_at is None
    do_send_agent_message(
        agent=bot.agent, conversation_id=conversation.pk, text="您好，我是客服小美，发票的问题我来帮您。"
    )
    conversation.refresh_from_db()
    assert conversation.first_response_at is not None and conversation.first_responder == bot.agent


def test_a_vip_who_skips_the_bot_is_timed_from_the_start(bot: Any) -> None:
    from kefu.customers.models import Customer, Identity

    customer = Customer.objects.create(name="钱女士", vip_level=3)
    Identity.objects.create(customer=customer, kind="web", value="v-vip-frt")
    m = chat(bot.channel, "v-vip-frt", "怎么开发票")
    conversation = Conversation.objects.get(pk=m.conversation_id)
    assert BotSession.objects.get(conversation=conversation).handover_reason == "vip"
    assert conversation.first_response_due is not None
