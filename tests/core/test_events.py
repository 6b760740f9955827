"""The one event path (kefu.core.events): who hears an event, and not before the commit.

Events go through the real channel layer (in memory here; Redis on the PostgreSQL run);
a listener joins groups on a channel of its own and reads what reached it.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Callable, Collection, Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from kefu.accounts.models import Team
from kefu.core import events
from kefu.core.events import notify_access_changed, publish, register_outbox, send_ephemeral

pytestmark = pytest.mark.django_db

# Far from the ids the other tests' rows get; the layer on Redis is shared with them.
_ARRIVAL = 10.0  # seconds an expected frame may take to arrive
_ids = itertools.count(900_000 + uuid.uuid4().int % 50_000 * 100)


class Listener:
    """A channel of its own in the given groups; ``heard()`` reads what reached it, once.

    Once, because the Redis layer keeps a channel's receive state in the event loop that
    last waited on it, and each ``async_to_sync`` call runs a loop of its own: a test that
    looks before and after the commit uses two listeners.
    """

    def __init__(self, *groups: str) -> None:
        self.layer = get_channel_layer()
        self.groups = groups
        self.read = False
        self.channel = async_to_sync(self.layer.new_channel)()
        for group in groups:
            async_to_sync(self.layer.group_add)(group, self.channel)

    def heard(
        self, event_id: str | None = None, *, expecting: int | Collection[str] = 0
    ) -> list[dict[str, Any]]:
        """Everything that reached this channel (of one event, if ``event_id`` is given).

        ``expecting`` (a number of frames, or the payload ids that must all arrive) is
        waited for up to ``_ARRIVAL`` seconds before the quiet read starts: on a loaded
        machine the Redis layer's first read can take longer than the quiet interval, and
        a frame that is merely late must not read as one that never came.
        """
        assert not self.read, "a listener reads once"
        self.read = True

        def matches(frame: dict[str, Any]) -> bool:
            return event_id is None or frame.get("payload", {}).get("id") == event_id

        def done(received: list[dict[str, Any]]) -> bool:
            if isinstance(expecting, int):
                return sum(map(matches, received)) >= expecting
            seen = {frame.get("payload", {}).get("id") for frame in received}
            return set(expecting) <= seen

        received = async_to_sync(self._drain)(done)
        return [frame for frame in received if matches(frame)]

    async def _drain(
        self, done: Callable[[list[dict[str, Any]]], bool], quiet: float = 0.3
    ) -> list[dict[str, Any]]:
        received: list[dict[str, Any]] = []
        deadline = asyncio.get_running_loop().time() + _ARRIVAL
        while True:
            # Until what is expected has come, wait for it up to the deadline; then (or
            # past the deadline) stop at the first quiet interval.
            left = deadline - asyncio.get_running_loop().time()
            wait = quiet if done(received) else max(left, quiet)
            try:
                received.append(await asyncio.wait_for(self.layer.receive(self.channel), wait))
            except TimeoutError:
                return received

    def leave(self) -> None:
        for group in self.groups:
            async_to_sync(self.layer.group_discard)(group, self.channel)


@pytest.fixture
def listen() -> Iterator[Callable[..., Listener]]:
    """``listen(*groups)``: a fresh channel in those groups, leaving them after the test."""
    made: list[Listener] = []

    def make(*groups: str) -> Listener:
        made.append(Listener(*groups))
        return made[-1]

    yield make
    for listener in made:
        listener.leave()


@pytest.fixture(autouse=True)
def own_outbox(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The registered outbox writers for this test only (the webhooks app's one is set aside)."""
    writers: list[Any] = []
    monkeypatch.setattr(events, "_outbox_writers", writers)
    return writers


@pytest.fixture
def ids() -> Callable[[], int]:
    return lambda: next(_ids)


@pytest.mark.django_db(transaction=True)
def test_publish_sends_nothing_before_the_transaction_commits(listen, ids):
    team = ids()
    before, after = listen(f"desk.team.{team}"), listen(f"desk.team.{team}")
    with transaction.atomic():
        event_id = publish("ticket.created", {"ticket": {"id": 1}}, team_id=team)
        assert before.heard(event_id) == []
    assert [f["type"] for f in after.heard(event_id, expecting=1)] == ["desk.event"]


@pytest.mark.django_db(transaction=True)
def test_publish_sends_nothing_when_the_transaction_rolls_back(listen, ids):
    team = ids()
    desk = listen(events.DESK_ALL, f"desk.team.{team}")
    with transaction.atomic():
        event_id = publish("ticket.created", {"ticket": {"id": 1}}, team_id=team)
        transaction.set_rollback(True)
    assert desk.heard(event_id) == []


def test_desk_events_go_to_all_desks_the_team_and_each_user_once(
    listen, ids, django_capture_on_commit_callbacks
):
    team, other_team, user, colleague, bystander = (ids() for _ in range(5))
    everyone = listen(events.DESK_ALL)
    the_team = listen(f"desk.team.{team}")
    another_team = listen(f"desk.team.{other_team}")
    assignee = listen(f"desk.user.{user}")
    second = listen(f"desk.user.{colleague}")
    nobody = listen(f"desk.user.{bystander}")
    no_user = listen("desk.user.None")
    with django_capture_on_commit_callbacks(execute=True):
        event_id = publish(
            "conversation.assigned",
            {"conversation": {"id": 7}},
            team_id=team,
            user_ids=[user, None, colleague, user],
        )
    for listener in (everyone, the_team, assignee, second):
        [frame] = listener.heard(event_id, expecting=1)
        assert frame["type"] == "desk.event"
        assert frame["payload"]["event"] == "conversation.assigned"
        assert frame["payload"]["data"] == {"conversation": {"id": 7}}
        assert frame["payload"]["at"]
    assert another_team.heard(event_id) == []
    assert nobody.heard(event_id) == []
    assert no_user.heard(event_id) == []


def test_chatter_goes_in_full_to_the_assignee_and_open_desks_and_as_counts_to_the_rest(
    listen, ids, django_capture_on_commit_callbacks
):
    team, user, conversation = ids(), ids(), ids()
    everyone, the_team = listen(events.DESK_ALL), listen(f"desk.team.{team}")
    assignee, open_here = listen(f"desk.user.{user}"), listen(f"desk.conv.{conversation}")
    message = {"id": 3, "direction": "incoming", "text": "我的手机号 13812345678"}
    with django_capture_on_commit_callbacks(execute=True):
        event_id = publish(
            "message.created",
            {"message": message, "conversation": {"id": conversation, "assignee_id": user, "status": "open"}},
            team_id=team,
            user_ids=[user],
            conversation_id=conversation,
            chatter=True,
        )
    for listener in (assignee, open_here):
        [frame] = listener.heard(event_id, expecting=1)
        assert frame["type"] == "desk.event" and frame["payload"]["data"]["message"]["id"] == 3
    for listener in (everyone, the_team):
        [frame] = listener.heard(event_id, expecting=1)
        assert frame == {
            "type": "desk.activity",
            "payload": {
                "id": event_id,
                "event": "message.created",
                "conversation_id": conversation,
                "team_id": team,
                "assignee_id": user,
                "status": "open",
                "incoming": True,
            },
        }


def test_the_customer_hears_the_customer_data_and_not_the_desk_data(
    listen, ids, django_capture_on_commit_callbacks
):
    conversation = ids()
    customer = listen(f"chat.conv.{conversation}")
    with django_capture_on_commit_callbacks(execute=True):
        event_id = publish(
            "message.created",
            {"message": {"id": 3, "text": "您好", "agent_note": "老客户"}},
            conversation_id=conversation,
            customer_data={"message": {"id": 3, "text": "您好"}},
        )
    [frame] = customer.heard(event_id, expecting=1)
    assert frame == {
        "type": "chat.event",
        "payload": {
            "id": event_id,
            "event": "message.created",
            "data": {"message": {"id": 3, "text": "您好"}},
        },
    }


def test_a_private_note_never_reaches_the_customer(listen, ids, django_capture_on_commit_callbacks):
    conversation = ids()
    customer = listen(f"chat.conv.{conversation}")
    everyone = listen(events.DESK_ALL)
    with django_capture_on_commit_callbacks(execute=True):
        event_id = publish(
            "message.created",
            {"message": {"id": 4, "text": "内部：此客户上次恶意退款", "is_private": True}},
            conversation_id=conversation,
        )
    assert [f["type"] for f in everyone.heard(event_id, expecting=1)] == ["desk.event"]
    assert customer.heard(event_id) == []


def test_outbox_writers_get_the_event_type_and_the_envelope_desks_get(
    listen, django_capture_on_commit_callbacks
):
    everyone = listen(events.DESK_ALL)
    calls: list[tuple[str, dict[str, Any]]] = []
    register_outbox(lambda event_type, envelope: calls.append((event_type, envelope)))
    with django_capture_on_commit_callbacks(execute=True):
        event_id = publish("ticket.created", {"ticket": {"id": 1}})
    [(event_type, envelope)] = calls
    assert event_type == "ticket.created"
    assert envelope["id"] == event_id and envelope["data"] == {"ticket": {"id": 1}}
    [frame] = everyone.heard(event_id, expecting=1)
    assert frame["payload"] == envelope


def test_outbox_writers_write_inside_the_publishing_transaction():
    register_outbox(lambda event_type, envelope: Team.objects.create(name=f"outbox-{envelope['id']}"))
    with transaction.atomic():
        kept = publish("ticket.created", {"ticket": {"id": 1}})
    with transaction.atomic():
        dropped = publish("ticket.created", {"ticket": {"id": 2}})
        assert Team.objects.filter(name=f"outbox-{dropped}").exists()
        transaction.set_rollback(True)
    assert Team.objects.filter(name=f"outbox-{kept}").exists()
    assert not Team.objects.filter(name=f"outbox-{dropped}").exists()


def test_outbox_writers_are_skipped_for_events_not_meant_for_webhooks(django_capture_on_commit_callbacks):
    calls: list[str] = []
    register_outbox(lambda event_type, envelope: calls.append(event_type))
    with django_capture_on_commit_callbacks(execute=True):
        publish("conversation.read", {"conversation": {"id": 1}}, webhook=False)
        publish("ticket.created", {"ticket": {"id": 1}})
    assert calls == ["ticket.created"]


def test_registering_an_outbox_writer_twice_calls_it_once(own_outbox, django_capture_on_commit_callbacks):
    calls: list[str] = []

    def writer(event_type: str, envelope: dict[str, Any]) -> None:
        calls.append(event_type)

    register_outbox(writer)
    register_outbox(writer)
    assert own_outbox == [writer]
    with django_capture_on_commit_callbacks(execute=True):
        publish("ticket.created", {"ticket": {"id": 1}})
    assert calls == ["ticket.created"]


def test_ephemeral_signals_are_sent_at_once_even_inside_a_transaction(
    listen, ids, django_capture_on_commit_callbacks
):
    group = f"chat.conv.{ids()}"
    customer = listen(group)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        send_ephemeral([group], "typing.event", {"by": "agent", "name": "小美"})
        assert customer.heard(expecting=1) == [
            {"type": "typing.event", "payload": {"by": "agent", "name": "小美"}}
        ]
    assert callbacks == []


def test_access_changes_are_announced_to_the_user_after_commit(
    listen, ids, django_capture_on_commit_callbacks
):
    user = ids()
    before, after = listen(f"desk.user.{user}"), listen(f"desk.user.{user}")
    with django_capture_on_commit_callbacks(execute=True):
        notify_access_changed(user, ended_session="abc123")
        assert before.heard() == []
    assert after.heard(expecting=1) == [
        {"type": "desk.access", "payload": {"user_id": user, "ended_session": "abc123"}}
    ]


def test_a_failing_channel_layer_is_logged_and_never_fails_the_publisher(
    monkeypatch, caplog, ids, django_capture_on_commit_callbacks
):
    layer = get_channel_layer()

    async def layer_down(group: str, message: dict[str, Any]) -> None:
        raise ConnectionError("redis is away")

    monkeypatch.setattr(layer, "group_send", layer_down)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        publish("ticket.created", {"ticket": {"id": 1}}, team_id=ids())
    assert len(callbacks) == 1
    assert "realtime send to desk.all failed" in caplog.text


def test_events_about_a_conversation_carry_it_and_the_sequencers_number(
    monkeypatch, listen, ids, django_capture_on_commit_callbacks
):
    numbers = iter([41, 42])
    asked: list[int] = []

    def sequencer(conversation_id: int) -> int:
        asked.append(conversation_id)
        return next(numbers)

    monkeypatch.setattr(events, "_sequencers", [])
    events.register_sequencer(sequencer)
    conversation = ids()
    everyone = listen(events.DESK_ALL)
    with django_capture_on_commit_callbacks(execute=True):
        first = publish(
            "conversation.created", {"conversation": {"id": conversation}}, conversation_id=conversation
        )
        second = publish("message.created", {"message": {"id": 1}}, conversation_id=conversation)
        other = publish("ticket.created", {"ticket": {"id": 1}})
    assert asked == [conversation, conversation]  # nothing asked for an event about no conversation
    heard = {
        frame["payload"]["id"]: frame["payload"] for frame in everyone.heard(expecting=(first, second, other))
    }
    a, b, c = heard[first], heard[second], heard[other]
    assert (a["conversation_id"], a["seq"]) == (conversation, 41)
    assert (b["conversation_id"], b["seq"]) == (conversation, 42)
    assert "seq" not in c and "conversation_id" not in c


def test_an_unknown_conversation_gets_no_number(monkeypatch, listen, ids, django_capture_on_commit_callbacks):
    monkeypatch.setattr(events, "_sequencers", [lambda conversation_id: None])
    conversation = ids()
    everyone = listen(events.DESK_ALL)
    with django_capture_on_commit_callbacks(execute=True):
        event_id = publish("message.created", {"message": {"id": 1}}, conversation_id=conversation)
    [frame] = everyone.heard(event_id, expecting=1)
    assert frame["payload"]["conversation_id"] == conversation and "seq" not in frame["payload"]
