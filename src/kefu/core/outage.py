"""The database is briefly unreachable (a PostgreSQL restart, a failover): answer "retry", not 500.

While PostgreSQL restarts, every query fails with ``OperationalError`` (or
``InterfaceError`` on a connection that died under it); the pool's health check then
replaces the dead connections and the process carries on by itself. What was in
flight meanwhile was not stored, and its client is told so in a form it retries:

* HTTP: ``503`` with ``Retry-After`` and, under ``/api/``, the JSON body
  ``{"error": "unavailable", "detail", "retry_after"}`` (``kefu.core.middleware``,
  ``kefu.core.views.server_error``); a page gets a short 503 page;
* websockets: an error frame with ``"code": "unavailable"`` and ``retry_after_ms``, the
  message's ``client_msg_id`` when it was one; the chat keeps the message in its resend
  queue and sends it again (the same id is stored once), the desk repeats its resumes.

Nothing acknowledged is lost: an ack or a 2xx is sent only after the commit.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

API_PREFIX = "/api/"
# RFC 6455 "Try Again Later".
CLOSE_TRY_AGAIN_LATER = 1013

log = logging.getLogger(__name__)

DATABASE_ERRORS: tuple[type[BaseException], ...] = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 2
DETAIL = "服务暂时不可用（数据库连接中断），请稍后重试"


class SocketBreaker:
    """Refuse socket frames at once while the database is known to be down.

    Every socket of a process does its database work on one thread (Channels'
    ``database_sync_to_async``). During a long outage each frame held that thread for the
    whole pool timeout (``KEFU_DB_POOL_TIMEOUT``, 10 s) before it failed, and the frames of
    every other socket queued behind it: a minute of outage left the chat minutes behind.
    After a failure the breaker is open for ``RETRY_AFTER_SECONDS``; frames meanwhile get
    the same "unavailable" answer without touching the database. Then one frame at a time
    tries (half open) until one succeeds.
    """

    def __init__(self, cooldown: float = RETRY_AFTER_SECONDS) -> None:
        self.cooldown = cooldown
        self.open_until = 0.0
        self.trial = False

    def allow(self) -> bool:
        """Whether this frame may use the database now (and, if it is the trial, is it)."""
        if self.open_until == 0.0:
            return True
        if self.trial or time.monotonic() < self.open_until:
            return False
        self.trial = True
        return True

    def succeeded(self) -> None:
        self.open_until = 0.0
        self.trial = False

    def failed(self) -> None:
        self.open_until = time.monotonic() + self.cooldown
        self.trial = False

    def cooling(self) -> bool:
        """Open and not yet due for a trial: a new socket is sent away at once."""
        return time.monotonic() < self.open_until


SOCKETS = SocketBreaker()


def is_outage(exc: BaseException | None) -> bool:
    return isinstance(exc, DATABASE_ERRORS)


def api_body() -> dict[str, object]:
    return {"error": "unavailable", "detail": DETAIL, "retry_after": RETRY_AFTER_SECONDS}


def unavailable(request: HttpRequest) -> HttpResponse:
    """503 with Retry-After: JSON under ``/api/``, a short page elsewhere (no template: it may need the database)."""
    if request.path.startswith(API_PREFIX):
        response: HttpResponse = JsonResponse(
            api_body(), status=503, json_dumps_params={"ensure_ascii": False}
        )
    else:
        response = HttpResponse(
            '<!doctype html><meta charset="utf-8"><title>服务暂时不可用</title>'
            f'<meta http-equiv="refresh" content="{RETRY_AFTER_SECONDS + 1}">'
            f"<h1>服务暂时不可用</h1><p>{DETAIL}。页面将自动刷新。</p>",
            status=503,
            content_type="text/html; charset=utf-8",
        )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def reconnect_hint() -> dict[str, Any]:
    return {"type": "reconnect", "reason": "unavailable", "retry_after_ms": RETRY_AFTER_SECONDS * 1000}


class WebsocketHandshakeGuard:
    """A websocket handshake that fails on the database before any consumer runs.

    Channels' session and user lookup (``AuthMiddlewareStack``) reads the database for
    every desk handshake; while PostgreSQL restarts it raised, and the client saw only
    a failed handshake (1006) and backed off. Answered instead like the consumers' own
    outage (``JsonSocket.websocket_connect``): accepted, told to come back after the
    hint, closed with 1013.
    """

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        if SOCKETS.cooling():
            # The handshake reads the session on the same database thread: no new wait there.
            await self._come_back_later(send)
            return
        answered = False

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal answered
            if message["type"] in ("websocket.accept", "websocket.close", "websocket.http.response.start"):
                answered = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except DATABASE_ERRORS as exc:
            if answered:  # the consumer was running: its own handling applies
                raise
            log.warning("websocket handshake %s failed, database unavailable: %r", scope.get("path"), exc)
            SOCKETS.failed()
            await self._come_back_later(send)

    @staticmethod
    async def _come_back_later(send: Any) -> None:
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": json.dumps(reconnect_hint())})
        await send({"type": "websocket.close", "code": CLOSE_TRY_AGAIN_LATER})
