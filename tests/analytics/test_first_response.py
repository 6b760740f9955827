"""First response time counts the seconds the desk served the customer (docs/metrics.md,
"First response"): business hours, or a team member on the desk, or the answer itself.

Each case is one conversation alone in its own period, so the period's mean is its first
response time; the default business hours are Mon–Fri 09:00–18:00 (Asia/Shanghai), and
7 November 2026 is a Saturday.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client

from .conftest import History, at

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk(make_team: Any, make_user: Any, make_channel: Any) -> Any:
    from kefu.accounts.models import Role
    from kefu.customers.models import Customer

    team = make_team("售后服务")
    other = make_team("售前咨询")
    wang = make_user("wangfang", display_name="王芳", teams=(team,))
    li = make_user("lilei", display_name="李雷", teams=(team,))
    chen = make_user("chenjing", display_name="陈静", teams=(other,))
    boss = make_user("sunboss", display_name="孙主管", role=Role.SUPERVISOR)
    web = make_channel("web", team=team, name="官网在线客服")
    return type("Desk", (), {**locals(), "customer": Customer.objects.create(name="周敏")})


def chat(desk: Any, created: datetime, answered: datetime | None, *, by: Any = None) -> Any:
    h = History()
    agent = by or desk.wang
    c = h.conversation(
        channel=desk.web, team=desk.team, customer=desk.customer, created=created,
        assignee=agent, first_responder=agent if answered else None, first_response_at=answered,
    )  # fmt: skip
    h.customer_says(c, created, "在吗？我的订单显示已签收，但我没收到")
    if answered:
        h.agent_says(c, answered, agent, "您好，我马上帮您核实签收情况")
    return c


def on_desk(user: Any, *stretches: tuple[datetime, datetime]) -> None:
    from kefu.accounts.models import StatusChange

    for start, end in stretches:
        StatusChange.objects.create(user=user, from_status="offline", to_status="online", at=start)
        StatusChange.objects.create(user=user, from_status="online", to_status="offline", at=end)


def frt(desk: Any, created: datetime, **params: Any) -> Any:
    client = Client()
    client.force_login(desk.boss)
    day = created.replace(hour=0, minute=0, second=0)
    query = {"start": day.isoformat(), "end": (day + timedelta(days=1)).isoformat(), **params}
    r = client.get(
        f"/api/v1/metrics?names=first_response_mean,first_response_within_target&{urlencode(query)}"
    )
    assert r.status_code == 200, r.content
    figures = {f["name"]: f for f in r.json()["figures"]}
    return figures["first_response_mean"]["value"], figures["first_response_within_target"]["value"]


def test_answered_within_business_hours_is_the_wall_clock_wait(desk):
    chat(desk, at(2, 10), at(2, 10, 0, 35))
    assert frt(desk, at(2, 10)) == (35.0, 100.0)


def test_a_chat_answered_on_a_closed_saturday_counts_its_real_wait_not_zero(desk):
    # Nobody's status was recorded (an answer through the API): the answer itself shows the desk served.
    chat(desk, at(7, 10), at(7, 10, 0, 40))
    assert frt(desk, at(7, 10)) == (40.0, 100.0)


def test_a_written_at_night_answered_at_opening_counts_business_seconds_only(desk):
    # Fri 17:59 → Mon 09:01 with nobody on the desk overnight: 60 s before closing + 60 s after opening.
    chat(desk, at(6, 17, 59), at(9, 9, 1))
    assert frt(desk, at(6, 17, 59)) == (120.0, 0.0)


def test_answered_after_closing_counts_up_to_the_answer(desk):
    # Fri 17:59, answered 18:30 by an agent still at her desk: the customer waited 31 minutes.
    chat(desk, at(6, 17, 59), at(6, 18, 30))
    assert frt(desk, at(6, 17, 59)) == (1860.0, 0.0)


def test_a_team_member_on_the_desk_outside_hours_makes_the_wait_count(desk):
    # Saturday: 李雷 came on at 09:58 and stayed; 王芳 answered at 10:05. Every second counts.
    on_desk(desk.li, (at(7, 9, 58), at(7, 12)))
    chat(desk, at(7, 10), at(7, 10, 5))
    assert frt(desk, at(7, 10)) == (300.0, 0.0)


def test_only_the_stretches_when_someone_was_there_count(desk):
    # Sat 10:00: 李雷 on the desk 10:00–10:30 and left it unanswered; answered at Monday's opening.
    on_desk(desk.li, (at(7, 10), at(7, 10, 30)))
    chat(desk, at(7, 10), at(9, 9, 0, 30))
    assert frt(desk, at(7, 10)) == (1800.0 + 30.0, 0.0)


def test_the_answering_agent_came_on_just_before_answering(desk):
    # Sat 10:00, nobody there until 王芳 came on at 11:59; she answered at 12:00: 60 s.
    on_desk(desk.wang, (at(7, 11, 59), at(7, 13)))
    chat(desk, at(7, 10), at(7, 12))
    assert frt(desk, at(7, 10)) == (60.0, 100.0)


def test_another_teams_agent_on_the_desk_does_not_count(desk):
    # 陈静 (售前咨询) was on the desk all Saturday morning; 王芳 came on at 11:59.
    on_desk(desk.chen, (at(7, 8), at(7, 13)))
    on_desk(desk.wang, (at(7, 11, 59), at(7, 13)))
    chat(desk, at(7, 10), at(7, 12))
    assert frt(desk, at(7, 10)) == (60.0, 100.0)


def bot_session(conversation: Any, *, handed_over: datetime | None, reason: str = "explicit") -> None:
    from kefu.bot.models import BotSession

    BotSession.objects.create(
        conversation=conversation,
        state=BotSession.State.HANDED_OVER if handed_over else BotSession.State.ACTIVE,
        handover_reason=reason if handed_over else "",
        handed_over_at=handed_over,
    )


def test_a_conversation_the_bot_handed_over_is_measured_from_the_hand_over(desk):
    c = chat(desk, at(2, 10), at(2, 10, 5, 30))
    bot_session(c, handed_over=at(2, 10, 5))
    assert frt(desk, at(2, 10)) == (30.0, 100.0)


def test_an_agent_who_took_over_from_the_bot_is_measured_from_creation(desk):
    c = chat(desk, at(2, 10), at(2, 10, 0, 50))
    bot_session(c, handed_over=at(2, 10, 1), reason="agent")
    assert frt(desk, at(2, 10)) == (50.0, 100.0)


def test_a_conversation_the_bot_still_answers_is_neither_answered_nor_overdue(desk):
    c = chat(desk, at(2, 10), None)
    bot_session(c, handed_over=None)
    assert frt(desk, at(2, 10)) == (None, None)
    from kefu.bot.models import BotSession

    BotSession.objects.filter(conversation=c).update(
        state=BotSession.State.HANDED_OVER, handover_reason="explicit", handed_over_at=at(2, 10, 30)
    )
    assert frt(desk, at(2, 10)) == (None, 0.0)  # handed over and left waiting: overdue


def test_unanswered_customers_past_a_long_team_target_are_missed_whether_open_hours_or_the_walk_say_so(desk):
    from kefu.analytics.models import MetricTarget

    MetricTarget.objects.create(name="first_response_mean", team=desk.team, value=7200)
    # Monday 10:00: the open hours of its first two days alone pass the team's two hours (no
    # staffing walked); Friday 17:30: half an hour before the weekend, then walked on until now.
    chat(desk, at(2, 10), None)
    chat(desk, at(6, 17, 30), None)
    day = at(2, 0)
    assert frt(desk, day, team=desk.team.pk) == (None, 0.0)
    client = Client()
    client.force_login(desk.boss)
    r = client.get(
        "/api/v1/metrics?names=first_response_within_target&"
        + urlencode({"start": day.isoformat(), "end": at(9, 0).isoformat(), "team": desk.team.pk})
    )
    figure = r.json()["figures"][0]
    assert (figure["value"], figure["count"]) == (0.0, 2)
