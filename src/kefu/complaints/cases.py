"""Complaints, ground floor: a ticket of category 投诉 and its complaint are one case.

Whichever way a complaint starts — opened on the conversation page or the API, a
ticket created or re-categorised as 投诉, or a ticket page's 「登记为投诉」 — it ends up
as one ticket with one ``Complaint`` row, and a conversation never gets a second
complaint ticket while one is still open. The ticket pipelines (a top floor below
the complaints pipelines) call ``check_no_second_case`` and ``do_attach_complaint``;
``open_case_for_conversation`` is what the complaints pipeline and the conversation
page ask first.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from kefu.conversations.models import Conversation
from kefu.core.errors import Conflict
from kefu.tickets.models import Ticket

from .models import Complaint


def open_case_ticket(conversation_id: int, *, exclude_ticket_id: int | None = None) -> Ticket | None:
    """The conversation's complaint ticket that is not closed yet, if any.

    A case stays open until its ticket is closed: a resolved complaint still awaits its 回访.
    """
    qs = Ticket.objects.filter(conversations__id=conversation_id, category=Ticket.Category.COMPLAINT).exclude(
        status=Ticket.Status.CLOSED
    )
    if exclude_ticket_id is not None:
        qs = qs.exclude(pk=exclude_ticket_id)
    return qs.order_by("-id").first()


def check_no_second_case(conversation_id: int | None, *, exclude_ticket_id: int | None = None) -> None:
    """Refuse a second open complaint ticket for one conversation (409 names the first).

    Locks the conversation row, so two desks opening a complaint at once settle it here.
    """
    if conversation_id is None:
        return
    list(Conversation.objects.select_for_update().filter(pk=conversation_id).values_list("pk", flat=True))
    existing = open_case_ticket(conversation_id, exclude_ticket_id=exclude_ticket_id)
    if existing is None:
        return
    complaint = Complaint.objects.filter(ticket=existing).values_list("pk", flat=True).first()
    raise Conflict(
        f"该会话已有投诉工单 {existing.number}，请在原工单中处理",
        fields={"category": "该会话已有未结案的投诉"},
        extra={"ticket_id": existing.pk, "ticket_number": existing.number, "complaint_id": complaint},
    )


def do_attach_complaint(ticket: Ticket) -> Complaint:
    """The complaint of a 投诉 ticket, created (at intake) if it has none yet.

    Run inside the caller's transaction, after the ticket row is saved.
    """
    complaint, _ = Complaint.objects.get_or_create(
        ticket=ticket,
        defaults={
            "order": ticket.orders.order_by("-placed_at", "-id").first(),
            "next_update_due": timezone.now() + timedelta(hours=24),
        },
    )
    return complaint
