"""Rate limits on what the public may send: chat messages, uploads, ratings, sign-ins.

A *limit* is a named set of rates in ``settings.KEFU_RATE_LIMITS`` — ``"chat_message":
((8, 10), (20, 60))`` is 8 per 10 seconds and 20 per minute — counted per key (a
visitor, an address, a username). Each rate is a fixed-window counter in the cache,
raised atomically (``kefu.core.cache``: one Lua call on Redis, ``add``/``incr`` under
the local-memory cache's lock), so requests arriving together — in one process or in
several — cannot get past a limit together. A key's windows start at an offset taken
from its hash, so everyone refused in the same second does not come back together.

With ``KEFU_REDIS_URL`` the cache is Redis and every process shares the counters.
Without it kefu runs as one process (its realtime layer is in memory too) and the
counters live in that process's memory.

Only what is let through counts: an attempt refused by one limit is taken back from
all of them, and a caller gives an attempt back (``Reservation.release``) when it
turned out not to be new (a resend) or not to be a failure (a right password). If the
cache fails, attempts are let through and the failure is logged: a customer is not
turned away because Redis is.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from typing import NamedTuple

from django.conf import settings
from django.core.cache import BaseCache, caches
from django.core.exceptions import ImproperlyConfigured

from .cache import LocMemCache, RedisCache
from .errors import RateLimited

log = logging.getLogger(__name__)

CACHE_ALIAS = "default"
# The first part of every counter's key (tests give each test its own).
NAMESPACE = "rl"
DEFAULT_MESSAGE = "发送太频繁，请稍后再试"
CountingCache = RedisCache | LocMemCache


def now() -> float:
    """Wall-clock seconds: every process must agree on where a window starts."""
    return time.time()


_client: CountingCache | None = None
_client_lock = threading.Lock()


def _cache() -> CountingCache:
    """This process's one client of the cache, for every thread: one Redis connection pool.

    (``caches[...]`` keeps a client per thread, and so a pool per thread.) The clients
    are thread-safe once set up; setting up is not, so the first call connects while
    holding the lock.
    """
    global _client
    if _client is None:
        with _client_lock:
            if _client is None:
                client = caches.create_connection(CACHE_ALIAS)
                if not isinstance(client, CountingCache):
                    raise ImproperlyConfigured(
                        f"CACHES[{CACHE_ALIAS!r}] must be kefu.core.cache.RedisCache or LocMemCache"
                    )
                with contextlib.suppress(Exception):  # down now: take() will say so
                    client.has_key(NAMESPACE)
                _client = client
    return _client


def close() -> None:
    """Disconnect this process from the cache (the next attempt connects again)."""
    global _client
    with _client_lock:
        client, _client = _client, None
    if client is not None:
        _disconnect(client)


def _disconnect(client: BaseCache) -> None:
    # Django's Redis client keeps its connection pools until garbage collection.
    redis_client = vars(client).get("_cache")
    for pool in getattr(redis_client, "_pools", {}).values():
        pool.disconnect()


@dataclass
class Reservation:
    """The counters one ``take`` raised; ``release`` lowers them again."""

    counters: list[tuple[str, int]] = field(default_factory=list)

    def release(self) -> None:
        _lower(self.counters)
        self.counters = []


class _Window(NamedTuple):
    limit: str
    allowed: int
    counter: str
    # A counter outlives its window by a second, so every attempt in the window finds it.
    timeout: int
    retry_after: int


def take(*charges: tuple[str, str | None], message: str = DEFAULT_MESSAGE) -> Reservation:
    """Count one attempt against each ``(limit, key)``; raises ``RateLimited`` if one is used up.

    A ``None`` key (no address known) and a limit configured off count nothing.
    ``message`` may contain ``{wait}`` ("30 秒", "5 分钟").
    """
    moment = now()
    windows = [
        _window(limit, key, count, seconds, moment)
        for limit, key in charges
        if key is not None
        for count, seconds in settings.KEFU_RATE_LIMITS[limit]
    ]
    counters = [(w.counter, w.timeout) for w in windows]
    try:
        values = _cache().incr_many(counters)
    except Exception:
        log.warning("rate limits not enforced: the cache failed", exc_info=True)
        return Reservation()
    full = [w for w, value in zip(windows, values, strict=True) if value > w.allowed]
    if full:
        _lower(counters)
        longest = max(full, key=lambda w: w.retry_after)
        raise RateLimited(
            message.format(wait=wait_text(longest.retry_after)),
            limit=longest.limit,
            retry_after=longest.retry_after,
        )
    return Reservation(counters)


def take_for_address(limit: str, ip: str | None, *, message: str = DEFAULT_MESSAGE) -> Reservation:
    """``take`` one attempt against ``limit`` for the address ``ip`` (see ``address_key``)."""
    return take((limit, address_key(ip)), message=message)


def address_key(ip: str | None) -> str | None:
    """What limits count an address by: an IPv4 address, or an IPv6 host's usual /64."""
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def wait_text(seconds: int) -> str:
    return f"{seconds} 秒" if seconds < 60 else f"{math.ceil(seconds / 60)} 分钟"


def _window(limit: str, key: str, count: int, seconds: int, moment: float) -> _Window:
    """The window of ``seconds`` that ``moment`` falls in, for ``key``."""
    digest = hashlib.sha256(f"{limit}\0{key}".encode()).hexdigest()[:32]
    shifted = moment + int(digest[:8], 16) % seconds
    index = int(shifted // seconds)
    retry_after = max(1, math.ceil((index + 1) * seconds - shifted))
    counter = f"{NAMESPACE}:{limit}:{seconds}:{index}:{digest}"
    return _Window(limit, count, counter, seconds + 1, retry_after)


def _lower(counters: list[tuple[str, int]]) -> None:
    try:
        _cache().incr_many(counters, -1)
    except Exception:
        log.warning("rate limit counters not lowered: the cache failed", exc_info=True)
