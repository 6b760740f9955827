"""Keyset pages ("下一页 / 上一页" with a cursor) and counts that stop early.

An ``OFFSET`` page makes the database walk every row before it, and an exact ``COUNT(*)``
walks every row that matches: at a million tickets both cost more than the page itself.
A keyset page starts from the last row shown (its sort value and id, in an opaque cursor)
and reads ``limit + 1`` rows down an index, so page 1,000 costs what page 1 costs; the count
stops at ``COUNT_CAP`` rows and the page says 「超过 10,000 条」 beyond it.

The cursor is the sort value and the id, base64-encoded: it is not a secret (it only says
where to start; the permission filter is applied again), just not meant to be built by hand.
A cursor that does not decode, or that was made for another sort, is a 400 naming the field.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Model, Q, QuerySet

from .errors import InvalidInput

COUNT_CAP = 10_000


@dataclass(frozen=True, slots=True)
class Count:
    """How many rows match, exactly up to the cap: ``exact`` is False when there are more."""

    value: int
    exact: bool


def capped_count(qs: QuerySet[Any], cap: int | None = None) -> Count:
    """``COUNT(*)`` of at most ``cap + 1`` rows (``COUNT_CAP``): the database stops walking after them."""
    cap = COUNT_CAP if cap is None else cap
    n = qs.order_by()[: cap + 1].count()
    return Count(min(n, cap), n <= cap)


@dataclass(frozen=True, slots=True)
class KeysetPage[R]:
    items: list[R]
    next_cursor: str | None  # where the next page starts (None: this is the last)
    prev_cursor: str | None  # where the page before ends (None: this is the first)


def encode_cursor(sort: str, value: Any, pk: int) -> str:
    raw = json.dumps([sort, value.isoformat() if isinstance(value, datetime) else value, pk])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *, sort: str, field: str) -> tuple[Any, int]:
    """The sort value and id a cursor holds; a 400 naming ``field`` if it is not one of ours for ``sort``."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        made_for, value, pk = data
        if made_for != sort or type(pk) is not int or not 0 < pk < 2**63 or not isinstance(value, str):
            raise ValueError
        value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            raise ValueError
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput("翻页位置无效，请从第一页重新开始", fields={field: "无效的翻页位置"}) from None
    return value, pk


def _after(field: str, descending: bool, value: Any, pk: int) -> Q:
    """Rows that come after (``value``, ``pk``) in the order ``field``, id (both in one direction)."""
    op = "lt" if descending else "gt"
    return Q(**{f"{field}__{op}": value}) | Q(**{field: value, f"pk__{op}": pk})


def keyset_page[M: Model, R](
    qs: QuerySet[M, R],
    *,
    sort: str,
    limit: int,
    after: str | None = None,
    before: str | None = None,
) -> KeysetPage[R]:
    """One page of ``qs`` ordered by ``sort`` (``"-created_at"``, ``"updated_at"`` …) then id.

    ``after`` is a ``next_cursor`` (the page following it), ``before`` a ``prev_cursor``
    (the page preceding it); with neither, the first page. ``sort``'s field is a date-time
    that is never null. ``qs`` may be a ``values()`` query that holds the field and ``id``.
    """
    if after and before:
        raise InvalidInput("after 和 before 只能给一个", fields={"before": "不能与 after 同时使用"})
    descending = sort.startswith("-")
    field = sort.lstrip("-")
    forward = [sort, "-pk" if descending else "pk"]
    backward = [field if descending else f"-{field}", "pk" if descending else "-pk"]
    if before:
        value, pk = decode_cursor(before, sort=sort, field="before")
        rows = list(qs.filter(_after(field, not descending, value, pk)).order_by(*backward)[: limit + 1])
        more_before = len(rows) > limit
        items = list(reversed(rows[:limit]))
        has_prev, has_next = more_before, True
    else:
        if after:
            value, pk = decode_cursor(after, sort=sort, field="after")
            qs = qs.filter(_after(field, descending, value, pk))
        rows = list(qs.order_by(*forward)[: limit + 1])
        items = rows[:limit]
        has_prev, has_next = bool(after), len(rows) > limit
    if not items:
        return KeysetPage(items, None, None)
    first, last = items[0], items[-1]
    return KeysetPage(
        items,
        encode_cursor(sort, *_key(last, field)) if has_next else None,
        encode_cursor(sort, *_key(first, field)) if has_prev else None,
    )


def _key(row: Any, field: str) -> tuple[Any, int]:
    """A row's sort value and id: a model instance, or a ``values()`` dict holding ``field`` and ``id``."""
    if isinstance(row, dict):
        return row[field], row["id"]
    return getattr(row, field), row.pk
