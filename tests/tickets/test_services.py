"""Tickets (kefu.tickets.services): create, status, transfer, edits, customer updates, follow-ups."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from kefu.accounts.models import Role
from kefu.conversations.models import Conversation, Message
from kefu.conversations.services import do_set_status, do_transfer
from kefu.core.errors import Conflict, InvalidInput, PermissionDenied
from kefu.tickets.models import FollowUp, Ticket, TicketEvent
from kefu.tickets.records import access_ticket, follow_ups_for, list_tickets
from kefu.tickets.services import (
    do_add_comment,
    do_add_follow_up,
    do_change_status,
    do_complete_follow_up,
    do_create_ticket,
    do_notify_due_follow_ups,
    do_send_customer_update,
    do_transfer_ticket,
    do_update_ticket,
)

pytestmark = pytest.mark.django_db


def test_ticket_from_conversation_is_prefilled(shop):
    ticket = do_create_ticket(actor=shop.agent, conversation_id=shop.conversation.pk)
    assert re.fullmatch(r"TK-\d{8}-0001", ticket.number)
    assert ticket.title == "杯子破损"
    assert ticket.customer_id == shop.conversation.customer_id
    assert list(ticket.conversations.all()) == [shop.conversation]
    assert list(ticket.orders.all()) == [shop.order]
    assert ticket.fields == {"order_no": "SO-20261120-7"}
    assert ticket.category == Ticket.Category.AFTER_SALES
    assert "杯子收到就是破的" in ticket.description
    assert ticket.owner == shop.agent
    assert ticket.status == Ticket.Status.NEW
    assert ticket.events.get().kind == TicketEvent.Kind.CREATED


def test_owner_is_the_first_responder_even_after_transfer(shop, make_user):
    colleague = make_user("colleague", teams=(shop.desk.team,), display_name="小王")
    do_transfer(
        actor=shop.agent, conversation_id=shop.conversation.pk, note="客户要求换货，请跟进", to_user=colleague
    )
    ticket = do_create_ticket(actor=colleague, conversation_id=shop.conversation.pk)
    assert ticket.owner == shop.agent
    assert ticket.assignee == colleague
    assert ticket in list_tickets(shop.agent, mine=True)


def test_urgent_and_important_set_priority_p1(shop):
    ticket = do_create_ticket(
        actor=shop.agent, conversation_id=shop.conversation.pk, urgent=True, important=True
    )
    assert ticket.priority == "P1"


def test_ticket_from_api_needs_a_title(shop):
    with pytest.raises(InvalidInput) as exc:
        do_create_ticket(actor=shop.agent, customer_id=shop.conversation.customer_id)
    assert "title" in exc.value.fields


def test_status_machine_refuses_skipping_and_names_allowed(shop):
    ticket = do_create_ticket(actor=shop.agent, conversation_id=shop.conversation.pk)
    with pytest.raises(Conflict) as exc:
        do_change_status(actor=shop.agent, ticket_id=ticket.pk, status="closed")
    assert exc.value.extra["allowed"] == ["in_progress"]
    for status in ("in_progress", "waiting_customer", "in_progress", "resolved", "closed"):
        ticket = do_change_status(actor=shop.agent, ticket_id=ticket.pk, status=status)
    assert ticket.closed_at is not None
    kinds = list(ticket.events.values_list("kind", flat=True))
    assert kinds == ["created"] + ["status"] * 5


def test_reopen_clears_resolution_and_restarts_the_clock(shop):
    ticket = do_create_ticket(actor=shop.agent, conversation_id=shop.conversation.pk)
    do_change_status(actor=shop.agent, ticket_id=ticket.pk, status="in_progress")
    do_change_status(actor=shop.agent, ticket_id=ticket.pk, status="resolved")
    ticket = do_change_status(actor=shop.agent, ticket_id=ticket.pk, status="in_progress")
    assert ticket.resolved_at is None
    assert ticket.due_at > timezone.now() + timedelta(hours=71)
    assert ticket.events.last().detail["reopened"] is True


def test_waiting_department_only_through_transfer(shop):
    ticket = do_create_ticket(actor=shop.agent, conversation_id=shop.conversation.pk)
    do_change_status(actor=shop.agent, ticket_id=ticket.pk, status="in_progress")
    with pytest.raises(Conflict):
        do_change_status(actor=shop.agent, ticket_id=ticket.pk, status="waiting_department")


def test_transfer_lists_missing_department_fields(shop):
    ticket = do_create_ticket(actor=shop.agent, conversation_id=shop.conversation.pk)
    with pytest.raises(InvalidInput) as exc:
        do_transfer_ticket(actor=shop.agent, ticket_id=ticket.pk, department_id=shop.warehouse.pk)
    assert exc.value.extra["missing"] == ["evidence"]
    assert "evidence" in exc.value.fields
    assert exc.value.as_dict()["missing"] == ["evidence"]
    ticket.refresh_from_db()
    assert ticket.department is None
    assert ticket.status == "new"


def test_transfer_with_given_fields_moves_to_department(shop, events, django_capture_on_commit_callbacks):
    ticket = do_create_ticket(actor=shop.agent, conversation_id=shop.conversation.pk)
    events.clear()
    before = timezone.now()
    ticket = do_transfer_ticket(
        actor=shop.agent,
        ticket_id=ticket.pk,
        department_id=shop.warehouse.pk,
        fields={"evidence": "https://img.example/1.jpg"},
        note="请核实破损",
    )
    assert ticket.status == "waiting_department"
    assert ticket.department == shop.warehouse
    assert ticket.fields["evidence"] == "https://img.example/1.jpg"
    assert before + timedelta(hours=8) <= ticket.due_at <= timezone.now() + timedelta(hours=8)
    assert ticket.owner == shop.agent
    event = ticket.events.last()
    assert event.kind == "transferred"
    assert event.detail["department"] == "仓储部"
    (published,) = [e for e in events if e["event"] == "ticket.updated"]
    assert published["team_id"] == shop.warehouse_team.pk
    assert published["data"]["change"] == "transferred"
    # The department's team can now see and work on it.
    assert access_ticket(shop.clerk, ticket.pk) == ticket


def test_transfer_of_a_closed_ticket_is_a_conflict(shop):
    ticket = do_create_ticket(actor=shop.agent, conversation_id=shop.conversation.pk)
    for status in ("in_progress", "resolved", "closed"):
        do_change_status(actor=shop.agent, ticket_id=ticket.pk, status=status)
    with pytest.raises(Conflict):
        do_transfer_ticket(
            actor=shop.agent, ticket_id=ticket.pk, department_id=shop.warehouse.pk, fields={"evidence": "x"}
        )


def test_others_cannot_see_a_ticket(shop, make_user, make_team):
    ticket = do_create_ticket(actor=shop.agent, conversation_id=shop.conversation.pk)
    stranger = make_user("stranger", teams=(make_team("别组"),))
    with pytest.raises(PermissionDenied):
        access_ticket(stranger, ticket.pk)
    with pytest.raises(PermissionDenied):
        do_add_comment(actor=stranger, ticket_id=ticket.pk, text="看看")
    assert access_ticket(shop.supervisor, ticket.pk) == ticket
    lead = make_user("boss", role=Role.MANAGER)
    assert ticket in list_tickets(lead)
    assert ticket not in list_tickets(stranger)


def test_priority_change_recomputes_deadline_and_is_logged(shop, events, django_capture_on_commit_callbacks):
    ticket = do_create_ticket(actor=shop.agent, conversation_id=shop.conversation.pk)
    assert ticket.priority == "P4"
    p4_due = ticket.due_at
    ticket = do_update_ticket(actor=shop.agent, ticket_id=ticket.pk, urgent=True, important=True)
    assert ticket.priority == "P1"
    assert ticket.due_at == ticket.created_at + timedelta(hours=4)
    assert ticket.due_at < p4_due
    texts = list(ticket.events.values_list("text", flat=True))
    assert any("P4 变为 P1" in t for t in texts)
    assert events[-1]["event"] == "ticket.updated"
    assert set(events[-1]["user_ids"]) >= {shop.agent.pk}


def test_field_and_assignee_edits_write_the_timeline(shop):
    ticket = do_create_ticket(actor=shop.agent, conversation_id=shop.conversation.pk)
    ticket = do_update_ticket(
        actor=shop.agent,
        ticket_id=ticket.pk,
        fields={"evidence": "照片", "order_no": ""},
        assignee_id=shop.clerk.pk,
    )
    assert ticket.fields == {"evidence": "照片"}
    assert ticket.assignee == shop.clerk
    assert list(ticket.events.values_list("kind", flat=True)) == ["created", "field", "assigned"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"urgent": "yes"}, "urgent"),
        ({"fields": {"Bad Key": "x"}}, "fields.Bad Key"),
        ({"fields": {"ok": ["list"]}}, "fields.ok"),
        ({"assignee_id": 999999}, "assignee_id"),
        ({"category": "nope"}, "category"),
    ],
)
def test_bad_edits_name_the_field(shop, kwargs, field):
    ticket = do_create_ticket(actor=shop.agent, conversation_id=shop.conversation.pk)
    with pytest.raises(InvalidInput) as exc:
        do_update_ticket(actor=shop.agent, ticket_id=ticket.pk, **kwargs)
    assert field in exc.value.fields


def test_customer_update_goes_to_the_linked_conversation(shop, django_capture_on_commit_callbacks):
    ticket = do_create_ticket(actor=shop.agent, conversation_id=shop.conversation.pk)
    message = do_send_customer_update(actor=shop.agent, ticket_id=ticket.pk, text="仓库已确认，今天补发")
    assert message.conversation_id == shop.conversation.pk
    assert not message.is_private
    assert message.direction == Message.Direction.OUTGOING
    assert "仓库已确认" in message.text and ticket.number in message.text
    event = ticket.events.last()
    assert event.kind == "customer_update"
    assert event.detail["message_id"] == message.pk
    ticket.refresh_from_db()
    assert ticket.first_response_at is not None


def test_customer_update_reopens_a_closed_conversation(shop):
    ticket = do_create_ticket(actor=shop.agent, conversation_id=shop.conversation.pk)
    do_set_status(actor=shop.agent, conversation_id=shop.conversation.pk, status="closed")
    do_send_customer_update(actor=shop.agent, ticket_id=ticket.pk, text="补发已寄出")
    assert Conversation.objects.get(pk=shop.conversation.pk).status == "open"


def test_customer_update_without_conversation_is_a_conflict(shop):
    ticket = do_create_ticket(actor=shop.agent, customer_id=shop.conversation.customer_id, title="电话回访")
    with pytest.raises(Conflict):
        do_send_customer_update(actor=shop.agent, ticket_id=ticket.pk, text="您好")


def test_follow_ups_on_the_owners_list_and_reminded_once(shop, events, django_capture_on_commit_callbacks):
    ticket = do_create_ticket(actor=shop.agent, conversation_id=shop.conversation.pk)
    now = timezone.now()
    overdue = do_add_follow_up(
        actor=shop.clerk if False else shop.agent,
        ticket_id=ticket.pk,
        due_at=now - timedelta(minutes=5),
        note="回访补发",
    )
    later = do_add_follow_up(
        actor=shop.agent, ticket_id=ticket.pk, due_at=now + timedelta(days=3), note="确认签收"
    )
    lists = follow_ups_for(shop.agent, now=now)
    assert lists.overdue == [overdue]
    assert lists.upcoming == [later]
    assert do_notify_due_follow_ups(now) == 1
    assert do_notify_due_follow_ups(now) == 0
    assert [e for e in events if e["event"] == "ticket.follow_up_due"][0]["user_ids"] == [shop.agent.pk]
    done = do_complete_follow_up(actor=shop.agent, follow_up_id=overdue.pk)
    assert done.done_at is not None
    assert follow_ups_for(shop.agent, now=now).overdue == []
    assert FollowUp.objects.get(pk=overdue.pk).owner == shop.agent


def test_follow_up_needs_a_time_and_note(shop):
    ticket = do_create_ticket(actor=shop.agent, conversation_id=shop.conversation.pk)
    with pytest.raises(InvalidInput) as exc:
        do_add_follow_up(actor=shop.agent, ticket_id=ticket.pk, due_at=None, note="x")
    assert "due_at" in exc.value.fields
    with pytest.raises(InvalidInput) as exc:
        do_add_follow_up(actor=shop.agent, ticket_id=ticket.pk, due_at=timezone.now(), note=" ")
    assert "note" in exc.value.fields


def test_created_event_goes_to_owner_team_and_people(shop, events, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        ticket = do_create_ticket(actor=shop.agent, conversation_id=shop.conversation.pk)
    (created,) = [e for e in events if e["event"] == "ticket.created"]
    assert created["team_id"] == shop.desk.team.pk
    assert set(created["user_ids"]) == {shop.agent.pk}
    assert created["data"]["ticket"]["number"] == ticket.number


def test_a_customer_reply_resumes_a_ticket_waiting_for_them(shop, events):
    from datetime import timedelta

    from django.utils import timezone

    from kefu.conversations.services import do_receive_customer_message
    from kefu.tickets.models import Ticket
    from kefu.tickets.services import do_change_status, do_create_ticket

    ticket = do_create_ticket(
        actor=shop.agent, conversation_id=shop.conversation.pk, urgent=True, important=True
    )
    do_change_status(actor=shop.agent, ticket_id=ticket.pk, status="in_progress")
    do_change_status(actor=shop.agent, ticket_id=ticket.pk, status="waiting_customer", note="请补充照片")
    Ticket.objects.filter(pk=ticket.pk).update(sla_paused_at=timezone.now() - timedelta(hours=1))
    due = Ticket.objects.get(pk=ticket.pk).due_at
    identity = shop.conversation.customer.identities.first()
    do_receive_customer_message(
        channel=shop.conversation.channel,
        identities=[(identity.kind, identity.value)],
        text="照片发过来了，杯底这里漏水",
        conversation=shop.conversation,
    )
    ticket.refresh_from_db()
    assert ticket.status == "in_progress" and ticket.sla_paused_at is None
    assert abs(ticket.due_at - due - timedelta(hours=1)) < timedelta(seconds=5)
    last = ticket.events.order_by("-id").first()
    assert last.actor is None and "客户已回复" in last.text
    assert any(e["event"] == "ticket.updated" and e["data"]["change"] == "status" for e in events)


def test_a_reply_in_a_new_conversation_resumes_the_customers_waiting_ticket(shop):
    from kefu.conversations.models import Conversation
    from kefu.conversations.services import do_receive_customer_message
    from kefu.tickets.services import do_change_status, do_create_ticket

    ticket = do_create_ticket(actor=shop.agent, conversation_id=shop.conversation.pk)
    do_change_status(actor=shop.agent, ticket_id=ticket.pk, status="in_progress")
    do_change_status(actor=shop.agent, ticket_id=ticket.pk, status="waiting_customer")
    Conversation.objects.filter(pk=shop.conversation.pk).update(status=Conversation.Status.CLOSED)
    identity = shop.conversation.customer.identities.first()
    message, _ = do_receive_customer_message(
        channel=shop.conversation.channel,
        identities=[(identity.kind, identity.value)],
        text="订单号是 SO-20261120-7",
    )
    assert message.conversation_id != shop.conversation.pk
    ticket.refresh_from_db()
    assert ticket.status == "in_progress"
