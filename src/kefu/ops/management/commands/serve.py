"""Serve the desk with uvicorn (HTTP + websockets) and the inbound SMTP listener."""

from __future__ import annotations

from typing import Any

import uvicorn
from django.conf import settings
from django.core.management.base import BaseCommand

from kefu.channels.smtp import start_smtp_listener


class Command(BaseCommand):
    help = "Serve kefu on HTTP/websockets (uvicorn) with the inbound SMTP listener."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-smtp", action="store_true", help="do not start the inbound SMTP listener")
        parser.add_argument("--workers", type=int, default=1)

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
        try:
            uvicorn.run(
                "kefu.asgi:application",
                host=opts["host"],
                port=opts["port"],
                workers=opts["workers"],
                log_level="info",
                lifespan="off",
            )
        finally:
            if controller is not None:
                controller.stop()
