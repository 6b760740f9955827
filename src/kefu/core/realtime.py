"""The channel layer through a Redis restart: degrade, tell the sockets, recover by itself.

Realtime events travel through Redis (``channels_redis``), but nothing kefu stores
does: a customer's message is stored and acknowledged by the database alone, and every
client can catch up from the last message id it saw. So when Redis goes away the desk
degrades instead of failing:

* ``RedisChannelLayer.receive`` does not raise when Redis is unreachable (upstream, the
  error ends the consumer, and with it the websocket, one socket after another); it
  waits until Redis answers again. Joining or leaving a group while Redis is down is
  remembered, not fatal (``JsonSocket.join``), and events published meanwhile are
  skipped at once instead of each waiting for a connect timeout (``should_send``).
* One watchdog task per process (``Health``) probes Redis while sockets are open:
  every ``KEFU_REALTIME_CHECK_SECONDS`` when healthy, twice a second while degraded,
  and at once when a send or a receive failed. When Redis stops answering it tells
  every open socket (``realtime_lost``: the client shows 「实时连接中断，正在重连…」);
  when it answers again, or when it answers but has lost its data (a restart without
  persistence forgets every group), it has every socket join its groups again and tell
  its client (``realtime_restored``), which then resumes from its last ids.

A restart is noticed from the marker key ``<prefix>:realtime:epoch``: each process
remembers the value it saw; a missing or different value means Redis lost its keys,
and with them this process's group memberships.

With the in-memory layer (no Redis, one process) there is nothing to watch.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
import weakref
from typing import Any, Protocol

from channels_redis.core import ChannelLock
from channels_redis.core import RedisChannelLayer as UpstreamRedisChannelLayer
from django.conf import settings
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# What a channel layer raises when Redis is unreachable, restarting or too slow.
LAYER_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)
# While degraded, the probe runs this often; receivers wait this long between looks.
DOWN_PROBE_SECONDS = 0.5


class Listener(Protocol):
    async def realtime_lost(self) -> None: ...

    async def realtime_restored(self) -> None: ...


class Health:
    """This process's view of Redis: ``degraded`` or not, and the sockets to tell."""

    def __init__(self) -> None:
        self.degraded_since: float | None = None
        self.reason = ""
        self.listeners: set[Listener] = set()
        self.task: asyncio.Task[None] | None = None
        self.wake: asyncio.Event | None = None
        self.epoch: bytes | None = None
        self.layer: RedisChannelLayer | None = None

    @property
    def degraded(self) -> bool:
        return self.degraded_since is not None

    def status(self) -> dict[str, Any]:
        if self.degraded_since is None:
            return {"status": "ok"}
        return {
            "status": "degraded",
            "reason": self.reason,
            "seconds": round(time.monotonic() - self.degraded_since, 1),
        }

    # --- sockets ------------------------------------------------------------------

    def register(self, layer: Any, listener: Listener) -> None:
        if not isinstance(layer, RedisChannelLayer):
            return
        self.layer = layer
        self.listeners.add(listener)
        if self.task is None or self.task.done():
            # A new watchdog (no socket was open in between): what Redis held before concerns
            # no socket open now, so the marker is read afresh rather than compared with it
            # (tests empty the layer's keys between tests; that is no restart to report).
            self.epoch = None
            self.wake = asyncio.Event()
            self.task = asyncio.get_running_loop().create_task(self._watch())

    def unregister(self, listener: Listener) -> None:
        self.listeners.discard(listener)
        if not self.listeners and self.task is not None:
            # No socket left to tell: the next one starts a new watchdog (in tests, on
            # another event loop).
            task, self.task = self.task, None
            if task is not asyncio.current_task():
                task.cancel()

    def report(self, exc: BaseException) -> None:
        """A send, join or receive failed: probe now (the watchdog decides, once)."""
        log.debug("channel layer call failed: %r", exc)
        if self.wake is not None:
            try:
                self.wake.set()
            except RuntimeError:  # called from a thread whose loop is not the watchdog's
                pass

    # --- the watchdog ---------------------------------------------------------------

    async def _watch(self) -> None:
        layer = self.layer
        assert layer is not None and self.wake is not None
        client = layer.probe_client()
        try:
            while True:
                self.wake.clear()
                try:
                    lost_data = await self._probe(client, layer.prefix)
                except LAYER_ERRORS as exc:
                    if self.degraded_since is None:
                        await self._lose(exc)
                else:
                    if self.degraded_since is not None or lost_data:
                        await self._restore(lost_data)
                wait = DOWN_PROBE_SECONDS if self.degraded else settings.KEFU_REALTIME_CHECK_SECONDS
                try:
                    await asyncio.wait_for(self.wake.wait(), timeout=wait)
                except TimeoutError:
                    pass
                # A burst of failures wakes the probe once, not once per failure.
                await asyncio.sleep(0.05)
        finally:
            await client.aclose()

    async def _probe(self, client: Any, prefix: str) -> bool:
        """Whether Redis lost its keys since the last probe (raises when it does not answer)."""
        key = f"{prefix}:realtime:epoch"
        await client.set(key, secrets.token_hex(8), nx=True)
        seen = await client.get(key)
        lost = self.epoch is not None and seen != self.epoch
        self.epoch = seen
        return lost

    async def _lose(self, exc: BaseException) -> None:
        self.degraded_since = time.monotonic()
        self.reason = type(exc).__name__
        log.warning(
            "realtime degraded: Redis does not answer (%s); %d sockets told", exc, len(self.listeners)
        )
        for listener in list(self.listeners):
            try:
                await listener.realtime_lost()
            except Exception:  # a socket that is going away must not stop the others
                log.debug("could not tell a socket that realtime is down", exc_info=True)

    async def _restore(self, lost_data: bool) -> None:
        down = time.monotonic() - self.degraded_since if self.degraded_since is not None else 0.0
        try:
            if self.layer is not None:
                await self.layer.drop_idle_connections()
            for listener in list(self.listeners):
                if listener in self.listeners:
                    await listener.realtime_restored()
        except LAYER_ERRORS as exc:  # down again while rejoining: the next probe tries again
            self.degraded_since = self.degraded_since or time.monotonic()
            self.reason = type(exc).__name__
            return
        self.degraded_since = None
        self.reason = ""
        log.warning(
            "realtime restored after %.1f s%s; %d sockets rejoined their groups",
            down,
            " (Redis had lost its keys)" if lost_data else "",
            len(self.listeners),
        )


HEALTH = Health()


def watch(layer: Any, listener: Listener) -> None:
    """Tell ``listener`` when the layer goes down and comes back (Redis layers only)."""
    HEALTH.register(layer, listener)


def unwatch(listener: Listener) -> None:
    HEALTH.unregister(listener)


def report(exc: BaseException) -> None:
    HEALTH.report(exc)


def should_send() -> bool:
    """False while Redis is known to be down: an event sent now would only wait and fail.

    Nothing is lost by skipping it: the sockets were told, and resume from their last
    ids when the layer is back.
    """
    return not HEALTH.degraded


def status() -> dict[str, Any]:
    return HEALTH.status()


class RedisChannelLayer(UpstreamRedisChannelLayer):
    """channels-redis whose ``receive`` waits out a Redis outage instead of ending the consumer,
    and whose receive locks belong to one event loop each.

    Upstream keeps one lock per channel prefix for the whole process, released by a cleanup
    task after each message. When a loop ends with that task still pending (a worker's
    ``async_to_sync`` call, a test), the lock stays held and bound to the dead loop, and
    every later ``receive`` in another loop failed with "bound to a different event loop".
    """

    @property
    def receive_clean_locks(self) -> ChannelLock:
        loop = asyncio.get_running_loop()
        locks = self._clean_locks.get(loop)
        if locks is None:
            locks = self._clean_locks[loop] = ChannelLock()
        return locks

    @receive_clean_locks.setter
    def receive_clean_locks(self, _value: ChannelLock) -> None:
        # Upstream's __init__ assigns one lock set; this layer makes one per loop on demand.
        self._clean_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ChannelLock] = (
            weakref.WeakKeyDictionary()
        )

    async def flush(self) -> None:
        """Delete the layer's keys (tests do between tests): this process's own doing, not a
        Redis restart, so the watchdog reads the restart marker afresh instead of reporting it."""
        await super().flush()
        HEALTH.epoch = None

    async def receive(self, channel: str) -> Any:
        while True:
            try:
                return await super().receive(channel)
            except LAYER_ERRORS as exc:
                HEALTH.report(exc)
                # Until the watchdog has seen Redis answer; if no watchdog runs (no kefu
                # socket), a plain retry after the same pause.
                await asyncio.sleep(DOWN_PROBE_SECONDS)
                while HEALTH.degraded and HEALTH.task is not None and not HEALTH.task.done():
                    await asyncio.sleep(DOWN_PROBE_SECONDS)

    async def drop_idle_connections(self) -> None:
        """Close the pooled connections not in use: after a restart each would fail once.

        The pools keep no retry of their own, so the first send on every stale
        connection raised; the one in use (a receive) fails and is retried by ``receive``.
        """
        for loop_layer in list(self._layers.values()):
            for client in list(loop_layer._connections.values()):
                await client.connection_pool.disconnect(inuse_connections=False)

    def probe_client(self) -> Any:
        """A client of the first Redis host with short timeouts and no retries of its own."""
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        host = dict(self.hosts[0])
        # redis-py's client retries three times with backoff by default: a probe must
        # answer in about a second, either way.
        retry = Retry(NoBackoff(), 0)
        if address := host.get("address"):
            return aioredis.Redis.from_url(address, socket_connect_timeout=1, socket_timeout=1, retry=retry)
        return aioredis.Redis(
            host=host.get("host", "localhost"),
            port=host.get("port", 6379),
            socket_connect_timeout=1,
            socket_timeout=1,
            retry=retry,
        )
