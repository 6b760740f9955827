"""Values cached for a desk user until an event reaches one of the user's desk groups.

The navigation's counts (unread, queued, open alerts) are rendered on every desk page and
asked again by desk.js after the events that may change them; at a year's history they
cost more than the rest of a small page. What they count changes only through events, and
every event goes through ``core.events.publish`` to desk groups (``desk.user.<id>``,
``desk.team.<id>``, ``desk.all``). So each group has a *generation*, a counter in the
cache that ``publish`` raises after the commit and before the event is sent; a value
cached for a user is stored with the generations of the user's groups and used only
while they are all unchanged. A desk that hears an event and asks again therefore always
gets a fresh value.

What no event announces (the agent's own read marker, which ``do_mark_read`` marks
itself; data changed behind kefu's back; a cache that lost a generation key, or a worker
process on the embedded mode's local-memory cache, which the web process does not share)
is bounded by the value's TTL: a few seconds (``TTL``).

While Redis is known to be down (``core.realtime``, the same view the event path takes),
the cache is not asked at all: the counts are counted on every request, and no page
waits for a connect timeout. A failure that reveals an outage is reported there.

``NAMESPACE`` is set per test (tests/conftest.py): primary keys repeat between test
databases, the cache does not forget between tests.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from django.core.cache import cache

from kefu.core import realtime

log = logging.getLogger(__name__)

NAMESPACE = "desk"
# How long a cached value may be used at most when no event says it changed.
TTL = 10
# Generations outlive every value stored with them by far.
GENERATION_TTL = 24 * 3600


def _generation_key(group: str) -> str:
    return f"{NAMESPACE}:gen:{group}"


def mark_changed(groups: Iterable[str]) -> None:
    """Raise the generation of each group: values cached for their members are stale.

    Never raises: a cache that is away leaves the values to expire by their TTL.
    """
    counters = [(_generation_key(g), GENERATION_TTL) for g in dict.fromkeys(groups)]
    if not counters or not realtime.should_send():
        return
    try:
        cache.incr_many(counters)  # type: ignore[attr-defined]  # kefu.core.cache's backends
    except Exception as exc:  # a cache outage must never undo or delay an event
        _failed("desk cache generations not raised", exc)


def cached[T](key: str, groups: Iterable[str], compute: Callable[[], T], *, stamp: Any = None) -> T:
    """``compute()``, or the value cached under ``key`` while ``groups``' generations (and
    ``stamp``, what else the value depends on) are what they were when it was computed.

    The generations are read before computing: an event that lands meanwhile raises one,
    and the next call computes again.
    """
    if not realtime.should_send():
        return compute()
    groups = list(dict.fromkeys(groups))
    full_key = f"{NAMESPACE}:val:{key}"
    gen_keys = [_generation_key(g) for g in groups]
    try:
        got = cache.get_many([full_key, *gen_keys])
    except Exception as exc:
        _failed("desk cache unavailable", exc)
        return compute()
    seen = (stamp, tuple(got.get(k, 0) for k in gen_keys))
    hit = got.get(full_key)
    if isinstance(hit, tuple) and len(hit) == 2 and hit[0] == seen:
        return hit[1]  # type: ignore[no-any-return]
    value = compute()
    try:
        cache.set(full_key, (seen, value), TTL)
    except Exception as exc:
        _failed("desk cache not written", exc)
    return value


def _failed(what: str, exc: Exception) -> None:
    log.warning("%s: %r", what, exc)
    if isinstance(exc, realtime.LAYER_ERRORS):
        realtime.report(exc)  # the watchdog probes Redis at once
