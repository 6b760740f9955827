from __future__ import annotations

import pytest

from kefu.sla.models import SLAPolicy

pytestmark = pytest.mark.django_db


def send(client, method, url, data=None):
    return getattr(client, method)(url, data or {}, content_type="application/json")


def test_staff_read_admins_change(client, make_user):
    client.force_login(make_user("a1"))
    listed = client.get("/api/v1/sla-policies").json()
    assert len(listed) == SLAPolicy.objects.count() == 11
    assert (
        send(client, "post", "/api/v1/sla-policies", {"name": "x", "first_response_seconds": 5}).status_code
        == 403
    )
    client.force_login(make_user("root", role="admin"))
    created = send(
        client,
        "post",
        "/api/v1/sla-policies",
        {"name": "VIP 聊天", "channel_kind": "web", "priority": "P1", "first_response_seconds": 20},
    )
    assert created.status_code == 201, created.json()
    pid = created.json()["id"]
    updated = send(client, "patch", f"/api/v1/sla-policies/{pid}", {"warn_ratio": 0.5})
    assert updated.json()["warn_ratio"] == 0.5
    assert send(client, "patch", f"/api/v1/sla-policies/{pid}", {"warn_ratio": 5}).status_code == 400
    assert send(client, "patch", f"/api/v1/sla-policies/{pid}", {"unknown": 1}).status_code == 422
    assert send(client, "delete", f"/api/v1/sla-policies/{pid}").status_code == 204
    assert send(client, "delete", f"/api/v1/sla-policies/{pid}").status_code == 404


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "x", "first_response_seconds": -1}, "first_response_seconds"),
        ({"name": "x", "first_response_seconds": 10, "priority": "P9"}, "priority"),
        ({"name": "", "first_response_seconds": 10}, "name"),
        ({"name": "x"}, "first_response_seconds"),
        ({"name": "x", "first_response_seconds": "10"}, "first_response_seconds"),
    ],
)
def test_bad_policy_is_4xx_naming_the_field(client, make_user, payload, field):
    client.force_login(make_user("root", role="admin"))
    response = send(client, "post", "/api/v1/sla-policies", payload)
    assert response.status_code in (400, 422)
    assert field in response.json()["fields"]
