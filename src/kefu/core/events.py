"""The one event path: every change that others must see is published here.

``publish`` decides the recipients and sends only after the surrounding transaction
commits, so nothing is announced that was rolled back:

* desk groups — ``desk.all`` (supervisors and above), ``desk.team.<id>`` (agents of the
  conversation's team) and ``desk.user.<id>`` (its assignee); desk clients de-duplicate
  by the event ``id``. Chatter — the many events of an ongoing conversation (its
  messages, notes, activity lines: ``chatter=True``) — goes in full only to the users
  named (the assignee) and to ``desk.conv.<id>``, the desks that have the conversation
  open; ``desk.all`` and the team hear a compact ``desk.activity`` (ids and counts, no
  text), which each desk socket folds into one ``activity`` frame a second. Sending
  every message to every desk of the team made the work grow with the square of the
  floor (docs/performance.md, "Desk fan-out");
* the customer group ``chat.conv.<id>`` — only for events published with
  ``customer_data``, a payload the caller builds from public fields. Private notes never
  carry it;
* outbound webhooks, for the event types integrations subscribe to (written as
  delivery rows inside the transaction, sent by the worker).

Desks get the payload with the phone, ID-card and bank-card numbers in its free text
masked (``core.masking.mask_payload``), whatever the caller built; the outbox gets it
as built and masks it for every webhook endpoint that is not trusted. Callers build
``data`` with the presenters' ``clear=True`` so a trusted integration gets the text as
typed; the customer's own copy (``customer_data``) is theirs and stays as typed.

``core`` imports no other kefu app, so the webhooks app hands its outbox writer to
``register_outbox`` when Django starts (``WebhooksConfig.ready``); ``publish`` calls
every registered writer inside the caller's transaction.

Events about one conversation are numbered (``seq``) by the sequencer the
conversations app registers (``register_sequencer``): the number is taken under the
conversation's row lock, which is held until the commit, so two transactions about
one conversation get their numbers in the order they commit. A client that is
handed events out of order (two server processes, a reconnect) puts them back by
``seq`` and knows an older state from a newer one.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.utils import timezone

from kefu.core import deskcache, realtime
from kefu.core.masking import mask_payload

log = logging.getLogger(__name__)

DESK_ALL = "desk.all"

# Writers of durable copies of an event (the webhook outbox), called with
# ``(event_type, envelope)`` inside the publishing transaction.
OutboxWriter = Callable[[str, dict[str, Any]], object]
_outbox_writers: list[OutboxWriter] = []
# Gives the next number of an event about a conversation (None when there is no such
# conversation), called with its id inside the publishing transaction.
Sequencer = Callable[[int], int | None]
_sequencers: list[Sequencer] = []


def register_outbox(writer: OutboxWriter) -> None:
    """Have ``publish`` call ``writer`` for every event that may reach integrations (idempotent)."""
    if writer not in _outbox_writers:
        _outbox_writers.append(writer)


def register_sequencer(sequencer: Sequencer) -> None:
    """Have ``publish`` number the events about a conversation with ``sequencer`` (the last one registered wins)."""
    _sequencers[:] = [sequencer]


def desk_team_group(team_id: int) -> str:
    return f"desk.team.{team_id}"


def desk_user_group(user_id: int) -> str:
    return f"desk.user.{user_id}"


def desk_groups(user_id: int, team_ids: Iterable[int], *, sees_all: bool) -> list[str]:
    """The desk groups a user's sockets join: her own, her teams', and ``desk.all`` if she sees all."""
    groups = [desk_user_group(user_id), *(desk_team_group(t) for t in team_ids)]
    if sees_all:
        groups.append(DESK_ALL)
    return groups


_CONVERSATION_GROUP = "desk.conv."


def desk_conversation_group(conversation_id: int) -> str:
    """The desks that have the conversation open (joined on ``resume``, left on ``unwatch``)."""
    return f"{_CONVERSATION_GROUP}{conversation_id}"


def is_conversation_group(group: str) -> bool:
    """Whether ``group`` is a ``desk_conversation_group`` (joined by opening a conversation,
    not given by a user's role and teams)."""
    return group.startswith(_CONVERSATION_GROUP)


def chat_conversation_group(conversation_id: int) -> str:
    return f"chat.conv.{conversation_id}"


async def _send_all(layer: Any, sends: list[tuple[list[str], dict[str, Any]]]) -> None:
    for groups, message in sends:
        for group in groups:
            for attempt in (1, 2):
                try:
                    await layer.group_send(group, message)
                    break
                except realtime.LAYER_ERRORS as exc:
                    # Once more: a pooled connection that outlived a Redis restart fails
                    # once and is replaced. Twice: Redis is away; the sockets resume when
                    # it is back, so the rest of this event is not tried.
                    if attempt == 2:
                        log.warning("realtime send to %s failed: %r", group, exc)
                        realtime.report(exc)
                        return
                except Exception:  # a realtime hiccup must never undo a stored change
                    log.exception("realtime send to %s failed", group)
                    break


def _send_many(sends: list[tuple[list[str], dict[str, Any]]]) -> None:
    """Every ``(groups, message)`` in order, in one hop onto the event loop (each hop costs a thread switch)."""
    layer = get_channel_layer()
    if layer is None or not sends:
        return
    if not realtime.should_send():
        # Redis is down: sending would wait for a connect timeout per group, and the
        # sockets, told of the outage, resume from their last ids when it is back.
        return
    try:
        async_to_sync(_send_all)(layer, sends)
    except Exception:  # no event loop to hop to, or the hop itself failed
        log.exception("realtime send failed")


def _send(groups: Iterable[str], message: dict[str, Any]) -> None:
    _send_many([(list(groups), message)])


def publish(
    event_type: str,
    data: dict[str, Any],
    *,
    team_id: int | None = None,
    team_ids: Iterable[int] = (),
    user_ids: Iterable[int | None] = (),
    conversation_id: int | None = None,
    customer_data: dict[str, Any] | None = None,
    webhook: bool = True,
    chatter: bool = False,
) -> str:
    """Announce ``event_type`` after commit; returns the event id.

    ``customer_data``, when given, is what the customer's chat sockets receive
    (public fields only); ``data`` goes to desks and webhooks. An event about a
    conversation (``conversation_id``) carries it and its number, ``seq``.
    ``chatter`` (with ``conversation_id``): the team and ``desk.all`` get the compact
    ``desk.activity`` instead of the event; the users and the conversation's open
    desks get it in full.
    """
    event_id = uuid.uuid4().hex
    envelope: dict[str, Any] = {
        "id": event_id,
        "event": event_type,
        "at": timezone.now().isoformat(),
        "data": data,
    }
    if conversation_id is not None:
        envelope["conversation_id"] = conversation_id
        for sequencer in _sequencers:
            seq = sequencer(conversation_id)
            if seq is not None:
                envelope["seq"] = seq
    # An event about an agent (her status) concerns every team she works in (``team_ids``).
    wide = [DESK_ALL] + [
        desk_team_group(t) for t in sorted({*team_ids, *([team_id] if team_id is not None else [])})
    ]
    named = [desk_user_group(uid) for uid in sorted({u for u in user_ids if u is not None})]
    sends: list[tuple[list[str], dict[str, Any]]]
    desk_envelope = {**envelope, "data": mask_payload(data)}
    full = {"type": "desk.event", "payload": desk_envelope}
    if chatter and conversation_id is not None:
        sends = [
            (named + [desk_conversation_group(conversation_id)], full),
            (wide, {"type": "desk.activity", "payload": _activity(envelope, data, team_id)}),
        ]
    else:
        sends = [(wide + named, full)]
    if customer_data is not None and conversation_id is not None:
        sends.append(
            (
                [chat_conversation_group(conversation_id)],
                {
                    "type": "chat.event",
                    "payload": {"id": event_id, "event": event_type, "data": customer_data},
                },
            )
        )

    # The groups that hear the event in full may see their members' navigation counts
    # change (core.deskcache): their generations rise before the event leaves, so a desk
    # that asks again on hearing it gets fresh counts. desk.conv.* holds no counts.
    changed = [
        g
        for groups, message in sends
        if message["type"] == "desk.event"
        for g in groups
        if not is_conversation_group(g)
    ]

    def _deliver() -> None:
        deskcache.mark_changed(changed)
        _send_many(sends)

    transaction.on_commit(_deliver)
    if webhook:
        # Webhook deliveries are rows written in the caller's transaction (an
        # outbox): they exist exactly when the change does, and the worker sends
        # them even if this process dies right after the commit.
        for writer in _outbox_writers:
            writer(event_type, envelope)
    return event_id


def _activity(envelope: dict[str, Any], data: dict[str, Any], team_id: int | None) -> dict[str, Any]:
    """The compact form of a chatter event: which conversation moved, never what was said."""
    message = data.get("message")
    conversation = data.get("conversation")
    if not isinstance(message, dict):
        message = {}
    if not isinstance(conversation, dict):
        conversation = {}
    return {
        "id": envelope["id"],
        "event": envelope["event"],
        "conversation_id": envelope["conversation_id"],
        "team_id": team_id,
        "assignee_id": conversation.get("assignee_id"),
        "status": conversation.get("status"),
        "incoming": message.get("direction") == "incoming",
    }


def notify_access_changed(user_id: int, *, ended_session: str | None = None) -> None:
    """Tell the user's open desk sockets to re-check their session, role and teams.

    Sent after commit (at once outside a transaction) to ``desk.user.<id>``: a socket
    whose session ended (``ended_session``, the key being logged out) closes with
    4401, and one whose teams or role changed joins and leaves groups to match, so a
    moved agent stops seeing the old team's events.
    """
    payload = {"user_id": user_id, "ended_session": ended_session}

    def _deliver() -> None:
        # What the user's navigation counts cover changed with her teams or role.
        deskcache.mark_changed([desk_user_group(user_id)])
        _send([desk_user_group(user_id)], {"type": "desk.access", "payload": payload})

    transaction.on_commit(_deliver)


def send_ephemeral(groups: Iterable[str], kind: str, payload: dict[str, Any]) -> None:
    """Typing indicators and other signals that are never stored nor sent to webhooks."""
    _send(groups, {"type": kind, "payload": payload})


async def send_ephemeral_now(groups: Iterable[str], kind: str, payload: dict[str, Any]) -> None:
    """``send_ephemeral`` from a socket's own coroutine: onto the layer at once, with no hop
    through the thread that does every socket's database work."""
    layer = get_channel_layer()
    if layer is None or not realtime.should_send():
        return
    await _send_all(layer, [(list(groups), {"type": kind, "payload": payload})])
