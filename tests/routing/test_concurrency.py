"""Assignment is atomic across server processes (PostgreSQL only).

Several real processes race ``do_try_assign`` over the same waiting conversations,
with agents whose limits are small; the database must let each conversation be
assigned once and no agent go over their limit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.db import connection
from django.utils import timezone

from kefu.accounts.models import AgentStatus
from kefu.conversations.models import Conversation, Message
from kefu.customers.models import Customer

REPO = Path(__file__).resolve().parents[2]
WORKERS = 3


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _database_url() -> str:
    s = connection.settings_dict
    auth = quote(s["USER"] or "", safe="")
    if s["PASSWORD"]:
        auth += ":" + quote(s["PASSWORD"], safe="")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _start_workers(conversation_ids: list[int]) -> list[subprocess.Popen[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
    env.update(
        DJANGO_SETTINGS_MODULE="kefu.settings",
        KEFU_DATABASE_URL=_database_url(),  # the test database itself, committed data
        KEFU_SECRET_KEY="assignment-race-test-key",
        PYTHONWARNINGS="error::RuntimeWarning",
    )
    return [
        subprocess.Popen(
            [sys.executable, "-m", "tests.routing.assign_worker", json.dumps(conversation_ids), str(seed)],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in range(WORKERS)
    ]


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_processes_never_double_assign_nor_exceed_agent_limits(
    make_team: Any, make_user: Any, make_channel: Any
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: other processes must see the committed test data")
    team = make_team()
    channel = make_channel("web", team=team)
    agents = [make_user(teams=(team,), status=AgentStatus.ONLINE, max_concurrent=2) for _ in range(3)]
    # One agent already has a chat: only one place left for them.
    busy = Customer.objects.create(name="已接待")
    Conversation.objects.create(channel=channel, customer=busy, team=team, assignee=agents[0])
    now = timezone.now()
    waiting = [
        Conversation.objects.create(
            channel=channel, customer=Customer.objects.create(name=f"客户{i}"), team=team, queued_at=now
        )
        for i in range(14)
    ]
    ids = [c.pk for c in waiting]

    workers = _start_workers(ids)
    try:
        for w in workers:
            assert w.stdout is not None
            line = w.stdout.readline()
            assert line.strip() == "ready", (line, w.stderr.read() if w.stderr else "")
        for w in workers:  # all ready and connected: start together
            assert w.stdin is not None
            w.stdin.write("go\n")
            w.stdin.flush()
        results = []
        for w in workers:
            out, err = w.communicate(timeout=180)
            assert w.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait()

    assert [r["errors"] for r in results] == [[]] * WORKERS  # no deadlock, no integrity error
    claimed = [conv_id for r in results for conv_id, _ in r["assigned"]]
    assert len(claimed) == len(set(claimed)), "a conversation was assigned by two processes"
    assert len(claimed) == 5  # capacity: 2 + 2 + 1 left on the busy agent

    for agent in agents:
        load = Conversation.objects.filter(assignee=agent, status__in=("open", "pending")).count()
        assert load == agent.max_concurrent
    for conversation in Conversation.objects.filter(pk__in=ids):
        recorded = list(
            Message.objects.filter(
                conversation=conversation, direction="activity", meta__has_key="assignee"
            ).values_list("meta__assignee", flat=True)
        )
        if conversation.assignee_id is None:
            assert recorded == []
            assert conversation.queued_at is not None
        else:
            assert recorded == [conversation.assignee_id]
    reported = {conv_id: agent_id for r in results for conv_id, agent_id in r["assigned"]}
    assert reported == dict(
        Conversation.objects.filter(pk__in=ids, assignee__isnull=False).values_list("pk", "assignee_id")
    )


def _run_in_thread(fn: Any, errors: list[BaseException]) -> Any:
    import threading

    from django.db import connections

    def target() -> None:
        try:
            fn()
        except BaseException as exc:  # reported to the test
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=target)
    thread.start()
    return thread


def _wait_until_someone_waits_for_a_lock(timeout: float = 10) -> None:
    import time

    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    raise AssertionError("the assignment never waited for the conversation lock")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_routing_and_an_agent_claiming_by_reply_do_not_deadlock(
    make_team: Any, make_user: Any, make_channel: Any
) -> None:
    """Routing locks the agent then the conversation; a reply locks the conversation and
    then needs the agent row for its foreign keys. The agent lock must not block that."""
    import threading

    from django.db import transaction

    from kefu.routing.assignment import do_try_assign

    if connection.vendor != "postgresql":
        pytest.skip("row-lock modes are PostgreSQL's")
    team = make_team()
    agent = make_user(teams=(team,), status=AgentStatus.ONLINE)
    channel = make_channel("web", team=team)
    conversation = Conversation.objects.create(
        channel=channel, customer=Customer.objects.create(name="客户"), team=team, queued_at=timezone.now()
    )
    errors: list[BaseException] = []
    reply_holds_conversation = threading.Event()
    routing_is_waiting = threading.Event()
    outcome: dict[str, Any] = {}

    def agent_replies() -> None:
        # The lock order of conversations.services.do_send_agent_message.
        with transaction.atomic():
            c = Conversation.objects.select_for_update().get(pk=conversation.pk)
            reply_holds_conversation.set()
            assert routing_is_waiting.wait(10)
            Message.objects.create(conversation=c, direction="outgoing", sender=agent, text="您好")
            c.assignee = agent
            c.save()

    def routing_assigns() -> None:
        assert reply_holds_conversation.wait(10)
        outcome["assigned"] = do_try_assign(conversation.pk)

    reply = _run_in_thread(agent_replies, errors)
    routing = _run_in_thread(routing_assigns, errors)
    _wait_until_someone_waits_for_a_lock()
    routing_is_waiting.set()
    reply.join(20)
    routing.join(20)

    assert errors == []
    assert outcome["assigned"] is None  # the reply claimed it first
    conversation.refresh_from_db()
    assert conversation.assignee == agent


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_sweeping_at_once_route_each_conversation_once(
    make_team: Any, make_user: Any, make_channel: Any
) -> None:
    import threading
    from datetime import timedelta

    from kefu.routing.assignment import UNROUTED_GRACE, do_route_unrouted

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL for concurrent transactions")
    team = make_team()
    agent = make_user(teams=(team,), status=AgentStatus.ONLINE, max_concurrent=2)
    channel = make_channel("web", team=team)
    # Stored, but routing after the commit failed: in no queue, nobody's.
    unrouted = [
        Conversation.objects.create(
            channel=channel, customer=Customer.objects.create(name=f"客户{i}"), team=team
        )
        for i in range(6)
    ]
    ids = [c.pk for c in unrouted]
    Conversation.objects.filter(pk__in=ids).update(
        created_at=timezone.now() - UNROUTED_GRACE - timedelta(seconds=1)
    )
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []
    routed: list[int] = []

    def sweep() -> None:
        barrier.wait(timeout=30)
        routed.append(do_route_unrouted())

    workers = [_run_in_thread(sweep, errors) for _ in range(2)]
    for w in workers:
        w.join(60)

    assert errors == []
    assert sum(routed) == 6
    for conversation in Conversation.objects.filter(pk__in=ids):
        assigned = Message.objects.filter(conversation=conversation, meta__has_key="assignee").count()
        told = Message.objects.filter(conversation=conversation, meta__has_key="queue_position").count()
        assert conversation.queued_at is not None or conversation.assignee_id is not None
        assert (assigned, told) in ((1, 0), (0, 1))
    assert Conversation.objects.filter(pk__in=ids, assignee=agent).count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_draining_at_once_assign_each_conversation_once_within_limits(
    make_team: Any, make_user: Any, make_channel: Any
) -> None:
    import threading
    from datetime import timedelta

    from kefu.routing.assignment import do_drain_queues, waiting_queue

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL for concurrent transactions")
    general, returns = make_team(), make_team()
    channel = make_channel("web", team=general)
    agents = [
        make_user(teams=(general,), status=AgentStatus.ONLINE, max_concurrent=2),
        make_user(teams=(general,), status=AgentStatus.ONLINE, max_concurrent=2),
        make_user(teams=(general, returns), status=AgentStatus.ONLINE, max_concurrent=2),
        make_user(teams=(returns,), status=AgentStatus.ONLINE, max_concurrent=1),
    ]
    # One agent already has a chat: one place left for them. Six places in all.
    Conversation.objects.create(
        channel=channel, customer=Customer.objects.create(name="已接待"), team=general, assignee=agents[0]
    )
    start = timezone.now() - timedelta(minutes=10)

    def waiting(team: Any, i: int, *, vip: int = 0) -> Conversation:
        customer = Customer.objects.create(name=f"客户{team.pk}-{i}", vip_level=vip)
        return Conversation.objects.create(
            channel=channel, customer=customer, team=team, queued_at=start + timedelta(seconds=i)
        )

    in_general = [waiting(general, i, vip=2 if i == 7 else 0) for i in range(10)]
    in_returns = [waiting(returns, 20 + i) for i in range(4)]
    general_order = list(waiting_queue(general.pk).values_list("id", flat=True))
    returns_order = list(waiting_queue(returns.pk).values_list("id", flat=True))
    assert general_order[0] == in_general[7].pk  # the VIP first

    barrier = threading.Barrier(2)
    errors: list[BaseException] = []
    assigned: list[int] = []

    def drain() -> None:
        barrier.wait(timeout=30)
        assigned.append(do_drain_queues())

    workers = [_run_in_thread(drain, errors) for _ in range(2)]
    for w in workers:
        w.join(60)

    assert errors == []
    assert sum(assigned) == 6  # every place filled, none twice
    for agent in agents:
        load = Conversation.objects.filter(assignee=agent, status__in=("open", "pending")).count()
        assert load == agent.max_concurrent
    # Each queue was served from its head: the general queue (it holds the VIP, so it
    # goes first) took five, the returns queue the one place left.
    taken = set(Conversation.objects.filter(assignee__isnull=False).values_list("pk", flat=True))
    assert [pk in taken for pk in general_order] == [True] * 5 + [False] * 5
    assert [pk in taken for pk in returns_order] == [True] + [False] * 3
    for conversation in Conversation.objects.filter(pk__in=[c.pk for c in (*in_general, *in_returns)]):
        recorded = list(
            Message.objects.filter(
                conversation=conversation, direction="activity", meta__has_key="assignee"
            ).values_list("meta__assignee", flat=True)
        )
        told = [
            m.meta["queue_position"]
            for m in Message.objects.filter(
                conversation=conversation, meta__has_key="queue_position"
            ).order_by("id")
        ]
        if conversation.assignee_id is None:
            assert recorded == []
            # Told where they stand, never the same place twice by the two drains.
            assert told and told == sorted(set(told), reverse=True), told
            assert told[-1] >= list(waiting_queue(conversation.team_id)).index(conversation) + 1
        else:
            assert recorded == [conversation.assignee_id]
