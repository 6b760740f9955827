"""Serve the desk with uvicorn (HTTP + websockets) and the inbound SMTP listener."""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any

import uvicorn
from django.conf import settings
from django.core.management.base import BaseCommand

from kefu.channels.smtp import start_smtp_listener
from kefu.core import drain
from kefu.ops.warmup import warm_up

log = logging.getLogger(__name__)


class DrainingServer(uvicorn.Server):
    """uvicorn that, on SIGTERM, stops accepting and then closes kefu's sockets with 1012.

    uvicorn alone would also close them with 1012, but abruptly and with no hint: kefu's
    own close sends the ``reconnect`` frame first and lets each socket leave its groups.
    """

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()  # new connections go to the other processes behind the proxy
        for sock in sockets or []:
            sock.close()
        # Idle keep-alive HTTP connections end now (those in a request end after its
        # answer): nginx would otherwise send the next request or websocket handshake
        # down a kept connection to this process while it drains. Websockets are left
        # to kefu's drain; uvicorn's own shutdown would close them at once with no hint.
        for connection in list(self.server_state.connections):
            if type(connection).__module__.startswith("uvicorn.protocols.http."):
                connection.shutdown()
        closed = await drain.drain(
            spread_ms=settings.KEFU_DRAIN_SPREAD_MS, timeout=settings.KEFU_DRAIN_TIMEOUT_SECONDS
        )
        if closed:
            log.info("closed %d websockets with 1012 (service restart)", closed)
        await super().shutdown(sockets)


class Command(BaseCommand):
    help = "Serve kefu on HTTP/websockets (uvicorn) with the inbound SMTP listener."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-smtp", action="store_true", help="do not start the inbound SMTP listener")
        parser.add_argument(
            "--workers",
            type=int,
            default=1,
            help="uvicorn worker processes on this port (1 drains websockets on SIGTERM; prefer one port per process)",
        )
        parser.add_argument("--no-access-log", action="store_true", help="do not log every request")

    def handle(self, *args: Any, **opts: Any) -> None:
        controller = None
        if not opts["no_smtp"]:
            try:
                controller = start_smtp_listener(
                    settings.KEFU_SMTP_LISTEN_HOST, settings.KEFU_SMTP_LISTEN_PORT
                )
                self.stdout.write(
                    f"SMTP listener on {settings.KEFU_SMTP_LISTEN_HOST}:{settings.KEFU_SMTP_LISTEN_PORT}"
                )
            except (ImportError, OSError) as exc:
                self.stderr.write(f"SMTP listener not started: {exc}")
        self.stdout.write(f"kefu serving on http://{opts['host']}:{opts['port']}/")
        if opts["workers"] <= 1:
            # Models and the KB index load while the server starts listening, not inside
            # the first customer's message (kefu.ops.warmup).
            threading.Thread(target=warm_up, name="kefu-warmup", daemon=True).start()
        options: dict[str, Any] = {
            "host": opts["host"],
            "port": opts["port"],
            "log_level": settings.KEFU_LOG_LEVEL.lower(),
            "access_log": not opts["no_access_log"],
            "lifespan": "off",
            "ws_ping_interval": settings.KEFU_WS_PING_SECONDS,
            "ws_ping_timeout": settings.KEFU_WS_PING_TIMEOUT_SECONDS,
            # After the drain, requests in flight get this long to finish.
            "timeout_graceful_shutdown": settings.KEFU_DRAIN_TIMEOUT_SECONDS,
        }
        if settings.KEFU_LOG_FORMAT == "json":
            # uvicorn's own loggers then go through the root handler (one JSON object a line).
            options["log_config"] = None
        try:
            if opts["workers"] > 1:
                uvicorn.run("kefu.asgi:application", workers=opts["workers"], **options)
            else:
                DrainingServer(uvicorn.Config("kefu.asgi:application", **options)).run()
        finally:
            if controller is not None:
                controller.stop()
