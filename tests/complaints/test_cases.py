"""A complaint and its 投诉 ticket are one case: opened from a conversation, a ticket
page or the API, never two complaint tickets for one conversation."""

from __future__ import annotations

import json

import pytest

from kefu.complaints.models import Complaint
from kefu.complaints.services import do_open_complaint
from kefu.tickets.models import Ticket
from kefu.tickets.services import do_change_status, do_create_ticket

pytestmark = pytest.mark.django_db


def post(client, url, body):
    return client.post(url, data=json.dumps(body), content_type="application/json")


def complaint_tickets(conversation):
    return Ticket.objects.filter(conversations=conversation, category=Ticket.Category.COMPLAINT)


def test_opening_a_complaint_twice_from_a_conversation_gives_the_same_case(client, desk, complaint_conv):
    client.force_login(desk.agent)
    first = post(
        client, "/api/v1/complaints", {"conversation_id": complaint_conv.pk, "what_happened": "杯子摔坏"}
    )
    assert first.status_code == 201
    again = post(
        client, "/api/v1/complaints", {"conversation_id": complaint_conv.pk, "customer_request": "补发新杯子"}
    )
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    # The second call fills what the case still lacked, and keeps what it had.
    assert again.json()["what_happened"] == "杯子摔坏" and again.json()["customer_request"] == "补发新杯子"
    assert complaint_tickets(complaint_conv).count() == 1


def test_a_complaint_ticket_from_the_tickets_api_opens_its_complaint(client, desk, complaint_conv):
    client.force_login(desk.agent)
    r = post(client, "/api/v1/tickets", {"conversation_id": complaint_conv.pk, "category": "complaint"})
    assert r.status_code == 201, r.content
    ticket_id = r.json()["id"]
    complaint = Complaint.objects.get(ticket_id=ticket_id)
    assert complaint.stage == "intake" and complaint.next_update_due is not None
    # Opening a complaint from the conversation links to that ticket.
    r = post(
        client,
        "/api/v1/complaints",
        {"conversation_id": complaint_conv.pk, "what_happened": "快递员摔坏杯子"},
    )
    assert r.status_code == 200 and r.json()["id"] == complaint.pk and r.json()["ticket_id"] == ticket_id
    # A second 投诉 ticket for the conversation is refused, naming the first.
    r = post(client, "/api/v1/tickets", {"conversation_id": complaint_conv.pk, "category": "complaint"})
    assert r.status_code == 409
    assert r.json()["ticket_id"] == ticket_id and r.json()["complaint_id"] == complaint.pk
    assert complaint_tickets(complaint_conv).count() == 1


def test_a_ticket_recategorised_as_complaint_gets_its_complaint_once(client, desk, complaint_conv):
    client.force_login(desk.agent)
    after_sales = do_create_ticket(
        actor=desk.agent, conversation_id=complaint_conv.pk, title="杯子破损", category="after_sales"
    )
    other = do_create_ticket(
        actor=desk.agent, conversation_id=complaint_conv.pk, title="补发", category="after_sales"
    )
    r = client.patch(
        f"/api/v1/tickets/{after_sales.pk}",
        data=json.dumps({"category": "complaint"}),
        content_type="application/json",
    )
    assert r.status_code == 200 and Complaint.objects.filter(ticket=after_sales).exists()
    r = client.patch(
        f"/api/v1/tickets/{other.pk}",
        data=json.dumps({"category": "complaint"}),
        content_type="application/json",
    )
    assert r.status_code == 409 and r.json()["ticket_id"] == after_sales.pk
    assert Ticket.objects.get(pk=other.pk).category == "after_sales"


def test_after_the_case_is_closed_a_new_complaint_is_a_new_case_linked_as_a_repeat(desk, complaint_conv):
    first = do_open_complaint(
        actor=desk.agent, conversation_id=complaint_conv.pk, data={"what_happened": "杯子摔坏"}
    )
    ticket = first.ticket
    do_change_status(actor=desk.agent, ticket_id=ticket.pk, status="in_progress")
    do_change_status(actor=desk.agent, ticket_id=ticket.pk, status="resolved")
    do_change_status(actor=desk.agent, ticket_id=ticket.pk, status="closed")
    second = do_open_complaint(
        actor=desk.agent, conversation_id=complaint_conv.pk, data={"what_happened": "杯子摔坏"}
    )
    assert second.pk != first.pk and second.repeat_of_id == first.pk


def test_the_conversation_page_opens_a_complaint_and_then_links_to_it(client, desk, complaint_conv):
    client.force_login(desk.agent)
    page = client.get(f"/desk/c/{complaint_conv.pk}/").content.decode()
    assert 'id="kefu-complaint-form"' in page and "登记投诉" in page
    r = client.post(
        "/desk/complaints/open/",
        {
            "conversation_id": complaint_conv.pk,
            "what_happened": "快递员摔坏杯子",
            "customer_request": "道歉并补发",
        },
    )
    complaint = Complaint.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/desk/complaints/{complaint.pk}/"
    assert complaint.what_happened == "快递员摔坏杯子" and complaint.ticket.priority == "P1"
    page = client.get(f"/desk/c/{complaint_conv.pk}/").content.decode()
    assert 'id="kefu-complaint-form"' not in page and f"/desk/complaints/{complaint.pk}/" in page
    # Posting again (another tab) opens the same case.
    r = client.post("/desk/complaints/open/", {"conversation_id": complaint_conv.pk}, follow=True)
    assert "该会话已有投诉" in r.content.decode() and Complaint.objects.count() == 1


def test_a_ticket_page_registers_the_ticket_as_a_complaint(client, desk, complaint_conv):
    ticket = do_create_ticket(
        actor=desk.agent,
        conversation_id=complaint_conv.pk,
        title="保温杯破损",
        description="客户说快递员把包裹扔在门口，杯子摔坏了",
        category="after_sales",
    )
    client.force_login(desk.agent)
    page = client.get(f"/desk/tickets/{ticket.pk}/").content.decode()
    assert "登记为投诉" in page
    r = client.post("/desk/complaints/open/", {"ticket_id": ticket.pk})
    complaint = Complaint.objects.get(ticket=ticket)
    assert r.status_code == 302 and r["Location"] == f"/desk/complaints/{complaint.pk}/"
    ticket.refresh_from_db()
    assert ticket.category == "complaint" and ticket.priority == "P1"
    assert complaint.what_happened == "客户说快递员把包裹扔在门口，杯子摔坏了"
    page = client.get(f"/desk/tickets/{ticket.pk}/").content.decode()
    assert "登记为投诉" not in page and f"/desk/complaints/{complaint.pk}/" in page
    # The API says the ticket is a complaint already.
    r = post(client, "/api/v1/complaints", {"ticket_id": ticket.pk})
    assert r.status_code == 200 and r.json()["id"] == complaint.pk


def test_opening_a_complaint_needs_access_to_the_conversation_or_ticket(
    client, desk, complaint_conv, make_user, make_team
):
    outsider = make_user("waibu", teams=(make_team("售后组"),))
    client.force_login(outsider)
    assert client.post("/desk/complaints/open/", {"conversation_id": complaint_conv.pk}).status_code == 403
    r = post(client, "/api/v1/complaints", {"conversation_id": complaint_conv.pk})
    assert r.status_code == 403 and not Complaint.objects.exists()
    r = client.post("/desk/complaints/open/", {"conversation_id": "abc"}, follow=True)
    assert "参数无效" in r.content.decode()
