"""Routing: which team, which agent, the waiting queue and what waiting customers hear."""

from __future__ import annotations

import itertools
from types import SimpleNamespace
from typing import Any

import pytest

from kefu.accounts.models import AgentStatus
from kefu.accounts.services import do_set_status
from kefu.conversations.models import Conversation, Message
from kefu.conversations.services import do_receive_customer_message, do_send_agent_message, do_transfer, inbox
from kefu.customers.services import do_resolve_customer
from kefu.routing.models import RoutingRule
from kefu.routing.services import do_try_assign, queue_position, waiting_queue

_visitor = itertools.count(1)


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def shop(make_team: Any, make_channel: Any) -> Any:
    """A general team, an after-sales team and a web channel; no agents yet."""
    from types import SimpleNamespace

    general = make_team("售前咨询", is_general=True)
    after_sales = make_team("售后服务")
    return SimpleNamespace(
        general=general, after_sales=after_sales, channel=make_channel("web", team=general)
    )


@pytest.fixture
def arrive(shop: Any, django_capture_on_commit_callbacks: Any) -> Any:
    """A new customer writes in; routing runs as it does after the commit."""

    def arrive(text: str = "你好，想咨询一下", *, vip: int = 0) -> Conversation:
        visitor = f"visitor-{next(_visitor)}"
        if vip:
            customer = do_resolve_customer([("web", visitor)])
            customer.vip_level = vip
            customer.save(update_fields=["vip_level"])
        with django_capture_on_commit_callbacks(execute=True):
            message, _ = do_receive_customer_message(
                channel=shop.channel, identities=[("web", visitor)], text=text
            )
        return Conversation.objects.select_related("customer").get(pk=message.conversation_id)

    return arrive


def queue_replies(conversation: Conversation) -> list[int]:
    """The queue positions the customer was told, in order."""
    return [
        m.meta["queue_position"]
        for m in conversation.messages.filter(kind=Message.Kind.AUTO).order_by("id")
        if "queue_position" in m.meta
    ]


@pytest.mark.django_db
def test_keyword_rule_sends_the_conversation_to_the_skill_team_and_its_agent(
    shop: Any, arrive: Any, make_user: Any
) -> None:
    make_user(teams=(shop.general,), status=AgentStatus.ONLINE)
    specialist = make_user(teams=(shop.after_sales,), status=AgentStatus.ONLINE)
    RoutingRule.objects.create(name="退货", keywords=["退货", "退款"], team=shop.after_sales, priority="P2")

    conversation = arrive("我要退货，东西坏了")

    assert conversation.team == shop.after_sales
    assert conversation.assignee == specialist
    assert conversation.priority == "P2"


@pytest.mark.django_db
def test_conversation_without_a_matching_rule_stays_in_the_general_team(
    shop: Any, arrive: Any, make_user: Any
) -> None:
    generalist = make_user(teams=(shop.general,), status=AgentStatus.ONLINE)
    make_user(teams=(shop.after_sales,), status=AgentStatus.ONLINE)
    RoutingRule.objects.create(name="退货", keywords=["退货"], team=shop.after_sales)

    conversation = arrive("你好")

    assert (conversation.team, conversation.assignee) == (shop.general, generalist)


@pytest.mark.django_db
def test_least_loaded_agent_gets_the_next_conversation(shop: Any, arrive: Any, make_user: Any) -> None:
    a = make_user(teams=(shop.general,), status=AgentStatus.ONLINE)
    b = make_user(teams=(shop.general,), status=AgentStatus.ONLINE)

    assignees = [arrive().assignee for _ in range(4)]

    # Equal load goes to whoever waited longest since their last assignment.
    assert assignees == [a, b, a, b]


@pytest.mark.django_db
def test_offline_and_away_agents_get_nothing(shop: Any, arrive: Any, make_user: Any) -> None:
    make_user(teams=(shop.general,), status=AgentStatus.AWAY)
    make_user(teams=(shop.general,))
    conversation = arrive()
    assert conversation.assignee is None
    assert conversation.queued_at is not None


@pytest.mark.django_db
def test_agent_never_gets_more_than_max_concurrent(shop: Any, arrive: Any, make_user: Any) -> None:
    agent = make_user(teams=(shop.general,), status=AgentStatus.ONLINE, max_concurrent=2)

    conversations = [arrive() for _ in range(3)]

    assert [c.assignee for c in conversations] == [agent, agent, None]
    assert queue_replies(conversations[2]) == [1]
    assert do_try_assign(conversations[2].pk) is None


@pytest.mark.django_db
def test_resolving_a_conversation_frees_a_place_for_the_next_in_queue(
    shop: Any, arrive: Any, make_user: Any
) -> None:
    from kefu.conversations.services import do_set_status as set_conversation_status

    agent = make_user(teams=(shop.general,), status=AgentStatus.ONLINE, max_concurrent=1)
    first, waiting = arrive(), arrive()
    assert waiting.assignee is None

    set_conversation_status(actor=agent, conversation_id=first.pk, status="resolved")

    waiting.refresh_from_db()
    assert waiting.assignee == agent


@pytest.mark.django_db
def test_vip_customer_goes_first_in_the_queue_and_is_served_first(
    shop: Any, arrive: Any, make_user: Any
) -> None:
    agent = make_user(teams=(shop.general,), max_concurrent=1)  # offline: everybody waits
    early, later = arrive(), arrive()
    vip = arrive(vip=2)

    assert list(waiting_queue(shop.general.pk)) == [vip, early, later]
    assert queue_position(vip) == 1
    assert queue_replies(vip) == [1]

    do_set_status(user=agent, status=AgentStatus.ONLINE)

    vip.refresh_from_db()
    early.refresh_from_db()
    assert vip.assignee == agent
    assert early.assignee is None


@pytest.mark.django_db
def test_queue_position_reply_states_position_and_expected_wait(
    shop: Any, arrive: Any, make_user: Any
) -> None:
    make_user(teams=(shop.general,))  # on the team but offline
    for _ in range(3):
        arrive()
    fourth = arrive()

    [reply] = fourth.messages.filter(kind=Message.Kind.AUTO)
    assert reply.meta["queue_position"] == 4
    assert reply.meta["expected_wait_seconds"] > 0
    assert "前面还有 3 位" in reply.text
    assert not reply.is_private


@pytest.mark.django_db
def test_customers_are_told_again_only_when_their_position_changes_a_lot(
    shop: Any, arrive: Any, make_user: Any
) -> None:
    agent = make_user(teams=(shop.general,), max_concurrent=1)
    waiting = [arrive() for _ in range(7)]
    assert [queue_replies(c) for c in waiting] == [[n] for n in range(1, 8)]

    do_set_status(user=agent, status=AgentStatus.ONLINE)  # takes the first: everyone moves up one

    # 2 → 1 halves the position: told. 7 → 6 is a small step: not told again.
    assert queue_replies(waiting[1]) == [2, 1]
    assert queue_replies(waiting[2]) == [3]
    assert queue_replies(waiting[6]) == [7]

    agent2 = make_user(teams=(shop.general,), max_concurrent=5)
    do_set_status(user=agent2, status=AgentStatus.ONLINE)  # takes five more: the last moves 6 → 1

    assert queue_replies(waiting[6]) == [7, 1]


@pytest.mark.django_db
def test_agent_coming_online_drains_waiting_conversations_up_to_the_limit(
    shop: Any, arrive: Any, make_user: Any
) -> None:
    agent = make_user(teams=(shop.general,), max_concurrent=2)
    waiting = [arrive() for _ in range(3)]

    do_set_status(user=agent, status=AgentStatus.ONLINE)

    for c in waiting:
        c.refresh_from_db()
    assert [c.assignee for c in waiting] == [agent, agent, None]
    assert waiting[0].queued_at is None
    activity = Message.objects.filter(conversation=waiting[0], direction="activity", meta__assignee=agent.pk)
    assert activity.count() == 1


@pytest.mark.django_db
def test_agent_coming_online_takes_only_their_own_teams_queues(
    shop: Any, arrive: Any, make_user: Any
) -> None:
    RoutingRule.objects.create(name="退货", keywords=["退货"], team=shop.after_sales)
    general_conv = arrive("你好")
    specialist = make_user(teams=(shop.after_sales,))

    do_set_status(user=specialist, status=AgentStatus.ONLINE)

    general_conv.refresh_from_db()
    assert general_conv.assignee is None


@pytest.mark.django_db
def test_first_responder_keeps_ownership_after_a_transfer(shop: Any, arrive: Any, make_user: Any) -> None:
    first = make_user(teams=(shop.general,), status=AgentStatus.ONLINE)
    colleague = make_user(teams=(shop.after_sales,), status=AgentStatus.ONLINE)
    conversation = arrive()
    assert conversation.assignee == first
    do_send_agent_message(agent=first, conversation_id=conversation.pk, text="您好，请问有什么可以帮您？")

    do_transfer(actor=first, conversation_id=conversation.pk, note="客户要退货，转售后", to_user=colleague)

    conversation.refresh_from_db()
    assert conversation.assignee == colleague
    assert conversation.first_responder == first
    assert conversation.team == shop.after_sales
    assert conversation in inbox(first, view="mine")  # 首问负责: still on the first agent's list
    assert conversation in inbox(colleague, view="mine")


@pytest.mark.django_db
def test_transfer_to_a_team_assigns_one_of_its_online_agents(shop: Any, arrive: Any, make_user: Any) -> None:
    first = make_user(teams=(shop.general,), status=AgentStatus.ONLINE)
    specialist = make_user(teams=(shop.after_sales,), status=AgentStatus.ONLINE)
    conversation = arrive()

    do_transfer(actor=first, conversation_id=conversation.pk, note="售后问题", to_team=shop.after_sales)

    conversation.refresh_from_db()
    assert (conversation.team, conversation.assignee) == (shop.after_sales, specialist)


@pytest.mark.django_db
def test_try_assign_leaves_an_assigned_or_closed_conversation_alone(
    shop: Any, arrive: Any, make_user: Any
) -> None:
    agent = make_user(teams=(shop.general,), status=AgentStatus.ONLINE)
    other = make_user(teams=(shop.general,), status=AgentStatus.ONLINE)
    assigned = arrive()
    assert do_try_assign(assigned.pk) is None
    assigned.refresh_from_db()
    assert assigned.assignee == agent

    Conversation.objects.filter(pk=assigned.pk).update(assignee=None, status="closed")
    assert do_try_assign(assigned.pk) is None
    assert not Conversation.objects.filter(assignee=other).exists()


# --- routing that failed after the commit, and the worker's sweep ---------------------


@pytest.fixture
def routing_down(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Assignment raises (a database hiccup, a bug) until the test calls ``restore()``."""
    from kefu.routing import services

    def broken(conversation_id: int) -> None:
        raise RuntimeError("routing is down")

    monkeypatch.setattr(services, "do_try_assign", broken)
    return SimpleNamespace(restore=lambda: monkeypatch.setattr(services, "do_try_assign", do_try_assign))


def after_grace() -> Any:
    from datetime import timedelta

    from django.utils import timezone

    from kefu.routing.services import UNROUTED_GRACE

    return timezone.now() + UNROUTED_GRACE + timedelta(seconds=1)


@pytest.mark.django_db
def test_routing_failure_after_the_commit_is_logged_and_leaves_the_message_stored(
    shop: Any, arrive: Any, make_user: Any, routing_down: Any, caplog: pytest.LogCaptureFixture
) -> None:
    make_user(teams=(shop.general,), status=AgentStatus.ONLINE)

    conversation = arrive("你好，在吗")

    assert conversation.messages.filter(direction="incoming", text="你好，在吗").count() == 1
    assert (conversation.assignee, conversation.queued_at) == (None, None)
    assert not conversation.messages.filter(kind=Message.Kind.AUTO).exists()  # nothing half done
    assert f"routing conversation {conversation.pk} failed" in caplog.text


@pytest.mark.django_db
def test_sweep_routes_a_conversation_whose_routing_raised_after_the_commit(
    shop: Any, arrive: Any, make_user: Any, routing_down: Any
) -> None:
    from kefu.routing.services import do_route_unrouted

    agent = make_user(teams=(shop.general,), status=AgentStatus.ONLINE)
    conversation = arrive()
    routing_down.restore()

    assert do_route_unrouted(after_grace()) == 1

    conversation.refresh_from_db()
    assert conversation.assignee == agent
    assert Message.objects.filter(conversation=conversation, meta__assignee=agent.pk).count() == 1


@pytest.mark.django_db
def test_sweep_queues_and_tells_the_position_when_nobody_can_take_it(
    shop: Any, arrive: Any, routing_down: Any
) -> None:
    from kefu.routing.services import do_route_unrouted

    conversation = arrive()
    routing_down.restore()

    assert do_route_unrouted(after_grace()) == 1

    conversation.refresh_from_db()
    assert conversation.queued_at is not None
    assert queue_replies(conversation) == [1]


@pytest.mark.django_db
def test_sweep_leaves_a_conversation_alone_during_the_grace_period(
    shop: Any, arrive: Any, routing_down: Any
) -> None:
    from django.utils import timezone

    from kefu.routing.services import do_route_unrouted

    conversation = arrive()
    routing_down.restore()

    assert do_route_unrouted(timezone.now()) == 0
    conversation.refresh_from_db()
    assert conversation.queued_at is None


@pytest.mark.django_db
def test_sweep_is_a_no_op_for_routed_conversations(shop: Any, arrive: Any, make_user: Any) -> None:
    from kefu.routing.services import do_route_unrouted

    make_user(teams=(shop.general,), status=AgentStatus.ONLINE, max_concurrent=1)
    assigned, waiting = arrive(), arrive()
    messages = Message.objects.count()

    assert do_route_unrouted(after_grace()) == 0
    assert do_route_unrouted(after_grace()) == 0

    assert Message.objects.count() == messages
    assigned.refresh_from_db()
    waiting.refresh_from_db()
    assert assigned.assignee is not None
    assert (waiting.assignee, queue_replies(waiting)) == (None, [1])


@pytest.mark.django_db
def test_sweep_routes_each_conversation_once_and_keeps_going_past_a_failing_one(
    shop: Any, arrive: Any, routing_down: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kefu.routing import services

    first, second = arrive(), arrive()
    routing_down.restore()
    real = services.do_notify_queue_position

    def fails_for_first(conversation_id: int, *, force: bool = False) -> None:
        if conversation_id == first.pk:
            raise RuntimeError("still broken for this one")
        real(conversation_id, force=force)

    monkeypatch.setattr(services, "do_notify_queue_position", fails_for_first)
    assert services.do_route_unrouted(after_grace()) == 1
    monkeypatch.setattr(services, "do_notify_queue_position", real)
    assert services.do_route_unrouted(after_grace()) == 1
    assert services.do_route_unrouted(after_grace()) == 0

    first.refresh_from_db()
    second.refresh_from_db()
    assert (queue_replies(first), queue_replies(second)) == ([2], [1])


@pytest.mark.django_db
def test_assignment_failing_for_a_reopened_conversation_leaves_it_queued(
    shop: Any, arrive: Any, make_user: Any, routing_down: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from kefu.accounts.models import Role
    from kefu.conversations.services import do_set_status as set_conversation_status

    supervisor = make_user(role=Role.SUPERVISOR)
    conversation = arrive()
    set_conversation_status(actor=supervisor, conversation_id=conversation.pk, status="resolved")
    visitor = conversation.customer.identities.get().value

    with django_capture_on_commit_callbacks(execute=True):
        message, created = do_receive_customer_message(
            channel=shop.channel, identities=[("web", visitor)], text="又坏了"
        )

    assert created and message.conversation_id == conversation.pk
    conversation.refresh_from_db()
    assert conversation.status == "open" and conversation.queued_at is not None
