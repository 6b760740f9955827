"""Webhook payloads: untrusted integrations (the default) get the numbers customers type masked;
an endpoint an admin marks trusted gets the text as typed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kefu.conversations.services import do_receive_customer_message
from kefu.tickets.services import do_create_ticket
from kefu.webhooks.delivery import encode_body
from kefu.webhooks.models import WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db

PHONE = "13812345678"
ID_CARD = "11010519491231002X"
TEXT = f"麻烦开增值税发票，抬头是个人，身份证 {ID_CARD}，电话 {PHONE}"


@pytest.fixture
def endpoints(client: Any, make_user: Any) -> dict[str, WebhookEndpoint]:
    client.force_login(make_user("root", role="admin"))
    made = {}
    for name, body in {
        "crm": {"url": "https://crm.example/kefu"},
        "erp": {"url": "https://erp.shop.example/kefu", "trusted": True},
    }.items():
        r = client.post("/api/v1/webhooks", body, content_type="application/json")
        assert r.status_code == 201
        assert r.json()["trusted"] is body.get("trusted", False)
        made[name] = WebhookEndpoint.objects.get(pk=r.json()["id"])
    return made


def payload_of(endpoint: WebhookEndpoint, event_type: str) -> dict[str, Any]:
    delivery = WebhookDelivery.objects.get(endpoint=endpoint, event_type=event_type)
    return json.loads(encode_body(delivery.payload))  # exactly the body that is signed and sent


def test_message_created_is_masked_for_untrusted_and_clear_for_trusted(desk, endpoints):
    do_receive_customer_message(channel=desk.channel, identities=[("web", "fapiao-1")], text=TEXT)
    untrusted = payload_of(endpoints["crm"], "message.created")["data"]
    assert (
        untrusted["message"]["text"]
        == "麻烦开增值税发票，抬头是个人，身份证 110105********002X，电话 138****5678"
    )
    assert untrusted["message"]["has_pii"] is True
    assert ID_CARD not in json.dumps(untrusted, ensure_ascii=False)
    assert PHONE not in json.dumps(payload_of(endpoints["crm"], "conversation.created"), ensure_ascii=False)
    trusted = payload_of(endpoints["erp"], "message.created")["data"]
    assert trusted["message"]["text"] == TEXT
    assert trusted["conversation"]["subject"] == TEXT


def test_ticket_copied_from_messages_is_masked_for_untrusted(shop, endpoints):
    do_receive_customer_message(
        channel=shop.conversation.channel,
        identities=[("web", shop.conversation.customer.identities.first().value)],
        text=f"退款打到 6222021234567890128，联系 {PHONE}",
    )
    do_create_ticket(actor=shop.agent, conversation_id=shop.conversation.pk)
    untrusted = payload_of(endpoints["crm"], "ticket.created")["data"]["ticket"]
    assert "6222***********0128" in untrusted["description"] and PHONE not in untrusted["description"]
    trusted = payload_of(endpoints["erp"], "ticket.created")["data"]["ticket"]
    assert "6222021234567890128" in trusted["description"]


def test_trust_can_be_switched_on_and_off(client, endpoints):
    eid = endpoints["crm"].pk
    r = client.patch(f"/api/v1/webhooks/{eid}", {"trusted": True}, content_type="application/json")
    assert r.status_code == 200 and r.json()["trusted"] is True
    bad = client.patch(f"/api/v1/webhooks/{eid}", {"trusted": "yes"}, content_type="application/json")
    assert bad.status_code in (400, 422)
