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
live (``metrics._rollup_valid``): the figures are the same whether the worker is behind or not.

Each batch is one transaction that moves the marks with the rows: a worker that dies
mid-batch leaves the previous marks, and the next run redoes the batch (recomputing a
conversation is idempotent). Only rows older than ``SETTLE`` are read, so a message whose
transaction commits late (with an id below a newer, committed one) is not skipped.

FCR's repeat contact (another conversation of the customer within the window after the
resolution) is decided once that window has passed (``_decide_repeats``): for the conversations a
batch touched and every conversation of their customers, in the batch's transaction, and at most
once a minute for those whose window passed since and those of customers edited since (a merge
edits both profiles). The metrics read a decision only while nothing it depends on has changed
(``metrics._repeat_decided``), else compute it live.

Not seen by the marks: an edit of the business hours or of team membership (first response
counts the time the desk served the customer, docs/metrics.md), which changes the first-response
time of conversations already rolled up — ``kefu rollups rebuild`` recomputes everything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import BooleanField, Case, ExpressionWrapper, F, Max, Value, When
from django.tasks import task
from django.utils import timezone

from kefu.analytics.metrics import (
    FCR_WINDOW,
    _Calendars,
    came_back_live,
    frt_values,
    reopened_live,
    transferred_live,
    turn_waits,
    was_upset_live,
)
from kefu.analytics.models import ConversationRollup, ReplyRollup, RollupState
from kefu.conversations.models import Conversation, Message
from kefu.customers.models import Customer
from kefu.understanding.models import EmotionAlert

# Rows younger than this are left for the next run: their transaction may not have committed
# yet while a later id already has.
SETTLE = timedelta(minutes=2)
# Messages read per batch (one transaction); about a tenth as many conversations.
BATCH = 20_000
# Repeat contacts whose window passed, and customers edited, are looked for at most this often
# (each look scans the conversations resolved in that time and the customers edited): until
# then they are computed live, as before.
REPEAT_EVERY = timedelta(minutes=1)


@dataclass
class Progress:
    conversations: int = 0
    replies: int = 0
    batches: int = 0
    repeats: int = 0  # repeat contacts decided because their window passed or their customer was edited
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
                break
            touched = {c for _, c in ids} | {c for _, c in alerts}
            n_replies = _recompute(sorted(touched), settled)
            if ids:
                state.message_mark = ids[-1][0]
            if alerts:
                state.alert_mark = alerts[-1][0]
            state.save()
        progress.batches += 1
        progress.conversations += len(touched)
        progress.replies += n_replies
    else:
        progress.done = False
    progress.repeats = _decide_due_repeats(settled)
    return progress


def _recompute(conversation_ids: list[int], settled: datetime) -> int:
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
        .values_list("pk", "t", "r", "u", "customer_id", "customer__merged_into_id")
    )
    rollups = []
    # Their customers, and the profiles they were merged into (for the repeat contacts below).
    customer_ids: set[int] = set()
    for pk, t, r, u, customer_id, merged_into_id in rows:
        customer_ids.update(c for c in (customer_id, merged_into_id) if c is not None)
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
        ReplyRollup(
            message_id=pk,
            conversation_id=conversation_id,
            seconds=seconds,
            created_at=at,
            sender_id=sender_id,
        )
        for pk, conversation_id, seconds, at, sender_id in turn_waits(conversation_ids)
    ]
    ConversationRollup.objects.filter(conversation_id__in=conversation_ids).delete()
    ReplyRollup.objects.filter(conversation_id__in=conversation_ids).delete()
    ConversationRollup.objects.bulk_create(rollups, batch_size=2000)
    ReplyRollup.objects.bulk_create(replies, batch_size=5000)
    # Their repeat contacts, and those of every conversation of the same customers (or of the
    # profiles they were merged into): a change here (a notice answered, a conversation that
    # committed late) can change whether an earlier one was followed by another contact.
    related = Conversation.objects.filter(customer_id__in=customer_ids).order_by()
    _decide_repeats(sorted({*conversation_ids, *related.values_list("pk", flat=True)}), settled)
    return len(replies)


def _decide_repeats(conversation_ids: list[int], settled: datetime) -> int:
    """Decide the repeat contact of these conversations' rollups (the caller holds the transaction):
    true or false once the FCR window after the resolution has passed, None (live) until then."""
    decided = 0
    for i in range(0, len(conversation_ids), 5000):
        rows = (
            Conversation.objects.filter(pk__in=conversation_ids[i : i + 5000], rollup__isnull=False)
            # Final once the window after the resolution has passed: only those are looked up.
            .annotate(
                b=Case(
                    When(
                        resolved_at__lt=settled - FCR_WINDOW,
                        then=ExpressionWrapper(came_back_live(), output_field=BooleanField()),
                    ),
                    default=Value(None),
                    output_field=BooleanField(),
                )
            )
            .values_list("pk", "b")
        )
        by_value: dict[bool | None, list[int]] = {True: [], False: [], None: []}
        for pk, came_back in rows:
            by_value[None if came_back is None else bool(came_back)].append(pk)
        for value, pks in by_value.items():
            if pks:
                ConversationRollup.objects.filter(conversation_id__in=pks).update(
                    repeat_contact=value, repeat_decided_at=settled if value is not None else None
                )
        decided += len(by_value[True]) + len(by_value[False])
    return decided


def _decide_due_repeats(settled: datetime) -> int:
    """Decide the repeat contacts whose FCR window has passed since the last run, and again those
    of customers edited since (a merge edits both profiles and moves the conversations)."""
    with transaction.atomic():
        state = _state()
        if state.repeat_mark is not None and settled - state.repeat_mark < REPEAT_EVERY:
            return 0
        due = Conversation.objects.filter(
            rollup__isnull=False, resolved_at__lt=settled - FCR_WINDOW
        ).order_by()
        if state.repeat_mark is not None:
            due = due.filter(resolved_at__gte=state.repeat_mark - FCR_WINDOW)
        ids = set(due.values_list("pk", flat=True))
        if state.customer_mark is not None:  # None: every one due above is decided anew anyway
            edited = Customer.objects.filter(updated_at__gte=state.customer_mark, updated_at__lt=settled)
            ids.update(
                Conversation.objects.filter(customer_id__in=edited.values("pk"))
                .order_by()
                .values_list("pk", flat=True)
            )
        decided = _decide_repeats(sorted(ids), settled)
        state.repeat_mark = state.customer_mark = settled
        state.save()
    return decided


def do_rebuild_rollups(*, batch: int = BATCH) -> Progress:
    """Forget every rollup and read everything again (after an edit of the business hours)."""
    with transaction.atomic():
        state = _state()
        ConversationRollup.objects.all().delete()
        ReplyRollup.objects.all().delete()
        state.message_mark = state.alert_mark = 0
        state.repeat_mark = state.customer_mark = None
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
        "last_message": Message.objects.aggregate(n=Max("id"))["n"] or 0,
        "updated_at": state.updated_at if state else None,
    }


@task()
def rebuild_rollups() -> int:
    """Background rebuild (``kefu rollups rebuild --background``); returns conversations recomputed."""
    return do_rebuild_rollups().conversations
