"""Signed visitor tokens for the web chat.

A web visitor has no account: the server hands out a random visitor id signed with
the secret key, and the browser keeps it (localStorage). The token also names the
channel it was issued for, so the chat socket needs nothing else to find the
conversation. A client-supplied visitor id is never trusted without the signature.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.core import signing

from kefu.core.errors import Unauthorized

from .models import Channel

_SALT = "kefu.channels.visitor"
# A visitor who returns within a year finds their conversation again; after that the
# page simply issues a new identity.
TOKEN_MAX_AGE = 365 * 24 * 3600
IDENTITY_KIND = "web"


@dataclass(frozen=True)
class Visitor:
    visitor_id: str
    channel_id: int

    @property
    def identities(self) -> list[tuple[str, str]]:
        return [(IDENTITY_KIND, self.visitor_id)]


def issue_visitor_token(channel_id: int, *, visitor_id: str | None = None) -> str:
    """A token for a new random visitor, or for ``visitor_id`` (taken from a verified token)."""
    return signing.dumps({"v": visitor_id or secrets.token_urlsafe(18), "c": int(channel_id)}, salt=_SALT)


def read_visitor_token(token: object) -> Visitor:
    """The visitor a token names; raises ``Unauthorized`` if it is forged, stale or malformed."""
    if not isinstance(token, str) or not token or len(token) > 512:
        raise Unauthorized("访客凭证无效")
    try:
        data = signing.loads(token, salt=_SALT, max_age=TOKEN_MAX_AGE)
    except signing.BadSignature as exc:  # SignatureExpired is a subclass
        raise Unauthorized("访客凭证无效或已过期") from exc
    visitor_id, channel_id = (data.get("v"), data.get("c")) if isinstance(data, dict) else (None, None)
    if not isinstance(visitor_id, str) or not visitor_id or type(channel_id) is not int:
        raise Unauthorized("访客凭证无效")
    return Visitor(visitor_id=visitor_id, channel_id=channel_id)


def web_chat_channel(channel_id: int | None = None) -> Channel | None:
    """The active web channel a chat page or socket talks to (default: the first one)."""
    qs = Channel.objects.filter(kind=Channel.Kind.WEB, is_active=True)
    if channel_id is not None:
        qs = qs.filter(pk=channel_id)
    return qs.order_by("id").first()
