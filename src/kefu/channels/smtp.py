"""Channels: kefu's own SMTP listener (aiosmtpd), started by ``kefu serve`` or ``manage.py smtpd``.

A relay or the MX in front of it forwards the support address here. The listener
answers 250 only once the message is stored (``services.do_receive_email``), so a
sender (or the relay) keeps the mail and retries on 451 instead of losing it; a message
kefu refuses gets 550 with the reason.
"""

from __future__ import annotations

import logging
from typing import Any

from kefu.core.errors import KefuError

from .services import do_receive_email

log = logging.getLogger(__name__)


class KefuSMTPHandler:
    """aiosmtpd handler: store each mail before saying 250."""

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if len(envelope.rcpt_tos) >= 50:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        from asgiref.sync import sync_to_async

        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        try:
            # The ORM is synchronous. thread_sensitive=False: this loop runs in the
            # controller's own thread, and funnelling mail through the one thread
            # that serves Django's sync views would make the desk wait on SMTP
            # clients. The call opens and closes its own database connection.
            await sync_to_async(_receive_in_worker_thread, thread_sensitive=False)(
                raw,
                rcpt_tos=list(envelope.rcpt_tos),
                mail_from=envelope.mail_from,
                do_receive=do_receive_email,
            )
        except KefuError as exc:
            log.warning("inbound mail refused: %s", exc.message)
            return f"550 5.7.1 {_smtp_safe(exc.message)}"
        except Exception:
            log.exception("inbound mail could not be stored")
            return "451 4.3.0 Temporary failure, please retry later"
        return "250 2.0.0 Message accepted"


def _smtp_safe(text: str) -> str:
    """SMTP replies are ASCII on one line; Chinese detail goes to the log."""
    ascii_text = text.encode("ascii", "ignore").decode().replace("\r", " ").replace("\n", " ").strip()
    return ascii_text or "Message refused"


def _receive_in_worker_thread(
    raw: bytes, *, rcpt_tos: list[str], mail_from: str | None, do_receive: Any
) -> Any:
    from django.db import close_old_connections, connections

    close_old_connections()
    try:
        return do_receive(raw, rcpt_tos=rcpt_tos, mail_from=mail_from)
    finally:
        connections.close_all()


def start_smtp_listener(host: str, port: int, *, data_size_limit: int | None = None) -> Any:
    """Start the inbound SMTP listener in its own thread; returns the aiosmtpd ``Controller``."""
    from aiosmtpd.controller import Controller
    from django.conf import settings

    smtp_log = logging.getLogger("mail.log")
    if smtp_log.level == logging.NOTSET:
        # aiosmtpd logs every SMTP command, addresses included, at INFO: not for the
        # desk's log unless an operator asks for it in LOGGING.
        smtp_log.setLevel(logging.WARNING)
    controller = Controller(
        KefuSMTPHandler(),
        hostname=host,
        port=port,
        data_size_limit=data_size_limit or settings.KEFU_MAX_EMAIL_BYTES,
        enable_SMTPUTF8=True,
        ident="kefu",
    )
    controller.start()
    return controller
