"""The one webhook signature scheme (kefu.core.signing), both directions."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from kefu.core import signing
from kefu.core.errors import Unauthorized
from kefu.core.signing import signed_headers

NOW = 1_767_225_600.0


def test_v1_signature_is_hmac_of_timestamp_delivery_and_body() -> None:
    expected = hmac.new(b"s3cret", b"1767225600.evt-1.{}", hashlib.sha256).hexdigest()
    assert signing.sign("s3cret", timestamp="1767225600", delivery="evt-1", body=b"{}") == f"v1={expected}"


def test_signed_headers_verify_with_the_same_secret_only() -> None:
    body = '{"text":"我的快递到哪了"}'.encode()
    headers = signing.signed_headers("s3cret", body, delivery="evt-2", now=NOW)
    parts = {
        "timestamp": headers["X-Kefu-Timestamp"],
        "delivery": headers["X-Kefu-Delivery"],
        "signature": headers["X-Kefu-Signature"],
        "body": body,
        "now": NOW,
    }
    assert signing.verify("s3cret", **parts)
    assert not signing.verify("other", **parts)
    assert not signing.verify("s3cret", **{**parts, "body": body + b" "})
    assert not signing.verify("s3cret", **{**parts, "delivery": "evt-3"})


def test_one_valid_signature_among_several_is_enough_while_a_secret_rotates() -> None:
    headers = signing.signed_headers("new-secret", b"{}", delivery="d", now=NOW)
    old = signing.sign("old-secret", timestamp=headers["X-Kefu-Timestamp"], delivery="d", body=b"{}")
    both = f"{old}, {headers['X-Kefu-Signature']}"
    assert signing.verify(
        "new-secret", timestamp=headers["X-Kefu-Timestamp"], delivery="d", signature=both, body=b"{}", now=NOW
    )


@pytest.mark.parametrize(
    ("timestamp", "delivery", "signature", "detail"),
    [
        (None, "d", "v1=00", "缺少签名头"),
        ("１２３", "d", "v1=00", "时间戳无效"),
        ("1767225600", "投递", "v1=00", "投递编号无效"),
        ("1767225000", "d", "v1=00", "请求已过期"),
        ("1767225600", "d", "sha256=00", "签名无效"),
        ("1767225600", "d", "v1=" + "0" * 2000, "签名无效"),
    ],
)
def test_refusals_say_why(timestamp: str | None, delivery: str, signature: str, detail: str) -> None:
    with pytest.raises(Unauthorized) as caught:
        signing.check_signature(
            "s3cret", timestamp=timestamp, delivery=delivery, signature=signature, body=b"{}", now=NOW
        )
    assert detail in caught.value.message


@pytest.mark.parametrize(("skew", "ok"), [(-300, True), (300, True), (-301, False), (301, False)])
def test_signature_window_is_plus_minus_300_seconds(skew: int, ok: bool) -> None:
    from kefu.core.errors import Unauthorized
    from kefu.core.signing import check_signature

    now = 1_767_225_600
    headers = signed_headers("k", b"{}", delivery="d", now=now + skew)

    def check() -> None:
        check_signature(
            "k",
            timestamp=headers["X-Kefu-Timestamp"],
            delivery=headers["X-Kefu-Delivery"],
            signature=headers["X-Kefu-Signature"],
            body=b"{}",
            now=now,
        )

    if ok:
        check()
    else:
        with pytest.raises(Unauthorized):
            check()
