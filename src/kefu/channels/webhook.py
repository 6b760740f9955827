"""HMAC signing of platform webhooks, both directions.

A request carries three headers::

    X-Kefu-Timestamp: 1767225600            (unix seconds)
    X-Kefu-Delivery:  3f0c…                 (unique per delivery attempt)
    X-Kefu-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<delivery>.<raw body>")>

The timestamp bounds how long a captured request stays usable (±``TOLERANCE_SECONDS``);
the delivery id, remembered by the receiver for longer than that window, makes a
replay inside it fail too. Pure functions: no database, no Django.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid

from kefu.core.errors import Unauthorized

TIMESTAMP_HEADER = "X-Kefu-Timestamp"
DELIVERY_HEADER = "X-Kefu-Delivery"
SIGNATURE_HEADER = "X-Kefu-Signature"
TOLERANCE_SECONDS = 300
MAX_DELIVERY_ID_CHARS = 128  # InboundNonce.nonce


def sign(secret: str, *, timestamp: str, delivery: str, body: bytes) -> str:
    """The ``X-Kefu-Signature`` value for these parts."""
    signed = f"{timestamp}.{delivery}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


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
        raise Unauthorized("请求已过期或时间不同步（允许 ±300 秒）")
    expected = sign(secret, timestamp=timestamp, delivery=delivery, body=body)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode("utf-8", "replace")):
        raise Unauthorized("签名无效")
