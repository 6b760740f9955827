"""Routing: which team, which agent, the waiting queue and what waiting customers hear."""

from __future__ import annotations

import itertools
from types import SimpleNamespace
from typing import Any

import pytest
from django.utils import timezone

from kefu.accounts.models import AgentStatus
from kefu.accounts.services import do_set_status
from kefu.conversations.models import Conversation, Message
from kefu.conversations.services import do_receive_customer_message, do_send_agent_message, do_transfer, inbox
from kefu.customers.identities import do_resolve_customer
from kefu.routing import assignment
from kefu.routing.assignment import (
    do_drain_queue,
    do_drain_queues,
    do_try_assign,
    queue_position,
    waiting_queue,
)
from kefu.routing.models import RoutingRule

_visitor = itertools.count(1)
# Business hours around the clock: who is online alone decides what customers hear.
pytestmark = pytest.mark.usefixtures("open_all_week")


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


@pytest.fixture
def committed(django_capture_on_commit_callbacks: Any) -> Any:
    """``with committed():`` runs what a service queues for after its commit, as a request would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def busy(shop: Any, make_user: Any, arrive: Any) -> Any:
    """Someone online in both teams, busy with a customer: those who come next queue and hear their place."""
    agent = make_user(
        "busy", teams=(shop.general, shop.after_sales), status=AgentStatus.ONLINE, max_concurrent=1
    )
    serving = arrive("你好，我先问一下发票怎么开")
    assert serving.assignee == agent
    return agent


def closed_notices(conversation: Conversation) -> list[str]:
    """The replies that told the customer nobody can serve them now."""
    return [
        m.text
        for m in conversation.messages.filter(kind=Message.Kind.AUTO).order_by("id")
        if m.meta.get("desk_state") == "closed"
    ]


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
def test_offline_busy_and_resting_agents_get_nothing(shop: Any, arrive: Any, make_user: Any) -> None:
    make_user(teams=(shop.general,), status=AgentStatus.BUSY)
    make_user(teams=(shop.general,), status=AgentStatus.BREAK)
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
    shop: Any, arrive: Any, make_user: Any, committed: Any
) -> None:
    from kefu.conversations.services import do_set_status as set_conversation_status

    agent = make_user(teams=(shop.general,), status=AgentStatus.ONLINE, max_concurrent=1)
    first, waiting = arrive(), arrive()
    assert waiting.assignee is None

    with committed():
        set_conversation_status(actor=agent, conversation_id=first.pk, status="resolved")

    waiting.refresh_from_db()
    assert waiting.assignee == agent


@pytest.mark.django_db
def test_vip_customer_goes_first_in_the_queue_and_is_served_first(
    shop: Any, arrive: Any, make_user: Any, committed: Any
) -> None:
    agent = make_user(teams=(shop.general,), max_concurrent=1)  # offline: everybody waits
    early, later = arrive(), arrive()
    vip = arrive(vip=2)

    assert list(waiting_queue(shop.general.pk)) == [vip, early, later]
    assert queue_position(vip) == 1
    # Nobody is online: no place in a queue and no minutes, but the truth.
    assert queue_replies(vip) == []
    assert len(closed_notices(vip)) == 1

    with committed():
        do_set_status(user=agent, status=AgentStatus.ONLINE)

    vip.refresh_from_db()
    early.refresh_from_db()
    assert vip.assignee == agent
    assert early.assignee is None


@pytest.mark.django_db
def test_an_urgent_conversation_is_served_before_a_vip_asking_a_routine_question(
    shop: Any, arrive: Any, make_user: Any, committed: Any
) -> None:
    agent = make_user(teams=(shop.general,), max_concurrent=1)  # offline: everybody waits
    vip = arrive("这款有 XL 码吗", vip=3)
    early = arrive()
    urgent = arrive("你们快递员把我的东西扔在门外，摔坏了")
    Conversation.objects.filter(pk=urgent.pk).update(priority="P1")
    Conversation.objects.filter(pk__in=[vip.pk, early.pk]).update(priority="P4")

    assert list(waiting_queue(shop.general.pk).values_list("id", flat=True)) == [urgent.pk, vip.pk, early.pk]
    with committed():
        do_set_status(user=agent, status=AgentStatus.ONLINE)
    urgent.refresh_from_db()
    vip.refresh_from_db()
    assert urgent.assignee == agent and vip.assignee is None


@pytest.mark.django_db
def test_queue_position_reply_states_position_and_expected_wait(
    shop: Any, busy: Any, arrive: Any, make_user: Any
) -> None:
    for _ in range(3):
        arrive()
    fourth = arrive()

    [reply] = fourth.messages.filter(kind=Message.Kind.AUTO)
    assert reply.meta["queue_position"] == 4
    # One place, busy; no history yet: 4 places must turn over at the default 240 s each.
    assert reply.meta["expected_wait_seconds"] == 4 * 240
    assert "前面还有 3 位" in reply.text and "预计等待约 16 分钟" in reply.text
    assert not reply.is_private


@pytest.mark.django_db
def test_customers_are_told_again_only_when_their_position_changes_a_lot(
    shop: Any, busy: Any, arrive: Any, make_user: Any, committed: Any
) -> None:
    agent = make_user(teams=(shop.general,), max_concurrent=1)
    waiting = [arrive() for _ in range(7)]
    assert [queue_replies(c) for c in waiting] == [[n] for n in range(1, 8)]

    with committed():
        do_set_status(user=agent, status=AgentStatus.ONLINE)  # takes the first: everyone moves up one

    # 2 → 1 halves the position: told. 7 → 6 is a small step: not told again.
    assert queue_replies(waiting[1]) == [2, 1]
    assert queue_replies(waiting[2]) == [3]
    assert queue_replies(waiting[6]) == [7]

    agent2 = make_user(teams=(shop.general,), max_concurrent=5)
    with committed():
        do_set_status(user=agent2, status=AgentStatus.ONLINE)  # takes five more: the last moves 6 → 1

    assert queue_replies(waiting[6]) == [7, 1]


@pytest.mark.django_db
def test_agent_coming_online_drains_waiting_conversations_up_to_the_limit(
    shop: Any, arrive: Any, make_user: Any, committed: Any
) -> None:
    agent = make_user(teams=(shop.general,), max_concurrent=2)
    waiting = [arrive() for _ in range(3)]

    with committed():
        do_set_status(user=agent, status=AgentStatus.ONLINE)

    for c in waiting:
        c.refresh_from_db()
    assert [c.assignee for c in waiting] == [agent, agent, None]
    assert waiting[0].queued_at is None
    activity = Message.objects.filter(conversation=waiting[0], direction="activity", meta__assignee=agent.pk)
    assert activity.count() == 1


@pytest.mark.django_db
def test_agent_coming_online_takes_only_their_own_teams_queues(
    shop: Any, arrive: Any, make_user: Any, committed: Any
) -> None:
    RoutingRule.objects.create(name="退货", keywords=["退货"], team=shop.after_sales)
    general_conv = arrive("你好")
    specialist = make_user(teams=(shop.after_sales,))

    with committed():
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
def test_transfer_to_a_team_assigns_one_of_its_online_agents(
    shop: Any, arrive: Any, make_user: Any, committed: Any
) -> None:
    first = make_user(teams=(shop.general,), status=AgentStatus.ONLINE)
    specialist = make_user(teams=(shop.after_sales,), status=AgentStatus.ONLINE)
    conversation = arrive()

    with committed():
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

    def broken(conversation_id: int) -> None:
        raise RuntimeError("routing is down")

    monkeypatch.setattr(assignment, "do_try_assign", broken)
    return SimpleNamespace(restore=lambda: monkeypatch.setattr(assignment, "do_try_assign", do_try_assign))


def after_grace() -> Any:
    from datetime import timedelta

    from django.utils import timezone

    from kefu.routing.assignment import UNROUTED_GRACE

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
    from kefu.routing.assignment import do_route_unrouted

    agent = make_user(teams=(shop.general,), status=AgentStatus.ONLINE)
    conversation = arrive()
    routing_down.restore()

    assert do_route_unrouted(after_grace()) == 1

    conversation.refresh_from_db()
    assert conversation.assignee == agent
    assert Message.objects.filter(conversation=conversation, meta__assignee=agent.pk).count() == 1


@pytest.mark.django_db
def test_sweep_queues_and_tells_the_customer_when_nobody_can_take_it(
    shop: Any, arrive: Any, routing_down: Any
) -> None:
    from kefu.routing.assignment import do_route_unrouted

    conversation = arrive()
    routing_down.restore()

    assert do_route_unrouted(after_grace()) == 1

    conversation.refresh_from_db()
    assert conversation.queued_at is not None
    assert queue_replies(conversation) == []
    [notice] = closed_notices(conversation)
    assert "客服暂时都不在线" in notice and "分钟" not in notice


@pytest.mark.django_db
def test_sweep_leaves_a_conversation_alone_during_the_grace_period(
    shop: Any, arrive: Any, routing_down: Any
) -> None:
    from django.utils import timezone

    from kefu.routing.assignment import do_route_unrouted

    conversation = arrive()
    routing_down.restore()

    assert do_route_unrouted(timezone.now()) == 0
    conversation.refresh_from_db()
    assert conversation.queued_at is None


@pytest.mark.django_db
def test_sweep_is_a_no_op_for_routed_conversations(shop: Any, arrive: Any, make_user: Any) -> None:
    from kefu.routing.assignment import do_route_unrouted

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
    shop: Any, busy: Any, arrive: Any, routing_down: Any, monkeypatch: pytest.MonkeyPatch
) -> None:

    first, second = arrive(), arrive()
    routing_down.restore()
    real = assignment.do_notify_queue_position

    def fails_for_first(conversation_id: int, *, force: bool = False) -> None:
        if conversation_id == first.pk:
            raise RuntimeError("still broken for this one")
        real(conversation_id, force=force)

    monkeypatch.setattr(assignment, "do_notify_queue_position", fails_for_first)
    assert assignment.do_route_unrouted(after_grace()) == 1
    monkeypatch.setattr(assignment, "do_notify_queue_position", real)
    assert assignment.do_route_unrouted(after_grace()) == 1
    assert assignment.do_route_unrouted(after_grace()) == 0

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


# --- room appears: the queue is drained -------------------------------------------------


@pytest.fixture
def admin(make_user: Any) -> Any:
    from kefu.accounts.models import Role

    return make_user(role=Role.ADMIN)


@pytest.mark.django_db
def test_raising_an_agents_limit_assigns_the_next_waiting_conversation(
    shop: Any, arrive: Any, make_user: Any, admin: Any, committed: Any
) -> None:
    from kefu.accounts.services import do_set_max_concurrent

    agent = make_user(teams=(shop.general,), status=AgentStatus.ONLINE, max_concurrent=1)
    serving, first, second = arrive(), arrive(), arrive()
    assert serving.assignee == agent

    with committed():
        do_set_max_concurrent(actor=admin, user=agent, max_concurrent=2)

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.assignee, second.assignee) == (agent, None)
    assert queue_replies(second) == [2, 1]  # told again: now first in line


@pytest.mark.django_db
def test_lowering_an_agents_limit_takes_nothing_from_them(
    shop: Any, arrive: Any, make_user: Any, admin: Any, committed: Any
) -> None:
    from kefu.accounts.services import do_set_max_concurrent

    agent = make_user(teams=(shop.general,), status=AgentStatus.ONLINE, max_concurrent=2)
    serving = [arrive(), arrive()]
    waiting = arrive()

    with committed():
        do_set_max_concurrent(actor=admin, user=agent, max_concurrent=1)

    agent.refresh_from_db()
    assert agent.max_concurrent == 1
    assert Conversation.objects.filter(pk__in=[c.pk for c in serving], assignee=agent).count() == 2
    waiting.refresh_from_db()
    assert waiting.assignee is None


@pytest.mark.django_db
def test_transferring_a_conversation_away_gives_the_agent_the_next_waiting_one(
    shop: Any, arrive: Any, make_user: Any, committed: Any
) -> None:
    agent = make_user(teams=(shop.general,), status=AgentStatus.ONLINE, max_concurrent=1)
    colleague = make_user(teams=(shop.after_sales,), status=AgentStatus.ONLINE)
    serving, waiting = arrive(), arrive()
    assert (serving.assignee, waiting.assignee) == (agent, None)

    with committed():
        do_transfer(actor=agent, conversation_id=serving.pk, note="客户要退货，转售后", to_user=colleague)

    serving.refresh_from_db()
    waiting.refresh_from_db()
    assert (serving.assignee, waiting.assignee) == (colleague, agent)
    assert waiting.queued_at is None


@pytest.mark.django_db
def test_transferring_to_a_team_serves_that_teams_queue_in_order(
    shop: Any, arrive: Any, make_user: Any, committed: Any
) -> None:
    from kefu.accounts.models import User

    agent = make_user(teams=(shop.general,), status=AgentStatus.ONLINE, max_concurrent=1)
    specialist = make_user(teams=(shop.after_sales,), max_concurrent=1)
    RoutingRule.objects.create(name="退货", keywords=["退货"], team=shop.after_sales)
    waited_longer = arrive("我要退货")  # nobody on after-sales is online: it waits
    serving = arrive()
    User.objects.filter(pk=specialist.pk).update(
        status=AgentStatus.ONLINE, last_seen_at=timezone.now()
    )  # came online without a drain

    with committed():
        do_transfer(actor=agent, conversation_id=serving.pk, note="售后问题", to_team=shop.after_sales)

    waited_longer.refresh_from_db()
    serving.refresh_from_db()
    assert waited_longer.assignee == specialist  # first in the after-sales queue
    assert (serving.team, serving.assignee) == (shop.after_sales, None)
    assert serving in waiting_queue(shop.after_sales.pk)


@pytest.mark.django_db
def test_joining_a_team_takes_a_waiting_conversation_from_its_queue(
    shop: Any, arrive: Any, make_user: Any, admin: Any, committed: Any
) -> None:
    from kefu.accounts.services import do_set_teams

    specialist = make_user(teams=(shop.after_sales,), status=AgentStatus.ONLINE)
    waiting = arrive()
    assert (waiting.team, waiting.assignee) == (shop.general, None)

    with committed():
        do_set_teams(actor=admin, user=specialist, teams=[shop.after_sales, shop.general])

    waiting.refresh_from_db()
    assert waiting.assignee == specialist


@pytest.mark.django_db
def test_snoozing_a_conversation_frees_a_place_for_the_next_in_queue(
    shop: Any, arrive: Any, make_user: Any, committed: Any
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from kefu.conversations.services import do_set_status as set_conversation_status

    agent = make_user(teams=(shop.general,), status=AgentStatus.ONLINE, max_concurrent=1)
    serving, waiting = arrive(), arrive()

    with committed():
        set_conversation_status(
            actor=agent,
            conversation_id=serving.pk,
            status="snoozed",
            snoozed_until=timezone.now() + timedelta(hours=1),
        )

    waiting.refresh_from_db()
    assert waiting.assignee == agent


@pytest.mark.django_db
def test_a_failing_drain_does_not_fail_the_change_and_the_worker_drains_later(
    shop: Any,
    arrive: Any,
    make_user: Any,
    admin: Any,
    committed: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from kefu.accounts.services import do_set_max_concurrent

    agent = make_user(teams=(shop.general,), status=AgentStatus.ONLINE, max_concurrent=1)
    arrive()
    waiting = arrive()

    def broken(team_ids: Any = None) -> int:
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(assignment, "do_drain_queues", broken)
    with committed():
        do_set_max_concurrent(actor=admin, user=agent, max_concurrent=2)
    monkeypatch.setattr(assignment, "do_drain_queues", do_drain_queues)

    agent.refresh_from_db()
    waiting.refresh_from_db()
    assert (agent.max_concurrent, waiting.assignee) == (2, None)
    assert f"draining queues after a change (agent {agent.pk}, teams []) failed" in caplog.text

    assert do_drain_queues() == 1
    waiting.refresh_from_db()
    assert waiting.assignee == agent


# --- the worker's periodic drain ----------------------------------------------------------


@pytest.mark.django_db
def test_periodic_drain_serves_every_team_in_queue_order_and_tells_the_rest(
    shop: Any, busy: Any, arrive: Any, make_user: Any
) -> None:
    from kefu.accounts.models import User

    RoutingRule.objects.create(name="退货", keywords=["退货"], team=shop.after_sales)
    generalist = make_user(teams=(shop.general,), max_concurrent=2)
    specialist = make_user(teams=(shop.after_sales,), max_concurrent=1)
    general = [arrive(), arrive(), arrive()]
    vip = arrive(vip=3)
    returns = [arrive("我要退货"), arrive("退货怎么办")]
    # Both came online without a drain (a row edited outside kefu's services).
    User.objects.filter(pk__in=[generalist.pk, specialist.pk]).update(
        status=AgentStatus.ONLINE, last_seen_at=timezone.now()
    )

    assert do_drain_queues() == 3

    for c in [*general, vip, *returns]:
        c.refresh_from_db()
    assert [c.assignee for c in (vip, *general)] == [generalist, generalist, None, None]
    assert [c.assignee for c in returns] == [specialist, None]
    # Told again only when the place changed a lot: 2 → 1 yes, 3 → 2 no (as for any drain).
    assert (queue_replies(general[1]), queue_replies(general[2])) == ([2, 1], [3])
    assert queue_replies(returns[1]) == [2, 1]


@pytest.mark.django_db
def test_periodic_drain_is_idempotent(shop: Any, busy: Any, arrive: Any, make_user: Any) -> None:
    from kefu.accounts.models import User

    agent = make_user(teams=(shop.general,), max_concurrent=1)
    waiting = [arrive() for _ in range(3)]
    User.objects.filter(pk=agent.pk).update(status=AgentStatus.ONLINE, last_seen_at=timezone.now())

    assert do_drain_queues() == 1
    messages = Message.objects.count()
    assert do_drain_queues() == 0
    assert do_drain_queues() == 0

    assert Message.objects.count() == messages  # nobody assigned or told twice
    assert Conversation.objects.filter(assignee=agent).count() == 1
    assert [queue_replies(c) for c in waiting] == [[1], [2, 1], [3]]


@pytest.mark.django_db
def test_periodic_drain_is_one_query_when_nobody_waits(
    shop: Any, arrive: Any, make_user: Any, django_assert_num_queries: Any
) -> None:
    make_user(teams=(shop.general,), status=AgentStatus.ONLINE)
    arrive()  # assigned at once: nobody waits

    with django_assert_num_queries(1):
        assert do_drain_queues() == 0


@pytest.mark.django_db
def test_periodic_drain_keeps_an_agent_in_two_teams_within_their_limit(
    shop: Any, arrive: Any, make_user: Any
) -> None:
    from kefu.accounts.models import User

    RoutingRule.objects.create(name="退货", keywords=["退货"], team=shop.after_sales)
    agent = make_user(teams=(shop.general, shop.after_sales), max_concurrent=2)
    general = [arrive(), arrive()]
    returns = [arrive("我要退货"), arrive("退货")]
    User.objects.filter(pk=agent.pk).update(status=AgentStatus.ONLINE, last_seen_at=timezone.now())

    assert do_drain_queues() == 2

    assert Conversation.objects.filter(assignee=agent).count() == 2
    # The general queue's customers waited longer: served first.
    assert set(Conversation.objects.filter(assignee=agent)) == set(general)
    assert not Conversation.objects.filter(pk__in=[c.pk for c in returns], assignee__isnull=False).exists()


@pytest.mark.django_db
def test_periodic_drain_serves_conversations_without_a_team(shop: Any, arrive: Any, make_user: Any) -> None:
    from kefu.accounts.models import User

    agent = make_user(teams=(shop.after_sales,), max_concurrent=1)
    teamless = arrive()
    Conversation.objects.filter(pk=teamless.pk).update(team=None)
    User.objects.filter(pk=agent.pk).update(status=AgentStatus.ONLINE, last_seen_at=timezone.now())

    assert do_drain_queues() == 1
    teamless.refresh_from_db()
    assert teamless.assignee == agent


@pytest.mark.django_db
def test_drain_skips_a_conversation_another_router_took_and_goes_on(
    shop: Any, arrive: Any, make_user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kefu.accounts.models import User

    agent = make_user(teams=(shop.general,), max_concurrent=1)
    other = make_user(teams=(shop.general,), max_concurrent=1)
    first, second = arrive(), arrive()
    User.objects.filter(pk=agent.pk).update(status=AgentStatus.ONLINE, last_seen_at=timezone.now())

    def raced(conversation_id: int) -> Any:
        if conversation_id == first.pk:  # another process assigned it a moment ago
            Conversation.objects.filter(pk=first.pk).update(assignee=other, queued_at=None)
            return None
        return do_try_assign(conversation_id)

    monkeypatch.setattr(assignment, "do_try_assign", raced)

    assert do_drain_queue(shop.general.pk) == 1
    second.refresh_from_db()
    assert second.assignee == agent
