"""Django's Redis and local-memory caches, able to count several keys at once.

The rate limiter raises a few counters for every chat message. Through Django's
``add`` and ``incr`` each counter costs two or three Redis round trips, and every
round trip made from the thread that serves the sockets' database work can wait
milliseconds for the interpreter lock while the event loop is busy: ``incr_many``
raises them all in one round trip instead (a Lua script, atomic on the server).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.cache.backends.locmem import LocMemCache as DjangoLocMemCache
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache

# KEYS: the counters; ARGV[1]: what to add; ARGV[i + 1]: seconds KEYS[i] lives once created.
_INCR_MANY = """
local out = {}
for i, key in ipairs(KEYS) do
    out[i] = redis.call('INCRBY', key, ARGV[1])
    if redis.call('TTL', key) == -1 then
        redis.call('EXPIRE', key, ARGV[i + 1])
    end
end
return out
"""


class RedisCache(DjangoRedisCache):
    _incr_script: Any = None

    def incr_many(self, counters: Sequence[tuple[str, int]], delta: int = 1) -> list[int]:
        """Add ``delta`` to each ``(key, timeout)``, a missing key counting from 0; their new values."""
        if not counters:
            return []
        client = self._cache.get_client(None, write=True)
        if self._incr_script is None:
            self._incr_script = client.register_script(_INCR_MANY)
        keys = [self.make_and_validate_key(key) for key, _timeout in counters]
        args = [delta, *(timeout for _key, timeout in counters)]
        return [int(n) for n in self._incr_script(keys=keys, args=args, client=client)]


class LocMemCache(DjangoLocMemCache):
    def incr_many(self, counters: Sequence[tuple[str, int]], delta: int = 1) -> list[int]:
        """Add ``delta`` to each ``(key, timeout)``, a missing key counting from 0; their new values."""
        return [self._incr_or_add(key, delta, timeout) for key, timeout in counters]

    def _incr_or_add(self, key: str, delta: int, timeout: int) -> int:
        # add and incr each hold the cache's lock: two threads never both start a key.
        while True:
            if self.add(key, delta, timeout):
                return delta
            try:
                return self.incr(key, delta)
            except ValueError:  # it expired between the two: start it again
                continue
