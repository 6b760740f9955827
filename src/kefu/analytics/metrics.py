"""Every figure of the desk, defined once (docs/metrics.md gives each formula and its edge cases).

Reports, the wallboard, the agent's own page, the weekly review, star ratings, exports and
the API read figures only through this module: ``compute``, ``compare``, ``breakdown``,
``heatmap``, ``distribution``, ``behind`` (``behind_ids``), ``arrivals`` and ``targets``. A figure's value is None when there is
nothing to compute it from, never a 0 in disguise.

A metric reads one *source* (conversations, tickets, complaints, compensation, promises,
quality scores, checked replies, agent replies or the status history). Each source knows
how to filter itself by a ``Scope`` and which expression groups it by channel, team, hour …
Most metrics are SQL aggregates (``agg``); durations and percentiles are computed in
Python over one column (``dist``); a few need their own code (``custom``).

This module only reads; it checks no permission (``kefu.analytics.services`` does).
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from operator import itemgetter
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import (
    Avg,
    BigIntegerField,
    BooleanField,
    Case,
    Count,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    FilteredRelation,
    Func,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.functions import (
    Cast,
    Coalesce,
    ExtractHour,
    ExtractIsoWeekDay,
    ExtractMinute,
    Lag,
    TruncDate,
    TruncHour,
)
from django.utils import timezone

from kefu.accounts.models import AgentStatus, StatusChange, Team, User
from kefu.analytics.models import ConversationRollup, MetricTarget, ReplyRollup, RollupState
from kefu.bot.models import BotSession, HandoverReason
from kefu.channels.models import Channel
from kefu.complaints.models import CompensationRequest, Complaint, Promise
from kefu.conversations.models import Conversation, Message
from kefu.hours.calendar import BusinessCalendar, calendar_for
from kefu.quality.models import QualityScore, ReplyFindings
from kefu.quality.presenters import RULE_LABELS
from kefu.tickets.models import Ticket
from kefu.understanding.models import EmotionAlert

# --- scope and figure -----------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """What to count: the half-open period ``[start, end)`` (aware datetimes) and optional filters."""

    start: datetime
    end: datetime
    team_id: int | None = None
    agent_id: int | None = None
    channel_id: int | None = None
    intent: str | None = None  # intent code

    def previous(self) -> Scope:
        """The period of the same length immediately before, with the same filters."""
        length = self.end - self.start
        return replace(self, start=self.start - length, end=self.start)


@dataclass(frozen=True)
class Figure:
    name: str
    label: str
    value: float | None
    unit: str  # "s", "%", "count", "score", "yuan"
    count: int  # the denominator / number of items behind the value
    target: float | None = None
    better: str = "higher"  # "higher" | "lower"


BREAKDOWNS: dict[str, str] = {
    "channel": "渠道",
    "intent": "意图",
    "team": "团队",
    "agent": "客服",
    "hour": "小时",
    "weekday": "星期",
    "day": "日期",
    "halfhour": "半小时",
}
# The quality findings rates break down by rule too (``breakdown(scope, name, RULE)``).
RULE = "rule"
WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")

# Defaults from the handbooks (respond within a minute, resolve 90 %, CSAT 4.5 of 5).
# Quality 85 of 100 and FCR 80 % are the star rating's (星级客服) usual bars; admins change
# any of them at /desk/settings/targets/.
DEFAULT_TARGETS: dict[str, float] = {
    "first_response_mean": 60.0,
    "resolution_rate": 90.0,
    "csat_mean": 4.5,
    "quality_score_mean": 85.0,
    "fcr_rate": 80.0,
}
# A customer who comes back within this time after a resolution was not helped at first contact.
FCR_WINDOW = timedelta(days=7)
# ``behind`` lists at most this many ids; ``behind_ids`` has them all (the drill-down pages it).
BEHIND_LIMIT = 500

RESOLVED = (Conversation.Status.RESOLVED, Conversation.Status.CLOSED)
ACTIVE = Conversation.ACTIVE_STATUSES
NEGATIVE_EMOTIONS = ("dissatisfied", "angry")


# --- sharing what several computations read -------------------------------------------------

_SHARED: ContextVar[dict[Any, Any] | None] = ContextVar("kefu_metrics_shared", default=None)


@contextmanager
def shared(window: tuple[datetime, datetime] | None = None) -> Iterator[None]:
    """Within the block, targets and business calendars are read once, however many figures,
    periods and breakdowns are computed (a report's passes share them). Outside it, every
    computation reads them afresh.

    ``window`` is the span of time the block's figures cover (a report: the period before and
    the period): the agents' status history is then read once for all of it, and each figure
    clips what it needs, instead of one read per period and per use."""
    token = _SHARED.set({("window",): window} if window else {}) if _SHARED.get() is None else None
    try:
        yield
    finally:
        if token is not None:
            _SHARED.reset(token)


def _memo(key: Any, make: Callable[[], Any]) -> Any:
    store = _SHARED.get()
    if store is None:
        return make()
    if key not in store:
        store[key] = make()
    return store[key]


# --- timestamps as numbers ------------------------------------------------------------------------


class EpochMicroseconds(Func):
    """A timestamp column as whole microseconds since 1970 (UTC), an integer.

    For the series that read tens of thousands of timestamps only to subtract and compare them:
    the driver gives a plain int (no datetime built, no converter run per row), and a
    difference of two is exactly the microseconds ``timedelta.total_seconds()`` divides, so
    every figure stays the same to the last bit. Only for a plain column (SQLite reads it
    twice)."""

    output_field = BigIntegerField()

    def get_db_converters(self, connection: Any) -> list[Any]:
        return []  # the driver already gives an int

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # EXTRACT(EPOCH …) is an exact numeric: × 10⁶ is a whole number of microseconds.
        template = "CAST(EXTRACT(EPOCH FROM %(expressions)s) * 1000000 AS bigint)"
        return self.as_sql(compiler, connection, template=template, **extra)

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # Stored as 'YYYY-MM-DD HH:MM:SS[.ffffff]' in UTC: the whole seconds (a day number's
        # float error is far below the half second ROUND absorbs), then the digits after the point.
        template = (
            "(CAST(ROUND((julianday(substr(%(expressions)s, 1, 19)) - 2440587.5) * 86400.0) AS INTEGER)"
            " * 1000000 + CAST(substr(%(expressions)s || '.000000', 21, 6) AS INTEGER))"
        )
        return self.as_sql(compiler, connection, template=template, **extra)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _us(moment: datetime) -> int:
    """An aware datetime as ``EpochMicroseconds`` gives it."""
    return (moment - _EPOCH) // _MICROSECOND


def _at(us: int) -> datetime:
    """``_us`` back to an aware datetime (UTC), exactly."""
    return _EPOCH + timedelta(microseconds=us)


def _fetch(qs: QuerySet[Any]) -> list[tuple[Any, ...]]:
    """The rows of a ``values_list`` query, fetched at once as the driver gives them.

    For the long series a report reads (a month's reply waits, status changes, the conversations
    agents had open: hundreds of thousands of rows): Django's iterator fetches a hundred rows at
    a time and passes each through Python, which costs more than reading them. Only for columns
    no converter changes — integers (``EpochMicroseconds`` included), floats, text — so the
    values are exactly those the iterator would give."""
    try:
        sql, params = qs.query.sql_with_params()
    except EmptyResultSet:
        return []
    with connections[qs.db].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


# --- sources ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """One kind of row figures are counted over, and how a scope filters and groups it."""

    name: str
    anchor: str  # the time field that puts a row in a period (and in an hour, a weekday …)
    fields: dict[str, str]  # filter/group field per dimension: team, agent, channel, intent
    conversation: str | None  # the path to the conversation id (drill-down)
    manager: Callable[[], QuerySet[Any]]
    # Dimensions reached through a many-to-many (tickets ↔ conversations): filter and key.
    linked: dict[str, Callable[[Any], Any]] = field(default_factory=dict)
    # Rows of the conversations created in the period (``_first_conversation``): conversation rows
    # join their rollup as ``ROLLUP`` (``_period_rollup``); other rows are bounded by their
    # conversation id, which lets PostgreSQL read them from the period's first conversation on.
    joins_rollup: bool = False
    bounded_by_conversation: bool = False

    def rows(self, scope: Scope, *, agent_field: str | None = None) -> QuerySet[Any]:
        qs = self.manager().filter(**{f"{self.anchor}__gte": scope.start, f"{self.anchor}__lt": scope.end})
        if self.joins_rollup:
            qs = qs.annotate(**{ROLLUP: _period_rollup(scope)})
        if self.bounded_by_conversation and self.conversation is not None:
            # True of every row (its conversation was created in the period): the same rows.
            qs = qs.filter(**{f"{self.conversation}__gte": _first_conversation(scope)})
        wanted = {
            "team": scope.team_id,
            "agent": scope.agent_id,
            "channel": scope.channel_id,
            "intent": scope.intent,
        }
        for dim, value in wanted.items():
            if value is None:
                continue
            if dim in self.linked:
                qs = qs.filter(self.linked[dim](value))
                continue
            path = agent_field if dim == "agent" and agent_field else self.fields.get(dim)
            if path is None:
                return qs.none()
            qs = qs.filter(**{path: value})
        return qs

    def key(self, by: str, *, agent_field: str | None = None) -> Any:
        """The expression that groups rows ``by`` a dimension or a time bucket (local time)."""
        at = self.anchor
        if by == "hour":
            return ExtractHour(at)
        if by == "weekday":
            return ExtractIsoWeekDay(at)
        if by == "day":
            return TruncDate(at)
        if by == "halfhour":
            return ExtractHour(at) * 2 + _minute(at) / 30
        if by == "weekday_hour":
            return ExtractIsoWeekDay(at) * 100 + ExtractHour(at)
        if by in self.linked:
            return self.linked[by](None)
        path = agent_field if by == "agent" and agent_field else self.fields.get(by)
        if path is None:
            return Value(None)
        return F(path)


def _minute(at: Any) -> Any:
    # PostgreSQL's EXTRACT is numeric, so 20 / 30 would be 0.667 and every minute its own
    # bucket; as an integer both databases divide without a remainder.
    return Cast(ExtractMinute(at), IntegerField())


def _ticket_link(dim: str) -> Callable[[Any], Any]:
    through = Ticket.conversations.through
    column = {"channel": "conversation__channel_id", "intent": "conversation__intent"}[dim]

    def make(value: Any) -> Any:
        if value is None:  # the key: the first linked conversation's channel / intent
            return Subquery(
                through.objects.filter(ticket_id=OuterRef("pk"))
                .order_by("conversation_id")
                .values(column)[:1]
            )
        return Q(pk__in=through.objects.filter(**{column: value}).values("ticket_id"))

    return make


def _complaint_link(dim: str) -> Callable[[Any], Any]:
    through = Ticket.conversations.through
    column = {"channel": "conversation__channel_id", "intent": "conversation__intent"}[dim]

    def make(value: Any) -> Any:
        if value is None:
            return Subquery(
                through.objects.filter(ticket_id=OuterRef("ticket_id"))
                .order_by("conversation_id")
                .values(column)[:1]
            )
        return Q(ticket_id__in=through.objects.filter(**{column: value}).values("ticket_id"))

    return make


_CONV = {
    "team": "conversation__team_id",
    "channel": "conversation__channel_id",
    "intent": "conversation__intent",
}


def _carries_a_notice_only() -> Q:
    """A conversation opened to carry a proactive notice (kefu.proactive) the customer never answered."""
    # No contact: the customer did not write. It becomes one when they answer.
    notice = Message.objects.filter(conversation_id=OuterRef("pk"), meta__proactive__isnull=False)
    return Q(last_customer_message_at__isnull=True) & Q(Exists(notice))


SOURCES: dict[str, Source] = {
    "conversation": Source(
        "conversation",
        "created_at",
        {"team": "team_id", "agent": "assignee_id", "channel": "channel_id", "intent": "intent"},
        "id",
        lambda: Conversation.objects.exclude(_carries_a_notice_only()),
        joins_rollup=True,
    ),
    "reply": Source(  # agent replies, for the response time between messages
        "reply",
        "created_at",
        {**_CONV, "agent": "sender_id"},
        "conversation_id",
        lambda: Message.objects.all(),
    ),
    "ticket": Source(
        "ticket",
        "created_at",
        {"team": "team_id", "agent": "assignee_id"},
        "conversations__id",
        lambda: Ticket.objects.all(),
        linked={"channel": _ticket_link("channel"), "intent": _ticket_link("intent")},
    ),
    "complaint": Source(
        "complaint",
        "created_at",
        {"team": "ticket__team_id", "agent": "ticket__owner_id"},
        "ticket__conversations__id",
        lambda: Complaint.objects.all(),
        linked={"channel": _complaint_link("channel"), "intent": _complaint_link("intent")},
    ),
    "compensation": Source(
        "compensation",
        "created_at",
        {"team": "team_id", "agent": "requested_by_id", "channel": "conversation__channel_id"}
        | {"intent": "conversation__intent"},
        "conversation_id",
        lambda: CompensationRequest.objects.filter(
            status__in=(CompensationRequest.Status.GRANTED, CompensationRequest.Status.APPROVED)
        ),
    ),
    "promise": Source(
        "promise",
        "due_at",
        {**_CONV, "agent": "owner_id"},
        "conversation_id",
        lambda: Promise.objects.exclude(status=Promise.Status.CANCELLED),
    ),
    "quality": Source(
        "quality",
        "conversation__created_at",
        {**_CONV, "agent": "agent_id"},
        "conversation_id",
        lambda: QualityScore.objects.all(),
        bounded_by_conversation=True,
    ),
    "findings": Source(
        "findings",
        "created_at",
        {**_CONV, "agent": "agent_id"},
        "conversation_id",
        lambda: ReplyFindings.objects.all(),
    ),
}
# The agent replies' rolled-up waits: the same filters and keys as ``SOURCES["reply"]`` (the rollup
# holds the reply's time, author and conversation under the same names).
_ROLLED_REPLIES = replace(SOURCES["reply"], name="rolled_reply", manager=lambda: ReplyRollup.objects.all())


# --- conversation conditions -------------------------------------------------------------------


# --- rollups: per-row parts the worker computed (kefu.analytics.rollups) -----------------------


def _marks() -> QuerySet[RollupState]:
    """The rollup state row the marks are read from."""
    return RollupState.objects.order_by("pk")


def _past_marks() -> tuple[QuerySet[Message], QuerySet[EmotionAlert]]:
    """The messages and emotion alerts newer than the rollup marks (the worker has not read them)."""
    marks = _marks()
    return (
        Message.objects.filter(id__gt=Subquery(marks.values("message_mark")[:1])),
        EmotionAlert.objects.filter(id__gt=Subquery(marks.values("alert_mark")[:1])),
    )


def _stale_conversations() -> tuple[QuerySet[Any], QuerySet[Any]]:
    """The conversations with a message or an emotion alert newer than the rollup marks."""
    touched, alerted = _past_marks()
    return touched.values("conversation_id"), alerted.values("conversation_id")


# The alias conversation rows of a scope (``Source.rows``) join their rollup under.
ROLLUP = "period_rollup"


def _first_conversation(scope: Scope) -> int:
    """The smallest id of a conversation created in the scope's period, read once per period in
    a ``shared`` block (0 if none, and outside a ``shared`` block, where it would be read for
    every query: there the rollup join is unbounded, as it always was)."""

    def first() -> int:
        # MIN of an expression, not of the column: MIN(id) was planned as a walk up the primary
        # key until a row of the period turned up (60 ms on a year's history), MIN(id + 0)
        # reads the period's rows by their creation time.
        found = Conversation.objects.filter(created_at__gte=scope.start, created_at__lt=scope.end).aggregate(
            n=Min(F("pk") + 0)
        )["n"]
        return 0 if found is None else int(found)

    if _SHARED.get() is None:
        return 0  # no bound: one computation would pay a read per query for it
    return int(_memo(("first conversation", scope.start, scope.end), first))


def _period_rollup(scope: Scope) -> FilteredRelation:
    """The conversation's rollup, joined among the rollups of the period's conversations only.

    The join gets ``rollup.conversation_id >= N``, N the smallest id of a conversation created
    in the period (``_first_conversation``): always true of a row's own rollup, so the figures
    are the same, but it lets PostgreSQL read the rollups from that id on instead of hashing
    every rollup ever written (a cost that grew with the history kept: a year's 370,000
    rollups, 35-60 ms per query). N is a literal, so the planner sees how few rows it bounds.
    Were it ever wrong, a row would only lose its rollup and be computed live."""
    return FilteredRelation("rollup", condition=Q(rollup__conversation_id__gte=_first_conversation(scope)))


def _rollup_valid() -> Q:
    """The conversation's rollup row is there and still valid: the worker read every message
    and emotion alert it has. Anything newer makes it stale and its figures are computed live,
    so both paths give the same numbers whether or not the worker has caught up.

    A condition on a scope's conversation rows (``Source.rows``, which join the rollup as
    ``ROLLUP``): their rollup (one LEFT JOIN, shared by every figure of the query) exists
    and is not stale. A correlated ``EXISTS`` per figure probed the rollup's
    index once per row and figure (ten probes a row in a report's aggregate); the join reads
    it once."""
    touched, alerted = _stale_conversations()
    return Q(**{f"{ROLLUP}__isnull": False}) & ~Q(pk__in=touched) & ~Q(pk__in=alerted)


def _either(flag: str, live: Q, valid: Q | None = None) -> Q:
    """The rollup's ``flag`` where the rollup is ``valid`` (by default: ``_rollup_valid``), else ``live``."""
    # A CASE rather than ``(valid AND flag) OR (NOT valid AND live)``: the validity is evaluated
    # once a row, not twice where the flag is false (most rows), and the live subqueries only
    # for the rows that need them. The condition is never NULL (a NULL would also fall back to live).
    return Q(
        Case(
            When(_rollup_valid() if valid is None else valid, then=F(f"{ROLLUP}__{flag}")),
            default=ExpressionWrapper(live, output_field=BooleanField()),
            output_field=BooleanField(),
        )
    )


def _transferred() -> Q:
    return _either("transferred", Q(transferred_live()))


def _reopened() -> Q:
    return _either("reopened", reopened_live())


def _was_upset() -> Q:
    return _either("upset", Q(was_upset_live()))


def transferred_live() -> Exists:
    return Exists(
        Message.objects.filter(
            conversation_id=OuterRef("pk"),
            direction=Message.Direction.ACTIVITY,
            kind=Message.Kind.EVENT,
            meta__has_key="to_team",
        )
    )


def reopened_live() -> Q:
    """A customer wrote after a resolution, or someone set a resolved conversation active again."""
    resolved_before = Message.objects.filter(
        conversation_id=OuterRef("conversation_id"),
        id__lt=OuterRef("id"),
        direction=Message.Direction.ACTIVITY,
        meta__to__in=list(RESOLVED),
    )
    wrote_after = Message.objects.filter(
        conversation_id=OuterRef("pk"), direction=Message.Direction.INCOMING
    ).filter(Exists(resolved_before))
    set_active = Message.objects.filter(
        conversation_id=OuterRef("pk"),
        direction=Message.Direction.ACTIVITY,
        meta__from__in=list(RESOLVED),
        meta__to__in=list(ACTIVE),
    )
    return Q(Exists(wrote_after)) | Q(Exists(set_active))


def _came_back() -> Q:
    """FCR's repeat contact: from the conversation's rollup where it was decided and nothing it
    depends on changed since (``_repeat_decided``), else live (``came_back_live``)."""
    return _either("repeat_contact", came_back_live(), _repeat_decided())


def _repeat_decided() -> Q:
    """The rollup's repeat contact can be used: the rollup is valid; it was decided (the window
    after the resolution had passed); the customer's profile was not edited since (a merge edits
    both profiles, and moves the conversations); the profile is not a merged one (the chains of
    merged profiles are read live); and no conversation of the customer (or of a profile merged
    into it) is stale — a late change there (an answered notice, a conversation that committed
    late) can make it a repeat contact until the worker has read it, and decided this one anew."""
    decided = (
        _rollup_valid()
        & Q(**{f"{ROLLUP}__repeat_contact__isnull": False})
        & Q(customer__merged_into__isnull=True)
        & Q(customer__updated_at__lt=F(f"{ROLLUP}__repeat_decided_at"))
    )
    newer = _past_marks()
    # The customers of the stale conversations and the profiles they were merged into (read
    # from the few rows past the marks, through the conversation's primary key).
    for rows in newer:
        for path in ("conversation__customer_id", "conversation__customer__merged_into_id"):
            decided &= ~Q(customer_id__in=rows.filter(**{f"{path}__isnull": False}).values(path))
    return decided


def came_back_live() -> Q:
    """The same customer (merged profiles included) opened another conversation within the FCR window."""
    # Three EXISTS rather than one over an OR: each can use the customer index, where the OR
    # made PostgreSQL scan every conversation once per resolved conversation.
    later = (
        Conversation.objects.exclude(_carries_a_notice_only())
        .filter(
            created_at__gt=OuterRef("created_at"),
            created_at__lte=ExpressionWrapper(
                OuterRef("resolved_at") + FCR_WINDOW, output_field=DateTimeField()
            ),
        )
        .exclude(pk=OuterRef("pk"))
    )
    return (
        Q(Exists(later.filter(customer_id=OuterRef("customer_id"))))
        | Q(Exists(later.filter(customer__merged_into_id=OuterRef("customer_id"))))
        | Q(Exists(later.filter(customer_id=OuterRef("customer__merged_into_id"))))
    )


def was_upset_live() -> Exists:
    return Exists(
        EmotionAlert.objects.filter(
            conversation_id=OuterRef("pk"),
            level=EmotionAlert.Level.EMOTION,
            label__in=NEGATIVE_EMOTIONS,
        )
    )


def _is_resolved() -> Q:
    return Q(status__in=RESOLVED, resolved_at__isnull=False)


def _sla_first_response_met() -> Q:
    return Q(first_response_due__isnull=False, first_response_at__lte=F("first_response_due"))


def _sla_first_response_missed(now: datetime) -> Q:
    return Q(first_response_due__isnull=False) & (
        Q(first_response_at__gt=F("first_response_due"))
        | Q(first_response_at__isnull=True, first_response_due__lt=now)
    )


# --- metric definitions ------------------------------------------------------------------------

Aggs = dict[str, Any]
Finish = Callable[[dict[str, Any]], tuple[float | None, int]]


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    unit: str
    better: str
    source: str
    kind: str  # "agg" | "dist" | "ratio" | "custom"
    aggs: Callable[[Scope], Aggs] | None = None
    finish: Finish | None = None
    series: str | None = None  # dist: the series of values it reduces
    reduce: Callable[[list[float]], tuple[float | None, int]] | None = None
    agent_field: str | None = None  # whose figure it is, when not the source's agent field
    behind: Callable[[Scope], Q] | None = None  # the rows counted, for the drill-down
    ratio: tuple[str, str] | None = None  # numerator and denominator metrics (×100)


def _pct(num: int | None, den: int | None) -> tuple[float | None, int]:
    den = den or 0
    return (100.0 * (num or 0) / den if den else None, den)


def _plain(value_key: str, count_key: str) -> Finish:
    def finish(row: dict[str, Any]) -> tuple[float | None, int]:
        count = row[count_key] or 0
        value = row[value_key]
        return (float(value) if value is not None and count else None, count)

    return finish


def _rate(num_key: str, den_key: str) -> Finish:
    return lambda row: _pct(row[num_key], row[den_key])


def _count(key: str) -> Finish:
    return lambda row: (float(row[key] or 0), row[key] or 0)


def _fsum(values: list[float]) -> float:
    """``math.fsum``, or NaN where it raises (``inf + -inf``, an intermediate overflow).

    Finite: every value is finite. ``inf``: no NaN nor ``-inf`` among them, at least one ``inf``
    (or finite values whose sum overflows). Its loop is C, so it is the cheap check that lets
    the reducers below skip a per-value ``isfinite`` over a month's hundred thousand waits."""
    try:
        return math.fsum(values)
    except (ValueError, OverflowError):
        return math.nan


def _finite(values: list[float]) -> list[float]:
    return list(filter(math.isfinite, values))


def _finite_sorted(values: list[float]) -> list[float]:
    """The finite values, sorted: ``sorted(_finite(values))``."""
    total = _fsum(values)
    if total == math.inf:  # +inf (unanswered past the target) and finite values only: a total order
        ordered = sorted(values)
        return ordered[: bisect.bisect_left(ordered, math.inf)]
    return sorted(values) if math.isfinite(total) else sorted(_finite(values))


def _mean(values: list[float]) -> tuple[float | None, int]:
    total = _fsum(values)
    if math.isfinite(total) and values:
        return total / len(values), len(values)  # what ``statistics.fmean`` returns, exactly
    values = _finite(values)
    return (statistics.fmean(values) if values else None, len(values))


def _median(values: list[float]) -> tuple[float | None, int]:
    ordered = _finite_sorted(values)
    n = len(ordered)
    if not n:
        return None, 0
    # ``statistics.median`` of the sorted values (it sorts them again otherwise).
    middle = ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2
    return float(middle), n


def _p90(values: list[float]) -> tuple[float | None, int]:
    """Nearest rank: the smallest value at or above 90 % of the values."""
    values = _finite_sorted(values)
    if not values:
        return None, 0
    return values[max(0, math.ceil(0.9 * len(values)) - 1)], len(values)


def _within(threshold: Callable[[], float]) -> Callable[[list[float]], tuple[float | None, int]]:
    def reduce(values: list[float]) -> tuple[float | None, int]:
        limit = threshold()
        return _pct(sum(1 for v in values if v <= limit), len(values))

    return reduce


def _conversation_metrics() -> list[Metric]:
    c = "conversation"
    return [
        Metric(
            "volume", "会话量", "count", "higher", c, "agg",
            aggs=lambda s: {"n": Count("id")}, finish=_count("n"),
        ),
        Metric(
            "resolution_rate", "解决率", "%", "higher", c, "agg",
            aggs=lambda s: {"ok": Count("id", filter=_is_resolved()), "n": Count("id")},
            finish=_rate("ok", "n"),
        ),
        Metric(
            "fcr_rate", "首次解决率（FCR）", "%", "higher", c, "agg",
            aggs=lambda s: {
                "ok": Count("id", filter=_is_resolved() & ~_reopened() & ~Q(_transferred()) & ~Q(_came_back())),
                "n": Count("id", filter=_is_resolved()),
            },
            finish=_rate("ok", "n"),
            behind=lambda s: _is_resolved(),
        ),
        Metric(
            "reopen_rate", "重开率", "%", "lower", c, "agg",
            aggs=lambda s: {
                "re": Count("id", filter=Q(resolved_at__isnull=False) & _reopened()),
                "n": Count("id", filter=Q(resolved_at__isnull=False)),
            },
            finish=_rate("re", "n"),
            behind=lambda s: Q(resolved_at__isnull=False) & _reopened(),
        ),
        Metric(
            "transfer_rate", "转接率", "%", "lower", c, "agg",
            aggs=lambda s: {"t": Count("id", filter=Q(_transferred())), "n": Count("id")},
            finish=_rate("t", "n"),
            behind=lambda s: Q(_transferred()),
        ),
        Metric(
            "csat_mean", "满意度（平均分）", "score", "higher", c, "agg",
            aggs=lambda s: {"v": Avg("csat_score"), "n": Count("csat_score")},
            finish=_plain("v", "n"),
            behind=lambda s: Q(csat_score__isnull=False),
        ),
        Metric(
            "csat_satisfied_rate", "满意率（4–5 分占比）", "%", "higher", c, "agg",
            aggs=lambda s: {"ok": Count("id", filter=Q(csat_score__gte=4)), "n": Count("csat_score")},
            finish=_rate("ok", "n"),
            behind=lambda s: Q(csat_score__isnull=False),
        ),
        Metric(
            # Net Promoter Score: % promoters (9–10) minus % detractors (0–6) of the answers
            # that gave a recommendation score (surveys.Survey.nps), from −100 to 100.
            "nps", "净推荐值（NPS）", "score", "higher", c, "agg",
            aggs=lambda s: {
                "pro": Count("id", filter=Q(survey__nps__gte=9)),
                "det": Count("id", filter=Q(survey__nps__lte=6)),
                "n": Count("survey__nps"),
            },
            finish=lambda row: (
                (100.0 * ((row["pro"] or 0) - (row["det"] or 0)) / row["n"], row["n"]) if row["n"] else (None, 0)
            ),
            behind=lambda s: Q(survey__nps__isnull=False),
        ),
        Metric(
            "emotion_recovery_rate", "情绪修复率", "%", "higher", c, "agg",
            aggs=lambda s: {
                "ok": Count("id", filter=_is_resolved() & Q(_was_upset()) & Q(emotion_label="calm")),
                "n": Count("id", filter=_is_resolved() & Q(_was_upset())),
            },
            finish=_rate("ok", "n"),
            behind=lambda s: _is_resolved() & Q(_was_upset()),
        ),
        Metric(
            "sla_conversation_first_response", "SLA达成率（会话首次响应）", "%", "higher", c, "agg",
            aggs=lambda s: {
                "ok": Count("id", filter=_sla_first_response_met()),
                "bad": Count("id", filter=_sla_first_response_missed(timezone.now())),
            },
            finish=lambda row: _pct(row["ok"], row["ok"] + row["bad"]),
            behind=lambda s: _sla_first_response_met() | _sla_first_response_missed(timezone.now()),
        ),
        Metric(
            "first_response_mean", "首次响应时间（平均）", "s", "lower", c, "dist",
            series="frt", reduce=_mean, agent_field="first_responder_id",
            behind=lambda s: Q(first_response_at__isnull=False),
        ),
        Metric(
            "first_response_p50", "首次响应时间（中位数）", "s", "lower", c, "dist",
            series="frt", reduce=_median, agent_field="first_responder_id",
            behind=lambda s: Q(first_response_at__isnull=False),
        ),
        Metric(
            "first_response_p90", "首次响应时间（P90）", "s", "lower", c, "dist",
            series="frt", reduce=_p90, agent_field="first_responder_id",
            behind=lambda s: Q(first_response_at__isnull=False),
        ),
        Metric(
            "first_response_within_target", "首次响应达标率", "%", "higher", c, "dist",
            series="frt", reduce=None, agent_field="first_responder_id",
        ),
        Metric(
            "aht_mean", "平均处理时长（AHT）", "s", "lower", c, "dist",
            series="handle", reduce=_mean,
            behind=lambda s: _is_resolved() & Q(first_response_at__isnull=False),
        ),
        Metric(
            "response_time_mean", "消息响应时间（平均）", "s", "lower", "reply", "dist",
            series="response", reduce=_mean,
        ),
        Metric(
            "response_time_p90", "消息响应时间（P90）", "s", "lower", "reply", "dist",
            series="response", reduce=_p90,
        ),
    ]  # fmt: skip


def _other_metrics() -> list[Metric]:
    now = timezone.now
    return [
        Metric(
            "sla_ticket_first_response", "SLA达成率（工单首次响应）", "%", "higher", "ticket", "agg",
            aggs=lambda s: {
                "ok": Count("id", filter=_sla_first_response_met()),
                "bad": Count("id", filter=_sla_first_response_missed(now())),
            },
            finish=lambda row: _pct(row["ok"], row["ok"] + row["bad"]),
        ),
        Metric(
            "sla_ticket_resolution", "SLA达成率（工单解决）", "%", "higher", "ticket", "agg",
            aggs=lambda s: {
                "ok": Count("id", filter=Q(due_at__isnull=False, resolved_at__lte=F("due_at"))),
                "bad": Count(
                    "id",
                    filter=Q(due_at__isnull=False)
                    & (Q(resolved_at__gt=F("due_at")) | Q(resolved_at__isnull=True, due_at__lt=now())),
                ),
            },
            finish=lambda row: _pct(row["ok"], row["ok"] + row["bad"]),
        ),
        Metric(
            "complaint_count", "投诉量", "count", "lower", "complaint", "agg",
            aggs=lambda s: {"n": Count("id")}, finish=_count("n"),
        ),
        Metric(
            "complaint_rate", "投诉率（每百会话）", "%", "lower", "complaint", "ratio",
            ratio=("complaint_count", "volume"),
        ),
        Metric(
            "complaint_resolution_mean", "投诉处理时长（平均）", "s", "lower", "complaint", "dist",
            series="complaint_resolution", reduce=_mean,
        ),
        Metric(
            "compensation_count", "补偿次数", "count", "lower", "compensation", "agg",
            aggs=lambda s: {"n": Count("id")}, finish=_count("n"),
        ),
        Metric(
            "compensation_amount", "补偿金额", "yuan", "lower", "compensation", "agg",
            aggs=lambda s: {"v": Sum("amount"), "n": Count("id")},
            finish=lambda row: (float(row["v"] or 0), row["n"] or 0),
        ),
        Metric(
            "promise_kept_rate", "承诺兑现率", "%", "higher", "promise", "agg",
            aggs=lambda s: {
                "ok": Count("id", filter=Q(status=Promise.Status.KEPT)),
                "n": Count("id", filter=Q(status=Promise.Status.KEPT) | Q(due_at__lt=now())),
            },
            finish=_rate("ok", "n"),
        ),
        Metric(
            "quality_score_mean", "质检得分（平均）", "score", "higher", "quality", "agg",
            aggs=lambda s: {"v": Avg("total"), "n": Count("id")},
            finish=_plain("v", "n"),
        ),
        Metric(
            "quality_findings_rate", "质检命中率（回复）", "%", "lower", "findings", "agg",
            aggs=lambda s: {"hit": Count("id", filter=~Q(findings=[])), "n": Count("id")},
            finish=_rate("hit", "n"),
        ),
        Metric(
            "quality_high_findings_rate", "高风险命中率（回复）", "%", "lower", "findings", "agg",
            aggs=lambda s: {"hit": Count("id", filter=Q(high_count__gt=0)), "n": Count("id")},
            finish=_rate("hit", "n"),
        ),
        Metric("online_time", "在线时长", "s", "higher", "presence", "custom"),
        Metric("occupancy", "占用率", "%", "higher", "presence", "custom"),
    ]  # fmt: skip


METRICS: dict[str, Metric] = {m.name: m for m in [*_conversation_metrics(), *_other_metrics()]}


# --- series: values computed per row in Python ---------------------------------------------------


class _Calendars:
    """Business calendars per (team, channel), loaded once per computation."""

    def __init__(self) -> None:
        self._cache: dict[tuple[int | None, int | None], BusinessCalendar] = {}

    def get(self, team_id: int | None, channel_id: int | None) -> BusinessCalendar:
        key = (team_id, channel_id)
        if key not in self._cache:
            self._cache[key] = _memo(("calendar", key), lambda: calendar_for(team_id, channel_id))
        return self._cache[key]


def _frt_series(
    qs: QuerySet[Any], scope: Scope, limit_of: Callable[[Any], float] | None = None, *, by: str | None = None
) -> list[tuple[Any, float]]:
    """Seconds a customer waited for the first agent reply while the desk served them (the rule
    and its edge cases: docs/metrics.md, "First response"); ``inf`` when unanswered past the
    target (the scope's team's, or ``limit_of(key)``: each group's own).

    ``qs`` is the first-response rows of ``scope`` (``_rows``), annotated with the key ``k``."""
    if limit_of is None:
        limit = frt_limit(scope.team_id)
        limit_of = lambda _key: limit  # noqa: E731
    out: list[tuple[Any, float]] = []
    append = out.append
    if _SHARED.get() is None:
        waits = [(k, seconds, True) for k, seconds in _frt_rolled(qs).values_list("k", "seconds")]
        waits += _frt_waits(qs.exclude(_frt_answered_rolled()), timezone.now(), _Calendars())
        for key, seconds, answered in waits:
            if answered:
                append((key, seconds))
            elif seconds > limit_of(key):
                append((key, math.inf))
        return out
    return _frt_shared(qs, scope, limit_of, by)


def _frt_shared(
    qs: QuerySet[Any], scope: Scope, limit_of: Callable[[Any], float], by: str | None
) -> list[tuple[Any, float]]:
    """``_frt_series`` in a ``shared`` block (a report): the scope's waits are read once, whatever
    they are grouped by, and each grouping reads only its keys (no rollup, no calendar): the
    eight passes of a report read the rollups twice (the period and the one before), not eight
    times. A wait depends on the conversation, the calendars and the staffing, not on the
    grouping. The same rule, without a list of triples built per pass."""
    out: list[tuple[Any, float]] = []
    append = out.append
    base = _memo(("frt_base", scope), lambda: _frt_base(scope))
    const = qs.query.annotations.get("k")
    if isinstance(const, Value):  # one group (no breakdown): no need to read the keys
        key = const.value
        for seconds, answered in base.values():
            if answered:
                append((key, seconds))
            elif seconds > limit_of(key):
                append((key, math.inf))
        return out
    if by in _FRT_KEYS:
        # The breakdowns a report draws (and first response by hour): their keys are read once
        # per scope, in one query, instead of one query per grouping. The same rows.
        keys = _memo(("frt_keys", scope), lambda: _frt_keys(scope))[by]
        for pk, (seconds, answered) in base.items():
            if (key := keys.get(pk, _GONE)) is _GONE:  # deleted between the two reads
                continue
            if answered:
                append((key, seconds))
            elif seconds > limit_of(key):
                append((key, math.inf))
        return out
    get = base.get
    for pk, key in qs.order_by().values_list("pk", "k"):
        if (wait := get(pk)) is None:
            continue
        if wait[1]:
            append((key, wait[0]))
        elif wait[0] > limit_of(key):
            append((key, math.inf))
    return out


# The groupings of first response whose keys a shared block reads in one query (``_frt_keys``).
_FRT_KEYS = ("channel", "intent", "team", "agent", "hour")
_GONE = object()


def _frt_keys(scope: Scope) -> dict[str, dict[int, Any]]:
    """``{grouping: {pk: key}}`` of the first-response rows of ``scope`` for each of ``_FRT_KEYS``."""
    metric = METRICS["first_response_mean"]
    source = SOURCES[metric.source]
    columns = {f"k_{by}": source.key(by, agent_field=metric.agent_field) for by in _FRT_KEYS}
    rows = list(_rows(metric, scope).order_by().annotate(**columns).values_list("pk", *columns))
    if not rows:
        return {by: {} for by in _FRT_KEYS}
    pks, *keys = zip(*rows, strict=True)
    return {by: dict(zip(pks, column, strict=True)) for by, column in zip(_FRT_KEYS, keys, strict=True)}


def _frt_answered_rolled() -> Q:
    """Answered, with a valid rollup: one float, no calendar walk."""
    return (
        Q(first_response_at__isnull=False)
        & Q(**{f"{ROLLUP}__first_response_open_seconds__isnull": False})
        & _rollup_valid()
    )


def _frt_rolled(qs: QuerySet[Any]) -> QuerySet[Any]:
    return qs.filter(_frt_answered_rolled()).annotate(seconds=F(f"{ROLLUP}__first_response_open_seconds"))


def _frt_base(scope: Scope) -> dict[int, tuple[float, bool]]:
    """``{pk: (seconds, answered)}`` of every first-response row of the scope that has a wait
    to measure (in a ``shared`` block: the rest — unanswered or not yet rolled up — is walked
    once per conversation, however many scopes hold it)."""
    store = _SHARED.get()
    assert store is not None
    rows = _rows(METRICS["first_response_mean"], scope).order_by()
    flagged = rows.annotate(
        rolled=ExpressionWrapper(_frt_answered_rolled(), output_field=BooleanField())
    ).values_list("pk", "rolled", f"{ROLLUP}__first_response_open_seconds")
    base: dict[int, tuple[float, bool]] = {}
    rest: list[int] = []
    for pk, rolled, seconds in flagged:
        if rolled:
            base[pk] = (seconds, True)
        else:
            rest.append(pk)
    now = _memo(("now",), timezone.now)
    known: dict[int, tuple[float, bool] | None] = store.setdefault(("frt",), {})
    missing = [pk for pk in rest if pk not in known]
    for i in range(0, len(missing), 5000):
        chunk = missing[i : i + 5000]
        live = Conversation.objects.filter(pk__in=chunk).annotate(k=F("pk"))
        found = {pk: (seconds, answered) for pk, seconds, answered in _frt_waits(live, now, _Calendars())}
        known.update((pk, found.get(pk)) for pk in chunk)
    for pk in rest:
        if (wait := known[pk]) is not None:
            base[pk] = wait
    return base


def frt_limit(team_id: int | None) -> float:
    """The first-response target of a team (or the desk's): unanswered past it counts as late."""
    return targets(team_id).get("first_response_mean", DEFAULT_TARGETS["first_response_mean"])


def _desk_start() -> Any:
    """When the desk's wait began: the bot's hand-over for a conversation the bot answered first
    (its answers are not the desk's, docs/metrics.md), else the conversation's creation."""
    handover = BotSession.objects.filter(
        conversation_id=OuterRef("pk"), handed_over_at__isnull=False
    ).exclude(handover_reason=HandoverReason.AGENT)
    return Coalesce(
        Subquery(handover.values("handed_over_at")[:1], output_field=DateTimeField()), F("created_at")
    )


def frt_values(
    qs: QuerySet[Any], now: datetime, limit: float, calendars: _Calendars
) -> list[tuple[Any, float]]:
    """The first-response series of ``qs`` (annotated with ``k``), computed row by row (rollups use it too)."""
    return [
        (key, seconds if answered else math.inf)
        for key, seconds, answered in _frt_waits(qs, now, calendars)
        if answered or seconds > limit
    ]


def _frt_waits(qs: QuerySet[Any], now: datetime, calendars: _Calendars) -> list[tuple[Any, float, bool]]:
    """``(key, seconds the desk served the customer, answered)`` per row of ``qs`` (annotated
    with ``k``) that has a first response to measure; unanswered rows wait until ``now``."""
    rows = list(
        qs.annotate(
            start=_desk_start(),
            held=Exists(
                BotSession.objects.filter(conversation_id=OuterRef("pk"), state=BotSession.State.ACTIVE)
            ),
        ).values_list(
            "k",
            "start",
            "first_response_at",
            "resolved_at",
            "team_id",
            "channel_id",
            "first_responder_id",
            "held",
        )
    )
    # An unanswered customer's wait is only ever compared with a first-response target: it is
    # walked for its first days, and to ``now`` only if those leave it within the longest target;
    # and once the open seconds alone pass that target (the served seconds are at least those),
    # the staffing is not walked (its value then is the open seconds: past every target either way).
    horizon = _memo(("frt_horizon",), _longest_frt_target)
    waits = [
        (key, created, answered, team_id, channel_id, responder)
        for key, created, answered, resolved, team_id, channel_id, responder, held in rows
        # resolved without an agent, or the bot still answering: no desk wait to measure
        if answered is not None or (resolved is None and not held)
    ]
    walked = _walk_waits(waits, now, calendars, cap=UNANSWERED_WALK, horizon=horizon)
    short = [i for i, seconds, answered in walked if not answered and seconds <= horizon]
    if short:
        again = _walk_waits([waits[i] for i in short], now, calendars, cap=None, horizon=horizon)
        walked = [w for w in walked if w[2] or w[1] > horizon] + [(short[j], s, a) for j, s, a in again]
    return [(waits[i][0], seconds, answered) for i, seconds, answered in walked]


# How far an unanswered wait is walked before it is compared with the longest target.
UNANSWERED_WALK = timedelta(days=2)


def _longest_frt_target() -> float:
    set_ = MetricTarget.objects.filter(name="first_response_mean").aggregate(m=Max("value"))["m"]
    return max(DEFAULT_TARGETS["first_response_mean"], set_ or 0.0)


def _walk_waits(
    waits: list[tuple[Any, datetime, datetime | None, int | None, int | None, int | None]],
    now: datetime,
    calendars: _Calendars,
    *,
    cap: timedelta | None,
    horizon: float = math.inf,
) -> list[tuple[Any, float, bool]]:
    """``(index in waits, served seconds, answered)`` of each wait; an unanswered one until
    ``now`` or, with ``cap``, at most ``cap`` after it began — or its open seconds, when they
    alone are past ``horizon`` (its served seconds are then past it too)."""
    # Most waits lie inside one open stretch: their business seconds are the wall-clock wait and
    # no staffing is needed. Only the others read the status history (a fixed number of queries).
    pending: list[tuple[Any, datetime, datetime, bool, BusinessCalendar, int | None, int | None]] = []
    out: list[tuple[Any, float, bool]] = []
    for key, (_k, created, answered, team_id, channel_id, responder) in enumerate(waits):
        end = answered if answered is not None else now if cap is None else min(now, created + cap)
        cal = calendars.get(team_id, channel_id)
        wall = max(0.0, (end - created).total_seconds())
        open_seconds = cal.seconds_between(created, end)
        if open_seconds >= wall:
            out.append((key, wall, answered is not None))
            continue
        if answered is None and open_seconds > horizon:
            out.append((key, open_seconds, False))
            continue
        pending.append((key, created, end, answered is not None, cal, team_id, responder))
    if pending:
        staffing = _Staffing(pending)
        for key, created, end, was_answered, cal, team_id, responder in pending:
            waited = _served_seconds(cal, staffing.spans(team_id, responder), created, end, was_answered)
            out.append((key, waited, was_answered))
    return out


class _Staffing:
    """Who was on the desk: per team (and first responder), the merged stretches when at least
    one of them was online or busy, from the status history (three queries in all)."""

    def __init__(self, rows: list[tuple[Any, datetime, datetime, bool, Any, int | None, int | None]]) -> None:
        start = min(r[1] for r in rows)
        end = max(r[2] for r in rows)
        team_ids = {r[5] for r in rows if r[5] is not None}
        members: dict[int, set[int]] = defaultdict(set)
        for team_id, user_id in User.teams.through.objects.filter(team_id__in=team_ids).values_list(
            "team_id", "user_id"
        ):
            members[team_id].add(user_id)
        self._members = members
        users = {u for us in members.values() for u in us} | {r[6] for r in rows if r[6] is not None}
        self._by_user = _spans(sorted(users), start, end) if users else {}
        self._merged: dict[tuple[int | None, int | None], list[tuple[int, int]]] = {}
        self._cache: dict[
            tuple[int | None, int | None], tuple[list[tuple[datetime, datetime]], list[datetime]]
        ] = {}

    def spans(
        self, team_id: int | None, responder: int | None
    ) -> tuple[list[tuple[datetime, datetime]], list[datetime]]:
        members = self._members.get(team_id, set()) if team_id is not None else set()
        if responder in members:
            responder = None  # the team's stretches already hold the responder's
        key = (team_id, responder)
        if key not in self._cache:
            merged = [(_at(s), _at(e)) for s, e in self._merged_us(team_id, responder, members)]
            self._cache[key] = (merged, [e for _s, e in merged])
        return self._cache[key]

    def _merged_us(
        self, team_id: int | None, responder: int | None, members: set[int]
    ) -> list[tuple[int, int]]:
        key = (team_id, responder)
        if key not in self._merged:
            if responder is None:
                merged = _merge([s for u in members for s in self._by_user.get(u, [])])
            else:
                # The team's merged stretches (computed once) and the responder's own.
                team = self._merged_us(team_id, None, members)
                merged = _merge([*team, *self._by_user.get(responder, [])])
            self._merged[key] = merged
        return self._merged[key]


def _served_seconds(
    cal: BusinessCalendar,
    staffed: tuple[list[tuple[datetime, datetime]], list[datetime]],
    start: datetime,
    end: datetime,
    answered: bool,
) -> float:
    """Seconds of ``[start, end)`` when the desk was open or the team staffed; for an answered
    customer also the stretch before the answer that neither covers (whoever answered was
    serving then, though nothing says since when)."""
    if end <= start:
        return 0.0
    spans, ends = staffed
    covered = list(cal.windows(start, end))
    i = bisect.bisect_right(ends, start)
    while i < len(spans) and spans[i][0] < end:
        s, e = max(spans[i][0], start), min(spans[i][1], end)
        if e > s:
            covered.append((s, e))
        i += 1
    merged = _merge(covered)
    seconds = sum((e - s).total_seconds() for s, e in merged)
    if answered:
        last = merged[-1][1] if merged else start
        seconds += max(0.0, (end - last).total_seconds())
    return seconds


def _duration_series(end: str, start: str, condition: Q) -> Callable[[QuerySet[Any], Scope], list]:
    def series(qs: QuerySet[Any], scope: Scope) -> list[tuple[Any, float]]:
        # Two integers a row, subtracted here: the very seconds of ``(end - start).total_seconds()``.
        qs = qs.filter(condition).annotate(e=EpochMicroseconds(end), s=EpochMicroseconds(start))
        const = qs.query.annotations.get("k")
        if isinstance(const, Value):  # one group: the key is not read (nor converted) per row
            key = const.value
            return [
                (key, (e - s) / 1_000_000)
                for e, s in _fetch(qs.order_by().values_list("e", "s"))
                if e is not None and s is not None
            ]
        return [
            (k, (e - s) / 1_000_000)
            for k, e, s in qs.order_by().values_list("k", "e", "s")
            if e is not None and s is not None
        ]

    return series


def _response_series(scope: Scope, key: Any) -> list[tuple[Any, float]]:
    """Seconds from the first customer message of a turn to the agent reply that ends it, with
    each reply's group ``key`` (an expression of ``SOURCES["reply"]``).

    A turn starts with a customer message after an agent reply (or at the start); the next
    agent reply ends it. Automatic replies, notes and system lines are not part of turns.
    Rows are in the period by the reply's time; the turn's start may lie before it. Replies
    of conversations with a valid rollup are read from it; the rest are computed here.
    """
    # The rolled-up waits come from ``ReplyRollup`` alone (its covering index by time): it holds
    # the reply's time and author, so neither the period's messages nor the conversations'
    # rollups are scanned. A reply rollup is written with its conversation's rollup in one
    # transaction, so "its conversation is not stale" is "its conversation's rollup is valid".
    touched, alerted = _stale_conversations()
    rolled = (
        _ROLLED_REPLIES.rows(scope)
        .filter(sender__isnull=False)
        .exclude(conversation_id__in=touched)
        .exclude(conversation_id__in=alerted)
        .order_by()
    )
    out: list[tuple[Any, float]]
    if isinstance(key, Value):  # one group: the key is not read (nor converted) per row
        out = [(key.value, seconds) for (seconds,) in _fetch(rolled.values_list("seconds"))]
    else:
        out = list(rolled.annotate(k=key).values_list("k", "seconds"))
    # The open tail: replies of conversations with no valid rollup (stale, or never read).
    unrolled, unrolled_query = _unrolled_reply_conversations(scope)
    if not unrolled and not _any_stale():
        return out  # the worker is up to date: every reply of the period was rolled up
    live = _reply_rows(scope).filter(
        Q(conversation_id__in=touched)
        | Q(conversation_id__in=alerted)
        | Q(conversation_id__in=unrolled if len(unrolled) <= _ID_LIST_LIMIT else unrolled_query)
    )
    wanted = dict(live.annotate(k=key).order_by().values_list("id", "k"))
    if wanted:
        live_rows = Message.objects.filter(pk__in=list(wanted)).values("conversation_id")
        for pk, _conversation, seconds, _at, _sender in turn_waits(live_rows):
            if pk in wanted:
                out.append((wanted[pk], seconds))
    return out


# Longer id lists go to the database as the subquery that found them (SQLite limits parameters).
_ID_LIST_LIMIT = 1000


def _window_over(start: datetime, end: datetime) -> tuple[datetime, datetime] | None:
    """The ``shared`` block's window when it covers ``[start, end)``: what is read for it
    serves both of a report's periods."""
    store = _SHARED.get()
    window = store.get(("window",)) if store is not None else None
    if window is not None and window[0] <= start and end <= window[1]:
        return window
    return None


def _unrolled_reply_conversations(scope: Scope) -> tuple[list[int], QuerySet[Any]]:
    """The conversations with an agent reply in the scope's period and no rollup row at all
    (their ids, and the query that reads them).

    None while the worker keeps up (a conversation it has not read yet is stale, not unrolled):
    only rows deleted behind its back leave some. Read as one anti-join of the period's replies
    (the reply index alone) with the rollups, once for a report's whole window in a ``shared``
    block; the open tail is then read only when there is something in it. Probing the rollups
    once per reply inside the tail's query cost 100-125 ms a period on a year's history."""
    start, end = _window_over(scope.start, scope.end) or (scope.start, scope.end)
    span = replace(scope, start=start, end=end)
    query = (
        _reply_rows(span)
        .filter(~Exists(ConversationRollup.objects.filter(conversation_id=OuterRef("conversation_id"))))
        .order_by()
        .values_list("conversation_id", flat=True)
        .distinct()
    )
    # The ids (at most one more than goes as a list), and the query that finds them: a longer
    # list goes as that subquery rather than a parameter per id, which SQLite limits.
    ids = _memo(("unrolled replies", span), lambda: list(query[: _ID_LIST_LIMIT + 1]))
    return list(ids), query


def _any_stale() -> bool:
    """A message or an emotion alert is newer than the rollup marks (as ``_past_marks``: none
    while there are no marks)."""
    # The marks as values, not a subquery: ``id > (SELECT …) LIMIT 1`` is planned as a scan of
    # every message from the first (220 ms on a year's history); ``id > 123`` is one index probe.
    marks = _marks().values_list("message_mark", "alert_mark").first()
    if marks is None:
        return False
    return (
        Message.objects.filter(id__gt=marks[0]).exists()
        or EmotionAlert.objects.filter(id__gt=marks[1]).exists()
    )


def turn_waits(conversation_ids: Any) -> list[tuple[int, int, float, datetime, int | None]]:
    """(reply id, conversation id, seconds the customer waited, the reply's time, its author) for
    every reply that ended a turn."""
    talk = (
        Message.objects.filter(conversation_id__in=conversation_ids, is_private=False)
        .filter(
            Q(direction=Message.Direction.INCOMING)
            | Q(direction=Message.Direction.OUTGOING, sender__isnull=False)
        )
        .exclude(kind=Message.Kind.AUTO)
        .annotate(
            prev=Window(Lag("direction"), partition_by=[F("conversation_id")], order_by=[F("id").asc()]),
        )
        .filter(
            Q(direction=Message.Direction.INCOMING, prev__isnull=True)
            | Q(direction=Message.Direction.INCOMING, prev=Message.Direction.OUTGOING)
            | Q(direction=Message.Direction.OUTGOING, prev=Message.Direction.INCOMING)
        )
        .order_by("conversation_id", "id")
        .values_list("id", "conversation_id", "direction", "created_at", "sender_id")
    )
    out: list[tuple[int, int, float, datetime, int | None]] = []
    started: tuple[int, datetime] | None = None
    for pk, conversation_id, direction, at, sender_id in talk:
        if direction == Message.Direction.INCOMING:
            started = (conversation_id, at)
        elif started is not None and started[0] == conversation_id:
            out.append((pk, conversation_id, (at - started[1]).total_seconds(), at, sender_id))
            started = None
    return out


def _reply_rows(scope: Scope) -> QuerySet[Any]:
    return (
        SOURCES["reply"]
        .rows(scope)
        .filter(direction=Message.Direction.OUTGOING, sender__isnull=False, is_private=False)
    )


SERIES: dict[str, Callable[[QuerySet[Any], Scope], list[tuple[Any, float]]]] = {
    "frt": _frt_series,
    "handle": _duration_series(
        "resolved_at", "first_response_at", _is_resolved() & Q(first_response_at__isnull=False)
    ),
    "complaint_resolution": _duration_series("resolved_at", "created_at", Q(resolved_at__isnull=False)),
}


# --- computing ---------------------------------------------------------------------------------


def _rows(metric: Metric, scope: Scope) -> QuerySet[Any]:
    if metric.source == "reply":
        return _reply_rows(scope)
    return SOURCES[metric.source].rows(scope, agent_field=metric.agent_field)


def _figure(metric: Metric, value: float | None, count: int, target: float | None) -> Figure:
    return Figure(metric.name, metric.label, value, metric.unit, count, target, metric.better)


def _reducer(metric: Metric, scope: Scope) -> Callable[[list[float]], tuple[float | None, int]]:
    if metric.reduce is not None:
        return metric.reduce
    return _within(lambda: targets(scope.team_id).get("first_response_mean", 60.0))


def _grouped(
    metrics: list[Metric], scope: Scope, by: str | None, *, own_targets: bool = False
) -> dict[str, dict[Any, tuple[float | None, int]]]:
    """``{metric name: {group key: (value, count)}}``; the key is None without ``by``.

    Metrics that read the same rows share one query: one aggregate per (source, agent
    field), one values_list per series. With ``own_targets`` (``by="team"``) each team's
    first response is judged against that team's target, as ``compute`` of the team does.
    """
    out: dict[str, dict[Any, tuple[float | None, int]]] = {}
    for (source, agent_field, what), group in _batches(metrics).items():
        qs = _rows(group[0], scope)
        key = SOURCES[source].key(by, agent_field=agent_field) if by else Value(0)
        qs = qs.annotate(k=key)
        if what == "agg":
            rows = _agg_rows(qs, group, scope, by, (source, agent_field))
            for metric in group:
                assert metric.finish is not None
                prefix = f"{metric.name}__"
                out[metric.name] = {
                    row["k"]: metric.finish(
                        {k[len(prefix) :]: v for k, v in row.items() if k.startswith(prefix)}
                    )
                    for row in rows
                }
        else:
            values: dict[Any, list[float]] = defaultdict(list)
            pairs = _series_pairs(what, qs, scope, key, by, own_targets=own_targets)
            if by:
                for k, v in pairs:
                    values[k].append(v)
            else:
                values[None] = list(map(itemgetter(1), pairs))
            for metric in group:
                if own_targets:
                    out[metric.name] = {
                        k: _reducer(metric, replace(scope, team_id=k))(vs) for k, vs in values.items()
                    }
                else:
                    reduce = _reducer(metric, scope)
                    out[metric.name] = {k: reduce(vs) for k, vs in values.items()}
    for metric in metrics:
        if metric.kind == "ratio":
            assert metric.ratio is not None
            wanted = [METRICS[name] for name in metric.ratio if name not in out]
            parts = {**out, **(_grouped(wanted, scope, by) if wanted else {})}
            num, den = parts[metric.ratio[0]], parts[metric.ratio[1]]
            out[metric.name] = {k: _pct(int(num.get(k, (0, 0))[1]), den[k][1]) for k in den}
    presence = [metric.name for metric in metrics if metric.kind == "custom"]
    if presence:
        out.update(_presence(presence, scope, by))
    return out


def _series_pairs(
    what: str, qs: QuerySet[Any], scope: Scope, key: Any, by: str | None, *, own_targets: bool
) -> list[tuple[Any, float]]:
    """``(group key, value)`` of one series over ``qs`` (annotated with the key ``k``, grouped ``by``)."""
    if what == "response":  # read from the reply rollups, not from ``qs``
        return _response_series(scope, key)
    if what == "frt":
        return _frt_series(qs, scope, frt_limit if own_targets else None, by=by)
    return SERIES[what](qs, scope)


def _aggs(group: list[Metric], scope: Scope) -> dict[str, Any]:
    """The SQL aggregates of a batch of ``agg`` metrics, each named ``<metric>__<part>``."""
    aggs: dict[str, Any] = {}
    for metric in group:
        assert metric.aggs is not None
        aggs.update({f"{metric.name}__{k}": v for k, v in metric.aggs(scope).items()})
    return aggs


def _batches(metrics: list[Metric]) -> dict[tuple[str, str | None, str], list[Metric]]:
    """The metrics that read the same rows, batched for one query: ``(source, agent field,
    "agg")`` for sums and counts, ``(source, agent field, series)`` for the values of a series."""
    batches: dict[tuple[str, str | None, str], list[Metric]] = defaultdict(list)
    for metric in metrics:
        if metric.kind == "agg":
            batches[(metric.source, metric.agent_field, "agg")].append(metric)
        elif metric.kind == "dist":
            batches[(metric.source, metric.agent_field, metric.series or "")].append(metric)
    return batches


def _agg_rows(
    qs: QuerySet[Any], group: list[Metric], scope: Scope, by: str | None, batch: tuple[str, str | None]
) -> list[dict[str, Any]]:
    """The aggregate rows of one batch over ``qs`` (annotated with ``k``): one per group ``by``,
    else one (read with the other period when ``compare_periods`` did)."""
    aggs = _aggs(group, scope)
    if by:
        return list(qs.values("k").annotate(**aggs).order_by())
    both = _memo_get(_both_key(*batch, group, scope))
    if both is not None:
        return [{"k": None, **both}]
    return [{"k": None, **qs.aggregate(**aggs)}]


def _memo_get(key: Any) -> Any:
    store = _SHARED.get()
    return None if store is None else store.get(key)


def _both_key(source: str, agent_field: str | None, group: list[Metric], scope: Scope) -> Any:
    return ("both periods", source, agent_field, tuple(m.name for m in group), scope)


def compare_periods(
    scope: Scope, previous: Scope, names: Sequence[str] | None = None
) -> tuple[dict[str, Figure], dict[str, Figure]]:
    """``compute`` of ``scope`` and of ``previous`` (the period before, the same filters), in
    one ``shared`` block over the span of both.

    When the two do not overlap, each batch of sums and counts (``agg`` figures of one source) is
    read for both from one query over the span, grouped by period (the rows between them — the
    rest of the day a "to date" period compares with — read and dropped), instead of one query
    each: the fixed cost of a read (joining the rollups and the customers, building the query)
    is paid once. The aggregates are counts and sums or means of integers and decimals, exact in
    any order, so the figures are those of two ``compute`` calls (tests/analytics/test_breakdowns.py)."""
    wanted = [METRICS[n] for n in check_names(names)]
    span = (min(scope.start, previous.start), max(scope.end, previous.end))
    with shared(window=span):
        if previous.end <= scope.start and replace(previous, start=scope.start, end=scope.end) == scope:
            _read_both_periods(wanted, previous, scope)
        return compute(scope, names), compute(previous, names)


def _read_both_periods(wanted: list[Metric], previous: Scope, scope: Scope) -> None:
    """Store, for ``_grouped``, each ``agg`` batch of ``wanted`` for both periods, from one read."""
    store = _SHARED.get()
    assert store is not None
    both = replace(scope, start=previous.start)
    for (source, agent_field, what), group in _batches(wanted).items():
        if what != "agg":
            continue
        anchor = SOURCES[source].anchor
        which = Case(
            When(Q(**{f"{anchor}__gte": scope.start}), then=Value(1)),
            When(Q(**{f"{anchor}__lt": previous.end}), then=Value(0)),
            default=None,
            output_field=IntegerField(),
        )
        # No ``aggs`` depends on its scope (they are counts, sums and means of columns), so the
        # span's aggregates grouped by period are each period's.
        rows = _rows(group[0], both).annotate(k=which).values("k").annotate(**_aggs(group, both)).order_by()
        for row in rows:
            # A period with no rows has no group here: it is left to its own query, which
            # gives what an aggregate of nothing gives (0 for counts, None for the rest).
            key = row.pop("k")
            if key is not None:  # the rows between the two periods
                store[_both_key(source, agent_field, group, scope if key == 1 else previous)] = row


def check_names(names: Iterable[str] | None) -> list[str]:
    """The metric names asked for (all when None); ``KeyError`` names the first unknown one."""
    if names is None:
        return list(METRICS)
    names = list(dict.fromkeys(names))
    for name in names:
        if name not in METRICS:
            raise KeyError(name)
    return names


def compute(scope: Scope, names: Sequence[str] | None = None) -> dict[str, Figure]:
    """The figures ``names`` (all by default) for ``scope``, with the scope's team targets."""
    wanted = [METRICS[n] for n in check_names(names)]
    goals = targets(scope.team_id)
    values = _grouped(wanted, scope, None)
    out: dict[str, Figure] = {}
    for metric in wanted:
        value, count = values[metric.name].get(None, (None, 0))
        out[metric.name] = _figure(metric, value, count, goals.get(metric.name))
    return out


def compute_teams(
    scope: Scope, team_ids: Iterable[int], names: Sequence[str] | None = None
) -> dict[int, dict[str, Figure]]:
    """``compute`` of each team (``scope`` with its ``team_id``), from one pass grouped by team:
    the same figures, each team's targets, and the same number of queries however many teams."""
    wanted = [METRICS[n] for n in check_names(names)]
    team_ids = list(team_ids)
    with shared():
        _share_targets(team_ids)
        return _compute_teams(wanted, replace(scope, team_id=None), team_ids)


def _compute_teams(wanted: list[Metric], whole: Scope, team_ids: list[int]) -> dict[int, dict[str, Figure]]:
    values = _grouped(wanted, whole, "team", own_targets=True)
    empty: dict[str, dict[Any, tuple[float | None, int]]] | None = None
    out: dict[int, dict[str, Figure]] = {}
    for team_id in team_ids:
        goals = targets(team_id)
        figures: dict[str, Figure] = {}
        for metric in wanted:
            found = values[metric.name].get(team_id)
            if found is None:
                # A team without rows for this figure: what ``compute`` gives a team that has
                # none (0 for counts, None for the rest), read once for every such team.
                if empty is None:
                    empty = _grouped(wanted, replace(whole, team_id=0), None)  # no team has pk 0
                found = empty[metric.name].get(None, (None, 0))
            figures[metric.name] = _figure(metric, found[0], found[1], goals.get(metric.name))
        out[team_id] = figures
    return out


def compare(scope: Scope, names: Sequence[str] | None = None) -> dict[str, tuple[Figure, Figure]]:
    """Each figure for the scope and for the period just before it."""
    now, before = compare_periods(scope, scope.previous(), names)
    return {name: (now[name], before[name]) for name in now}


def breakdown(scope: Scope, name: str, by: str) -> list[tuple[str, str, Figure]]:
    """One figure per channel / intent / team / agent / hour / weekday / day / half hour, with data.

    The quality findings rates also break down ``by="rule"``: the share of checked replies in
    which each rule fired.
    """
    metric = METRICS[check_names([name])[0]]
    if by == RULE and metric.source == "findings":
        return _rule_hits(scope, metric)
    return breakdowns(scope, [name], by)[metric.name]


def breakdowns(scope: Scope, names: Sequence[str], by: str) -> dict[str, list[tuple[str, str, Figure]]]:
    """``breakdown`` of several figures by one dimension, from one grouped pass: the figures
    that read the same rows share one query (sums and counts grouped in SQL, the values of
    means and percentiles fetched once and grouped in Python). Each list is what
    ``breakdown(scope, name, by)`` gives (tests/analytics/test_breakdowns.py)."""
    wanted = [METRICS[n] for n in check_names(names)]
    if by not in BREAKDOWNS:
        raise KeyError(by)
    grouped = _grouped(wanted, scope, by)
    goals = targets(scope.team_id)
    every = {k for values in grouped.values() for k in values if k not in (None, "")}
    labels = _labels(by, sorted(every, key=_sort_key))
    out: dict[str, list[tuple[str, str, Figure]]] = {}
    for metric in wanted:
        values = grouped[metric.name]
        target = goals.get(metric.name)
        rows = []
        for k in sorted((k for k in values if k not in (None, "")), key=_sort_key):
            value, count = values[k]
            if by == "weekday":
                k = k - 1  # ISO 1..7 → Monday 0
            rows.append((str(k), labels.get(k, str(k)), _figure(metric, value, count, target)))
        for blank in (None, ""):
            if blank in values and by in _NONE_LABELS:
                value, count = values[blank]
                if count:
                    rows.append(("", _NONE_LABELS[by], _figure(metric, value, count, target)))
        out[metric.name] = rows
    return out


def _rule_hits(scope: Scope, metric: Metric) -> list[tuple[str, str, Figure]]:
    """Per rule, the replies it fired on ÷ the checked replies (high-severity hits only for the high rate)."""
    high_only = metric.name == "quality_high_findings_rate"
    rows = SOURCES["findings"].rows(scope).values_list("findings", flat=True)
    total = 0
    hits: dict[str, int] = defaultdict(int)
    for findings in rows:
        total += 1
        fired = {
            str(f.get("rule", ""))
            for f in findings or []
            if isinstance(f, dict) and (not high_only or f.get("severity") == "high")
        }
        for rule in fired:
            hits[rule] += 1
    target = targets(scope.team_id).get(metric.name)
    out = []
    for rule, n in sorted(hits.items(), key=lambda kv: (-kv[1], kv[0])):
        value, count = _pct(n, total)
        out.append((rule, RULE_LABELS.get(rule, rule), _figure(metric, value, count, target)))
    return out


_NONE_LABELS = {"channel": "未知渠道", "intent": "未识别", "team": "未分配团队", "agent": "未分配客服"}


def _sort_key(k: Any) -> Any:
    return (str(type(k)), k)


def _labels(by: str, keys: list[Any]) -> dict[Any, str]:
    if by == "channel":
        return dict(Channel.objects.filter(pk__in=keys).values_list("pk", "name"))
    if by == "team":
        return dict(Team.objects.filter(pk__in=keys).values_list("pk", "name"))
    if by == "agent":
        return {u.pk: u.name for u in User.objects.filter(pk__in=keys)}
    if by == "hour":
        return {k: f"{k:02d}:00" for k in keys}
    if by == "weekday":
        return {k - 1: WEEKDAYS[k - 1] for k in keys}
    if by == "halfhour":
        return {k: f"{k // 2:02d}:{30 * (k % 2):02d}" for k in keys}
    if by == "day":
        return {k: k.isoformat() if isinstance(k, date) else str(k) for k in keys}
    return {k: str(k) for k in keys}


def heatmap(scope: Scope, name: str = "volume") -> list[list[float | None]]:
    """7 weekdays (Monday first) × 24 hours of one figure, in the desk's time zone."""
    metric = METRICS[check_names([name])[0]]
    if metric.kind == "custom":
        raise KeyError(name)
    values = _grouped([metric], scope, "weekday_hour")[metric.name]
    empty = 0.0 if metric.unit == "count" else None
    grid: list[list[float | None]] = [[empty] * 24 for _ in range(7)]
    for k, (value, _count) in values.items():
        if k is None:
            continue
        grid[int(k) // 100 - 1][int(k) % 100] = value
    return grid


def behind_ids(scope: Scope, name: str, key: tuple[str, str] | None = None) -> QuerySet[Any]:
    """The ids of the conversations behind a figure (optionally of one breakdown row), as an
    unordered one-column query: callers filter, count and page it in SQL (``pk__in``)."""
    metric = METRICS[check_names([name])[0]]
    source = SOURCES.get(metric.source if metric.source != "presence" else "conversation")
    if metric.kind == "ratio":
        source = SOURCES["complaint"]
    assert source is not None
    qs = _rows(metric, scope) if metric.source != "presence" else SOURCES["conversation"].rows(scope)
    if metric.behind is not None:
        qs = qs.filter(metric.behind(scope))
    if key is not None:
        by, value = key
        if by not in BREAKDOWNS:
            raise KeyError(by)
        k: Any = value
        if by == "weekday":
            k = int(value) + 1
        elif by == "day":
            k = date.fromisoformat(value)
        elif by in ("hour", "halfhour", "team", "agent", "channel"):
            k = int(value) if value else None
        qs = qs.annotate(k=source.key(by, agent_field=metric.agent_field))
        qs = qs.filter(k__isnull=True) if k in (None, "") else qs.filter(k=k)
    column = source.conversation or "id"
    return qs.exclude(**{f"{column}__isnull": True}).order_by().values(column)


def behind(scope: Scope, name: str, key: tuple[str, str] | None = None) -> list[int]:
    """The newest ``BEHIND_LIMIT`` of ``behind_ids``, newest first (the full list is paged by the caller)."""
    return list(
        Conversation.objects.filter(pk__in=behind_ids(scope, name, key))
        .order_by("-pk")
        .values_list("pk", flat=True)[:BEHIND_LIMIT]
    )


# --- distributions: how the values of a duration spread over buckets -------------------------


@dataclass(frozen=True)
class Distribution:
    """A histogram of one series: ``buckets`` are (upper bound in seconds, inclusive; label)."""

    name: str
    label: str
    metric: str  # the metric whose rows and series it reads
    buckets: tuple[tuple[float, str], ...]
    overdue_label: str = ""  # values counted as late without an end (unanswered past the target)


_FRT_BUCKETS = (
    (15.0, "15秒内"),
    (30.0, "15–30秒"),
    (60.0, "30秒–1分钟"),
    (120.0, "1–2分钟"),
    (300.0, "2–5分钟"),
    (600.0, "5–10分钟"),
    (1800.0, "10–30分钟"),
    (3600.0, "30分钟–1小时"),
    (math.inf, "1小时以上"),
)
DISTRIBUTIONS: dict[str, Distribution] = {
    d.name: d
    for d in (
        Distribution("first_response", "首次响应时间分布", "first_response_mean", _FRT_BUCKETS, "超时未回复"),
        Distribution("response_time", "消息响应时间分布", "response_time_mean", _FRT_BUCKETS),
        Distribution(
            "aht",
            "处理时长分布",
            "aht_mean",
            (
                (60.0, "1分钟内"),
                (300.0, "1–5分钟"),
                (900.0, "5–15分钟"),
                (1800.0, "15–30分钟"),
                (3600.0, "30分钟–1小时"),
                (4 * 3600.0, "1–4小时"),
                (86400.0, "4小时–1天"),
                (math.inf, "1天以上"),
            ),
        ),
    )
}


def distribution(scope: Scope, name: str = "first_response") -> list[tuple[str, str, int]]:
    """``(key, label, count)`` per bucket, every bucket listed (empty ones as 0), in order.

    The values are the very ones the metric averages (``first_response`` counts what
    ``first_response_mean`` does, plus the customers still unanswered past the target in
    their own last bucket); a value on a bound falls in the lower bucket (60 s is
    「30秒–1分钟」).
    """
    spec = DISTRIBUTIONS[name]
    metric = METRICS[spec.metric]
    assert metric.series is not None
    counts = [0] * len(spec.buckets)
    bounds = [bound for bound, _label in spec.buckets]
    overdue = 0
    values = _series_pairs(
        metric.series, _rows(metric, scope).annotate(k=Value(0)), scope, Value(0), None, own_targets=False
    )
    for _k, value in values:
        if math.isinf(value):
            overdue += 1
            continue
        counts[bisect.bisect_left(bounds, value)] += 1  # the first bucket whose bound is ≥ value
    out = []
    low = 0.0
    for (bound, label), n in zip(spec.buckets, counts, strict=True):
        out.append((f"{low:g}-{'' if math.isinf(bound) else f'{bound:g}'}", label, n))
        low = bound
    if spec.overdue_label:
        out.append(("overdue", spec.overdue_label, overdue))
    return out


def arrivals(scope: Scope, bucket_minutes: int = 30) -> list[tuple[datetime, int]]:
    """New conversations per bucket of local time over the period, empty buckets included."""
    if bucket_minutes <= 0 or 60 % bucket_minutes:
        raise ValueError("bucket_minutes must divide 60")
    qs = SOURCES["conversation"].rows(scope)
    counts = {
        (hour, part): n
        for hour, part, n in qs.annotate(h=TruncHour("created_at"), p=_minute("created_at") / bucket_minutes)
        .values("h", "p")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("h", "p", "n")
    }
    tz = timezone.get_current_timezone()
    by_start = {
        timezone.localtime(h, tz) + timedelta(minutes=p * bucket_minutes): n for (h, p), n in counts.items()
    }
    out = []
    step = timedelta(minutes=bucket_minutes)
    at = timezone.localtime(scope.start, tz).replace(second=0, microsecond=0)
    at -= timedelta(minutes=at.minute % bucket_minutes)
    while at < scope.end:
        out.append((at, by_start.get(at, 0)))
        at = timezone.localtime(at + step, tz)
    return out


def targets(team_id: int | None = None) -> dict[str, float]:
    """Admin-set targets (a team's own override the desk-wide ones), over the handbook defaults."""
    return dict(_memo(("targets", team_id), lambda: _read_targets(team_id)))


def _read_targets(team_id: int | None) -> dict[str, float]:
    rows = MetricTarget.objects.filter(Q(team__isnull=True) | Q(team_id=team_id)).values_list(
        "name", "team_id", "value"
    )
    return _overlay(list(rows))


def _share_targets(team_ids: list[int]) -> None:
    """Read the targets of several teams (and the desk's) in one query into the shared block."""
    store = _SHARED.get()
    assert store is not None
    rows = list(
        MetricTarget.objects.filter(Q(team__isnull=True) | Q(team_id__in=team_ids)).values_list(
            "name", "team_id", "value"
        )
    )
    for team_id in [None, *team_ids]:
        store.setdefault(("targets", team_id), _overlay([r for r in rows if r[1] is None or r[1] == team_id]))


def _overlay(rows: list[tuple[str, int | None, float | None]]) -> dict[str, float]:
    out = dict(DEFAULT_TARGETS)
    for name, _team, value in sorted(rows, key=lambda r: r[1] is not None):
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return out


# --- presence: online time and occupancy -----------------------------------------------------------


def _agents(scope: Scope) -> list[int]:
    qs = User.objects.filter(is_active=True)
    if scope.agent_id is not None:
        qs = qs.filter(pk=scope.agent_id)
    if scope.team_id is not None:
        qs = qs.filter(teams=scope.team_id)
    return list(qs.values_list("pk", flat=True).distinct())


def _spans(user_ids: list[int], start: datetime, end: datetime) -> dict[int, list[tuple[int, int]]]:
    """Per agent, the stretches of ``[start, end)`` spent online or busy (in microseconds since
    1970: ``_us``; whole numbers, so their sums and overlaps are exactly the seconds the
    datetimes would give, at a fraction of the cost for a big team's months of history).

    In a ``shared`` block one read of the status history serves every request it covers (the
    stretches of a wider span, clipped, are the stretches of the narrower one); a request it
    does not cover widens it and reads again."""
    store = _SHARED.get()
    if store is None:
        return _read_spans(user_ids, start, end)
    have: _SpanStore | None = store.get(("spans",))
    if have is None or not (have.start <= start and end <= have.end):
        start_all, end_all = start, end
        users = set(user_ids)
        if have is not None:
            start_all, end_all, users = min(have.start, start), max(have.end, end), users | have.users
        window = store.get(("window",))
        if window is not None:
            start_all, end_all = min(start_all, window[0]), max(end_all, min(window[1], timezone.now()))
        have = store[("spans",)] = _SpanStore(start_all, end_all)
        have.add(_read_spans(sorted(users), start_all, end_all))
    missing = [u for u in user_ids if u not in have.users]
    if missing:
        have.add(_read_spans(missing, have.start, have.end))
    start_us, end_us = _us(start), _us(end)
    return {u: have.clip(u, start_us, end_us) for u in user_ids}


class _SpanStore:
    """The agents' online stretches over ``[start, end)``, clipped to any narrower span on request."""

    def __init__(self, start: datetime, end: datetime) -> None:
        self.start, self.end = start, end
        self.users: set[int] = set()
        self._spans: dict[int, tuple[list[tuple[int, int]], list[int], list[int]]] = {}

    def add(self, spans: dict[int, list[tuple[int, int]]]) -> None:
        for user, mine in spans.items():
            self._spans[user] = (mine, [s for s, _e in mine], [e for _s, e in mine])
            self.users.add(user)

    def clip(self, user: int, start: int, end: int) -> list[tuple[int, int]]:
        found = self._spans.get(user)
        if found is None:
            return []
        spans, starts, ends = found
        # Stretches are sorted and do not overlap: those that reach into [start, end) are a slice,
        # and only its first and last can reach past the span's edges.
        i, j = bisect.bisect_right(ends, start), bisect.bisect_left(starts, end)
        clipped = spans[i:j]
        if clipped:
            s, e = clipped[0]
            if s < start:
                clipped[0] = (start, e)
            s, e = clipped[-1]
            if e > end:
                clipped[-1] = (s, end)
        return clipped


def _read_spans(user_ids: list[int], start: datetime, end: datetime) -> dict[int, list[tuple[int, int]]]:
    """Per agent, the stretches of ``[start, end)`` spent online or busy, as ``_us`` (two queries)."""
    working = (AgentStatus.ONLINE, AgentStatus.BUSY)
    # Each agent's status when the span starts: the last change before it, found by one probe
    # of the (user, at) index per agent. A MAX(at) grouped by agent read every earlier change,
    # a cost that grew with the history kept (a year's 420,000 changes: 40-55 ms a report).
    last = StatusChange.objects.filter(user_id=OuterRef("pk"), at__lt=start).order_by("-at", "-id")
    state: dict[int, str] = {
        uid: to
        for uid, to in User.objects.filter(pk__in=user_ids)
        .annotate(to=Subquery(last.values("to_status")[:1]))
        .values_list("pk", "to")
        if to is not None
    }
    changes: dict[int, list[tuple[int, str, str]]] = defaultdict(list)
    for uid, t, frm, to in _fetch(
        StatusChange.objects.filter(user_id__in=user_ids, at__gte=start, at__lt=end)
        .annotate(t=EpochMicroseconds("at"))
        .order_by("at", "id")
        .values_list("user_id", "t", "from_status", "to_status")
    ):
        changes[uid].append((t, frm, to))
    start_us, end_us = _us(start), _us(end)
    out: dict[int, list[tuple[int, int]]] = {}
    for uid in user_ids:
        mine = changes.get(uid, [])
        status = state.get(uid) or (mine[0][1] if mine else AgentStatus.OFFLINE)
        cursor = start_us
        spans: list[tuple[int, int]] = []
        append = spans.append
        for t, _frm, to in mine:
            if t > cursor and status in working:
                append((cursor, t))
            cursor, status = t, to
        if end_us > cursor and status in working:
            append((cursor, end_us))
        out[uid] = spans
    return out


def _merge[T: (datetime, int)](intervals: list[tuple[T, T]]) -> list[tuple[T, T]]:
    merged: list[tuple[T, T]] = []
    for s, e in sorted(intervals):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        elif e > s:
            merged.append((s, e))
    return merged


def _overlap_us(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> float:
    """Seconds two sorted lists of disjoint stretches (``_us``) overlap."""
    total = 0.0
    if not a or not b:
        return total
    # A two-pointer walk; plain comparisons rather than max() / min() (a month of 200 agents'
    # stretches makes this a hundred thousand steps), the same sums in the same order.
    i, j, na, nb = 0, 0, len(a), len(b)
    a_start, a_end = a[0]
    b_start, b_end = b[0]
    while True:
        s = a_start if a_start > b_start else b_start
        e = a_end if a_end < b_end else b_end
        if e > s:
            total += (e - s) / 1_000_000  # exactly ``timedelta.total_seconds()``
        if a_end < b_end:
            i += 1
            if i == na:
                return total
            a_start, a_end = a[i]
        else:
            j += 1
            if j == nb:
                return total
            b_start, b_end = b[j]


def _handling(users: list[int], scope: Scope, end: datetime) -> dict[int, list[tuple[int, int]]]:
    """Per agent, the stretches of the period spent with at least one answered conversation open
    (in microseconds since 1970: ``_us``)."""
    handling: dict[int, list[tuple[int, int]]] = defaultdict(list)
    now = _us(timezone.now())
    window = _window_over(scope.start, end)
    if window is not None:
        # One read for the whole window (the report's two periods), filtered here per period.
        key = ("handling", scope.channel_id, scope.intent, tuple(users))
        rows = _memo(key, lambda: _handled_rows(users, scope, window[0], window[1]))
    else:
        rows = _handled_rows(users, scope, scope.start, end)
    start_us, end_us = _us(scope.start), _us(end)
    for uid, s, e, status in rows:
        if s is None or s >= end_us or not (e is None or e > start_us or status in ACTIVE):
            continue
        stop = now if status in ACTIVE or e is None else e
        handling[uid].append((s if s > start_us else start_us, stop if stop < end_us else end_us))
    return handling


def _handled_rows(
    users: list[int], scope: Scope, start: datetime, end: datetime
) -> list[tuple[int, int | None, int | None, str]]:
    """(agent, first response, resolution, status) of the answered conversations agents had open
    at some time in ``[start, end)``, the times as ``EpochMicroseconds``."""
    convs = Conversation.objects.filter(
        assignee_id__in=users,
        first_response_at__isnull=False,
        first_response_at__lt=end,
    ).filter(Q(resolved_at__isnull=True) | Q(resolved_at__gt=start) | Q(status__in=ACTIVE))
    if scope.channel_id is not None:
        convs = convs.filter(channel_id=scope.channel_id)
    if scope.intent is not None:
        convs = convs.filter(intent=scope.intent)
    return _fetch(
        convs.annotate(s=EpochMicroseconds("first_response_at"), e=EpochMicroseconds("resolved_at"))
        .order_by()
        .values_list("assignee_id", "s", "e", "status")
    )


def _presence(
    names: list[str], scope: Scope, by: str | None
) -> dict[str, dict[Any, tuple[float | None, int]]]:
    """Online time (online + busy seconds, summed over agents) and occupancy, per agent or team,
    from one read of the status history."""
    if by not in (None, "agent", "team"):
        raise KeyError(by)
    end = min(scope.end, timezone.now())
    users = _agents(scope)
    spans = _spans(users, scope.start, end) if end > scope.start else {u: [] for u in users}
    groups: dict[Any, list[int]] = defaultdict(list)
    if by == "team":
        for uid, team_id in User.teams.through.objects.filter(user_id__in=users).values_list(
            "user_id", "team_id"
        ):
            groups[team_id].append(uid)
    else:
        for uid in users:
            groups[uid if by == "agent" else None].append(uid)
    busy: dict[int, float] = {}
    if "occupancy" in names:
        handling = _handling(users, scope, end)
        busy = {uid: _overlap_us(_merge(handling[uid]), spans.get(uid, [])) for uid in users}
    out: dict[str, dict[Any, tuple[float | None, int]]] = {name: {} for name in names}
    for key, members in groups.items():
        online = sum((e - s) / 1_000_000 for uid in members for s, e in spans.get(uid, []))
        if "online_time" in out:
            out["online_time"][key] = (online, len(members))
        if "occupancy" in out:
            occupied = sum(busy.get(uid, 0.0) for uid in members)
            out["occupancy"][key] = (100.0 * occupied / online if online else None, round(online))
    if by is None:
        if "online_time" in out:
            out["online_time"].setdefault(None, (0.0, 0))
        if "occupancy" in out:
            out["occupancy"].setdefault(None, (None, 0))
    return out
