"""Rollups: the per-row parts of the figures, computed once by the worker instead of at every read.

What a live computation pays per row — business-hours first response (a calendar walk in
Python), transfer / reopening / emotion checks (subqueries over the messages and alerts)
and the response time of every customer turn (a window over all messages) — is stored here
per conversation (``ConversationRollup``) and per turn-ending reply (``ReplyRollup``).
Everything else a figure needs (status, resolution, CSAT, assignee, team …) stays a plain
column read live, so a CSAT answered days later needs no rollup at all.

The worker reads the messages and emotion alerts in id order past two marks
(``RollupState``) and recomputes every conversation they touched, with the same definitions
``kefu.analytics.metrics`` uses live (``transferred_live``, ``reopened_live``,
``was_upset_live``, ``turn_waits``, the business calendars). A reopening, a transfer, a late
reply or a CSAT line is a new message, so it is a late-arriving change that recomputes its
conversation. Until then the metrics treat the conversation as the open tail and compute it
live (``metrics._rolled``): the figures are the same whether the worker is behind or not.

Each batch is one transaction that moves the marks with the rows: a worker that dies
mid-batch leaves the previous marks, and the next run redoes the batch (recomputing a
conversation is idempotent). Only rows older than ``SETTLE`` are read, so a message whose
transaction commits late (with an id below a newer, committed one) is not skipped.

Presence (``PresenceRollup``): per agent and local day, the stretches spent online or busy and
their seconds, walked from the status history with the live definition (``metrics._spans``, cut
at midnight by ``metrics.by_day``). Only whole days after the agent's first status change that
ended ``SETTLE`` ago are rolled up. A status change past ``status_mark`` (one inserted late for
an earlier day included) makes the metrics walk that agent's days from its ``at`` on live until
the worker has read it, deleted those days and rolled them up again. Occupancy overlaps the
stretches with the conversations the agent handled, read live (an assignment is a plain update,
which no mark sees). Not protected by ``SETTLE``: a status change whose transaction commits after
one with a higher id was read (changes are written at "now", so this needs two changes of the same
moment); ``kefu rollups rebuild`` recomputes everything.

Not seen by the marks: an edit of the business hours or of team membership (first response
counts the time the desk served the customer, docs/metrics.md), which changes the first-response
time of conversations already rolled up — ``kefu rollups rebuild`` recomputes everything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import transaction
from django.db.models import BooleanField, Count, ExpressionWrapper, F, Max, Min
from django.tasks import task
from django.utils import timezone

from kefu.accounts.models import StatusChange
from kefu.analytics.metrics import (
    _Calendars,
    _spans,
    by_day,
    day_start,
    frt_values,
    reopened_live,
    seconds,
    transferred_live,
    turn_waits,
    was_upset_live,
)
from kefu.analytics.models import ConversationRollup, PresenceRollup, ReplyRollup, RollupState
from kefu.conversations.models import Conversation, Message
from kefu.understanding.models import EmotionAlert

# Rows younger than this are left for the next run: their transaction may not have committed
# yet while a later id already has.
SETTLE = timedelta(minutes=2)
# Messages read per batch (one transaction); about a tenth as many conversations.
BATCH = 20_000
MICROSECOND = timedelta(microseconds=1)


@dataclass
class Progress:
    conversations: int = 0
    replies: int = 0
    batches: int = 0
    presence_days: int = 0
    done: bool = True  # False when it stopped at ``max_batches`` with more to read


def _state() -> RollupState:
    state = RollupState.objects.select_for_update().order_by("pk").first()
    return state or RollupState.objects.create()


def do_refresh_rollups(
    now: datetime | None = None, *, max_batches: int | None = None, batch: int = BATCH
) -> Progress:
    """Read what was written since the marks and recompute the conversations it touched."""
    now = now or timezone.now()
    settled = now - SETTLE
    progress = Progress()
    progress.presence_days = do_refresh_presence(now)
    while max_batches is None or progress.batches < max_batches:
        with transaction.atomic():
            state = _state()
            ids = list(
                Message.objects.filter(id__gt=state.message_mark, created_at__lt=settled)
                .order_by("id")
                .values_list("id", "conversation_id")[:batch]
            )
            alerts = list(
                EmotionAlert.objects.filter(id__gt=state.alert_mark, created_at__lt=settled)
                .order_by("id")
                .values_list("id", "conversation_id")[:batch]
            )
            if not ids and not alerts:
                return progress
            touched = {c for _, c in ids} | {c for _, c in alerts}
            n_replies = _recompute(sorted(touched))
            if ids:
                state.message_mark = ids[-1][0]
            if alerts:
                state.alert_mark = alerts[-1][0]
            state.save()
        progress.batches += 1
        progress.conversations += len(touched)
        progress.replies += n_replies
    progress.done = False
    return progress


def _recompute(conversation_ids: list[int]) -> int:
    """Replace the rollups of these conversations (the caller holds the transaction)."""
    answered = Conversation.objects.filter(pk__in=conversation_ids, first_response_at__isnull=False)
    first_response = dict(frt_values(answered.annotate(k=F("pk")), timezone.now(), math.inf, _Calendars()))
    rows = (
        Conversation.objects.filter(pk__in=conversation_ids)
        .annotate(
            t=ExpressionWrapper(transferred_live(), output_field=BooleanField()),
            r=ExpressionWrapper(reopened_live(), output_field=BooleanField()),
            u=ExpressionWrapper(was_upset_live(), output_field=BooleanField()),
        )
        .values_list("pk", "t", "r", "u")
    )
    rollups = []
    for pk, t, r, u in rows:
        rollups.append(
            ConversationRollup(
                conversation_id=pk,
                first_response_open_seconds=first_response.get(pk),
                transferred=bool(t),
                reopened=bool(r),
                upset=bool(u),
            )
        )
    replies = [
        ReplyRollup(message_id=pk, conversation_id=conversation_id, seconds=seconds)
        for pk, conversation_id, seconds in turn_waits(conversation_ids)
    ]
    ConversationRollup.objects.filter(conversation_id__in=conversation_ids).delete()
    ReplyRollup.objects.filter(conversation_id__in=conversation_ids).delete()
    ConversationRollup.objects.bulk_create(rollups, batch_size=2000)
    ReplyRollup.objects.bulk_create(replies, batch_size=5000)
    return len(replies)


def do_rebuild_rollups(*, batch: int = BATCH) -> Progress:
    """Forget every rollup and read everything again (after an edit of the business hours)."""
    with transaction.atomic():
        state = _state()
        ConversationRollup.objects.all().delete()
        ReplyRollup.objects.all().delete()
        PresenceRollup.objects.all().delete()
        state.message_mark = state.alert_mark = state.status_mark = 0
        state.save()
    return do_refresh_rollups(batch=batch)


def rollup_status() -> dict[str, object]:
    """How far the rollups have read and how much is left (for ``kefu rollups status``)."""
    state = RollupState.objects.order_by("pk").first()
    message_mark = state.message_mark if state else 0
    alert_mark = state.alert_mark if state else 0
    return {
        "message_mark": message_mark,
        "alert_mark": alert_mark,
        "messages_behind": Message.objects.filter(id__gt=message_mark).count(),
        "alerts_behind": EmotionAlert.objects.filter(id__gt=alert_mark).count(),
        "conversations": ConversationRollup.objects.count(),
        "replies": ReplyRollup.objects.count(),
        "status_mark": state.status_mark if state else 0,
        "status_changes_behind": StatusChange.objects.filter(
            id__gt=state.status_mark if state else 0
        ).count(),
        "presence_days": PresenceRollup.objects.count(),
        "last_message": Message.objects.aggregate(n=Max("id"))["n"] or 0,
        "updated_at": state.updated_at if state else None,
    }


def do_refresh_presence(now: datetime | None = None) -> int:
    """Forget the presence days the status changes read since the mark touched, then roll up every
    whole settled day not rolled up yet; returns the days rolled up."""
    now = now or timezone.now()
    with transaction.atomic():
        state = _state()
        touched = list(
            StatusChange.objects.filter(id__gt=state.status_mark)
            .values("user_id")
            .annotate(first=Min("at"), top=Max("id"))
            .values_list("user_id", "first", "top")
        )
        for uid, first, _top in touched:
            PresenceRollup.objects.filter(user_id=uid, day__gte=timezone.localtime(first).date()).delete()
        if touched:
            state.status_mark = max(top for _, _, top in touched)
            state.save()
    last = timezone.localtime(now - SETTLE).date()  # the first day not over yet
    held = {
        uid: (lo, hi, n)
        for uid, lo, hi, n in PresenceRollup.objects.values("user_id")
        .annotate(lo=Min("day"), hi=Max("day"), n=Count("pk"))
        .values_list("user_id", "lo", "hi", "n")
    }
    days = 0
    for uid, first in (
        StatusChange.objects.values("user_id").annotate(first=Min("at")).values_list("user_id", "first")
    ):
        start = timezone.localtime(first).date() + timedelta(days=1)
        lo, hi, n = held.get(uid, (None, None, 0))
        if lo == start and hi is not None and n == (hi - lo).days + 1:
            start = hi + timedelta(days=1)  # the usual case: every day up to ``hi`` rolled up
            have: set[date] = set()
        else:
            have = set(
                PresenceRollup.objects.filter(user_id=uid, day__gte=start, day__lt=last).values_list(
                    "day", flat=True
                )
            )
        d = start
        while d < last:
            if d in have:
                d += timedelta(days=1)
                continue
            stop = d
            while stop < last and stop not in have:
                stop += timedelta(days=1)
            days += _roll(uid, d, stop)
            d = stop
    return days


def _roll(uid: int, first: date, stop: date) -> int:
    """Roll up the days ``[first, stop)`` of one agent (one walk of her status history)."""
    start, end = day_start(first), day_start(stop)
    rows = []
    for d, spans in by_day(_spans([uid], start, end).get(uid, []), start, end):
        d0 = day_start(d)
        rows.append(
            PresenceRollup(
                user_id=uid,
                day=d,
                online_seconds=seconds(spans),
                spans=[[(s - d0) // MICROSECOND, (e - d0) // MICROSECOND] for s, e in spans],
            )
        )
    with transaction.atomic():
        PresenceRollup.objects.filter(user_id=uid, day__gte=first, day__lt=stop).delete()
        PresenceRollup.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


@task()
def rebuild_rollups() -> int:
    """Background rebuild (``kefu rollups rebuild --background``); returns conversations recomputed."""
    return do_rebuild_rollups().conversations
