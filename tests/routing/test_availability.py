"""Open, busy or closed, and the wait a queued customer is told (``kefu.routing.availability``)."""

from __future__ import annotations

import itertools
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.utils import timezone

from kefu.accounts.models import AgentStatus
from kefu.conversations.models import Conversation, Message
from kefu.conversations.services import do_receive_customer_message
from kefu.customers.models import Customer
from kefu.routing import availability
from kefu.routing.availability import State, desk_state, queue_reply

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("open_all_week")]
_visitor = itertools.count(1)


@pytest.fixture
def shop(make_team: Any, make_channel: Any) -> Any:
    from types import SimpleNamespace

    after_sales = make_team("售后服务", is_general=True)
    pre_sales = make_team("售前咨询")
    return SimpleNamespace(
        after_sales=after_sales,
        pre_sales=pre_sales,
        channel=make_channel("web", team=after_sales, name="官网客服"),
    )


def handled(shop: Any, team: Any, minutes: list[float], *, days_ago: float = 1) -> None:
    """Resolved conversations of ``team``, each handled (first reply → resolved) for the given minutes."""
    resolved = timezone.now() - timedelta(days=days_ago)
    for m in minutes:
        customer = Customer.objects.create(name=f"客户{next(_visitor)}")
        Conversation.objects.create(
            channel=shop.channel,
            customer=customer,
            team=team,
            status=Conversation.Status.RESOLVED,
            first_response_at=resolved - timedelta(minutes=m),
            resolved_at=resolved,
        )


def arrive(shop: Any, capture: Any, text: str = "我的快递三天没动了，能帮我查一下吗") -> Conversation:
    with capture(execute=True):
        message, _ = do_receive_customer_message(
            channel=shop.channel, identities=[("web", f"v-{next(_visitor)}")], text=text
        )
    return Conversation.objects.get(pk=message.conversation_id)


def test_nobody_online_is_closed_with_no_estimate(shop: Any, make_user: Any) -> None:
    make_user(teams=(shop.after_sales,))  # on the team, offline
    state = desk_state(channel=shop.channel, team_id=shop.after_sales.pk)

    assert (state.state, state.reason) == (State.CLOSED, "nobody_online")
    assert state.wait_seconds(0) is None and state.wait_seconds(3) is None
    public = state.as_dict()
    assert public["label"] == "暂无客服在线" and public["estimated_wait_seconds"] is None
    assert "分钟" not in public["text"] and "留言" in public["text"]


def test_an_agent_with_room_is_open_and_never_quotes_minutes(shop: Any, make_user: Any) -> None:
    make_user(teams=(shop.after_sales,), status=AgentStatus.ONLINE, max_concurrent=3)
    state = desk_state(channel=shop.channel, team_id=shop.after_sales.pk)

    assert (state.state, state.free, state.capacity) == (State.OPEN, 3, 3)
    text, wait = queue_reply(state, 1)
    assert wait == 0
    assert text == "您好，客服马上为您服务，请稍候。"  # never 「马上为您服务，预计等待约 4 分钟」
    assert state.as_dict()["label"] == "客服在线"


def test_busy_desk_estimates_from_the_teams_recent_handling_times(
    shop: Any, make_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # After sales took 6–12 minutes a chat this week (median 9); pre-sales 2 minutes.
    handled(shop, shop.after_sales, [6, 7, 8, 9, 9, 10, 11, 12, 9])
    handled(shop, shop.pre_sales, [2, 2, 2, 2, 2, 2, 2])
    handled(shop, shop.after_sales, [90] * 20, days_ago=30)  # a bad month, outside the window
    agents = [
        make_user(teams=(shop.after_sales,), status=AgentStatus.ONLINE, max_concurrent=2) for _ in range(2)
    ]
    served = [arrive(shop, django_capture_on_commit_callbacks) for _ in range(4)]
    assert {c.assignee_id for c in served} == {a.pk for a in agents}

    waiting = [arrive(shop, django_capture_on_commit_callbacks) for _ in range(3)]

    state = desk_state(channel=shop.channel, team_id=shop.after_sales.pk)
    assert (state.state, state.capacity, state.free, state.waiting) == (State.BUSY, 4, 0, 3)
    assert (state.handle.seconds, state.handle.source) == (9 * 60, "team")
    # Four places, each turning over every 9 minutes: the third in line waits 3 × 9 / 4 minutes.
    replies = [c.messages.get(kind=Message.Kind.AUTO) for c in waiting]
    assert [r.meta["expected_wait_seconds"] for r in replies] == [135, 270, 405]
    assert "您已排在第 1 位，预计等待约 3 分钟" in replies[0].text
    assert "您前面还有 2 位客户，预计等待约 7 分钟" in replies[2].text
    public = state.as_dict()
    assert public["label"] == "排队中" and public["waiting"] == 3
    assert public["estimated_wait_seconds"] == 540  # a newcomer: fourth in line
    assert "前面还有 3 位客户，预计等待约 9 分钟" in public["text"]


def test_a_team_without_history_uses_the_desks(shop: Any, make_user: Any) -> None:
    handled(shop, shop.after_sales, [4, 5, 5, 6, 5])
    make_user(teams=(shop.pre_sales,), status=AgentStatus.ONLINE)
    state = desk_state(channel=shop.channel, team_id=shop.pre_sales.pk)
    assert (state.handle.seconds, state.handle.source) == (300, "desk")


class NightCalendar:
    """Closed from 18:00; opens at 09:00 the next morning; business time counts from then."""

    description = "周一至周日 09:00-18:00"

    def __init__(self, opens: Any) -> None:
        self.opens = opens

    def is_open(self, at: Any) -> bool:
        return False

    def next_opening(self, at: Any) -> Any:
        return self.opens

    def add_seconds(self, start: Any, seconds: float) -> Any:
        return self.opens + timedelta(seconds=seconds)


@pytest.fixture
def night(monkeypatch: pytest.MonkeyPatch) -> Any:
    now = timezone.localtime().replace(hour=21, minute=30, second=0, microsecond=0)
    opens = (now + timedelta(days=1)).replace(hour=9, minute=0)
    monkeypatch.setattr(availability, "calendar", lambda team_id, channel_id: NightCalendar(opens))
    return SimpleNamespace(now=now, opens=opens)


def test_off_hours_is_closed_and_says_when_it_opens(shop: Any, make_user: Any, night: Any) -> None:
    make_user(teams=(shop.after_sales,))  # gone home
    state = desk_state(channel=shop.channel, team_id=shop.after_sales.pk, now=night.now)

    assert (state.state, state.reason, state.online) == (State.CLOSED, "off_hours", 0)
    assert state.wait_seconds(0) is None
    assert state.reply_by == night.opens + timedelta(hours=2)
    assert state.reply_warn_at == night.opens + timedelta(minutes=96)
    public = state.as_dict()
    assert public["label"] == "已下班"
    assert public["opens_at"] == night.opens.isoformat()
    assert public["text"] == (
        "现在是非工作时间（工作时间：周一至周日 09:00-18:00），客服将于 明天 09:00 上线。"
        "您可以留言，我们会在 明天 11:00 前回复您。"
    )


def test_an_agent_working_late_is_there_whatever_the_hours_say(shop: Any, make_user: Any, night: Any) -> None:
    make_user(teams=(shop.after_sales,), status=AgentStatus.ONLINE)
    state = desk_state(channel=shop.channel, team_id=shop.after_sales.pk, now=night.now)
    assert (state.state, state.reason, state.opens_at) == (State.OPEN, "", None)


def test_when_text_says_today_tomorrow_or_the_date() -> None:
    now = timezone.localtime().replace(year=2026, month=12, day=2, hour=22, minute=0)
    assert availability.when_text(now.replace(hour=23), now) == "今天 23:00"
    assert availability.when_text(now + timedelta(hours=11), now) == "明天 09:00"
    assert availability.when_text(now + timedelta(days=2), now) == "后天 22:00"
    assert availability.when_text(now + timedelta(days=5), now) == "12月7日（周一）22:00"
    assert availability.when_text(now + timedelta(days=35), now) == "2027年1月6日（周三）22:00"
