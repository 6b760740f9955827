"""Conversations: the write path every channel shares.

``do_receive_customer_message`` is the single entrance for customer text from any
channel (web chat, email, IM webhooks, app …): it resolves the customer, threads the
message into a conversation, stores it idempotently and only then lets anything be
acknowledged. ``do_send_agent_message`` is the single exit for agent replies.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from kefu.accounts.access import audit, can_reveal_pii, client_ip, team_ids_of
from kefu.accounts.models import AuditLog, Role, Team, User
from kefu.bot.gate import do_hold_for_bot
from kefu.channels.models import Channel
from kefu.channels.outbound import do_queue_outbound
from kefu.complaints.guards import check_no_premature_grant, do_register_promises_from_reply
from kefu.conversations.presenters import INBOX_ROW_FIELDS
from kefu.conversations.timeline import (
    ACTIVE_STATUSES,
    access_conversation,
    add_activity,
    check_client_msg_id,
    check_image,
    current_customer_conversation,
    customer_status,
    publish_assigned,
    publish_message,
    visible_conversations,
    with_preview,
)
from kefu.core import deskcache, telemetry
from kefu.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from kefu.core.events import DESK_ALL, desk_user_group, publish
from kefu.core.fields import check_message, check_text
from kefu.core.files import IncomingFile
from kefu.core.keyset import KeysetPage, keyset_page
from kefu.customers.identities import do_resolve_customer
from kefu.customers.models import Customer, Order
from kefu.incidents.public_posts import do_answer_public_posts
from kefu.quality.checks import check_reply_before_send, do_record_reply_findings
from kefu.quality.scoring import do_schedule_scoring
from kefu.replies.compose import check_no_unfilled_variables, do_link_sent_message
from kefu.routing.assignment import (
    LOAD_STATUSES,
    do_drain_queues_on_commit,
    do_pick_queue,
    do_queue_after_commit,
    do_requeue_if_unowned,
)
from kefu.sla.policies import do_start_conversation_sla
from kefu.tickets.records import do_answer_left_messages, do_resume_waiting_tickets
from kefu.understanding.models import EmotionAlert
from kefu.understanding.reading import (
    Reading,
    do_tell_assignee_of_open_alerts,
    do_understand_customer_message,
    open_alerts_for,
    publish_alert,
    read_customer_message,
)

from .models import ACTIVITY_AT, Attachment, CallLog, Conversation, Message, Priority, priority_for
from .presenters import conversation_dict, csat_dict

# --- customer side -----------------------------------------------------------------


def _find_conversation(customer_id: int, channel: Channel) -> Conversation | None:
    return (
        Conversation.objects.filter(customer_id=customer_id, channel=channel)
        .exclude(status=Conversation.Status.CLOSED)
        .order_by("-id")
        .first()
    )


def do_receive_customer_message(
    *,
    channel: Channel,
    identities: Sequence[tuple[str, str]],
    text: str = "",
    client_msg_id: str | None = None,
    external_id: str | None = None,
    customer_name: str = "",
    subject: str = "",
    image: UploadedFile | None = None,
    conversation: Conversation | None = None,
    meta: dict[str, Any] | None = None,
    new_conversation: bool = False,
    files: Sequence[IncomingFile] = (),
) -> tuple[Message, bool]:
    """Store one customer message; returns ``(message, created)``.

    Idempotent on ``client_msg_id`` (per conversation) and ``external_id`` (per
    channel): a resend returns the stored message with ``created=False``.
    ``conversation`` pins the thread (email replies found by their references);
    ``new_conversation`` opens a new one instead of continuing the customer's open
    conversation (a new email thread is a new matter). ``files`` (already checked by the
    channel) become the message's attachments before anyone hears of it.
    """
    if not channel.is_active:
        raise Conflict("该渠道已停用")
    text = check_message(text, required=image is None)
    check_image(image)
    client_msg_id = check_client_msg_id(client_msg_id)
    # Understanding is CPU work that needs no lock: worked out here, the transaction
    # (on SQLite the one write lock, from BEGIN IMMEDIATE to COMMIT) only stores it.
    reading = read_customer_message(
        None if new_conversation else _conversation_of(channel, identities, conversation), text
    )
    with transaction.atomic():
        if external_id:
            dup = Message.objects.filter(conversation__channel=channel, external_id=external_id).first()
            if dup is not None:
                return dup, False
        customer = do_resolve_customer(identities, name=customer_name)
        if new_conversation:
            conversation = None
        elif conversation is None or conversation.status == Conversation.Status.CLOSED:
            conversation = _find_conversation(customer.pk, channel)
        if conversation is not None:
            conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if conversation is not None and client_msg_id:
            dup = conversation.messages.filter(
                direction=Message.Direction.INCOMING, client_msg_id=client_msg_id
            ).first()
            if dup is not None:
                return dup, False
        now = timezone.now()
        created_conversation = conversation is None
        if conversation is None:
            conversation = Conversation.objects.create(
                channel=channel, customer=customer, team=channel.team, subject=(subject or text)[:255]
            )
        try:
            with transaction.atomic():
                message = Message.objects.create(
                    conversation=conversation,
                    direction=Message.Direction.INCOMING,
                    kind=Message.Kind.IMAGE if image is not None else Message.Kind.TEXT,
                    text=text,
                    image=image,
                    client_msg_id=client_msg_id,
                    external_id=external_id or None,
                    meta=meta or {},
                )
        except IntegrityError:
            dup = conversation.messages.filter(
                direction=Message.Direction.INCOMING, client_msg_id=client_msg_id
            ).first()
            if dup is None:
                raise
            return dup, False
        _store_attachments(message, files)
        reopened = conversation.status in (
            Conversation.Status.RESOLVED,
            Conversation.Status.PENDING,
            Conversation.Status.SNOOZED,
        )
        conversation.status = Conversation.Status.OPEN
        conversation.snoozed_until = None
        conversation.last_message_at = now
        conversation.last_customer_message_at = now
        conversation.save()
        _after_customer_message(
            conversation,
            message,
            created_conversation=created_conversation,
            reopened=reopened,
            reading=reading,
        )
    telemetry.count(
        "kefu_customer_messages_total",
        "Customer messages stored (resends not counted).",
        {"channel": channel.kind},
    )
    return message, True


def _conversation_of(
    channel: Channel, identities: Sequence[tuple[str, str]], pinned: Conversation | None
) -> Conversation | None:
    """The conversation a customer message will most likely join, looked up without a lock (a guess)."""
    if pinned is not None and pinned.status != Conversation.Status.CLOSED:
        return pinned
    return current_customer_conversation(channel=channel, identities=identities)


def _store_attachments(message: Message, files: Sequence[IncomingFile]) -> None:
    """Kept files into private storage under random names; refused ones recorded with their reason."""
    for f in files:
        attachment = Attachment(
            message=message,
            name=f.name,
            content_type=f.content_type,
            size=f.size,
            refused_reason=f.refused if f.data is None else "",
        )
        if f.data is not None:
            # The random storage name comes from upload_to; the name given here only lends its extension.
            attachment.file.save(f.name, ContentFile(f.data), save=False)
        attachment.save()


def _after_customer_message(
    conversation: Conversation,
    message: Message,
    *,
    created_conversation: bool,
    reopened: bool,
    reading: Reading | None = None,
) -> None:
    """Understanding, routing, SLA and the events of a newly stored customer message, in that order.

    Everything about the conversation is decided before anything is announced: its
    team (routing reads the intent), its priority (a complaint risk raises it) and its
    SLA clock (which reads the priority). Then desks hear, in this order and only from
    the team that may see it: ``conversation.created``, the message, the alert; after
    the commit it is queued, so its assignment (or the customer's queue position)
    follows the message everywhere.
    """
    alert = do_understand_customer_message(conversation, message, first=created_conversation, reading=reading)
    _link_mentioned_order(conversation, message.text)
    if created_conversation:
        do_pick_queue(conversation, first_text=message.text)
    raised = _raise_priority_for_complaint_risk(conversation, alert)
    do_resume_waiting_tickets(conversation)
    # The bot answers first where it is switched on (docs/bot.md). Its answers are not the
    # desk's: the first-response clock starts when it hands the customer to a person.
    held = do_hold_for_bot(conversation, created=created_conversation)
    if (created_conversation or reopened) and not held:
        do_start_conversation_sla(conversation)
    if created_conversation:
        publish(
            "conversation.created",
            {"conversation": conversation_dict(conversation, clear=True)},
            team_id=conversation.team_id,
            conversation_id=conversation.pk,
        )
    publish_message(message, conversation, chatter=not created_conversation)
    if alert is not None:
        publish_alert(alert, conversation)
        if raised is not None:
            add_activity(
                conversation,
                f"{alert.reason}，优先级由 {raised} 升为 {conversation.priority}",
                meta={"alert_id": alert.pk, "priority": {"from": raised, "to": conversation.priority}},
            )
    if held:  # the bot routes the conversation when it hands over
        return
    if created_conversation:
        do_queue_after_commit(conversation.pk)
    elif reopened:
        do_requeue_if_unowned(conversation)


# Order numbers as shops write them: letters, digits and dashes with at least six digits
# (YJ20261118001, 2026111800123456, TB-2026-1118-001). The database says which are orders.
_ORDER_NO_CANDIDATE = re.compile(
    r"(?<![A-Za-z0-9-])(?=(?:[A-Za-z-]*\d){6})[A-Za-z0-9-]{6,40}(?![A-Za-z0-9-])"
)


def _link_mentioned_order(conversation: Conversation, text: str) -> None:
    """The customer typed an order number: the conversation is about that order.

    The latest order mentioned wins. Only ``Conversation.order`` changes: the order may
    belong to another customer profile (a visitor not yet known), so nothing about the
    customer is merged here; an agent links the visitor to that customer deliberately.
    """
    if not text:
        return
    candidates = list(
        dict.fromkeys(m.group(0) for m in _ORDER_NO_CANDIDATE.finditer(unicodedata.normalize("NFKC", text)))
    )[:10]
    if not candidates:
        return
    found = {
        order_no.upper(): pk
        for pk, order_no in Order.objects.filter(
            order_no__in=candidates + [c.upper() for c in candidates]
        ).values_list("pk", "order_no")
    }
    order_id = next((found[c.upper()] for c in reversed(candidates) if c.upper() in found), None)
    if order_id is not None and order_id != conversation.order_id:
        Conversation.objects.filter(pk=conversation.pk).update(order_id=order_id)
        conversation.order_id = order_id


def _raise_priority_for_complaint_risk(conversation: Conversation, alert: EmotionAlert | None) -> str | None:
    """A complaint risk is important, and urgent when the customer is angry (or it was urgent already).

    Raises the priority along the urgent × important matrix, never lowers it; returns
    the priority it had, or None when it did not change.
    """
    if alert is None or alert.level != EmotionAlert.Level.COMPLAINT_RISK:
        return None
    urgent = conversation.priority in (Priority.P1, Priority.P3) or conversation.emotion_label == "angry"
    wanted = priority_for(urgent=urgent, important=True)
    old = conversation.priority
    if wanted >= old:  # "P1" < "P2" < … : a lower text is a higher priority
        return None
    Conversation.objects.filter(pk=conversation.pk).update(priority=wanted)
    conversation.priority = wanted
    return old


# --- agent side --------------------------------------------------------------------


def do_send_agent_message(
    *,
    agent: User,
    conversation_id: int,
    text: str,
    client_msg_id: str | None = None,
    image: UploadedFile | None = None,
    confirm_findings: bool = False,
) -> tuple[Message, bool]:
    """Store an agent reply, claim the conversation if unowned, then deliver it.

    A reply with high-severity quality findings is refused unless ``confirm_findings``
    says the agent chose to send it anyway; that override is recorded with the findings.
    """

    text = check_message(text, required=image is None)
    check_no_unfilled_variables(text)
    check_image(image)
    client_msg_id = check_client_msg_id(client_msg_id)
    with transaction.atomic():
        conversation = access_conversation(agent, conversation_id, for_update=True)
        if conversation.status == Conversation.Status.CLOSED:
            raise Conflict("会话已关闭，无法回复")

        check_no_premature_grant(text, conversation)
        if client_msg_id:
            dup = conversation.messages.filter(
                direction=Message.Direction.OUTGOING, client_msg_id=client_msg_id
            ).first()
            if dup is not None:
                return dup, False
        checked = check_reply_before_send(
            agent=agent, conversation=conversation, text=text, confirmed=confirm_findings is True
        )
        now = timezone.now()
        message = Message.objects.create(
            conversation=conversation,
            direction=Message.Direction.OUTGOING,
            kind=Message.Kind.IMAGE if image is not None else Message.Kind.TEXT,
            sender=agent,
            text=text,
            image=image,
            client_msg_id=client_msg_id,
        )
        do_link_sent_message(message)
        do_answer_public_posts(conversation, message)

        do_register_promises_from_reply(message, conversation)

        do_record_reply_findings(message, conversation, checked, confirmed=confirm_findings is True)
        assigned_now = conversation.assignee_id is None
        if assigned_now:
            conversation.assignee = agent
            conversation.queued_at = None
        if conversation.first_responder_id is None:
            conversation.first_responder = agent
        if conversation.first_response_at is None:
            conversation.first_response_at = now
        conversation.last_message_at = now
        conversation.last_agent_message_at = now
        conversation.save()
        if assigned_now:
            publish_assigned(conversation, actor=agent)
        publish_message(message, conversation)
        do_answer_left_messages(conversation, agent=agent, now=now)

        do_queue_outbound(message)
    telemetry.count("kefu_agent_messages_total", "Agent replies stored (resends not counted).")
    return message, True


def do_reveal_message(*, user: User, conversation_id: int, message_id: int, request: Any = None) -> Message:
    """One message with its text as typed, for a role that may reveal personal data; audited.

    The conversation must be one the user may open (a team lead: their teams'), so the
    reveal follows the same team scope as reading the conversation.
    """
    conversation = access_conversation(user, conversation_id)
    if not can_reveal_pii(user):
        raise PermissionDenied("您的角色无权查看消息原文")
    message = (
        Message.objects.filter(pk=message_id, conversation=conversation).select_related("sender").first()
    )
    if message is None:
        raise NotFound(f"会话 {conversation_id} 中没有消息 {message_id}")
    audit(
        AuditLog.Action.REVEAL_PII,
        actor=user,
        target=conversation.customer,
        detail={"field": "message", "message_id": message.pk, "conversation_id": conversation.pk},
        ip=client_ip(request),
    )
    return message


def do_add_note(*, agent: User, conversation_id: int, text: str) -> Message:
    """A private note: seen by colleagues, never by the customer."""
    text = check_message(text)
    with transaction.atomic():
        conversation = access_conversation(agent, conversation_id)
        note = Message.objects.create(
            conversation=conversation,
            direction=Message.Direction.ACTIVITY,
            kind=Message.Kind.NOTE,
            sender=agent,
            text=text,
            is_private=True,
        )
        publish_message(note, conversation, event="note.created")
    return note


def do_set_status(
    *, actor: User, conversation_id: int, status: str, snoozed_until: datetime | None = None
) -> Conversation:
    if status not in Conversation.Status.values:
        raise InvalidInput(
            f"未知状态：{status}", fields={"status": f"应为 {', '.join(Conversation.Status.values)} 之一"}
        )
    if status == Conversation.Status.SNOOZED:
        if snoozed_until is None or snoozed_until <= timezone.now():
            raise InvalidInput("暂缓需要一个未来的时间", fields={"snoozed_until": "必须是将来的时间"})
    with transaction.atomic():
        conversation = access_conversation(actor, conversation_id, for_update=True)
        old = conversation.status
        if old == status:
            return conversation
        conversation.status = status
        conversation.snoozed_until = snoozed_until if status == Conversation.Status.SNOOZED else None
        if status in (Conversation.Status.RESOLVED, Conversation.Status.CLOSED):
            conversation.resolved_at = timezone.now()
            conversation.queued_at = None
        conversation.save()
        add_activity(
            conversation,
            f"{actor.name} 将状态由「{Conversation.Status(old).label}」改为「{Conversation.Status(status).label}」",
            actor=actor,
            meta={"from": old, "to": status},
        )
        publish(
            "conversation.status_changed",
            {"conversation": conversation_dict(conversation, clear=True), "from": old, "to": status},
            team_id=conversation.team_id,
            user_ids=[conversation.assignee_id],
            conversation_id=conversation.pk,
            customer_data=customer_status(conversation),
        )
        if status in (Conversation.Status.RESOLVED, Conversation.Status.CLOSED):
            do_schedule_scoring(conversation)  # queued after the commit

        if conversation.assignee_id and old in LOAD_STATUSES and status not in LOAD_STATUSES:
            # Resolved, closed or snoozed: the agent has room for a waiting customer.
            do_drain_queues_on_commit(agent_id=conversation.assignee_id)
    return conversation


# --- customer satisfaction (CSAT) -------------------------------------------------------

CSAT_COMMENT_MAX_CHARS = 500
RATABLE_STATUSES = (Conversation.Status.RESOLVED, Conversation.Status.CLOSED)


def check_csat(score: object, comment: object) -> tuple[int, str]:
    # bool is an int subclass: ``true`` must not become a one-star rating.
    if type(score) is not int or not 1 <= score <= 5:
        raise InvalidInput("评分应为 1 到 5 的整数", fields={"score": "1 到 5 的整数"})
    return score, check_text(
        comment, field="comment", label="评价内容", max_len=CSAT_COMMENT_MAX_CHARS, required=False
    )


def access_customer_rated_conversation(
    *, channel: Channel, identities: Sequence[tuple[str, str]], conversation_id: int | None = None
) -> Conversation:
    """The conversation a customer may rate: ``conversation_id`` if it is theirs, else their latest resolved one.

    Another customer's conversation is reported as missing, not forbidden, so ids cannot be probed.
    """
    match = Q()
    for kind, value in identities:
        match |= Q(customer__identities__kind=kind, customer__identities__value=value)
    conversation = None
    if match:
        qs = Conversation.objects.filter(match, channel=channel)
        if conversation_id is not None:
            qs = qs.filter(pk=conversation_id)
        else:
            qs = qs.filter(status=Conversation.Status.RESOLVED)
        conversation = qs.order_by("-id").first()
    if conversation is None:
        raise NotFound(
            "没有可以评价的会话", fields={"conversation_id": "不存在"} if conversation_id else None
        )
    return conversation


def do_rate_conversation(*, conversation: Conversation, score: object, comment: object = "") -> Conversation:
    """Store the customer's one rating of an ended conversation and announce it."""
    score, comment = check_csat(score, comment)
    with transaction.atomic():
        now = timezone.now()
        # The conditional update settles two simultaneous ratings: only one finds the row unrated.
        rated = Conversation.objects.filter(
            pk=conversation.pk, status__in=RATABLE_STATUSES, csat_score__isnull=True
        ).update(csat_score=score, csat_comment=comment, csat_at=now, updated_at=now)
        conversation = Conversation.objects.select_related("channel", "customer").get(pk=conversation.pk)
        if not rated:
            if conversation.csat_score is not None:
                raise Conflict("该会话已经评价过了", extra={"reason": "already_rated"})
            raise Conflict("会话结束后才能评价")
        stars = "★" * score + "☆" * (5 - score)
        add_activity(
            conversation,
            f"客户评价：{stars}" + (f" {comment}" if comment else ""),
            meta={"csat_score": score},
        )
        publish(
            "conversation.rated",
            {"conversation": conversation_dict(conversation, clear=True), "csat": csat_dict(conversation)},
            team_id=conversation.team_id,
            user_ids=[conversation.assignee_id, conversation.first_responder_id],
            conversation_id=conversation.pk,
            # Other tabs of the same visitor put their rating widget away.
            customer_data={"rated": True},
        )
    return conversation


def do_transfer(
    *,
    actor: User,
    conversation_id: int,
    note: str,
    to_user: User | None = None,
    to_team: Team | None = None,
) -> Conversation:
    """Hand a conversation to a colleague or a team with a handover note.

    The note is stored as a private message so the next agent reads the story and the
    customer is not asked again. First-contact ownership does not move.
    """
    note = check_message(note, field="note")
    if to_user is None and to_team is None:
        raise InvalidInput("请选择转给的客服或团队", fields={"to_user_id": "与 to_team_id 至少填一个"})
    with transaction.atomic():
        conversation = access_conversation(actor, conversation_id, for_update=True)
        if not conversation.is_active:
            raise Conflict("会话已结束，无法转接")
        previous = conversation.assignee
        if to_user is not None:
            if not to_user.is_active:
                raise InvalidInput("该客服已停用", fields={"to_user_id": "已停用"})
            if (
                to_team is None
                and conversation.team_id
                and not to_user.teams.filter(pk=conversation.team_id).exists()
            ):
                to_team = to_user.teams.first()
        if to_team is not None:
            conversation.team = to_team
        conversation.assignee = to_user
        conversation.queued_at = None if to_user else timezone.now()
        conversation.save()
        target = to_user.name if to_user else (to_team.name if to_team else "")
        Message.objects.create(
            conversation=conversation,
            direction=Message.Direction.ACTIVITY,
            kind=Message.Kind.NOTE,
            sender=actor,
            text=f"【转接说明】{note}",
            is_private=True,
            meta={"handover": True},
        )
        add_activity(
            conversation,
            f"{actor.name} 将会话转给 {target}",
            actor=actor,
            meta={
                "from_user": previous.pk if previous else None,
                "to_user": to_user.pk if to_user else None,
                "to_team": to_team.pk if to_team else None,
            },
        )
        publish(
            "conversation.transferred",
            {
                "conversation": conversation_dict(conversation, clear=True),
                "note": note,
                "from_user_id": previous.pk if previous else None,
            },
            team_id=conversation.team_id,
            user_ids=[conversation.assignee_id, previous.pk if previous else None],
            conversation_id=conversation.pk,
        )
        if to_user is not None:
            publish_assigned(conversation, actor=actor)
            do_tell_assignee_of_open_alerts(conversation)

        # Offer a conversation sent to a team's queue (in queue order), and whatever
        # waits for the previous agent's teams now that they have room.
        freed = previous.pk if previous is not None and previous != to_user else None
        if to_user is None or freed is not None:
            do_drain_queues_on_commit(
                agent_id=freed,
                team_ids=[conversation.team_id] if to_user is None and conversation.team_id else [],
            )
    return conversation


def do_log_call(
    *,
    agent: User,
    conversation_id: int | None,
    customer_id: int | None = None,
    direction: str,
    duration_seconds: int,
    summary: str,
    outcome: str,
) -> CallLog:
    """Log a phone call into the customer's timeline (as part of a conversation)."""
    summary = check_message(summary, field="summary")
    if direction not in CallLog.Direction.values:
        raise InvalidInput(
            "通话方向无效", fields={"direction": f"应为 {', '.join(CallLog.Direction.values)} 之一"}
        )
    if outcome not in CallLog.Outcome.values:
        raise InvalidInput(
            "通话结果无效", fields={"outcome": f"应为 {', '.join(CallLog.Outcome.values)} 之一"}
        )
    if not isinstance(duration_seconds, int) or duration_seconds < 0 or duration_seconds > 24 * 3600:
        raise InvalidInput("通话时长无效", fields={"duration_seconds": "0 到 86400 之间的整数"})
    with transaction.atomic():
        if conversation_id is not None:
            conversation = access_conversation(agent, conversation_id, for_update=True)
        else:
            customer = Customer.objects.filter(pk=customer_id).first() if customer_id is not None else None
            if customer is None:
                raise InvalidInput("请指定会话或客户", fields={"customer_id": "客户不存在"})
            channel = Channel.objects.filter(kind=Channel.Kind.PHONE, is_active=True).first()
            if channel is None:
                raise Conflict("未配置电话渠道")
            conversation = Conversation.objects.create(
                channel=channel,
                customer=customer,
                team=channel.team,
                assignee=agent,
                first_responder=agent,
                first_response_at=timezone.now(),
                subject=summary[:255],
            )
        minutes, seconds = divmod(duration_seconds, 60)
        message = Message.objects.create(
            conversation=conversation,
            direction=Message.Direction.ACTIVITY,
            kind=Message.Kind.CALL,
            sender=agent,
            text=f"{CallLog.Direction(direction).label} {minutes}分{seconds}秒 · {CallLog.Outcome(outcome).label}：{summary}",
            is_private=True,
            meta={"direction": direction, "duration_seconds": duration_seconds, "outcome": outcome},
        )
        call = CallLog.objects.create(
            conversation=conversation,
            agent=agent,
            direction=direction,
            duration_seconds=duration_seconds,
            summary=summary,
            outcome=outcome,
            message=message,
        )
        now = timezone.now()
        conversation.last_message_at = now
        conversation.save(update_fields=["last_message_at", "updated_at"])
        publish_message(message, conversation, event="call.logged")
    return call


def inbox(
    user: User,
    *,
    view: str = "mine",
    status: str | None = None,
    channel_kind: str | None = None,
    priority: str | None = None,
    team_id: int | None = None,
) -> QuerySet[Conversation]:
    """The inbox filters: mine, unassigned, my team, all; by status, channel, priority.

    Each row carries ``activity_at`` (its last message, or its creation when it has none),
    the inbox's order, indexed (``conversation_activity``) for a keyset page.
    """
    qs = visible_conversations(user).annotate(activity_at=ACTIVITY_AT)
    if view == "mine":
        # The conversations of the open tickets I own, read first: joined to every ticket
        # (and made DISTINCT) the OR could use no index and hashed the whole ticket table.
        by_tickets = list(
            Conversation.tickets.through.objects.filter(
                ticket__owner=user,
                ticket__status__in=("new", "in_progress", "waiting_customer", "waiting_department"),
            ).values_list("conversation_id", flat=True)
        )
        qs = qs.filter(
            Q(assignee=user) | Q(first_responder=user, status__in=ACTIVE_STATUSES) | Q(pk__in=by_tickets)
        )
    elif view == "unassigned":
        qs = qs.filter(assignee__isnull=True, status__in=ACTIVE_STATUSES)
    elif view == "team":
        qs = qs.filter(team_id__in=team_ids_of(user))
    elif view == "all":
        if not user.sees_all and user.role not in (Role.TEAM_LEAD,):
            qs = qs.filter(team_id__in=team_ids_of(user))
    else:
        raise InvalidInput(f"未知视图：{view}", fields={"view": "应为 mine/unassigned/team/all"})
    if status:
        if status not in Conversation.Status.values:
            raise InvalidInput(f"未知状态：{status}", fields={"status": "无效"})
        qs = qs.filter(status=status)
    if channel_kind:
        if channel_kind not in Channel.Kind.values:
            raise InvalidInput(f"未知渠道：{channel_kind}", fields={"channel": "无效"})
        qs = qs.filter(channel__kind=channel_kind)
    if priority:
        qs = qs.filter(priority=priority)
    if team_id:
        qs = qs.filter(team_id=team_id)
    return qs


# --- what the navigation and the workspace show the agent ---------------------------

# Open conversations listed beside the one an agent works on.
OTHER_OPEN_LIMIT = 30


def _count(qs: QuerySet[Any]) -> Subquery:
    """``qs``'s row count as a subquery, so several counts are one query."""
    return Subquery(qs.order_by().annotate(n=Func(F("pk"), function="COUNT")).values("n")[:1])


def _unread_customer_messages() -> Q:
    """Customer messages after the desk's read marker, as a filter on a conversation's ``messages``."""
    return Q(
        messages__direction=Message.Direction.INCOMING,
        messages__id__gt=F("agent_last_read_id"),
    )


INBOX_PAGE_SIZE = 25
INBOX_SORT = "-activity_at"  # ACTIVITY_AT: the last message, newest first
_INBOX_PAGE_KEYS = ("id", "activity_at")  # what a keyset page of the inbox reads first


def inbox_page(
    user: User,
    *,
    view: str = "mine",
    status: str | None = None,
    channel_kind: str | None = None,
    priority: str | None = None,
    after: str | None = None,
    before: str | None = None,
) -> KeysetPage[dict[str, Any]]:
    """A page of ``inbox`` by keyset cursor (kefu.core.keyset), each row the columns of
    ``presenters.INBOX_ROW_FIELDS`` with its preview.

    desk.js fetches the inbox again on every event, so a page must cost the same on page 1
    and page 1,000, at any size of history. The page's ids are read first, then their rows
    with the preview: a filter the sort index cannot serve alone (我的: mine, or first
    answered by me, or of my tickets) sorts every match, and the preview's subqueries would
    run for each of them rather than for 25.
    """
    qs = inbox(user, view=view, status=status, channel_kind=channel_kind, priority=priority)
    page = keyset_page(
        qs.values(*_INBOX_PAGE_KEYS), sort=INBOX_SORT, limit=INBOX_PAGE_SIZE, after=after, before=before
    )
    ids = [r["id"] for r in page.items]
    rows = {
        r["id"]: r
        for r in with_preview(Conversation.objects.filter(pk__in=ids)).order_by().values(*INBOX_ROW_FIELDS)
    }
    return KeysetPage([rows[i] for i in ids if i in rows], page.next_cursor, page.prev_cursor)


def desk_counts(user: User) -> dict[str, int]:
    """The navigation's counts, in one query.

    ``unread_conversations``: the user's open conversations with customer messages after
    the read marker; ``queued``: conversations waiting in the queues of the user's teams
    (every queue for supervisors and above who are in no team); ``open_alerts``: the
    unacknowledged alerts asked of the user (``understanding.reading.open_alerts_for``).
    """
    unread = Conversation.objects.filter(assignee=user, status__in=LOAD_STATUSES).filter(
        Exists(
            Message.objects.filter(
                conversation_id=OuterRef("pk"),
                direction=Message.Direction.INCOMING,
                id__gt=OuterRef("agent_last_read_id"),
            )
        )
    )
    queued = Conversation.objects.filter(
        assignee__isnull=True, status__in=LOAD_STATUSES, queued_at__isnull=False
    )
    teams = Team.objects.filter(members=user).values("id")
    if user.sees_all:
        queued = queued.filter(Q(team_id__in=teams) | ~Exists(teams))
    else:
        queued = queued.filter(team_id__in=teams)
    row = (
        User.objects.filter(pk=user.pk)
        .annotate(
            n_unread=Coalesce(_count(unread), 0),
            n_queued=Coalesce(_count(queued), 0),
            n_alerts=Coalesce(_count(open_alerts_for(user)), 0),
        )
        .values_list("n_unread", "n_queued", "n_alerts")
        .first()
    )
    unread_n, queued_n, alerts_n = row if row else (0, 0, 0)
    return {"unread_conversations": unread_n, "queued": queued_n, "open_alerts": alerts_n}


def desk_counts_cached(user: User) -> dict[str, int]:
    """``desk_counts``, cached until an event may have changed them (``core.deskcache``):
    fresh after every event, at most ``TTL`` seconds old otherwise.

    Every event that is not chatter reaches ``desk.all`` whatever its team, and chatter
    reaches in full only the users it names (its assignee): the user's own group and
    ``desk.all`` hear every event that can change the user's counts, and no query for
    the user's teams is needed to know it. A change of teams or role is announced to the
    user's own group (``notify_access_changed``); the role is in the stamp besides.
    """
    return deskcache.cached(
        f"counts:{user.pk}",
        [desk_user_group(user.pk), DESK_ALL],
        lambda: desk_counts(user),
        stamp=user.role,
    )


def my_open_conversations(user: User, *, exclude_id: int | None = None) -> list[Conversation]:
    """The user's open conversations, each with ``unread`` (customer messages after the read marker).

    Those with unread messages first, then the most recent customer message; one query.
    """
    qs = (
        Conversation.objects.filter(assignee=user, status__in=LOAD_STATUSES)
        .select_related("customer", "channel")
        .annotate(unread=Count("messages", filter=_unread_customer_messages()))
    )
    if exclude_id is not None:
        qs = qs.exclude(pk=exclude_id)
    return list(
        qs.order_by(
            Case(When(unread__gt=0, then=Value(0)), default=Value(1)),
            F("last_customer_message_at").desc(nulls_last=True),
            "-id",
        )[:OTHER_OPEN_LIMIT]
    )


def do_wake_snoozed(now: datetime | None = None, *, limit: int = 200) -> int:
    """Reopen snoozed conversations whose time has come (run by the worker's timers).

    Each one is claimed with a conditional UPDATE, so two workers never wake it twice.
    """
    now = now or timezone.now()
    woken = 0
    due = list(
        Conversation.objects.filter(status=Conversation.Status.SNOOZED, snoozed_until__lte=now)
        .select_related("channel", "customer")
        .order_by("snoozed_until")[:limit]
    )
    for conversation in due:
        with transaction.atomic():
            if not Conversation.objects.filter(pk=conversation.pk, status=Conversation.Status.SNOOZED).update(
                status=Conversation.Status.OPEN, snoozed_until=None
            ):
                continue
            conversation.status = Conversation.Status.OPEN
            conversation.snoozed_until = None
            woken += 1
            add_activity(conversation, "暂缓时间已到，会话重新打开", meta={"from": "snoozed", "to": "open"})
            publish(
                "conversation.status_changed",
                {
                    "conversation": conversation_dict(conversation, clear=True),
                    "from": "snoozed",
                    "to": "open",
                },
                team_id=conversation.team_id,
                user_ids=[conversation.assignee_id],
                conversation_id=conversation.pk,
                customer_data={"status": "open"},
            )
    return woken
