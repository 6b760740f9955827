"""The complaints API: compensation requests and authority limits."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.django_db


def test_api_bad_amount_names_the_field(client, desk, complaint_conv):
    client.force_login(desk.agent)
    r = client.post(
        "/api/v1/compensations",
        data=json.dumps(
            {"kind": "coupon", "amount": "-5", "reason": "x", "conversation_id": complaint_conv.pk}
        ),
        content_type="application/json",
    )
    assert r.status_code == 400 and "amount" in r.json()["fields"]
    r = client.get("/api/v1/authority-limits")
    assert r.json()["mine"] == "20"
