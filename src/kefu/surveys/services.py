"""Surveys, top floor: the customer's verdict after resolution and the call back (回访) after it.

``do_sweep`` (the worker's timer) opens a survey for each freshly resolved conversation
and sends its signed link on the conversation's own channel (web chat shows a card
instead); ``do_answer_survey`` stores the one answer, writes the conversation's CSAT
fields (which metrics, stars and the weekly review read) and, below the channel's
threshold, puts a follow-up on the team lead's list. The sweep also schedules the
回访 of complaints a few days after the customer confirmed their resolution;
``do_record_follow_up`` records its outcome and reopens what is still unresolved.
Everything is a row in the database and every step is claimed by a unique constraint
or a conditional UPDATE, so a restarted worker (or two) neither misses nor repeats one.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from kefu.accounts.access import audit, check_admin, check_role, team_ids_of
from kefu.accounts.models import AuditLog, Role, User
from kefu.channels.models import Channel
from kefu.complaints.models import Complaint, Stage
from kefu.complaints.services import do_record_follow_up as do_close_complaint_follow_up
from kefu.complaints.services import do_reopen_after_follow_up
from kefu.conversations.models import Conversation
from kefu.conversations.services import do_rate_conversation, do_set_status
from kefu.conversations.timeline import do_send_auto_reply
from kefu.core import signing
from kefu.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied, Unauthorized
from kefu.core.events import publish
from kefu.core.fields import check_text

from .models import FollowUp, Survey, SurveySetting

LINK_PURPOSE = "kefu.surveys.answer"
COMMENT_MAX_CHARS = 500
NOTE_MAX_CHARS = 2000
# Conversations resolved longer ago than this when the sweep first sees them get no
# survey: a worker that was down for days does not flood customers with old questions.
SEND_WINDOW = timedelta(days=1)
SWEEP_BATCH = 200
# Web chat shows the survey as a card in the widget; phone has no text to send a link in.
CARD_KINDS = (Channel.Kind.WEB,)
NO_SURVEY_KINDS = (Channel.Kind.PHONE,)
MAX_EXPIRY_DAYS = 90
MAX_FOLLOW_UP_DAYS = 60


# --- settings ---------------------------------------------------------------------------------


def _key(channel_id: int | None) -> str:
    return f"channel-{channel_id}" if channel_id else "desk"


def settings_for(channel: Channel | None) -> SurveySetting:
    """The survey settings in force on ``channel``: its own row, else the desk-wide one, else the defaults."""
    keys = [_key(channel.pk)] if channel is not None else []
    rows = {s.key: s for s in SurveySetting.objects.filter(key__in=[*keys, "desk"])}
    for key in [*keys, "desk"]:
        if key in rows:
            return rows[key]
    return SurveySetting(key="desk")


def access_settings(user: User) -> tuple[SurveySetting, list[tuple[Channel, SurveySetting | None]]]:
    """The desk-wide settings and each channel's own row (``None`` = follows the desk), for admins."""
    check_admin(user)
    rows = {s.channel_id: s for s in SurveySetting.objects.all()}
    default = rows.pop(None, None) or SurveySetting(key="desk")
    channels = list(Channel.objects.order_by("id"))
    return default, [(c, rows.get(c.pk)) for c in channels]


def _check_int(data: dict[str, Any], field: str, low: int, high: int, label: str) -> int:
    value = data.get(field)
    if type(value) is not int or not low <= value <= high:
        raise InvalidInput(f"{label}应为 {low} 到 {high} 的整数", fields={field: f"{low} 到 {high} 的整数"})
    return value


def _check_bool(data: dict[str, Any], field: str, label: str) -> bool:
    value = data.get(field)
    if type(value) is not bool:
        raise InvalidInput(f"{label}应为是或否", fields={field: "true 或 false"})
    return value


def check_settings(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "enabled": _check_bool(data, "enabled", "发送满意度调查"),
        "nps_enabled": _check_bool(data, "nps_enabled", "询问推荐意愿"),
        "expiry_days": _check_int(data, "expiry_days", 1, MAX_EXPIRY_DAYS, "调查有效天数"),
        "low_score_threshold": _check_int(data, "low_score_threshold", 0, 5, "低分回访阈值"),
        "complaint_follow_up_days": _check_int(
            data, "complaint_follow_up_days", 1, MAX_FOLLOW_UP_DAYS, "投诉回访天数"
        ),
    }


def do_save_settings(*, actor: User, channel_id: int | None, data: dict[str, Any]) -> SurveySetting:
    """Save the desk-wide settings (``channel_id`` None) or one channel's own (admins, audited)."""
    check_admin(actor)
    values = check_settings(data)
    channel = None
    if channel_id is not None:
        channel = Channel.objects.filter(pk=channel_id).first() if 0 < channel_id < 2**31 else None
        if channel is None:
            raise NotFound(f"渠道 {channel_id} 不存在", fields={"channel_id": "不存在"})
    with transaction.atomic():
        row, _ = SurveySetting.objects.select_for_update().get_or_create(
            key=_key(channel_id), defaults={"channel": channel, **values}
        )
        for field, value in values.items():
            setattr(row, field, value)
        row.save()
        audit(
            AuditLog.Action.SETTINGS_CHANGE,
            actor=actor,
            target=row,
            detail={"surveys": values, "channel_id": channel_id},
        )
    return row


def do_reset_channel_settings(*, actor: User, channel_id: int) -> None:
    """A channel follows the desk-wide settings again."""
    check_admin(actor)
    with transaction.atomic():
        deleted, _ = SurveySetting.objects.filter(key=_key(channel_id)).delete()
        if deleted:
            audit(
                AuditLog.Action.SETTINGS_CHANGE,
                actor=actor,
                detail={"surveys": "reset", "channel_id": channel_id},
            )


# --- links ------------------------------------------------------------------------------------


def survey_token(survey: Survey) -> str:
    return signing.sign_link(settings.SECRET_KEY, purpose=LINK_PURPOSE, value=f"{survey.pk}-{survey.nonce}")


def survey_url(survey: Survey) -> str:
    return f"{settings.KEFU_DESK_URL}/survey/{survey_token(survey)}/"


def access_survey_by_token(token: object) -> Survey:
    """The survey a signed link names; ``NotFound`` for a made-up or altered link."""
    # A made-up link is "not found", as a link to nothing would be: neither says which part was wrong.
    try:
        value = signing.read_link(settings.SECRET_KEY, purpose=LINK_PURPOSE, token=token)
    except Unauthorized as exc:
        raise NotFound("评价链接无效或不存在") from exc
    survey_id, _, nonce = value.partition("-")
    if not (survey_id.isascii() and survey_id.isdigit()) or len(survey_id) > 18 or not nonce:
        raise NotFound("评价链接无效或不存在")
    survey = (
        Survey.objects.select_related("conversation", "channel")
        .filter(pk=int(survey_id), nonce=nonce)
        .first()
    )
    if survey is None:
        raise NotFound("评价链接无效或不存在")
    return survey


# --- opening and sending --------------------------------------------------------------------


def do_open_survey(conversation: Conversation, *, now: datetime | None = None) -> Survey | None:
    """The conversation's survey, opened now if it has none; ``None`` where surveys are off.

    Two callers at once (the sweep and a widget answer) are settled by the unique conversation.
    """
    existing = Survey.objects.filter(conversation=conversation).first()
    if existing is not None:
        return existing
    channel = conversation.channel
    if channel.kind in NO_SURVEY_KINDS:
        return None
    config = settings_for(channel)
    if not config.enabled:
        return None
    now = now or timezone.now()
    try:
        with transaction.atomic():
            return Survey.objects.create(
                conversation=conversation,
                nonce=secrets.token_urlsafe(18),
                channel=channel,
                team_id=conversation.team_id,
                agent_id=conversation.assignee_id or conversation.first_responder_id,
                nps_asked=config.nps_enabled,
                sent_at=now,
                expires_at=now + timedelta(days=config.expiry_days),
            )
    except IntegrityError:
        return Survey.objects.get(conversation=conversation)


def survey_message(survey: Survey) -> str:
    expires = timezone.localtime(survey.expires_at)
    ask = "为本次服务打分（1–5 分）" + ("，并告诉我们您是否愿意推荐我们" if survey.nps_asked else "")
    return (
        f"您好，本次咨询已处理完毕。请花几秒钟{ask}：{survey_url(survey)}\n"
        f"链接仅可提交一次，{expires:%m月%d日 %H:%M}前有效。感谢您的支持！"
    )


def do_send_due_surveys(now: datetime) -> int:
    """Open and send the surveys of conversations resolved since the last tick; returns how many were sent."""
    candidates = list(
        Conversation.objects.filter(
            status=Conversation.Status.RESOLVED,
            resolved_at__gte=now - SEND_WINDOW,
            resolved_at__lte=now,
            csat_score__isnull=True,
            survey__isnull=True,
        )
        .exclude(channel__kind__in=NO_SURVEY_KINDS)
        .select_related("channel", "customer")
        .order_by("resolved_at")[:SWEEP_BATCH]
    )
    sent = 0
    for conversation in candidates:
        with transaction.atomic():
            if Survey.objects.filter(conversation=conversation).exists():
                continue
            survey = do_open_survey(conversation, now=now)
            if survey is None:
                continue
            if conversation.channel.kind not in CARD_KINDS:
                do_send_auto_reply(conversation, survey_message(survey), meta={"survey_id": survey.pk})
            sent += 1
    return sent


# --- answers ----------------------------------------------------------------------------------


def check_answer(
    survey: Survey, *, csat: object, nps: object, comment: object
) -> tuple[int, int | None, str]:
    # bool is an int subclass: ``true`` must not become a one-star rating.
    if type(csat) is not int or not 1 <= csat <= 5:
        raise InvalidInput("满意度评分应为 1 到 5 的整数", fields={"score": "1 到 5 的整数"})
    if nps is not None:
        if not survey.nps_asked:
            raise InvalidInput("本次调查没有询问推荐意愿", fields={"nps": "本次调查不含此项"})
        if type(nps) is not int or not 0 <= nps <= 10:
            raise InvalidInput("推荐意愿应为 0 到 10 的整数", fields={"nps": "0 到 10 的整数"})
    text = check_text(comment, field="comment", label="评价内容", max_len=COMMENT_MAX_CHARS, required=False)
    return csat, nps, text


def do_answer_survey(
    *, survey: Survey, csat: object, nps: object = None, comment: object = "", now: datetime | None = None
) -> Survey:
    """Store the one answer of an open survey; a low score opens a follow-up for the team lead."""
    csat, nps, text = check_answer(survey, csat=csat, nps=nps, comment=comment)
    now = now or timezone.now()
    with transaction.atomic():
        # The conditional update settles a double submit and a late one: only one finds it open.
        taken = Survey.objects.filter(pk=survey.pk, answered_at__isnull=True, expires_at__gt=now).update(
            answered_at=now, csat=csat, nps=nps, comment=text
        )
        if not taken:
            if Survey.objects.get(pk=survey.pk).state(now) == "answered":
                raise Conflict("该会话已经评价过了", extra={"reason": "already_rated"})
            raise Conflict("该调查已过期，无法再提交", extra={"reason": "expired"})
        conversation = survey.conversation
        do_rate_conversation(conversation=conversation, score=csat, comment=text)
        survey.refresh_from_db()
        threshold = settings_for(survey.channel).low_score_threshold
        if csat <= threshold:
            follow_up = FollowUp.objects.create(
                kind=FollowUp.Kind.LOW_SCORE,
                conversation=conversation,
                survey=survey,
                team_id=conversation.team_id,
                due_at=now,
            )
            _announce(follow_up)
    return survey


def do_answer_from_chat(
    *, conversation: Conversation, csat: object, nps: object = None, comment: object = ""
) -> Survey:
    """The web widget's card: the visitor's token already proved the conversation is theirs."""
    with transaction.atomic():
        if conversation.status not in (Conversation.Status.RESOLVED, Conversation.Status.CLOSED):
            raise Conflict("会话结束后才能评价")
        survey = do_open_survey(conversation)
        if survey is None:
            raise Conflict("该渠道未开启满意度调查", extra={"reason": "disabled"})
        return do_answer_survey(survey=survey, csat=csat, nps=nps, comment=comment)


def chat_survey_config(channel: Channel) -> dict[str, Any]:
    """What the web widget's card asks on ``channel``."""
    config = settings_for(channel)
    return {"enabled": config.enabled, "nps": config.nps_enabled}


# --- follow-ups (回访) ------------------------------------------------------------------------


def _leads_of(team_id: int | None) -> list[int]:
    if team_id is None:
        return []
    return list(
        User.objects.filter(is_active=True, role=Role.TEAM_LEAD, teams__id=team_id).values_list(
            "id", flat=True
        )
    )


def _announce(follow_up: FollowUp) -> None:
    publish(
        "follow_up.created",
        {
            "follow_up_id": follow_up.pk,
            "kind": follow_up.kind,
            "conversation_id": follow_up.conversation_id,
            "due_at": follow_up.due_at.isoformat(),
        },
        team_id=follow_up.team_id,
        user_ids=_leads_of(follow_up.team_id),
        webhook=False,
    )


def do_schedule_complaint_follow_ups(now: datetime) -> int:
    """Put each confirmed complaint's 回访 on its team's list, due a few days after the confirmation.

    A 回访 already recorded on the complaint page closes the list's entry too.
    """
    scheduled = 0
    scheduled_since_confirmation = FollowUp.objects.filter(
        complaint=OuterRef("pk"), created_at__gte=OuterRef("customer_confirmed_at")
    )
    waiting = (
        Complaint.objects.filter(stage=Stage.FOLLOW_UP, customer_confirmed_at__isnull=False)
        .exclude(Exists(scheduled_since_confirmation))
        .select_related("ticket")
        .order_by("customer_confirmed_at")[:SWEEP_BATCH]
    )
    for complaint in waiting:
        conversation = (
            Conversation.objects.filter(tickets=complaint.ticket)
            .select_related("channel")
            .order_by("-id")
            .first()
        )
        if conversation is None:
            continue
        assert complaint.customer_confirmed_at is not None
        days = settings_for(conversation.channel).complaint_follow_up_days
        try:
            with transaction.atomic():
                follow_up = FollowUp.objects.create(
                    kind=FollowUp.Kind.COMPLAINT,
                    conversation=conversation,
                    complaint=complaint,
                    team_id=conversation.team_id or complaint.ticket.team_id,
                    due_at=complaint.customer_confirmed_at + timedelta(days=days),
                )
                _announce(follow_up)
        except IntegrityError:
            continue  # another worker scheduled it
        scheduled += 1
    FollowUp.objects.filter(
        kind=FollowUp.Kind.COMPLAINT, done_at__isnull=True, complaint__stage=Stage.CLOSED
    ).update(done_at=now, outcome=FollowUp.Outcome.SATISFIED, note="已在投诉页记录回访并结案")
    return scheduled


def do_sweep(now: datetime | None = None) -> dict[str, int]:
    """The worker's timer: surveys to send, complaint 回访 to schedule."""
    now = now or timezone.now()
    return {
        "surveys_sent": do_send_due_surveys(now),
        "follow_ups_scheduled": do_schedule_complaint_follow_ups(now),
    }


def visible_follow_ups(user: User) -> QuerySet[FollowUp]:
    """Team leads see their teams' list; supervisors and above every team's."""
    check_role(user, Role.TEAM_LEAD)
    qs = FollowUp.objects.select_related(
        "conversation",
        "conversation__customer",
        "conversation__assignee",
        "survey",
        "complaint__ticket",
        "team",
        "done_by",
    )
    if user.sees_all:
        return qs
    return qs.filter(team_id__in=team_ids_of(user))


def access_follow_ups(user: User, *, state: str = "open") -> QuerySet[FollowUp]:
    if state not in ("open", "done", "all"):
        raise InvalidInput("未知的筛选条件", fields={"state": "open、done 或 all"})
    qs = visible_follow_ups(user)
    if state == "open":
        return qs.filter(done_at__isnull=True).order_by("due_at", "id")
    if state == "done":
        return qs.filter(done_at__isnull=False).order_by("-done_at", "-id")
    return qs.order_by("-id")


def access_follow_up(user: User, follow_up_id: int) -> FollowUp:
    follow_up = visible_follow_ups(user).filter(pk=follow_up_id).first() if 0 < follow_up_id < 2**63 else None
    if follow_up is None:
        if 0 < follow_up_id < 2**63 and FollowUp.objects.filter(pk=follow_up_id).exists():
            raise PermissionDenied("您无权查看该回访")
        raise NotFound(f"回访 {follow_up_id} 不存在")
    return follow_up


def do_record_follow_up(*, actor: User, follow_up_id: int, outcome: object, note: object) -> FollowUp:
    """Record how the call back went; a customer still unhappy gets their conversation (and complaint) reopened."""
    check_role(actor, Role.TEAM_LEAD)
    if outcome not in FollowUp.Outcome.values:
        raise InvalidInput("请选择回访结果", fields={"outcome": "satisfied 或 unhappy"})
    text = check_text(note, field="note", label="回访记录", max_len=NOTE_MAX_CHARS)
    with transaction.atomic():
        follow_up = access_follow_up(actor, follow_up_id)
        now = timezone.now()
        if not FollowUp.objects.filter(pk=follow_up.pk, done_at__isnull=True).update(
            done_at=now, done_by=actor, outcome=outcome, note=text
        ):
            raise Conflict("该回访已经记录过了")
        if follow_up.complaint_id is not None:
            complaint_stage = (
                Complaint.objects.filter(pk=follow_up.complaint_id).values_list("stage", flat=True).first()
            )
            if complaint_stage == Stage.FOLLOW_UP:
                if outcome == FollowUp.Outcome.SATISFIED:
                    do_close_complaint_follow_up(actor=actor, complaint_id=follow_up.complaint_id, note=text)
                else:
                    do_reopen_after_follow_up(actor=actor, complaint_id=follow_up.complaint_id, note=text)
        if outcome == FollowUp.Outcome.UNHAPPY:
            conversation = follow_up.conversation
            if conversation.status != Conversation.Status.OPEN:
                do_set_status(actor=actor, conversation_id=conversation.pk, status=Conversation.Status.OPEN)
        follow_up.refresh_from_db()
    return follow_up


# --- figures for pages ------------------------------------------------------------------------


def nps_of(scores: list[int]) -> float | None:
    """Net Promoter Score: % of promoters (9–10) minus % of detractors (0–6); None without answers."""
    if not scores:
        return None
    promoters = sum(1 for s in scores if s >= 9)
    detractors = sum(1 for s in scores if s <= 6)
    return 100.0 * (promoters - detractors) / len(scores)


def access_answers(user: User, *, limit: int = 100) -> QuerySet[Survey]:
    """The latest answered surveys the user may see (leads: their teams'; supervisors: all)."""
    check_role(user, Role.TEAM_LEAD)
    qs = Survey.objects.filter(answered_at__isnull=False).select_related(
        "conversation", "agent", "team", "channel"
    )
    if not user.sees_all:
        qs = qs.filter(Q(team_id__in=team_ids_of(user)))
    return qs.order_by("-answered_at", "-id")[: max(1, min(limit, 500))]
