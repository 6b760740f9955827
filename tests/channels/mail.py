"""Mail for the email-channel tests: raw RFC 5322 messages, and free loopback ports for SMTP servers."""

from __future__ import annotations

import email.policy
import socket
from email.message import EmailMessage as MIMEMessage

SUPPORT = "support@shop.example"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_mail(
    *,
    subject: str = "订单咨询",
    body: str = "你好，我的订单还没发货。",
    sender: str = "张三 <zhangsan@example.com>",
    to: str = SUPPORT,
    message_id: str | None = "<m1@example.com>",
    in_reply_to: str | None = None,
    references: str | None = None,
    charset: str = "utf-8",
    html: str | None = None,
) -> bytes:
    msg = MIMEMessage(policy=email.policy.SMTP)
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    if message_id:
        msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    if html is None:
        msg.set_content(body, charset=charset)
    else:
        msg.set_content(html, subtype="html", charset=charset)
    return msg.as_bytes()
