"""Tickets copied from a conversation keep the customer's numbers stored but masked on the desk."""

from __future__ import annotations

from typing import Any

import pytest

from kefu.conversations.services import do_receive_customer_message
from kefu.tickets.models import Ticket

pytestmark = pytest.mark.django_db

CARD = "6222021234567890128"
PHONE = "13812345678"


@pytest.fixture
def ticket(shop: Any) -> Ticket:
    do_receive_customer_message(
        channel=shop.conversation.channel,
        identities=[("web", shop.conversation.customer.identities.first().value)],
        text=f"杯子碎了，退款打到我卡 {CARD}，电话 {PHONE}",
    )
    from kefu.tickets.services import do_create_ticket

    return do_create_ticket(actor=shop.agent, conversation_id=shop.conversation.pk, title=f"回电 {PHONE}")


def test_api_shows_title_description_and_timeline_masked(client, shop, ticket):
    client.force_login(shop.agent)
    body = client.get(f"/api/v1/tickets/{ticket.pk}").json()
    assert body["title"] == "回电 138****5678"
    assert "6222***********0128" in body["description"] and CARD not in body["description"]
    assert PHONE not in str(body["timeline"])
    listed = client.get("/api/v1/tickets").json()["items"]
    assert all(PHONE not in t["title"] and CARD not in t["description"] for t in listed)
    ticket.refresh_from_db()
    assert CARD in ticket.description and PHONE in ticket.title  # the original is kept


def test_ticket_page_shows_masked_text_even_in_the_edit_form(client, shop, ticket):
    client.force_login(shop.agent)
    html = client.get(f"/desk/tickets/{ticket.pk}/").content.decode()
    assert CARD not in html and PHONE not in html
    assert "6222***********0128" in html


def test_saving_the_masked_text_back_keeps_the_original(client, shop, ticket):
    client.force_login(shop.agent)
    shown = client.get(f"/api/v1/tickets/{ticket.pk}").json()
    r = client.patch(
        f"/api/v1/tickets/{ticket.pk}",
        {"title": shown["title"], "description": shown["description"], "urgent": True},
        content_type="application/json",
    )
    assert r.status_code == 200
    ticket.refresh_from_db()
    assert ticket.urgent is True
    assert PHONE in ticket.title and CARD in ticket.description
    r = client.patch(
        f"/api/v1/tickets/{ticket.pk}", {"description": "已退款"}, content_type="application/json"
    )
    ticket.refresh_from_db()
    assert ticket.description == "已退款"
