"""REST: tickets (list, create, detail with timeline, edit, status, transfer, comments,
follow-ups, progress updates to the customer) and departments."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Query, Router, Schema, Status
from pydantic import Field, StrictBool, StrictInt, StrictStr

from kefu.accounts.access import AuthedRequest
from kefu.conversations.presenters import message_dict
from kefu.core.apiutil import DEFAULT_LIMIT, MAX_LIMIT, StrictIn
from kefu.core.errors import InvalidInput
from kefu.core.keyset import capped_count, encode_cursor, keyset_page
from kefu.customers.models import Order
from kefu.tickets.presenters import ticket_out

from . import presenters, records, services
from .models import FollowUp, Ticket, TicketEvent

router = Router(tags=["tickets"])


# --- shapes --------------------------------------------------------------------------


def ticket_detail(t: Ticket) -> dict[str, Any]:
    return _detail(
        t,
        conversation_ids=list(t.conversations.values_list("id", flat=True)),
        orders=list(t.orders.order_by("-placed_at")),
        timeline=records.timeline(t),
        follow_ups=list(t.follow_ups.order_by("due_at", "id")),
    )


def _detail(
    t: Ticket,
    *,
    conversation_ids: list[int],
    orders: list[Order],
    timeline: list[TicketEvent],
    follow_ups: list[FollowUp],
) -> dict[str, Any]:
    return {
        **ticket_out(t),
        "conversation_ids": sorted(conversation_ids),
        "orders": [{"id": o.pk, "order_no": o.order_no} for o in orders],
        "timeline": [presenters.event_dict(e) for e in timeline],
        "follow_ups": [presenters.follow_up_dict(f) for f in follow_ups],
    }


# --- input ---------------------------------------------------------------------------


class TicketIn(StrictIn):
    conversation_id: StrictInt | None = None
    customer_id: StrictInt | None = None
    title: StrictStr | None = None
    description: StrictStr | None = None
    category: StrictStr | None = None
    urgent: StrictBool | None = None
    important: StrictBool | None = None
    fields: dict[str, StrictStr] | None = None


class TicketPatch(StrictIn):
    title: StrictStr | None = None
    description: StrictStr | None = None
    category: StrictStr | None = None
    urgent: StrictBool | None = None
    important: StrictBool | None = None
    fields: dict[str, StrictStr] | None = None
    assignee_id: StrictInt | None = None


class TicketStatusIn(StrictIn):
    status: StrictStr
    note: StrictStr = ""


class TicketTransferIn(StrictIn):
    department_id: StrictInt
    fields: dict[str, StrictStr] = {}
    note: StrictStr = ""


class CommentIn(StrictIn):
    text: StrictStr


class TicketFollowUpIn(StrictIn):
    due_at: datetime
    note: StrictStr = Field(min_length=1, max_length=255)


class CustomerUpdateIn(StrictIn):
    text: StrictStr
    # Send although the update has high-severity quality findings (recorded as an override).
    confirm_findings: StrictBool = False


class TicketFilters(Schema):
    status: str | None = None
    priority: str | None = None
    category: str | None = None
    owner: str | None = None
    department: int | None = None
    mine: bool = False
    sort: str = records.DEFAULT_SORT
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    offset: int = Field(0, ge=0)
    # Keyset pages: ``next_cursor`` / ``prev_cursor`` of the page before (instead of offset).
    after: str | None = None
    before: str | None = None


# --- endpoints -----------------------------------------------------------------------


@router.get("/tickets")
def list_tickets(request: AuthedRequest, filters: Query[TicketFilters]) -> dict[str, Any]:
    qs = records.list_tickets(
        request.auth,
        status=filters.status,
        priority=filters.priority,
        category=filters.category,
        owner=filters.owner,
        department_id=filters.department,
        mine=filters.mine,
        sort=filters.sort,
    )
    count = capped_count(qs)
    if filters.after or filters.before:
        if filters.offset:
            raise InvalidInput(
                "翻页位置与 offset 只能给一个", fields={"offset": "使用 after/before 时不能给 offset"}
            )
        kp = keyset_page(
            qs, sort=filters.sort, limit=filters.limit, after=filters.after, before=filters.before
        )
        items, next_cursor, prev_cursor = kp.items, kp.next_cursor, kp.prev_cursor
    else:
        # An offset page (kept for clients that page by number): one row more tells whether
        # a next page exists, and its cursor lets the client go on by keyset from here.
        # An offset past a known end never reaches the database (its integers end at 2**63).
        past_end = filters.offset >= count.value if count.exact else filters.offset >= 2**62
        rows = [] if past_end else list(qs[filters.offset : filters.offset + filters.limit + 1])
        items = rows[: filters.limit]
        last = items[-1] if items else None
        next_cursor = (
            encode_cursor(filters.sort, getattr(last, filters.sort.lstrip("-")), last.pk)
            if last is not None and len(rows) > filters.limit
            else None
        )
        prev_cursor = None
    return {
        "count": count.value,
        "count_exact": count.exact,
        "limit": filters.limit,
        "offset": filters.offset,
        "items": [ticket_out(t) for t in items],
        "next_cursor": next_cursor,
        "prev_cursor": prev_cursor,
    }


@router.post("/tickets", response={201: dict[str, Any]})
def create_ticket(request: AuthedRequest, payload: TicketIn) -> Status[dict[str, Any]]:
    created = services.do_create_ticket_with_parts(actor=request.auth, **payload.model_dump())
    # Its creator may always see a ticket (``records.visible_tickets``: created_by), so
    # the answer is rendered from what the service wrote, with no read back.
    return Status(
        201,
        _detail(
            created.ticket,
            conversation_ids=created.conversation_ids,
            orders=created.orders,
            timeline=created.timeline,
            follow_ups=[],
        ),
    )


@router.get("/tickets/{ticket_id}")
def get_ticket(request: AuthedRequest, ticket_id: int) -> dict[str, Any]:
    return ticket_detail(records.access_ticket(request.auth, ticket_id))


@router.patch("/tickets/{ticket_id}")
def update_ticket(request: AuthedRequest, ticket_id: int, payload: TicketPatch) -> dict[str, Any]:
    changes = payload.model_dump(exclude_unset=True)
    for key in ("title", "category", "urgent", "important"):
        if key in changes and changes[key] is None:
            changes.pop(key)  # null means "leave as is" except where it can clear
    services.do_update_ticket(actor=request.auth, ticket_id=ticket_id, **changes)
    return ticket_detail(records.access_ticket(request.auth, ticket_id))


@router.post("/tickets/{ticket_id}/status")
def change_status(request: AuthedRequest, ticket_id: int, payload: TicketStatusIn) -> dict[str, Any]:
    ticket = services.do_change_status(
        actor=request.auth, ticket_id=ticket_id, status=payload.status, note=payload.note
    )
    # Read through the permission query by the service, under its lock; a status changes
    # none of what that query looks at (owner, assignee, creator, department, team,
    # compensation approvals): the actor still sees it, so it is not read again.
    return ticket_detail(ticket)


@router.post("/tickets/{ticket_id}/transfer")
def transfer(request: AuthedRequest, ticket_id: int, payload: TicketTransferIn) -> dict[str, Any]:
    ticket = services.do_transfer_ticket(
        actor=request.auth,
        ticket_id=ticket_id,
        department_id=payload.department_id,
        fields=payload.fields,
        note=payload.note,
    )
    # The actor may no longer see it (a department's member handing it on to another):
    # as a conversation's transfer does, answer with what the transfer made of it, which
    # the actor was allowed to change; reading it again would answer a done transfer
    # with 403. Later reads go through the permission query as always.
    return ticket_detail(ticket)


@router.post("/tickets/{ticket_id}/comments", response={201: dict[str, Any]})
def add_comment(request: AuthedRequest, ticket_id: int, payload: CommentIn) -> Status[dict[str, Any]]:
    event = services.do_add_comment(actor=request.auth, ticket_id=ticket_id, text=payload.text)
    return Status(201, presenters.event_dict(event))


@router.get("/tickets/{ticket_id}/follow-ups")
def list_follow_ups(request: AuthedRequest, ticket_id: int) -> list[dict[str, Any]]:
    ticket = records.access_ticket(request.auth, ticket_id)
    return [presenters.follow_up_dict(f) for f in ticket.follow_ups.order_by("due_at", "id")]


@router.post("/tickets/{ticket_id}/follow-ups", response={201: dict[str, Any]})
def add_follow_up(
    request: AuthedRequest, ticket_id: int, payload: TicketFollowUpIn
) -> Status[dict[str, Any]]:
    follow_up = services.do_add_follow_up(
        actor=request.auth, ticket_id=ticket_id, due_at=payload.due_at, note=payload.note
    )
    return Status(201, presenters.follow_up_dict(follow_up))


@router.post("/follow-ups/{follow_up_id}/complete")
def complete_follow_up(request: AuthedRequest, follow_up_id: int) -> dict[str, Any]:
    return presenters.follow_up_dict(
        services.do_complete_follow_up(actor=request.auth, follow_up_id=follow_up_id)
    )


@router.get("/follow-ups")
def my_follow_ups(request: AuthedRequest) -> dict[str, Any]:
    lists = records.follow_ups_for(request.auth)
    return {
        name: [presenters.follow_up_dict(f) for f in getattr(lists, name)]
        for name in ("overdue", "due_today", "upcoming")
    }


@router.post("/tickets/{ticket_id}/customer-updates", response={201: dict[str, Any]})
def customer_update(
    request: AuthedRequest, ticket_id: int, payload: CustomerUpdateIn
) -> Status[dict[str, Any]]:
    message = services.do_send_customer_update(
        actor=request.auth, ticket_id=ticket_id, text=payload.text, confirm_findings=payload.confirm_findings
    )
    return Status(201, message_dict(message))


@router.get("/departments")
def list_departments(request: AuthedRequest) -> list[dict[str, Any]]:
    return [presenters.department_dict(d) for d in records.list_departments()]
