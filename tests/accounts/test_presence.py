"""Presence: who is online, logout / idle lock / a lost desk take an agent offline, the sweep, the rule."""

from __future__ import annotations

import itertools
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.utils import timezone

from kefu.accounts.models import AgentStatus, PresenceRule, Role, StatusChange, User
from kefu.accounts.presence import (
    do_heartbeat,
    effective_status,
    is_anyone_online,
    online_agents,
    present_agents,
)
from kefu.accounts.services import (
    do_return_offline_agents_conversations,
    do_set_presence_rule,
    do_set_status,
    do_sweep_presence,
)
from kefu.conversations.models import Conversation, Message
from kefu.conversations.services import do_receive_customer_message

pytestmark = pytest.mark.django_db

_visitor = itertools.count(1)
PASSWORD = "kefu-test-pass-2026"


def post(client: Any, url: str, data: dict[str, Any]) -> Any:
    return client.post(url, data, content_type="application/json")


@pytest.fixture
def teams(make_team: Any, make_user: Any, make_channel: Any) -> SimpleNamespace:
    """Two teams with an online agent each, and a web channel per team."""
    pre = make_team("售前咨询", is_general=True)
    after = make_team("售后服务")
    xiaomei = make_user("xiaomei", teams=(pre,), status=AgentStatus.ONLINE, display_name="小美")
    xiaoli = make_user("xiaoli", teams=(after,), status=AgentStatus.ONLINE, display_name="小李")
    return SimpleNamespace(
        pre=pre,
        after=after,
        xiaomei=xiaomei,
        xiaoli=xiaoli,
        pre_channel=make_channel("web", team=pre, name="官网在线客服"),
        after_channel=make_channel("web", team=after, name="售后在线客服"),
    )


@pytest.fixture
def arrive(django_capture_on_commit_callbacks: Any) -> Any:
    """A new customer writes in on ``channel``; routing runs as it does after the commit."""

    def arrive(channel: Any, text: str = "你好，我的快递三天了还没到") -> Conversation:
        with django_capture_on_commit_callbacks(execute=True):
            message, _ = do_receive_customer_message(
                channel=channel, identities=[("web", f"visitor-{next(_visitor)}")], text=text
            )
        return Conversation.objects.get(pk=message.conversation_id)

    return arrive


def _later(seconds: float) -> Any:
    return timezone.now() + timedelta(seconds=seconds)


# --- who is online ----------------------------------------------------------------------


def test_only_online_agents_seen_within_the_grace_count_as_online(
    teams: Any, make_user: Any, settings: Any
) -> None:
    settings.KEFU_PRESENCE_GRACE_SECONDS = 120
    busy = make_user(teams=(teams.pre,), status=AgentStatus.BUSY)
    make_user(teams=(teams.pre,), status=AgentStatus.BREAK)
    make_user(teams=(teams.pre,))  # offline
    stale = make_user(teams=(teams.pre,), status=AgentStatus.ONLINE)
    User.objects.filter(pk=stale.pk).update(last_seen_at=timezone.now() - timedelta(seconds=121))
    disabled = make_user(teams=(teams.pre,), status=AgentStatus.ONLINE)
    User.objects.filter(pk=disabled.pk).update(is_active=False)

    assert set(online_agents()) == {teams.xiaomei, teams.xiaoli}
    assert list(online_agents(teams.pre)) == [teams.xiaomei]
    assert list(online_agents(teams.after.pk)) == [teams.xiaoli]
    assert set(present_agents(teams.pre)) == {teams.xiaomei, busy, User.objects.get(status="break")}
    stale.refresh_from_db()
    assert stale.status == AgentStatus.ONLINE
    assert effective_status(stale) == AgentStatus.OFFLINE


def test_is_anyone_online_answers_per_team(teams: Any) -> None:
    assert is_anyone_online(teams.pre) and is_anyone_online(teams.after) and is_anyone_online()
    User.objects.filter(pk=teams.xiaoli.pk).update(last_seen_at=timezone.now() - timedelta(hours=1))
    assert is_anyone_online(teams.pre)
    assert not is_anyone_online(teams.after)
    do_set_status(user=teams.xiaomei, status=AgentStatus.BREAK, reason="meal")
    assert not is_anyone_online(teams.pre)
    assert not is_anyone_online()


def test_a_heartbeat_keeps_an_agent_online_past_the_grace(teams: Any, settings: Any) -> None:
    settings.KEFU_PRESENCE_GRACE_SECONDS = 60
    do_heartbeat(teams.xiaomei.pk, now=_later(50))
    assert is_anyone_online(teams.pre, now=_later(100))
    assert not is_anyone_online(teams.pre, now=_later(111))


# --- logout, idle lock -----------------------------------------------------------------


def test_logout_takes_the_agent_offline_and_the_next_chat_is_not_routed_to_her(
    client: Any, teams: Any, arrive: Any
) -> None:
    assert client.login(username="xiaomei", password=PASSWORD)
    assert post(client, "/api/v1/me/status", {"status": "online"}).status_code == 200
    assert client.post("/logout/").status_code == 302

    teams.xiaomei.refresh_from_db()
    assert teams.xiaomei.status == AgentStatus.OFFLINE
    change = StatusChange.objects.filter(user=teams.xiaomei).first()
    assert (change.from_status, change.to_status, change.reason) == ("online", "offline", "logout")
    assert change.actor is None
    conversation = arrive(teams.pre_channel, "在吗？我想问下发票怎么开")
    assert conversation.assignee is None
    assert conversation.queued_at is not None
    # The other team's agent is still there for her own customers.
    assert arrive(teams.after_channel, "申请退款多久到账").assignee == teams.xiaoli


def test_the_desks_idle_lock_records_idle_lock(client: Any, teams: Any) -> None:
    client.force_login(teams.xiaomei)
    client.post("/logout/", {"reason": "idle"})
    teams.xiaomei.refresh_from_db()
    assert (teams.xiaomei.status, teams.xiaomei.status_reason) == ("offline", "idle_lock")


def test_the_servers_idle_lock_takes_the_agent_offline(client: Any, teams: Any, settings: Any) -> None:
    from kefu.accounts.middleware import SESSION_KEY

    settings.KEFU_IDLE_TIMEOUT = 60
    client.force_login(teams.xiaomei)
    session = client.session
    session[SESSION_KEY] = timezone.now().timestamp() - 61
    session.save()
    client.get("/desk/")
    teams.xiaomei.refresh_from_db()
    assert (teams.xiaomei.status, teams.xiaomei.status_reason) == ("offline", "idle_lock")
    assert not is_anyone_online(teams.pre)


def test_logging_out_when_already_offline_records_nothing(client: Any, teams: Any) -> None:
    User.objects.filter(pk=teams.xiaomei.pk).update(status=AgentStatus.OFFLINE)
    client.force_login(teams.xiaomei)
    client.post("/logout/")
    assert not StatusChange.objects.filter(user=teams.xiaomei).exists()


# --- the sweep --------------------------------------------------------------------------


def test_the_sweep_takes_an_agent_whose_desk_is_gone_offline_after_the_grace(
    teams: Any, arrive: Any, settings: Any
) -> None:
    settings.KEFU_PRESENCE_GRACE_SECONDS = 90
    assert do_sweep_presence(_later(80)) == 0
    assert do_sweep_presence(_later(91)) == 2
    teams.xiaomei.refresh_from_db()
    assert (teams.xiaomei.status, teams.xiaomei.status_reason) == ("offline", "disconnected")
    assert StatusChange.objects.filter(reason="disconnected").count() == 2
    assert do_sweep_presence(_later(200)) == 0  # recorded once


def test_the_sweep_leaves_an_agent_whose_heartbeat_came_in(teams: Any, settings: Any) -> None:
    settings.KEFU_PRESENCE_GRACE_SECONDS = 90
    do_heartbeat(teams.xiaomei.pk, now=_later(60))
    assert do_sweep_presence(_later(100)) == 1  # only xiaoli
    teams.xiaomei.refresh_from_db()
    assert teams.xiaomei.status == AgentStatus.ONLINE


def test_the_sweep_takes_a_disabled_agent_offline(teams: Any) -> None:
    User.objects.filter(pk=teams.xiaomei.pk).update(is_active=False)
    assert do_sweep_presence() == 1
    assert StatusChange.objects.get(user=teams.xiaomei).reason == "disabled"


# --- the rule for an offline agent's conversations --------------------------------------


@pytest.fixture
def admin(make_user: Any) -> User:
    return make_user("admin1", role=Role.ADMIN, display_name="管理员")


def _offline_for(user: User, minutes: float) -> None:
    User.objects.filter(pk=user.pk).update(
        status=AgentStatus.OFFLINE, status_changed_at=timezone.now() - timedelta(minutes=minutes)
    )


def test_by_default_her_conversations_stay_with_her(teams: Any, arrive: Any) -> None:
    conversation = arrive(teams.pre_channel)
    _offline_for(teams.xiaomei, 600)
    assert do_return_offline_agents_conversations() == 0
    conversation.refresh_from_db()
    assert conversation.assignee == teams.xiaomei


def test_her_conversations_return_to_the_queue_after_n_minutes_offline(
    teams: Any, arrive: Any, admin: User, make_user: Any
) -> None:
    do_set_presence_rule(actor=admin, on_offline="requeue", requeue_after_minutes=10)
    first, second = arrive(teams.pre_channel, "尺码偏大吗"), arrive(teams.pre_channel, "能开增值税发票吗")
    other_team = arrive(teams.after_channel, "退款还没到账")
    _offline_for(teams.xiaomei, 9)
    assert do_return_offline_agents_conversations() == 0

    colleague = make_user("xiaohong", teams=(teams.pre,), status=AgentStatus.ONLINE, display_name="小红")
    _offline_for(teams.xiaomei, 11)
    assert do_return_offline_agents_conversations() == 2
    first.refresh_from_db()
    second.refresh_from_db()
    other_team.refresh_from_db()
    assert first.assignee == colleague and second.assignee == colleague  # the drain offered them
    assert other_team.assignee == teams.xiaoli
    line = Message.objects.filter(
        conversation=first, direction="activity", meta__reason="agent_offline"
    ).get()
    assert line.text == "小美 已离线超过 10 分钟，会话退回队列"
    assert line.is_private


def test_nothing_returns_when_she_came_back_online(teams: Any, arrive: Any, admin: User) -> None:
    do_set_presence_rule(actor=admin, on_offline="requeue", requeue_after_minutes=0)
    conversation = arrive(teams.pre_channel)
    do_set_status(user=teams.xiaomei, status=AgentStatus.ONLINE)
    assert do_return_offline_agents_conversations() == 0
    conversation.refresh_from_db()
    assert conversation.assignee == teams.xiaomei


def test_returned_conversations_wait_in_the_queue_when_nobody_is_online(
    teams: Any, arrive: Any, admin: User
) -> None:
    do_set_presence_rule(actor=admin, on_offline="requeue", requeue_after_minutes=5)
    conversation = arrive(teams.pre_channel)
    _offline_for(teams.xiaomei, 6)
    assert do_return_offline_agents_conversations() == 1
    conversation.refresh_from_db()
    assert conversation.assignee is None
    assert conversation.queued_at is not None
    assert PresenceRule.objects.get().updated_by == admin
