"""Routing, ground floor: which team, which agent, and what the waiting customer hears.

Assignment is settled by the database so two server processes never give one
conversation to two agents, nor an agent more chats than their limit:

* the conversation is claimed with a conditional UPDATE (``assignee IS NULL``), and
* only agents online now are candidates (``accounts.presence.online_agents``: status
  online and the desk seen within the grace), checked again under the lock, and
* the agent's row is locked (``SELECT … FOR NO KEY UPDATE`` on PostgreSQL; SQLite
  takes its single write lock at BEGIN IMMEDIATE) while their load is counted.

Why NO KEY UPDATE and not FOR UPDATE: an agent replying to an unassigned conversation
locks that conversation and then writes rows pointing at the agent (message sender,
assignee), whose foreign-key checks take FOR KEY SHARE on the agent's row. A plain
FOR UPDATE blocks those checks, so routing (agent, then conversation) and the reply
(conversation, then agent) deadlocked. NO KEY UPDATE still serialises assignments to
one agent but lets foreign-key checks through.

Queueing a new conversation (``do_queue_conversation``) holds that conversation's row
while it assigns, so it is queued and offered in one transaction. That is the reply's
order (conversation, then agent) and safe for the same reason; the drains, which take
the agent first, only ever pick conversations that are queued already.

A queue is drained (offered, in order, to agents with room) whenever an agent may have
gained room — they come online, a conversation of theirs ends, is snoozed or is
transferred away, their limit is raised, they join a team — once that change has
committed; and every few seconds by the worker (``do_drain_queues``), which
catches whatever freed room some other way.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import (
    Case,
    Count,
    F,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.expressions import OrderBy
from django.db.models.functions import Coalesce
from django.utils import timezone

from kefu.accounts.models import AgentStatus, Role, Team, User
from kefu.accounts.presence import online_agents, seen_recently
from kefu.bot.models import BotSession
from kefu.channels.models import Channel
from kefu.conversations.models import Conversation, Message
from kefu.conversations.timeline import add_activity, do_send_auto_reply, publish_assigned
from kefu.tickets.models import OPEN_TICKET_STATUSES, Ticket
from kefu.training.certification import routable
from kefu.understanding.reading import do_tell_assignee_of_open_alerts, route_by_intent, route_for_intent

from .availability import (
    LOAD_STATUSES,
    DeskState,
    State,
    closed_reply,
    desk_state_for_conversation,
    queue_reply,
)
from .models import RoutingRule

log = logging.getLogger(__name__)

# A new conversation is routed right after its first message commits; the sweep only
# takes those still unqueued after this long, so it never races the normal path.
UNROUTED_GRACE = timedelta(seconds=30)
# How many of a queue's waiting conversations one drain looks at: more than any team
# has agents with room, so a drain is never cut short in practice.
DRAIN_BATCH = 200


def choose_team(conversation: Conversation, text: str) -> tuple[Team | None, str]:
    """The queue for a new conversation, most explicit first.

    1. keyword rules an admin wrote (e.g. 12315 → 投诉处理);
    2. the intent model, when it is confident (its intent maps to a team and priority);
    3. channel rules without keywords, then the channel's own team;
    4. the general queue — where an unsure intent lands too.
    """
    rules = list(RoutingRule.objects.filter(is_active=True).select_related("team"))
    for rule in rules:
        if rule.keywords and (not rule.channel_id or rule.channel_id == conversation.channel_id):
            if any(k and k in text for k in rule.keywords):
                return rule.team, rule.priority

    # The conversation's first message was classified when it was stored (emotion and
    # intent run before routing): use that rather than classifying the text again.
    if conversation.intent_confidence is not None:
        route = route_for_intent(conversation.intent, conversation.intent_confidence)
    else:
        route = route_by_intent(text)
    if route.team is not None:
        return route.team, route.priority
    for rule in rules:
        if not rule.keywords and rule.channel_id == conversation.channel_id:
            return rule.team, rule.priority or route.priority
    team = conversation.team or Team.objects.filter(is_general=True).first()
    return team, route.priority


def agent_load(user_id: int) -> int:
    return Conversation.objects.filter(assignee_id=user_id, status__in=LOAD_STATUSES).count()


def load_annotation() -> Coalesce:
    """A user's load as an annotation on users: their open and pending conversations, counted
    per user from the partial index ``conversation_load`` (only those rows). Joining each user
    to every conversation ever assigned to them, to count the open ones, read their whole
    history: on a year of a 200-agent team, 150 ms for the wallboard's agents and a team's
    history on every routing decision."""
    open_ones = (
        Conversation.objects.filter(assignee_id=OuterRef("pk"), status__in=LOAD_STATUSES)
        .order_by()
        .values("assignee_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(open_ones, output_field=IntegerField()), 0)


def _candidates(team_id: int | None, *, senior_first: bool = False) -> list[User]:
    qs = (
        routable(online_agents(team_id)).annotate(load=load_annotation()).filter(load__lt=F("max_concurrent"))
    )
    order: list[str | OrderBy] = ["load", F("last_assigned_at").asc(nulls_first=True), "id"]
    if senior_first:
        # Senior agents, specialists and team leads first; others only when none has room,
        # so an angry customer is not left waiting for a senior person.
        qs = qs.annotate(
            senior=Case(
                When(Q(is_senior=True) | Q(role__in=(Role.SPECIALIST, Role.TEAM_LEAD)), then=Value(1)),
                default=Value(0),
                output_field=IntegerField(),
            )
        )
        order.insert(0, "-senior")
    return list(qs.order_by(*order)[:20])


def needs_senior(conversation: Conversation) -> bool:
    """Angry customers, and VIP customers who are dissatisfied, go to senior people."""
    if conversation.emotion_label == "angry":
        return True
    return conversation.customer.vip_level > 0 and conversation.emotion_label == "dissatisfied"


def do_try_assign(conversation_id: int) -> User | None:
    """Give a waiting conversation to the best available agent, atomically."""
    conversation = Conversation.objects.select_related("customer").filter(pk=conversation_id).first()
    if conversation is None or conversation.assignee_id is not None or not conversation.is_active:
        return None
    senior = needs_senior(conversation)
    for agent in _candidates(conversation.team_id, senior_first=senior):
        with transaction.atomic():
            locked = (
                User.objects.select_for_update(no_key=True)
                .filter(seen_recently(), pk=agent.pk, is_active=True, status=AgentStatus.ONLINE)
                .first()
            )
            if locked is None or agent_load(agent.pk) >= locked.max_concurrent:
                continue
            now = timezone.now()
            claimed = Conversation.objects.filter(
                pk=conversation.pk, assignee__isnull=True, status__in=LOAD_STATUSES
            ).update(assignee=locked, queued_at=None, last_queue_position=None)
            if not claimed:
                return None
            User.objects.filter(pk=locked.pk).update(last_assigned_at=now)
            conversation.refresh_from_db()

            add_activity(conversation, f"系统分配给 {locked.name}", meta={"assignee": locked.pk})
            publish_assigned(conversation, actor=None)
            do_tell_assignee_of_open_alerts(conversation)
            return locked
    return None


def do_pick_queue(conversation: Conversation, *, first_text: str) -> None:
    """Set a new conversation's team and priority (``choose_team``), in its first message's transaction.

    Runs before anything about the conversation is published, so its events go to the
    team that will serve it, and before its SLA clock starts, which reads the priority.
    """
    team, priority = choose_team(conversation, first_text)
    updates: dict[str, object] = {}
    if team is not None:
        updates["team"] = team
    if priority:
        updates["priority"] = priority
    if updates:
        Conversation.objects.filter(pk=conversation.pk).update(**updates)
        for key, value in updates.items():
            setattr(conversation, key, value)


def do_queue_after_commit(conversation_id: int) -> None:
    """Once the first message has committed, queue the conversation and offer it to an agent.

    Called after the message's events are published, so every desk hears of the
    message before its assignment or the customer's queue position (both are published
    by the queueing transaction, which runs after those events are sent). Nothing
    after the commit may fail the message, which is stored by then: if queueing fails
    the conversation stays unqueued and ``do_route_unrouted`` (the worker's routing
    sweep) routes it a little later.
    """

    def _queue_after_commit() -> None:
        try:
            do_queue_conversation(conversation_id)
        except Exception:
            log.exception("routing conversation %s failed; the routing sweep will retry", conversation_id)

    transaction.on_commit(_queue_after_commit)


def do_queue_conversation(conversation_id: int) -> bool:
    """Queue an unrouted conversation and offer it to an agent, else tell the customer their place.

    Returns whether it was routed now. One transaction with the conversation row
    locked: it is either queued *and* assigned or answered with its position, or left
    untouched; and a second router (another worker's sweep) waits for the lock, then
    finds it queued and does nothing.
    """
    with transaction.atomic():
        conversation = (
            Conversation.objects.select_for_update()
            .filter(
                pk=conversation_id, assignee__isnull=True, queued_at__isnull=True, status__in=LOAD_STATUSES
            )
            .first()
        )
        if conversation is None:
            return False
        Conversation.objects.filter(pk=conversation_id).update(queued_at=timezone.now())
        if do_try_assign(conversation_id) is None:
            do_notify_queue_position(conversation_id, force=True)
    return True


def unrouted_conversations(now: datetime, *, grace: timedelta = UNROUTED_GRACE) -> QuerySet[Conversation]:
    """Open conversations nobody owns that are in no queue and have been so for ``grace``."""
    # Conversations the bot is answering are routed by the bot when it hands over (kefu.bot).
    return (
        Conversation.objects.filter(
            assignee__isnull=True,
            queued_at__isnull=True,
            status__in=LOAD_STATUSES,
            created_at__lte=now - grace,
        )
        .exclude(bot_session__state=BotSession.State.ACTIVE)
        .order_by("created_at", "id")
    )


def do_route_unrouted(now: datetime | None = None, *, limit: int = 200) -> int:
    """The worker's routing sweep: route what routing after the commit left behind; returns how many.

    Safe to run from several workers at once: ``do_queue_conversation`` locks and
    re-checks each conversation.
    """
    ids = list(unrouted_conversations(now or timezone.now()).values_list("id", flat=True)[:limit])
    routed = 0
    for conversation_id in ids:
        try:
            if do_queue_conversation(conversation_id):
                routed += 1
        except Exception:  # one broken conversation must not hold up the others
            log.exception("routing conversation %s failed again", conversation_id)
    return routed


def do_requeue_if_unowned(conversation: Conversation) -> None:
    if conversation.assignee_id is None:
        Conversation.objects.filter(pk=conversation.pk, queued_at__isnull=True).update(
            queued_at=timezone.now()
        )
        conversation_id = conversation.pk

        def _assign_after_commit() -> None:
            try:
                if do_try_assign(conversation_id) is None:
                    do_tell_if_closed(conversation_id)
            except Exception:  # it is queued: the next drain offers it again
                log.exception("assigning reopened conversation %s failed", conversation_id)

        transaction.on_commit(_assign_after_commit)


def do_tell_if_closed(conversation_id: int) -> None:
    """A reopened conversation nobody took: tell the customer if the desk is closed."""
    with transaction.atomic():
        conversation = (
            Conversation.objects.select_for_update()
            .select_related("channel")
            .filter(pk=conversation_id, assignee__isnull=True)
            .first()
        )
        if conversation is None or not conversation.is_active:
            return
        if has_open_left_message(conversation):
            return
        state = desk_state_for_conversation(conversation)
        if state.state == State.CLOSED:
            do_tell_desk_closed(conversation, state)


def do_return_to_queue(agent_id: int, *, offline_since: datetime, note: str) -> int:
    """Put an offline agent's open conversations back in their team's queue; returns how many.

    For the admin's presence rule "return to the queue after N minutes offline"
    (``accounts.services.do_sweep_presence``). Each conversation is moved in its own
    transaction that locks the agent's row first (the drains' order): if she came back
    online meanwhile (``status_changed_at`` after ``offline_since``), nothing more moves.
    Then her teams' queues are drained, so an online colleague takes them at once.
    """
    count = 0
    teams: set[int | None] = set()
    ids = Conversation.objects.filter(assignee_id=agent_id, status__in=LOAD_STATUSES).values_list(
        "id", flat=True
    )
    for conversation_id in list(ids):
        with transaction.atomic():
            still_offline = (
                User.objects.select_for_update(no_key=True)
                .filter(pk=agent_id, status=AgentStatus.OFFLINE, status_changed_at__lte=offline_since)
                .exists()
            )
            if not still_offline:
                break
            moved = Conversation.objects.filter(
                pk=conversation_id, assignee_id=agent_id, status__in=LOAD_STATUSES
            ).update(assignee=None, queued_at=timezone.now(), last_queue_position=None)
            if not moved:
                continue
            conversation = Conversation.objects.get(pk=conversation_id)
            add_activity(conversation, note, meta={"returned_from": agent_id, "reason": "agent_offline"})
            publish_assigned(conversation, actor=None)
            teams.add(conversation.team_id)
            count += 1
    if count:
        # Conversations without a team wait for the worker's periodic drain.
        do_drain_queues([t for t in teams if t is not None])
    return count


def waiting_queue(team_id: int | None):
    """Waiting conversations of a team in service order.

    Priority first (P1 紧急且重要 before P4 常规: an angry complaint does not wait behind
    a size question), then VIP level, then the longest wait. "P1" … "P4" sort as text.
    """
    qs = Conversation.objects.filter(assignee__isnull=True, status__in=LOAD_STATUSES, queued_at__isnull=False)
    if team_id is not None:
        qs = qs.filter(team_id=team_id)
    return qs.select_related("customer").order_by("priority", "-customer__vip_level", "queued_at", "id")


def queue_position(conversation: Conversation) -> int:
    """1-based position in the team's queue."""
    ids = list(waiting_queue(conversation.team_id).values_list("id", flat=True))
    try:
        return ids.index(conversation.pk) + 1
    except ValueError:
        return 0


def _changed_a_lot(old: int | None, new: int) -> bool:
    """Tell the customer again when the position moved by half or at least 5 places."""
    if old is None:
        return True
    return new < old and (old - new >= 5 or new <= old / 2)


def do_notify_queue_position(conversation_id: int, *, force: bool = False) -> None:
    """Tell a waiting customer where they stand — or, with nobody to serve them, that the desk is closed.

    With agents online: the position and a wait estimated from recent handling times
    (``availability.queue_reply``), told again only when it changed a lot. With the desk
    closed (off hours, or nobody online): no position, no minutes; the customer hears
    when it opens and when a message left now is answered — once (``force``, on
    queueing), and not at all when a message left (留言) already told them.
    """
    with transaction.atomic():
        conversation = (
            Conversation.objects.select_for_update()
            .select_related("channel")
            .filter(pk=conversation_id)
            .first()
        )
        if conversation is None or conversation.assignee_id is not None or not conversation.is_active:
            return
        position = queue_position(conversation)
        if position == 0 or has_open_left_message(conversation):
            return  # a message left (留言) was answered with its own promise
        state = desk_state_for_conversation(conversation)
        if state.state == State.CLOSED:
            if force:
                do_tell_desk_closed(conversation, state)
            return
        if not force and not _changed_a_lot(conversation.last_queue_position, position):
            return
        text, wait = queue_reply(state, position)
        Conversation.objects.filter(pk=conversation.pk).update(last_queue_position=position)
        do_send_auto_reply(
            conversation,
            text,
            meta={"queue_position": position, "expected_wait_seconds": wait, "desk_state": state.state},
        )


def has_open_left_message(conversation: Conversation) -> bool:
    """Whether a message left (留言) on this conversation waits as an open ticket."""
    return Ticket.objects.filter(
        conversations=conversation, source=Ticket.Source.LEFT_MESSAGE, status__in=OPEN_TICKET_STATUSES
    ).exists()


def do_tell_desk_closed(conversation: Conversation, state: DeskState) -> None:
    """The closed-desk reply, unless the customer was just told."""
    last = (
        conversation.messages.filter(direction=Message.Direction.OUTGOING, is_private=False)
        .order_by("-id")
        .first()
    )
    if last is not None and last.kind == Message.Kind.AUTO and last.meta.get("desk_state") == State.CLOSED:
        return
    text = closed_reply(state, can_leave_message=conversation.channel.kind == Channel.Kind.WEB)
    Conversation.objects.filter(pk=conversation.pk).update(last_queue_position=None)
    do_send_auto_reply(
        conversation,
        text,
        meta={
            "desk_state": state.state,
            "desk_reason": state.reason,
            "opens_at": state.opens_at.isoformat() if state.opens_at else None,
            "reply_by": state.reply_by.isoformat(),
        },
    )


def _team_queue(team_id: int | None) -> QuerySet[Conversation]:
    """One team's waiting conversations in service order; ``None`` is those without a team."""
    if team_id is None:
        return waiting_queue(None).filter(team__isnull=True)
    return waiting_queue(team_id)


def do_drain_queue(team_id: int | None) -> int:
    """Assign a team's waiting conversations, in queue order, while agents have room; returns how many.

    Safe beside other drains and routers, in this process or another: each assignment
    locks the agent's row and claims the conversation with a conditional UPDATE
    (``do_try_assign``). A conversation someone else took meanwhile is skipped; the
    first one nobody can take ends the drain, because every conversation of a team has
    the same candidates, so none behind it could be taken either.
    """
    queue = _team_queue(team_id)
    assigned = 0
    for conversation_id in list(queue.values_list("id", flat=True)[:DRAIN_BATCH]):
        if do_try_assign(conversation_id) is not None:
            assigned += 1
        elif queue.filter(pk=conversation_id).exists():
            break
    if assigned:
        for conversation_id in queue.values_list("id", flat=True)[:DRAIN_BATCH]:
            do_notify_queue_position(conversation_id)
    return assigned


def do_drain_queues(team_ids: Iterable[int] | None = None) -> int:
    """Drain every queue someone waits in, or only those of ``team_ids``; returns how many were assigned.

    Also the worker's periodic drain, which catches room that appeared with no drain
    after it (a drain that failed, a row edited outside kefu's services): idempotent,
    safe from several workers at once (see ``do_drain_queue``) and one query when
    nobody waits. Queues are served in the order of their most urgent customer
    (priority, then VIP, then the longest wait), so an agent in two teams takes the
    more urgent customer first. One
    queue failing does not hold up the others.
    """
    waiting = waiting_queue(None)
    if team_ids is not None:
        waiting = waiting.filter(team_id__in=list(team_ids))
    queues = (
        waiting.order_by()
        .values("team_id")
        .annotate(top=Min("priority"), vip=Max("customer__vip_level"), since=Min("queued_at"))
        .order_by("top", "-vip", "since", "team_id")
    )
    assigned = 0
    for team_id in [row["team_id"] for row in queues]:
        try:
            assigned += do_drain_queue(team_id)
        except Exception:  # still queued: the next drain offers them again
            log.exception("draining the queue of team %s failed", team_id)
    return assigned


def do_drain_queues_on_commit(*, agent_id: int | None = None, team_ids: Iterable[int] = ()) -> None:
    """Once the current transaction commits, drain the queues of the agent's teams and of ``team_ids``.

    For every change that may give an agent room (they come online, a conversation of
    theirs ends or is transferred away, their limit is raised, they join a team). The
    change has committed by the time the drain runs, so a failing drain is logged and
    never raised into the request that made it: the worker's periodic drain
    (``do_drain_queues``) offers the same conversations a few seconds later.
    The agent's teams are read after the commit, so a team they just joined counts.
    """
    extra = list(team_ids)

    def _drain() -> None:
        try:
            mine = Team.objects.filter(members=agent_id).values_list("id", flat=True) if agent_id else []
            wanted = list(dict.fromkeys([*mine, *extra]))
            if wanted:
                do_drain_queues(wanted)
        except Exception:
            log.exception(
                "draining queues after a change (agent %s, teams %s) failed; the worker's drain will retry",
                agent_id,
                extra,
            )

    transaction.on_commit(_drain)
