"""Run only the inbound SMTP listener (when ``kefu serve --no-smtp`` serves HTTP elsewhere)."""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from kefu.channels.smtp import start_smtp_listener


class Command(BaseCommand):
    help = "Receive customer email on an SMTP port and store it as conversations."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default=settings.KEFU_SMTP_LISTEN_HOST)
        parser.add_argument("--port", type=int, default=settings.KEFU_SMTP_LISTEN_PORT)

    def handle(self, *args: Any, **opts: Any) -> None:

        controller = start_smtp_listener(opts["host"], opts["port"])
        self.stdout.write(f"SMTP listener on {opts['host']}:{opts['port']} (Ctrl-C to stop)")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            controller.stop()
