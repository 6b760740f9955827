"""Request threads kept between HTTP requests under ASGI.

Django runs each request's synchronous code (middleware, views, the ORM) on a thread
of its own: its ASGI handler opens a ``ThreadSensitiveContext``, and asgiref starts a
fresh single-thread executor for every such context and joins it at the end. A
thread per request cost its start and join, and, because Django keeps database
connections per thread, a fresh connection per request (on SQLite: opening the file
and running its PRAGMAs). ``RequestThreads`` hands each request a single-thread
executor from a small free list instead (asgiref ≥ 3.13 accepts one:
``ThreadSensitiveContext(executor=…)``; Django's own context then nests inside it).
A request still has one thread to itself for its whole life; only the thread and its
connection outlive it, as under a WSGI server.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext

AsgiApp = Callable[[Any, Any, Any], Awaitable[None]]


class RequestThreads:
    """Wraps an ASGI app so that each request runs its sync code on a reused thread.

    At most ``keep`` idle threads are kept; more concurrent requests get threads of
    their own, which end with their request as before.
    """

    def __init__(self, app: AsgiApp, *, keep: int = 16) -> None:
        self.app = app
        self.keep = keep
        self.idle: list[ThreadPoolExecutor] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        executor = self.idle.pop() if self.idle else ThreadPoolExecutor(1, thread_name_prefix="kefu-request")
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.app(scope, receive, send)
        finally:
            # A request cancelled mid-way may leave work running on the thread; the
            # next request's work queues behind it on the same one thread.
            if len(self.idle) < self.keep:
                self.idle.append(executor)
            else:
                executor.shutdown(wait=False)
