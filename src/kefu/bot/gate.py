"""Whether the bot answers a conversation first: asked by the message path before it routes.

``conversations.services`` asks ``do_hold_for_bot`` in the customer message's transaction:
a conversation the bot holds is not queued for agents (the bot's pipeline,
``bot.services``, answers it after the commit and routes it when it hands over), and the
routing sweep leaves it alone (``routing.assignment.unrouted_conversations``).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.db.models import Q
from django.utils import timezone

from kefu.channels.models import Channel
from kefu.conversations.models import Conversation
from kefu.hours.calendar import calendar_for

from .models import BotSession, BotSetting, HandoverReason

# The channels where a customer talks in turns and can press a button or type an answer.
BOT_CHANNEL_KINDS = (Channel.Kind.WEB, Channel.Kind.APP, Channel.Kind.IM)


def setting_for(channel_id: int, team_id: int | None) -> BotSetting | None:
    """The team's own setting on the channel, else the channel's setting for every team."""
    teams = Q(team__isnull=True) if team_id is None else Q(team_id=team_id) | Q(team__isnull=True)
    rows = list(BotSetting.objects.filter(teams, channel_id=channel_id))
    rows.sort(key=lambda s: s.team_id is None)
    return rows[0] if rows else None


def _in_window(setting: BotSetting, local: datetime) -> bool:
    start, end = setting.start_time, setting.end_time
    if start is None or end is None or start == end:
        return True
    t: time = local.time()
    if start < end:
        return start <= t < end
    return t >= start or t < end  # a window across midnight


def within_hours(
    setting: BotSetting,
    now: datetime | None = None,
    *,
    team_id: int | None = None,
    channel_id: int | None = None,
) -> bool:
    """Whether the bot answers now: its days, read from the business calendar of the team and
    channel (holidays, 调休 make-up working days), and its time window."""
    local = timezone.localtime(now or timezone.now())
    Days = BotSetting.Days
    if setting.days == Days.EVERY_DAY:
        return _in_window(setting, local)
    calendar = calendar_for(team_id, channel_id or setting.channel_id)
    if setting.days == Days.DESK_CLOSED:
        return not calendar.is_open(local)
    # A window across midnight belongs to the day it starts on.
    day = local.date()
    if setting.start_time and setting.end_time and setting.start_time > setting.end_time:
        if local.time() < setting.end_time:
            day -= timedelta(days=1)
    working = bool(calendar.hours_on(day))
    if working != (setting.days == Days.WORKING_DAYS):
        return False
    return _in_window(setting, local)


def do_hold_for_bot(conversation: Conversation, *, created: bool) -> bool:
    """Whether the bot answers this customer message instead of routing it; in the message's transaction.

    A new conversation on a channel whose setting is on (and within its hours) opens a
    session; a VIP customer, when the setting says so, is recorded as handed over at once
    and routed as usual. A conversation the bot already holds stays held until it hands
    over or an agent takes it.
    """
    session = BotSession.objects.filter(conversation_id=conversation.pk).first()
    if session is not None:
        return session.state == BotSession.State.ACTIVE and conversation.assignee_id is None
    if not created:
        return False
    channel = conversation.channel
    if channel.kind not in BOT_CHANNEL_KINDS:
        return False
    setting = setting_for(conversation.channel_id, conversation.team_id)
    if (
        setting is None
        or not setting.enabled
        or not within_hours(setting, team_id=conversation.team_id, channel_id=conversation.channel_id)
    ):
        return False
    if setting.vip_skip and conversation.customer.vip_level >= max(setting.vip_level, 1):
        BotSession.objects.create(
            conversation=conversation,
            setting=setting,
            state=BotSession.State.HANDED_OVER,
            handover_reason=HandoverReason.VIP,
            handed_over_at=timezone.now(),
        )
        return False
    BotSession.objects.create(conversation=conversation, setting=setting)
    return True


def bot_holds(conversation_id: int) -> bool:
    """Whether the bot is answering this conversation now."""
    return BotSession.objects.filter(conversation_id=conversation_id, state=BotSession.State.ACTIVE).exists()
