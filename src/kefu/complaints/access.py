"""Complaints, ground floor: who may see a complaint (the same people as its ticket)."""

from __future__ import annotations

from django.db.models import QuerySet

from kefu.accounts.models import User
from kefu.core.errors import NotFound, PermissionDenied
from kefu.tickets.models import Ticket
from kefu.tickets.records import visible_tickets

from .models import Complaint


def visible_complaints(user: User) -> QuerySet[Complaint]:
    qs = Complaint.objects.select_related(
        "ticket", "ticket__customer", "ticket__owner", "ticket__assignee", "repeat_of"
    )
    if user.sees_all:  # every ticket is visible: no subquery listing all of them
        return qs
    return qs.filter(ticket__in=visible_tickets(user))


def open_complaint_for(user: User, conversation_id: int) -> Complaint | None:
    """The conversation's complaint that is not closed yet, if ``user`` may see it.

    Starts from the conversation's tickets (the link table's conversation index), not
    from every complaint's ticket links: the conversation page asks this on every view.
    """
    tickets = Ticket.conversations.through.objects.filter(conversation_id=conversation_id).values("ticket_id")
    return (
        visible_complaints(user)
        .filter(ticket_id__in=tickets)
        .exclude(ticket__status=Ticket.Status.CLOSED)
        .order_by("-id")
        .first()
    )


def access_complaint(user: User, complaint_id: int, *, for_update: bool = False) -> Complaint:
    qs = visible_complaints(user)
    if for_update:
        qs = qs.select_for_update(of=("self",))
    complaint = qs.filter(pk=complaint_id).first()
    if complaint is None:
        if Complaint.objects.filter(pk=complaint_id).exists():
            raise PermissionDenied("您无权查看该投诉")
        raise NotFound(f"投诉 {complaint_id} 不存在")
    return complaint
