"""The rate limiter: fixed windows in the cache, shared by every process that uses it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import caches

from kefu.core import ratelimit
from kefu.core.errors import RateLimited

REPO = Path(__file__).resolve().parents[2]


def _allowed(limit: str, key: str | None, n: int) -> list[bool]:
    results = []
    for _ in range(n):
        try:
            ratelimit.take((limit, key))
        except RateLimited:
            results.append(False)
        else:
            results.append(True)
    return results


def test_attempts_past_the_rate_are_refused_naming_the_limit_and_the_wait(rate_clock, rate_limits):
    rate_limits(chat_message="3/1m")
    assert _allowed("chat_message", "v1", 4) == [True, True, True, False]
    with pytest.raises(RateLimited) as refused:
        ratelimit.take(("chat_message", "v1"))
    assert refused.value.status == 429
    assert refused.value.limit == "chat_message"
    assert 1 <= refused.value.retry_after <= 60
    assert refused.value.headers() == {"Retry-After": str(refused.value.retry_after)}
    assert refused.value.as_dict()["error"] == "rate_limited"


def test_each_key_has_its_own_count(rate_clock, rate_limits):
    rate_limits(chat_message="1/1m")
    assert _allowed("chat_message", "v1", 2) == [True, False]
    assert _allowed("chat_message", "v2", 1) == [True]


def test_the_count_starts_again_when_the_window_is_over(rate_clock, rate_limits):
    rate_limits(chat_message="2/1m")
    assert _allowed("chat_message", "v1", 3) == [True, True, False]
    with pytest.raises(RateLimited) as refused:
        ratelimit.take(("chat_message", "v1"))
    rate_clock.now += refused.value.retry_after - 1
    assert _allowed("chat_message", "v1", 1) == [False]
    rate_clock.now += 1
    assert _allowed("chat_message", "v1", 3) == [True, True, False]


def test_a_burst_rate_and_a_per_minute_rate_both_hold(rate_clock, rate_limits):
    rate_limits(chat_message="2/10s,3/1m")
    assert _allowed("chat_message", "v1", 3) == [True, True, False]
    minute = ratelimit._window("chat_message", "v1", 3, 60, rate_clock.now).counter
    rate_clock.now += 10  # the next burst window
    if ratelimit._window("chat_message", "v1", 3, 60, rate_clock.now).counter == minute:
        assert _allowed("chat_message", "v1", 2) == [True, False]  # the third of this minute
    else:
        assert _allowed("chat_message", "v1", 3) == [True, True, False]


def test_an_attempt_refused_by_one_limit_counts_against_none(rate_clock, rate_limits):
    rate_limits(chat_message="1/1m", chat_message_ip="2/1m")
    ratelimit.take(("chat_message", "v1"), ("chat_message_ip", "203.0.113.5"))
    for _ in range(3):  # v1 is refused: the address's count stays at one
        with pytest.raises(RateLimited):
            ratelimit.take(("chat_message", "v1"), ("chat_message_ip", "203.0.113.5"))
    ratelimit.take(("chat_message", "v2"), ("chat_message_ip", "203.0.113.5"))
    with pytest.raises(RateLimited) as refused:
        ratelimit.take(("chat_message", "v3"), ("chat_message_ip", "203.0.113.5"))
    assert refused.value.limit == "chat_message_ip"


def test_a_released_attempt_is_given_back(rate_clock, rate_limits):
    rate_limits(login="1/1m")
    ratelimit.take(("login", "xiaomei")).release()
    ratelimit.take(("login", "xiaomei"))
    with pytest.raises(RateLimited):
        ratelimit.take(("login", "xiaomei"))


def test_no_key_and_a_limit_turned_off_count_nothing(rate_clock, rate_limits):
    rate_limits(chat_message="1/1m", chat_message_ip="off")
    assert _allowed("chat_message", None, 3) == [True, True, True]
    assert _allowed("chat_message_ip", "203.0.113.5", 3) == [True, True, True]


def test_addresses_of_one_ipv6_host_share_a_key():
    assert ratelimit.address_key("2001:db8:1:2:aaaa::1") == ratelimit.address_key("2001:db8:1:2:bbbb::9")
    assert ratelimit.address_key("2001:db8:1:2::1") != ratelimit.address_key("2001:db8:1:3::1")
    assert ratelimit.address_key("::ffff:203.0.113.5") == "203.0.113.5"
    assert ratelimit.address_key("203.0.113.5") == "203.0.113.5"
    assert ratelimit.address_key(None) is None and ratelimit.address_key("") is None


def test_a_failing_cache_lets_attempts_through(rate_limits, monkeypatch, caplog):
    rate_limits(chat_message="1/1m")

    class Down:
        def incr_many(self, *args: Any, **kwargs: Any) -> list[int]:
            raise ConnectionError("redis is down")

    monkeypatch.setattr(ratelimit, "_cache", Down)
    assert _allowed("chat_message", "v1", 3) == [True, True, True]
    assert "rate limits not enforced" in caplog.text


def test_concurrent_attempts_do_not_get_past_the_limit(rate_clock, rate_limits):
    rate_limits(chat_message_ip="10/1m")
    allowed: list[bool] = []
    start = threading.Barrier(24)

    def attempt() -> None:
        start.wait()
        allowed.extend(_allowed("chat_message_ip", "203.0.113.5", 1))

    threads = [threading.Thread(target=attempt) for _ in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert allowed.count(True) == 10


def test_two_cache_clients_share_the_counters(rate_clock, rate_limits, monkeypatch):
    # Two clients of the configured cache (on the PostgreSQL run: two Redis connection
    # pools), taking turns, see one count.
    rate_limits(chat_message="4/1m")
    clients = [caches.create_connection("default"), caches.create_connection("default")]
    turn = iter(range(100))
    monkeypatch.setattr(ratelimit, "_cache", lambda: clients[next(turn) % 2])
    try:
        assert _allowed("chat_message", "v1", 5) == [True, True, True, True, False]
    finally:
        for client in clients:
            ratelimit._disconnect(client)


def _needs_redis() -> None:
    if "RedisCache" not in settings.CACHES["default"]["BACKEND"]:
        pytest.skip("needs KEFU_REDIS_URL (the PostgreSQL + Redis run)")


@pytest.mark.redis
def test_counters_on_redis_expire_after_their_window(rate_clock, rate_limits):
    _needs_redis()
    rate_limits(chat_message="5/10s,20/1m")
    reservation = ratelimit.take(("chat_message", "v1"))
    cache = ratelimit._cache()
    redis = cache._cache.get_client(None, write=True)
    ttls = {key: redis.ttl(cache.make_key(key)) for key, _timeout in reservation.counters}
    short, long = sorted(ttls.values())
    assert 9 <= short <= 11 and 59 <= long <= 61
    # Lowering a counter whose window is gone leaves nothing that lives for ever.
    for key, _timeout in reservation.counters:
        redis.delete(cache.make_key(key))
    reservation.release()
    assert all(0 < redis.ttl(cache.make_key(key)) <= 61 for key in ttls)


TAKE_IN_ANOTHER_PROCESS = """
import json, os, sys, django
django.setup()
from kefu.core import ratelimit
from kefu.core.errors import RateLimited
ratelimit.NAMESPACE = sys.argv[1]
ratelimit.now = lambda: float(sys.argv[3])
results = []
for _ in range(int(sys.argv[2])):
    try:
        ratelimit.take(("chat_message", "v1"))
        results.append(True)
    except RateLimited:
        results.append(False)
print(json.dumps(results))
"""


@pytest.mark.redis
def test_processes_share_the_counters_through_redis(rate_clock, rate_limits, tmp_path):
    _needs_redis()
    rate_limits(chat_message="5/1m")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "kefu.settings",
        "KEFU_VAR_DIR": str(tmp_path),
        "KEFU_RATELIMIT_CHAT_MESSAGE": "5/1m",
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run(
        [sys.executable, "-c", TAKE_IN_ANOTHER_PROCESS, ratelimit.NAMESPACE, "3", repr(rate_clock.now)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [True, True, True]
    # The other process used three of the five; this one gets the rest.
    assert _allowed("chat_message", "v1", 3) == [True, True, False]
