"""``kefu worker``: SLA timers survive a restart because they are due times in the database.

The worker runs in a fresh subprocess against the test database: on PostgreSQL (or a
file-based SQLite) it connects directly; with the default in-memory SQLite the test
copies the database to a file, runs the worker on the copy, and copies it back.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from kefu.conversations.models import Conversation, Message
from kefu.core import signing
from kefu.routing import assignment
from kefu.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.webhooks.server import receiver

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _base_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEFU_", "PYTEST", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="kefu.settings",
        KEFU_VAR_DIR=str(tmp_path / "var"),
        KEFU_SECRET_KEY="worker-test-secret-key-0123456789",
        KEFU_LOG_LEVEL="WARNING",
        # The webhook receiver of these tests listens on 127.0.0.1 (kefu.core.netguard).
        KEFU_ALLOWED_PRIVATE_NETWORKS="127.0.0.0/8",
    )
    return env


@contextmanager
def worker_database(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Environment for a subprocess that sees this test's database (and its writes)."""
    env = _base_env(tmp_path)
    settings = connection.settings_dict
    if connection.vendor == "postgresql":
        user = settings.get("USER") or ""
        password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
        host = settings.get("HOST") or "127.0.0.1"
        port = settings.get("PORT") or 5432
        env["KEFU_DATABASE_URL"] = f"postgres://{user}{password}@{host}:{port}/{settings['NAME']}"
        yield env
        return
    assert connection.vendor == "sqlite"
    if not connection.is_in_memory_db():
        env["KEFU_SQLITE_PATH"] = str(settings["NAME"])
        yield env
        return
    copy = tmp_path / "worker.sqlite3"
    connection.ensure_connection()
    with sqlite3.connect(copy) as target:
        connection.connection.backup(target)
    target.close()
    env["KEFU_SQLITE_PATH"] = str(copy)
    try:
        yield env
    finally:
        source = sqlite3.connect(copy)
        try:
            source.backup(connection.connection)
        finally:
            source.close()


def run_worker(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "kefu.cli", "worker", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _overdue_conversation(desk: Any) -> Conversation:
    from kefu.conversations.services import do_receive_customer_message

    msg, _ = do_receive_customer_message(
        channel=desk.channel, identities=[("web", "restart-1")], text="有人吗？等了好久"
    )
    conversation = Conversation.objects.get(pk=msg.conversation_id)
    # Nobody answered, nobody accepted it, and the worker was down when the minute passed.
    Conversation.objects.filter(pk=conversation.pk).update(
        assignee=None, first_response_due=timezone.now() - timedelta(seconds=5)
    )
    return conversation


def test_sla_breach_is_recorded_by_a_fresh_worker_process_once(tmp_path, make_team, make_channel):
    from types import SimpleNamespace

    team = make_team("售前", is_general=True)
    desk = SimpleNamespace(channel=make_channel("web", team=team, name="官网"))
    with receiver() as hook:
        endpoint = WebhookEndpoint.objects.create(url=hook.url, events=["conversation.sla_breached"])
        hook.secret = endpoint.secret  # the receiver answers 401 to a bad signature
        conversation = _overdue_conversation(desk)
        with worker_database(tmp_path) as env:
            run_worker(env)
        conversation.refresh_from_db()
        assert conversation.sla_breached_at is not None
        breach_lines = Message.objects.filter(conversation=conversation, meta__sla="breached")
        assert breach_lines.count() == 1
        (delivery,) = WebhookDelivery.objects.filter(event_type="conversation.sla_breached")
        assert delivery.status == "succeeded" and delivery.attempts == 1
        (request,) = hook.requests
        headers = request["headers"]
        assert headers["X-Kefu-Event"] == "conversation.sla_breached"
        assert signing.verify(
            endpoint.secret,
            timestamp=headers["X-Kefu-Timestamp"],
            delivery=headers["X-Kefu-Delivery"],
            signature=headers["X-Kefu-Signature"],
            body=request["body"],
        )
        assert json.loads(request["body"])["data"]["conversation"]["id"] == conversation.pk

        # A second run (another restart) finds nothing new to fire.
        breached_at = conversation.sla_breached_at
        with worker_database(tmp_path) as env:
            run_worker(env)
        conversation.refresh_from_db()
        assert conversation.sla_breached_at == breached_at
        assert breach_lines.count() == 1
        assert WebhookDelivery.objects.filter(event_type="conversation.sla_breached").count() == 1
        assert len(hook.requests) == 1


def test_worker_runs_queued_tasks(tmp_path):
    from django_tasks_db.models import DBTaskResult

    from kefu.sla.services import sweep_sla

    sweep_sla.enqueue()
    with worker_database(tmp_path) as env:
        run_worker(env)
    (result,) = DBTaskResult.objects.all()
    assert result.status == "SUCCESSFUL"


def _breach_recorded(env: dict[str, str], conversation_id: int) -> bool:
    """Read what the worker wrote, from its database (the file copy, or the shared one)."""
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        with sqlite3.connect(env["KEFU_SQLITE_PATH"], timeout=20) as db:
            row = db.execute(
                "SELECT sla_breached_at FROM conversations_conversation WHERE id = ?", (conversation_id,)
            ).fetchone()
        return bool(row and row[0])
    return Conversation.objects.filter(pk=conversation_id, sla_breached_at__isnull=False).exists()


def test_two_workers_at_once_fire_a_breach_once(tmp_path, make_team, make_channel):
    from types import SimpleNamespace

    team = make_team("售前", is_general=True)
    desk = SimpleNamespace(channel=make_channel("web", team=team, name="官网"))
    WebhookEndpoint.objects.create(url="http://127.0.0.1:9/nobody", events=["conversation.sla_breached"])
    conversation = _overdue_conversation(desk)
    with worker_database(tmp_path) as env:
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "kefu.cli", "worker", "--once"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        for proc in procs:
            _, err = proc.communicate(timeout=180)
            assert proc.returncode == 0, err[-3000:]
    assert Message.objects.filter(conversation=conversation, meta__sla="breached").count() == 1
    assert WebhookDelivery.objects.filter(event_type="conversation.sla_breached").count() == 1


def test_long_running_worker_fires_timers_and_stops_on_sigterm(tmp_path, make_team, make_channel):
    import signal
    import time
    from types import SimpleNamespace

    team = make_team("售前", is_general=True)
    desk = SimpleNamespace(channel=make_channel("web", team=team, name="官网"))
    conversation = _overdue_conversation(desk)
    with worker_database(tmp_path) as env:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kefu.cli", "worker", "--timer-interval", "0.5", "--interval", "0.2"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 120
            while not _breach_recorded(env, conversation.pk):
                assert proc.poll() is None, proc.communicate()[1][-3000:]
                assert time.monotonic() < deadline, "the worker did not record the breach"
                time.sleep(0.5)
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == 0, err[-3000:]
        assert "stopped" in out
    conversation.refresh_from_db()
    assert conversation.sla_breached_at is not None


@pytest.fixture
def stalled_delivery(make_team: Any, make_user: Any, make_channel: Any) -> Any:
    """A WeChat reply whose send was lost: the worker died mid-send ten minutes ago."""
    from kefu.accounts.models import AgentStatus
    from kefu.channels.models import OutboundDelivery
    from kefu.channels.services import PlatformMessage, do_receive_platform_message
    from kefu.conversations.services import do_send_agent_message

    team = make_team()
    agent = make_user(teams=(team,), status=AgentStatus.ONLINE)
    channel = make_channel("im", team=team, outbound_url="http://127.0.0.1:9/platform")
    incoming, _ = do_receive_platform_message(
        channel=channel,
        delivery_id="d-stalled",
        incoming=PlatformMessage(sender_id="wx-1", sender_name="小王", message_id="pm-1", text="在吗？"),
    )
    reply, _ = do_send_agent_message(agent=agent, conversation_id=incoming.conversation_id, text="在的")
    delivery = OutboundDelivery.objects.get(message=reply)
    OutboundDelivery.objects.filter(pk=delivery.pk).update(
        attempts=1, next_attempt_at=timezone.now() - timedelta(minutes=10)
    )
    return delivery


@pytest.fixture
def fresh_timers(monkeypatch: pytest.MonkeyPatch) -> Any:
    from kefu.ops.management.commands import worker

    monkeypatch.setattr(worker, "_nonces_pruned_at", None)
    return worker


def test_timers_requeue_a_stalled_outbound_delivery(stalled_delivery, fresh_timers):
    from django_tasks_db.models import DBTaskResult

    queued = DBTaskResult.objects.filter(args_kwargs__args=[stalled_delivery.pk])
    before = queued.count()
    counts = fresh_timers.run_timers()
    assert counts["outbound"] == 1
    stalled_delivery.refresh_from_db()
    assert stalled_delivery.status == "pending"
    assert stalled_delivery.next_attempt_at > timezone.now() - timedelta(minutes=1)
    assert queued.count() == before + 1
    assert fresh_timers.run_timers()["outbound"] == 0  # queued now: not kicked twice


def test_timers_prune_old_inbound_nonces_at_most_hourly(make_channel, fresh_timers, monkeypatch):
    from kefu.channels.models import InboundNonce

    channel = make_channel("im")
    old = timezone.now() - timedelta(hours=1)
    InboundNonce.objects.create(channel=channel, nonce="old-1")
    InboundNonce.objects.create(channel=channel, nonce="fresh")
    InboundNonce.objects.filter(nonce="old-1").update(received_at=old)

    assert fresh_timers.run_timers()["inbound_nonces"] == 1
    assert list(InboundNonce.objects.values_list("nonce", flat=True)) == ["fresh"]

    InboundNonce.objects.create(channel=channel, nonce="old-2")
    InboundNonce.objects.filter(nonce="old-2").update(received_at=old)
    assert fresh_timers.run_timers()["inbound_nonces"] == 0  # pruned a moment ago
    clock = fresh_timers.time.monotonic() + fresh_timers.PRUNE_NONCES_EVERY + 1
    monkeypatch.setattr(fresh_timers.time, "monotonic", lambda: clock)
    assert fresh_timers.run_timers()["inbound_nonces"] == 1


def test_timers_route_a_conversation_whose_routing_failed_after_the_commit(
    make_team, make_user, make_channel, fresh_timers, monkeypatch
):
    from kefu.accounts.models import AgentStatus
    from kefu.conversations.services import do_receive_customer_message

    team = make_team("售前", is_general=True)
    agent = make_user(teams=(team,), status=AgentStatus.ONLINE)
    channel = make_channel("web", team=team)
    real = assignment.do_try_assign

    def broken(conversation_id):
        raise RuntimeError("routing is down")

    monkeypatch.setattr(assignment, "do_try_assign", broken)
    message, _ = do_receive_customer_message(channel=channel, identities=[("web", "v-lost")], text="在吗")
    monkeypatch.setattr(assignment, "do_try_assign", real)
    conversation = Conversation.objects.get(pk=message.conversation_id)
    assert conversation.assignee is None
    assert fresh_timers.run_timers()["unrouted"] == 0  # still within the grace period

    Conversation.objects.filter(pk=conversation.pk).update(created_at=timezone.now() - timedelta(minutes=1))
    assert fresh_timers.run_timers()["unrouted"] == 1
    conversation.refresh_from_db()
    assert conversation.assignee == agent
    assert fresh_timers.run_timers()["unrouted"] == 0


@pytest.fixture
def waiting_for_room(make_team: Any, make_user: Any, make_channel: Any) -> Any:
    """An agent at their limit, a customer waiting, then the limit raised behind kefu's back."""
    from types import SimpleNamespace

    from kefu.accounts.models import AgentStatus, User
    from kefu.conversations.services import do_receive_customer_message

    team = make_team("售前", is_general=True)
    agent = make_user(teams=(team,), status=AgentStatus.ONLINE, max_concurrent=1)
    channel = make_channel("web", team=team)
    ids = [
        do_receive_customer_message(channel=channel, identities=[("web", f"q-{i}")], text="在吗")[
            0
        ].conversation_id
        for i in range(3)
    ]
    serving, first, second = Conversation.objects.filter(pk__in=ids).order_by("id")
    assert (serving.assignee_id, first.assignee_id, second.assignee_id) == (agent.pk, None, None)
    User.objects.filter(pk=agent.pk).update(max_concurrent=2)  # e.g. edited in the database
    return SimpleNamespace(agent=agent, first=first, second=second)


def _told(conversation: Conversation) -> list[int]:
    return [
        m.meta["queue_position"]
        for m in conversation.messages.filter(kind=Message.Kind.AUTO).order_by("id")
        if "queue_position" in m.meta
    ]


def test_timers_offer_a_waiting_customer_to_an_agent_with_room(waiting_for_room, fresh_timers):
    assert fresh_timers.run_timers()["queues"] == 1

    first, second = waiting_for_room.first, waiting_for_room.second
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.assignee, second.assignee) == (waiting_for_room.agent, None)
    assert _told(second) == [2, 1]
    assert fresh_timers.run_timers()["queues"] == 0  # nothing more to offer, nothing told again
    assert _told(second) == [2, 1]


def test_worker_once_offers_a_waiting_customer_to_an_agent_with_room(tmp_path, waiting_for_room):
    with worker_database(tmp_path) as env:
        run_worker(env)

    first, second = waiting_for_room.first, waiting_for_room.second
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.assignee, second.assignee) == (waiting_for_room.agent, None)
    assert Message.objects.filter(conversation=first, meta__assignee=waiting_for_room.agent.pk).count() == 1


def test_timers_take_an_agent_whose_desk_is_gone_offline_first(make_team, make_user, fresh_timers):
    from kefu.accounts.models import AgentStatus, User

    team = make_team("售后服务")
    gone = make_user("xiaoli", teams=(team,), status=AgentStatus.ONLINE)
    here = make_user("xiaomei", teams=(team,), status=AgentStatus.ONLINE)
    User.objects.filter(pk=gone.pk).update(last_seen_at=timezone.now() - timedelta(hours=1))
    counts = fresh_timers.run_timers()
    assert counts["presence"] == 1
    assert counts["offline_conversations"] == 0  # the default rule keeps her conversations
    assert User.objects.get(pk=gone.pk).status == AgentStatus.OFFLINE
    assert User.objects.get(pk=here.pk).status == AgentStatus.ONLINE
