"""The one signature scheme of kefu's webhooks, in both directions.

Platforms posting to kefu's inbound channel webhooks sign with the channel's secret;
kefu signs what it sends (replies to IM/social platforms, event webhooks to
integrations) with the secret of the channel or endpoint. One scheme, one verifier::

    X-Kefu-Timestamp: 1767225600            unix seconds
    X-Kefu-Delivery:  3f0c…                 unique per delivery (kefu's event id when kefu sends)
    X-Kefu-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<delivery>.<raw body>")>

The timestamp bounds how long a captured request stays usable (±``TOLERANCE_SECONDS``);
the delivery id, remembered by the receiver for longer than that window, makes a replay
inside it fail too. ``v1`` names the scheme so a later one can be introduced beside it;
a header may carry several comma-separated signatures (while a secret is rotated) and
one valid ``v1`` signature is enough. Signed links (``sign_link``, ``read_link``) are the same
HMAC for values handed to customers in URLs. Pure functions: no database, no Django.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid

from kefu.core.errors import Unauthorized

SCHEME = "v1"
TIMESTAMP_HEADER = "X-Kefu-Timestamp"
DELIVERY_HEADER = "X-Kefu-Delivery"
SIGNATURE_HEADER = "X-Kefu-Signature"
TOLERANCE_SECONDS = 300
MAX_DELIVERY_ID_CHARS = 128  # channels.InboundNonce.nonce
MAX_SIGNATURE_CHARS = 1024


def sign(secret: str, *, timestamp: str, delivery: str, body: bytes) -> str:
    """The ``X-Kefu-Signature`` value for these parts."""
    signed = f"{timestamp}.{delivery}.".encode() + body
    return f"{SCHEME}=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signed_headers(
    secret: str, body: bytes, *, delivery: str | None = None, now: float | None = None
) -> dict[str, str]:
    """Headers for an outgoing request with ``body``; a fresh delivery id unless given."""
    timestamp = str(int(time.time() if now is None else now))
    delivery = delivery or uuid.uuid4().hex
    return {
        TIMESTAMP_HEADER: timestamp,
        DELIVERY_HEADER: delivery,
        SIGNATURE_HEADER: sign(secret, timestamp=timestamp, delivery=delivery, body=body),
    }


def check_signature(
    secret: str,
    *,
    timestamp: str | None,
    delivery: str | None,
    signature: str | None,
    body: bytes,
    now: float | None = None,
) -> None:
    """Raise ``Unauthorized`` unless the headers sign ``body`` with ``secret`` and are fresh.

    Replay of a delivery id is the caller's to check (it needs storage).
    """
    if not timestamp or not delivery or not signature:
        raise Unauthorized(
            "缺少签名头",
            extra={"required_headers": [TIMESTAMP_HEADER, DELIVERY_HEADER, SIGNATURE_HEADER]},
        )
    # ASCII digits only: int() would also accept "١٢", " 12" or "1_000".
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
        raise Unauthorized("时间戳无效")
    if len(delivery) > MAX_DELIVERY_ID_CHARS or not delivery.isascii() or not delivery.isprintable():
        raise Unauthorized("投递编号无效")
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > TOLERANCE_SECONDS:
        raise Unauthorized(f"请求已过期或时间不同步（允许 ±{TOLERANCE_SECONDS} 秒）")
    if len(signature) > MAX_SIGNATURE_CHARS:
        raise Unauthorized("签名无效")
    expected = sign(secret, timestamp=timestamp, delivery=delivery, body=body).encode()
    offered = [part.strip().encode("utf-8", "replace") for part in signature.split(",")]
    # Compare with every offered signature (no early exit), so timing says nothing about which matched.
    matched = [hmac.compare_digest(expected, part) for part in offered]
    if not any(matched):
        raise Unauthorized("签名无效")


def verify(
    secret: str, *, timestamp: str, delivery: str, signature: str, body: bytes, now: float | None = None
) -> bool:
    """``check_signature`` as a yes/no answer, the way a receiver of kefu's webhooks uses it."""
    try:
        check_signature(
            secret, timestamp=timestamp, delivery=delivery, signature=signature, body=body, now=now
        )
    except Unauthorized:
        return False
    return True


# --- signed links ---------------------------------------------------------------------------
#
# A link handed to a customer (a survey in an email or an IM message) carries a value and
# its HMAC, so the server can tell a link it issued from one made up. ``purpose`` keeps a
# token of one kind from being accepted as another. Whether the link was used already, or
# has expired, is the caller's to check (it needs storage).

LINK_SIGNATURE_CHARS = 43  # a whole SHA-256 in URL-safe base64 without padding
MAX_LINK_TOKEN_CHARS = 256


def _link_signature(secret: str, purpose: str, value: str) -> str:
    digest = hmac.new(secret.encode(), f"{purpose}:{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def sign_link(secret: str, *, purpose: str, value: str) -> str:
    """``value`` with its signature, safe in a URL path (``value`` must be URL-safe and dot-free)."""
    return f"{value}.{_link_signature(secret, purpose, value)}"


def read_link(secret: str, *, purpose: str, token: object) -> str:
    """The value a signed link carries; raises ``Unauthorized`` if it was not signed for ``purpose``."""
    if not isinstance(token, str) or not token or len(token) > MAX_LINK_TOKEN_CHARS or not token.isascii():
        raise Unauthorized("链接无效")
    value, _, signature = token.rpartition(".")
    if not value or len(signature) != LINK_SIGNATURE_CHARS:
        raise Unauthorized("链接无效")
    expected = _link_signature(secret, purpose, value)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise Unauthorized("链接无效")
    return value
