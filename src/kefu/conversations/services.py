"""Conversations: the write path every channel shares.

``do_receive_customer_message`` is the single entrance for customer text from any
channel (web chat, email, IM webhooks, app …): it resolves the customer, threads the
message into a conversation, stores it idempotently and only then lets anything be
acknowledged. ``do_send_agent_message`` is the single exit for agent replies.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from kefu.accounts.access import team_ids_of
from kefu.accounts.models import Role, Team, User
from kefu.channels.models import Channel
from kefu.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from kefu.core.events import (
    DESK_ALL,
    chat_conversation_group,
    desk_team_group,
    desk_user_group,
    publish,
    send_ephemeral,
)
from kefu.customers.services import do_resolve_customer

from .models import CallLog, Conversation, Message
from .presenters import conversation_dict, csat_dict, message_dict, public_message_dict

ACTIVE_STATUSES = (Conversation.Status.OPEN, Conversation.Status.PENDING, Conversation.Status.SNOOZED)


# --- validation ----------------------------------------------------------------------


def check_text(text: str | None, *, field: str = "text", allow_empty: bool = False) -> str:
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise InvalidInput("消息内容必须是文字", fields={field: "必须是字符串"})
    text = text.strip()
    if not text and not allow_empty:
        raise InvalidInput("消息内容不能为空", fields={field: "不能为空"})
    if len(text) > settings.KEFU_MAX_MESSAGE_CHARS:
        raise InvalidInput(
            f"消息过长（最多 {settings.KEFU_MAX_MESSAGE_CHARS} 字）",
            fields={field: f"最多 {settings.KEFU_MAX_MESSAGE_CHARS} 个字符"},
        )
    return text


def check_image(image: UploadedFile | None) -> None:
    if image is None:
        return
    if image.size is None or image.size > settings.KEFU_MAX_IMAGE_BYTES:
        raise InvalidInput(
            f"图片过大（最大 {settings.KEFU_MAX_IMAGE_BYTES // (1024 * 1024)} MB）",
            fields={"image": "文件过大"},
        )
    if image.content_type not in settings.KEFU_IMAGE_TYPES:
        raise InvalidInput("只支持 JPG、PNG、GIF、WEBP 图片", fields={"image": "类型不支持"})
    # Check the bytes, not just the declared type: a renamed script is not an image.
    from PIL import Image, UnidentifiedImageError

    try:
        pos = image.tell()
        with Image.open(image) as im:
            im.verify()
        image.seek(pos)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise InvalidInput("文件不是有效的图片", fields={"image": "无法识别"}) from exc


def check_client_msg_id(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise InvalidInput("client_msg_id 无效", fields={"client_msg_id": "最多64个字符的字符串"})
    return value


# --- access --------------------------------------------------------------------------


def visible_conversations(user: User) -> QuerySet[Conversation]:
    """Supervisors see all; others see their teams' queues and what they own."""
    qs = Conversation.objects.select_related("channel", "customer", "assignee", "team")
    if user.sees_all:
        return qs
    teams = team_ids_of(user)
    return qs.filter(Q(team_id__in=teams) | Q(assignee=user) | Q(first_responder=user))


def access_conversation(user: User, conversation_id: int, *, for_update: bool = False) -> Conversation:
    qs = visible_conversations(user)
    if for_update:
        qs = qs.select_for_update(of=("self",))
    try:
        return qs.get(pk=conversation_id)
    except Conversation.DoesNotExist as exc:
        if Conversation.objects.filter(pk=conversation_id).exists():
            raise PermissionDenied("您无权查看该会话") from exc
        raise NotFound(f"会话 {conversation_id} 不存在") from exc


# --- customer side -----------------------------------------------------------------


def _find_conversation(customer_id: int, channel: Channel) -> Conversation | None:
    return (
        Conversation.objects.filter(customer_id=customer_id, channel=channel)
        .exclude(status=Conversation.Status.CLOSED)
        .order_by("-id")
        .first()
    )


def _publish_message(m: Message, conversation: Conversation, *, event: str = "message.created") -> None:
    publish(
        event,
        {"message": message_dict(m), "conversation": conversation_dict(conversation)},
        team_id=conversation.team_id,
        user_ids=[conversation.assignee_id],
        conversation_id=conversation.pk,
        customer_data=None if m.is_private else {"message": public_message_dict(m)},
        webhook=not m.is_private,
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
) -> tuple[Message, bool]:
    """Store one customer message; returns ``(message, created)``.

    Idempotent on ``client_msg_id`` (per conversation) and ``external_id`` (per
    channel): a resend returns the stored message with ``created=False``.
    ``conversation`` pins the thread (email replies found by their references);
    ``new_conversation`` opens a new one instead of continuing the customer's open
    conversation (a new email thread is a new matter).
    """
    if not channel.is_active:
        raise Conflict("该渠道已停用")
    text = check_text(text, allow_empty=image is not None)
    check_image(image)
    client_msg_id = check_client_msg_id(client_msg_id)
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
            conversation, message, created_conversation=created_conversation, reopened=reopened
        )
        _publish_message(message, conversation)
    return message, True


def _after_customer_message(
    conversation: Conversation, message: Message, *, created_conversation: bool, reopened: bool
) -> None:
    """Routing, SLA and text understanding for a newly stored customer message."""
    from kefu.routing.services import do_requeue_if_unowned, do_route_new_conversation
    from kefu.sla.services import do_start_conversation_sla
    from kefu.tickets.services import do_resume_waiting_tickets
    from kefu.understanding.services import do_understand_customer_message

    # Emotion and intent first: routing reads them (angry → senior agent, intent → team).
    do_understand_customer_message(conversation, message, first=created_conversation)
    do_resume_waiting_tickets(conversation)
    if created_conversation:
        publish(
            "conversation.created",
            {"conversation": conversation_dict(conversation)},
            team_id=conversation.team_id,
            conversation_id=conversation.pk,
        )
        do_start_conversation_sla(conversation)
        do_route_new_conversation(conversation, first_text=message.text)
    elif reopened:
        do_start_conversation_sla(conversation)
        do_requeue_if_unowned(conversation)


def current_customer_conversation(
    *, channel: Channel, identities: Sequence[tuple[str, str]]
) -> Conversation | None:
    """The customer's not-closed conversation on ``channel``, looked up without creating anything."""
    match = Q()
    for kind, value in identities:
        match |= Q(customer__identities__kind=kind, customer__identities__value=value)
    if not match:
        return None
    return (
        Conversation.objects.filter(match, channel=channel)
        .exclude(status=Conversation.Status.CLOSED)
        .order_by("-id")
        .first()
    )


def messages_after(
    conversation: Conversation, after_id: int, *, public_only: bool, limit: int = 200
) -> list[Message]:
    qs = conversation.messages.select_related("sender").filter(pk__gt=after_id)
    if public_only:
        qs = qs.filter(is_private=False)
    return list(qs.order_by("id")[:limit])


def do_mark_read(*, conversation: Conversation, by_customer: bool, message_id: int) -> None:
    field = "customer_last_read_id" if by_customer else "agent_last_read_id"
    updated = Conversation.objects.filter(pk=conversation.pk, **{f"{field}__lt": message_id}).update(
        **{field: message_id}
    )
    if updated:
        send_ephemeral(
            [DESK_ALL, *([desk_team_group(conversation.team_id)] if conversation.team_id else [])]
            if by_customer
            else [chat_conversation_group(conversation.pk)],
            "read.event",
            {
                "conversation_id": conversation.pk,
                "by": "customer" if by_customer else "agent",
                "message_id": message_id,
            },
        )


def send_typing(*, conversation: Conversation, by_customer: bool, name: str = "") -> None:
    if by_customer:
        groups = [DESK_ALL]
        if conversation.team_id:
            groups.append(desk_team_group(conversation.team_id))
        if conversation.assignee_id:
            groups.append(desk_user_group(conversation.assignee_id))
    else:
        groups = [chat_conversation_group(conversation.pk)]
    send_ephemeral(
        groups,
        "typing.event",
        {"conversation_id": conversation.pk, "by": "customer" if by_customer else "agent", "name": name},
    )


# --- agent side --------------------------------------------------------------------


def do_send_agent_message(
    *,
    agent: User,
    conversation_id: int,
    text: str,
    client_msg_id: str | None = None,
    image: UploadedFile | None = None,
) -> tuple[Message, bool]:
    """Store an agent reply, claim the conversation if unowned, then deliver it."""
    from kefu.replies.services import check_no_unfilled_variables, do_link_sent_message

    text = check_text(text, allow_empty=image is not None)
    check_no_unfilled_variables(text)
    check_image(image)
    client_msg_id = check_client_msg_id(client_msg_id)
    with transaction.atomic():
        conversation = access_conversation(agent, conversation_id, for_update=True)
        if conversation.status == Conversation.Status.CLOSED:
            raise Conflict("会话已关闭，无法回复")
        from kefu.complaints.services import check_no_premature_grant

        check_no_premature_grant(text, conversation)
        if client_msg_id:
            dup = conversation.messages.filter(
                direction=Message.Direction.OUTGOING, client_msg_id=client_msg_id
            ).first()
            if dup is not None:
                return dup, False
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
        from kefu.complaints.services import do_register_promises_from_reply

        do_register_promises_from_reply(message, conversation)
        from kefu.quality.services import do_record_reply_findings

        do_record_reply_findings(message, conversation)
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
            _publish_assigned(conversation, actor=agent)
        _publish_message(message, conversation)
        from kefu.channels.services import do_queue_outbound

        do_queue_outbound(message)
    return message, True


def do_add_note(*, agent: User, conversation_id: int, text: str) -> Message:
    """A private note: seen by colleagues, never by the customer."""
    text = check_text(text)
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
        _publish_message(note, conversation, event="note.created")
    return note


def add_activity(
    conversation: Conversation,
    text: str,
    *,
    actor: User | None = None,
    private: bool = True,
    meta: dict[str, Any] | None = None,
) -> Message:
    """Record a system line in the conversation (transfer, status change …)."""
    m = Message.objects.create(
        conversation=conversation,
        direction=Message.Direction.ACTIVITY,
        kind=Message.Kind.EVENT,
        sender=actor,
        text=text,
        is_private=private,
        meta=meta or {},
    )
    _publish_message(m, conversation, event="conversation.activity")
    return m


def do_send_auto_reply(
    conversation: Conversation, text: str, *, meta: dict[str, Any] | None = None
) -> Message:
    """A system reply to the customer (queue position, acknowledgement)."""
    m = Message.objects.create(
        conversation=conversation,
        direction=Message.Direction.OUTGOING,
        kind=Message.Kind.AUTO,
        text=text,
        meta=meta or {},
    )
    _publish_message(m, conversation)
    from kefu.channels.services import do_queue_outbound

    do_queue_outbound(m)
    return m


def _publish_assigned(conversation: Conversation, *, actor: User | None) -> None:
    publish(
        "conversation.assigned",
        {"conversation": conversation_dict(conversation), "actor_id": actor.pk if actor else None},
        team_id=conversation.team_id,
        user_ids=[conversation.assignee_id],
        conversation_id=conversation.pk,
    )


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
            {"conversation": conversation_dict(conversation), "from": old, "to": status},
            team_id=conversation.team_id,
            user_ids=[conversation.assignee_id],
            conversation_id=conversation.pk,
            customer_data=_customer_status(conversation),
        )
        if status in (Conversation.Status.RESOLVED, Conversation.Status.CLOSED):
            from kefu.quality.services import do_schedule_scoring

            do_schedule_scoring(conversation)  # queued after the commit
        from kefu.routing.services import LOAD_STATUSES, do_drain_queues_on_commit

        if conversation.assignee_id and old in LOAD_STATUSES and status not in LOAD_STATUSES:
            # Resolved, closed or snoozed: the agent has room for a waiting customer.
            do_drain_queues_on_commit(agent_id=conversation.assignee_id)
    return conversation


# --- customer satisfaction (CSAT) -------------------------------------------------------

CSAT_COMMENT_MAX_CHARS = 500
RATABLE_STATUSES = (Conversation.Status.RESOLVED, Conversation.Status.CLOSED)


def rating_requested(conversation: Conversation) -> bool:
    """Whether the customer should be shown the rating widget for ``conversation``."""
    return conversation.status == Conversation.Status.RESOLVED and conversation.csat_score is None


def _customer_status(conversation: Conversation) -> dict[str, Any]:
    """The status payload for the customer's socket; a resolved, unrated one asks for a rating."""
    data: dict[str, Any] = {"status": conversation.status}
    if rating_requested(conversation):
        data["rating_requested"] = True
    return data


def check_csat(score: object, comment: object) -> tuple[int, str]:
    # bool is an int subclass: ``true`` must not become a one-star rating.
    if type(score) is not int or not 1 <= score <= 5:
        raise InvalidInput("评分应为 1 到 5 的整数", fields={"score": "1 到 5 的整数"})
    if comment is None:
        comment = ""
    if not isinstance(comment, str):
        raise InvalidInput("评价内容必须是文字", fields={"comment": "必须是字符串"})
    comment = comment.strip()
    if len(comment) > CSAT_COMMENT_MAX_CHARS:
        raise InvalidInput(
            f"评价内容过长（最多 {CSAT_COMMENT_MAX_CHARS} 字）",
            fields={"comment": f"最多 {CSAT_COMMENT_MAX_CHARS} 个字符"},
        )
    return score, comment


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
            {"conversation": conversation_dict(conversation), "csat": csat_dict(conversation)},
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
    note = check_text(note, field="note")
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
                "conversation": conversation_dict(conversation),
                "note": note,
                "from_user_id": previous.pk if previous else None,
            },
            team_id=conversation.team_id,
            user_ids=[conversation.assignee_id, previous.pk if previous else None],
            conversation_id=conversation.pk,
        )
        if to_user is not None:
            _publish_assigned(conversation, actor=actor)
        from kefu.routing.services import do_drain_queues_on_commit

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
    summary = check_text(summary, field="summary")
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
            from kefu.customers.models import Customer

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
        _publish_message(message, conversation, event="call.logged")
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
    """The inbox filters: mine, unassigned, my team, all; by status, channel, priority."""
    qs = visible_conversations(user)
    if view == "mine":
        qs = qs.filter(
            Q(assignee=user)
            | Q(first_responder=user, status__in=ACTIVE_STATUSES)
            | Q(
                tickets__owner=user,
                tickets__status__in=("new", "in_progress", "waiting_customer", "waiting_department"),
            )
        ).distinct()
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


def with_preview(qs: QuerySet[Conversation]) -> QuerySet[Conversation]:
    """Annotate each row with its last public message (``preview``, ``preview_kind``) in the same query."""
    from django.db.models import OuterRef, Subquery

    last = Message.objects.filter(conversation=OuterRef("pk"), is_private=False).order_by("-id")
    return qs.annotate(
        preview=Subquery(last.values("text")[:1]), preview_kind=Subquery(last.values("kind")[:1])
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
                {"conversation": conversation_dict(conversation), "from": "snoozed", "to": "open"},
                team_id=conversation.team_id,
                user_ids=[conversation.assignee_id],
                conversation_id=conversation.pk,
                customer_data={"status": "open"},
            )
    return woken
