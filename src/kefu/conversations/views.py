"""Workspace pages: the inbox and one conversation with the customer beside it.

The pages render once on the server; ``static/kefu/desk.js`` keeps them live over the
desk socket and sends every change through the REST API, so there is one write path.
"""

from __future__ import annotations

import csv
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpResponse
from django.shortcuts import render
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.views.decorators.http import require_GET

from kefu.accounts.access import AuthedRequest, can_reveal_pii, list_agents, team_ids_of
from kefu.accounts.models import Team
from kefu.channels.models import Channel
from kefu.complaints.access import open_complaint_for
from kefu.conversations.presenters import (
    TRANSCRIPT_HEADER,
    inbox_row,
    sla_state,
    transcript_row,
)
from kefu.conversations.services import INBOX_PAGE_SIZE, inbox_page, my_open_conversations
from kefu.conversations.timeline import access_attachment, access_conversation
from kefu.core.files import file_response
from kefu.core.masking import mask, mask_text
from kefu.customers.models import Identity
from kefu.customers.orders import list_orders
from kefu.customers.presenters import masked_identity_value, masked_pii
from kefu.customers.services import customer_timeline
from kefu.incidents.facts import pinned_statements
from kefu.incidents.public_posts import open_post_for
from kefu.nlp.emotion import LABEL_NAMES as EMOTION_NAMES

from .models import CallLog, Conversation, Message, Priority

PAGE_MESSAGES = 300
VIEWS = (("mine", "我的"), ("unassigned", "未分配"), ("team", "我的团队"), ("all", "全部"))
SNOOZE_STATUSES = (
    ("pending", "待客户"),
    ("snoozed", "暂缓"),
    ("resolved", "已解决"),
    ("closed", "关闭"),
    ("open", "重新打开"),
)


def _ticket_panel_available() -> bool:
    # The ticket panel is another app's template; the page works without it.
    try:
        get_template("tickets/_panel.html")
    except TemplateDoesNotExist:
        return False
    return True


@require_GET
@login_required
def inbox_view(request: AuthedRequest) -> HttpResponse:
    filters = {
        "view": request.GET.get("view") or "mine",
        "status": request.GET.get("status") or "",
        "channel": request.GET.get("channel") or "",
        "priority": request.GET.get("priority") or "",
    }
    page = inbox_page(
        request.user,
        view=filters["view"],
        status=filters["status"] or None,
        channel_kind=filters["channel"] or None,
        priority=filters["priority"] or None,
        after=request.GET.get("after") or None,
        before=request.GET.get("before") or None,
    )
    channel_labels = dict(Channel.Kind.choices)
    conversations = [
        inbox_row(r, channel_labels=channel_labels, emotion_names=EMOTION_NAMES) for r in page.items
    ]
    context = {
        "nav": "inbox",
        "conversations": conversations,
        "page_size": INBOX_PAGE_SIZE,
        "next_cursor": page.next_cursor,
        "prev_cursor": page.prev_cursor,
        "query": urlencode({k: v for k, v in filters.items() if v}),
        "filters": filters,
        "views": VIEWS,
        "statuses": Conversation.Status.choices,
        "channels": Channel.Kind.choices,
        "priorities": Priority.choices,
        "my_team_ids": team_ids_of(request.user),
    }
    # desk.js re-fetches only the list when an event arrives, so filtering and escaping
    # stay on the server.
    template = "conversations/_inbox_list.html" if request.GET.get("partial") else "conversations/inbox.html"
    return render(request, template, context)


def _is_web_visitor(identities: list[Identity]) -> bool:
    """Known only by web-visitor ids: an agent may link them to a known customer."""
    kinds = {i.kind for i in identities}
    return kinds == {Identity.Kind.WEB}


@require_GET
@login_required
def conversation_view(request: AuthedRequest, conversation_id: int) -> HttpResponse:
    conversation = access_conversation(request.user, conversation_id)
    customer = conversation.customer
    recent = (
        Message.objects.filter(conversation=conversation)
        .select_related("sender")
        .prefetch_related("attachments")
        .order_by("-id")[:PAGE_MESSAGES]
    )
    # Not "messages": that name belongs to django.contrib.messages in every template.
    thread = list(reversed(recent))
    orders = list(list_orders(customer_id=customer.pk)[:10])
    for order in orders:
        order.masked_address = mask("address", order.address)  # type: ignore[attr-defined]
    # The order the customer typed comes first; another customer's is shown apart (without
    # the address), with the offer to link this visitor to that customer.
    mentioned_elsewhere = None
    if conversation.order_id is not None:
        mine = next((o for o in orders if o.pk == conversation.order_id), None)
        if mine is not None:
            orders.remove(mine)
            orders.insert(0, mine)
        else:
            mentioned_elsewhere = list_orders().filter(pk=conversation.order_id).first()
    known_by = list(customer.identities.all())  # read once: listed, and whether a web visitor
    identities = [{"kind": i.get_kind_display(), "value": masked_identity_value(i)} for i in known_by]
    context = {
        "nav": "inbox",
        "conversation": conversation,
        "customer": customer,
        "thread": thread,
        "truncated": len(thread) == PAGE_MESSAGES,
        "last_message_id": thread[-1].pk if thread else 0,
        "masked": masked_pii(customer),
        "identities": identities,
        "orders": orders,
        "mentioned_order_id": conversation.order_id,
        "mentioned_elsewhere": mentioned_elsewhere,
        "is_visitor": _is_web_visitor(known_by),
        "can_reveal": can_reveal_pii(request.user),
        "teams": Team.objects.order_by("id"),
        "status_actions": SNOOZE_STATUSES,
        "status_labels": dict(Conversation.Status.choices),
        "call_directions": CallLog.Direction.choices,
        "call_outcomes": CallLog.Outcome.choices,
        "sla": sla_state(conversation),
        "emotion_name": EMOTION_NAMES.get(conversation.emotion_label, conversation.emotion_label),
        "ticket_panel_available": _ticket_panel_available(),
        # The transfer menu's agents, the customer's history and my other open
        # conversations come after the page (conversation_panels_view, loaded by desk.js).
        "panels_pending": True,
        "open_complaint": open_complaint_for(request.user, conversation.pk),
        # The approved wording of the open incidents this conversation is tagged to.
        "incident_statements": pinned_statements(conversation.pk),
        # A negative post many people can see, waiting for a public reply (docs/incidents.md).
        "public_post": open_post_for(conversation.pk),
    }
    return render(request, "conversations/conversation.html", context)


@require_GET
@login_required
def conversation_panels_view(request: AuthedRequest, conversation_id: int) -> HttpResponse:
    """The conversation page's side panels, which desk.js fetches once the page is shown:
    the transfer menu's agents, the customer's history, my other open conversations.

    They are a third of the page's work at a year's history (docs/performance.md) and
    none of them is needed to read the thread and answer.
    """
    conversation = access_conversation(request.user, conversation_id)
    context = {
        "conversation": conversation,
        # The transfer menu: a name and a status per agent (200 on a big floor), no teams.
        "agents": list(
            list_agents()
            .prefetch_related(None)
            .exclude(pk=request.user.pk)
            .only("id", "username", "display_name", "first_name", "last_name", "status")
        ),
        "timeline": [
            e
            for e in customer_timeline(conversation.customer, user=request.user, limit=30)
            if not (e["type"] == "conversation" and e["id"] == conversation.pk)
        ],
        "my_open": my_open_conversations(request.user, exclude_id=conversation.pk),
    }
    return render(request, "conversations/_panels.html", context)


@require_GET
@login_required
def export_view(request: AuthedRequest, conversation_id: int) -> HttpResponse:
    """The conversation's transcript as CSV (Excel opens UTF-8 with a BOM); personal data masked.

    Exports are never revealed: a reveal is one message on screen, audited, not a file.
    """
    conversation = access_conversation(request.user, conversation_id)
    messages = Message.objects.filter(conversation=conversation).select_related("sender").order_by("id")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="conversation-{conversation.pk}.csv"'
    response.write("\ufeff")
    writer = csv.writer(response)
    writer.writerow(TRANSCRIPT_HEADER)
    name = str(conversation.customer)
    for m in messages.iterator(chunk_size=500):
        writer.writerow(transcript_row(m, name))
    return response


@require_GET
@login_required
def attachment_view(request: AuthedRequest, attachment_id: int) -> FileResponse:
    """A file a customer sent, for whoever may open its conversation; always saved, never shown inline."""
    attachment = access_attachment(request.user, attachment_id)
    # The name as the timeline shows it (masked): the download is no way around the masking of names.
    return file_response(
        attachment.file.open("rb"), name=mask_text(attachment.name), content_type=attachment.content_type
    )
