from __future__ import annotations

import pytest

from kefu.core.events import publish
from kefu.webhooks.models import WebhookDelivery

pytestmark = pytest.mark.django_db


def send(client, method, url, data=None):
    return getattr(client, method)(url, data or {}, content_type="application/json")


def test_admin_manages_endpoints_and_reads_the_log(client, make_user):
    client.force_login(make_user("root", role="admin"))
    created = send(
        client, "post", "/api/v1/webhooks", {"url": "https://crm.example/kefu", "events": ["ticket.created"]}
    )
    assert created.status_code == 201
    body = created.json()
    assert len(body["secret"]) >= 32
    listed = client.get("/api/v1/webhooks").json()
    assert "secret" not in listed["items"][0] and "ticket.sla_breached" in listed["events"]
    eid = body["id"]
    publish("ticket.created", {"ticket": {"id": 1}})
    log = client.get(f"/api/v1/webhooks/{eid}/deliveries").json()
    assert log["count"] == 1 and log["items"][0]["status"] == "pending"
    delivery_id = log["items"][0]["id"]
    WebhookDelivery.objects.filter(pk=delivery_id).update(status="failed", attempts=8)
    retried = send(client, "post", f"/api/v1/webhook-deliveries/{delivery_id}/retry")
    assert retried.json()["status"] == "pending" and retried.json()["attempts"] == 0
    rotated = send(client, "patch", f"/api/v1/webhooks/{eid}", {"rotate_secret": True, "is_active": False})
    assert rotated.json()["secret"] != body["secret"] and rotated.json()["is_active"] is False
    assert send(client, "patch", f"/api/v1/webhooks/{eid}", {"url": "javascript:alert(1)"}).status_code == 400
    assert client.get(f"/api/v1/webhooks/{eid}/deliveries?status=odd").status_code == 400
    assert send(client, "delete", f"/api/v1/webhooks/{eid}").status_code == 204
    assert client.get(f"/api/v1/webhooks/{eid}/deliveries").status_code == 404
    assert send(client, "post", "/api/v1/webhook-deliveries/999999/retry").status_code == 404


def test_agents_cannot_touch_webhooks(client, make_user):
    client.force_login(make_user("a1"))
    assert client.get("/api/v1/webhooks").status_code == 403
    assert send(client, "post", "/api/v1/webhooks", {"url": "https://x.example"}).status_code == 403


def test_bad_endpoint_input_is_4xx(client, make_user):
    client.force_login(make_user("root", role="admin"))
    assert (
        send(client, "post", "/api/v1/webhooks", {"url": "https://x.example", "events": ["nope"]}).status_code
        == 400
    )
    assert send(client, "post", "/api/v1/webhooks", {"url": 5}).status_code == 422
    assert (
        send(client, "post", "/api/v1/webhooks", {"url": "https://x.example", "extra": 1}).status_code == 422
    )
