"""The bot answers a conversation that matches an open incident with its approved statement first."""

from __future__ import annotations

from typing import Any

import pytest

from kefu.bot.models import BotSession, BotTurn, HandoverReason
from kefu.incidents.models import Incident, IncidentLink
from kefu.incidents.services import do_open_incident

from .conftest import bot_lines, chat

pytestmark = pytest.mark.django_db

STATEMENT = "受暴雨影响，华东仓12月3日起暂停发货，预计12月6日恢复，已下单的订单会按顺序尽快发出。"
QUESTION = "你好，请问华东仓那边现在还发货吗"


@pytest.fixture
def incident(bot: Any) -> Incident:
    return do_open_incident(
        actor=bot.supervisor,
        team_id=bot.team.pk,
        title="华东仓暴雨停发",
        statement=STATEMENT,
        keywords=["华东仓"],
    )


def turn_kinds(message: Any) -> list[str]:
    return list(BotTurn.objects.filter(message=message).order_by("id").values_list("kind", flat=True))


def test_a_matching_question_gets_the_statement_instead_of_an_article_and_is_tagged(
    bot: Any, incident: Incident
) -> None:
    m = chat(bot.channel, "v-rain", QUESTION)
    lines = bot_lines(m.conversation_id)
    assert lines[-1].text == f"{STATEMENT}\n\n这个回答解决您的问题了吗？"
    assert lines[-1].meta["bot"]["incident_id"] == incident.pk
    assert lines[-1].meta["choices"] == ["解决了", "没解决"]
    assert turn_kinds(m) == [BotTurn.Kind.STATEMENT]
    assert IncidentLink.objects.filter(incident=incident, conversation_id=m.conversation_id).exists()


def test_the_verdict_on_the_statement_is_recorded_and_it_is_said_once(bot: Any, incident: Incident) -> None:
    chat(bot.channel, "v-rain2", QUESTION)
    m = chat(bot.channel, "v-rain2", "解决了")
    session = BotSession.objects.get(conversation_id=m.conversation_id)
    assert session.resolved
    assert BotTurn.objects.get(session=session, kind=BotTurn.Kind.STATEMENT).helpful is True
    m = chat(bot.channel, "v-rain2", "华东仓那边怎么开发票")
    assert BotTurn.Kind.STATEMENT not in turn_kinds(m)


def test_an_upset_customer_hears_the_statement_then_goes_to_a_person(bot: Any) -> None:
    do_open_incident(
        actor=bot.supervisor,
        team_id=bot.team.pk,
        title="保温杯漏水",
        statement="因密封圈批次问题，部分保温杯存在漏水情况。我们将在12月5日前为您免费换新。",
        keywords=["漏水"],
    )
    m = chat(bot.channel, "v-leak", "我买的保温杯漏水")
    lines = bot_lines(m.conversation_id)
    texts = [line.text for line in lines]
    assert "因密封圈批次问题，部分保温杯存在漏水情况。我们将在12月5日前为您免费换新。" in texts
    assert turn_kinds(m) == [BotTurn.Kind.STATEMENT, BotTurn.Kind.HANDOVER]
    session = BotSession.objects.get(conversation_id=m.conversation_id)
    assert session.state == BotSession.State.HANDED_OVER
    assert session.handover_reason == HandoverReason.EMOTION


def test_an_unrelated_question_a_proposal_or_a_resolved_incident_gets_no_statement(
    bot: Any, incident: Incident
) -> None:
    m = chat(bot.channel, "v-fp", "怎么开发票")
    assert turn_kinds(m) == [BotTurn.Kind.ANSWER]
    Incident.objects.filter(pk=incident.pk).update(status=Incident.Status.RESOLVED)
    m = chat(bot.channel, "v-rain3", QUESTION)
    assert BotTurn.Kind.STATEMENT not in turn_kinds(m)
    Incident.objects.filter(pk=incident.pk).update(status=Incident.Status.PROPOSED)
    m = chat(bot.channel, "v-rain4", QUESTION)
    assert BotTurn.Kind.STATEMENT not in turn_kinds(m)


def test_another_teams_incident_is_not_used(bot: Any, make_team: Any) -> None:
    other = make_team("海外店")
    do_open_incident(
        actor=bot.supervisor, team_id=other.pk, title="海外仓", statement=STATEMENT, keywords=["华东仓"]
    )
    m = chat(bot.channel, "v-rain5", QUESTION)
    assert BotTurn.Kind.STATEMENT not in turn_kinds(m)
