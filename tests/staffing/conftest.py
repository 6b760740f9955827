"""Four weeks of a team's history, built by hand: every count known.

The team 售后服务 gets, in the four weeks before Monday 16 November 2026 (Asia/Shanghai):
3 chats every Monday at 10:00–10:30, 1 every Monday at 10:30–11:00 and 2 every Tuesday at
14:00–14:30; and 40 chats on 双11 (Wednesday 11 November) at 20:00 — a promotion day, left out of
the profile. The desk keeps the default hours (Mon–Fri 09:00–18:00).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest

TZ = ZoneInfo("Asia/Shanghai")
TARGET_MONDAY = datetime(2026, 11, 16, tzinfo=TZ).date()


@pytest.fixture
def history(
    db: Any, make_team: Callable[..., Any], make_user: Callable[..., Any], make_channel: Callable[..., Any]
) -> SimpleNamespace:
    from kefu.accounts.models import Role
    from kefu.conversations.models import Conversation
    from kefu.customers.models import Customer
    from kefu.staffing.models import PlanSettings, Promotion

    team = make_team("售后服务")
    other = make_team("售前咨询")
    channel = make_channel("web", team=team, name="官网在线客服")
    customer = Customer.objects.create(name="张伟")
    times: list[datetime] = []
    for week in range(1, 5):
        monday = datetime(2026, 11, 16, tzinfo=TZ) - timedelta(weeks=week)
        times += [monday.replace(hour=10, minute=m) for m in (1, 9, 20)]
        times.append(monday.replace(hour=10, minute=45))
        times += [(monday + timedelta(days=1)).replace(hour=14, minute=m) for m in (5, 25)]
    times += [datetime(2026, 11, 11, 20, m % 30, tzinfo=TZ) for m in range(40)]
    made = Conversation.objects.bulk_create(
        Conversation(channel=channel, team=team, customer=customer) for _ in times
    )
    for c, when in zip(made, times, strict=True):
        Conversation.objects.filter(pk=c.pk).update(created_at=when)
    Promotion.objects.create(
        name="双11",
        start_date=datetime(2026, 11, 11).date(),
        end_date=datetime(2026, 11, 11).date(),
        multiplier=4,
    )
    # A short history window and a fixed AHT keep the numbers small and known.
    PlanSettings.objects.create(team=team, history_weeks=4, aht_seconds=1800, concurrency=1, shrinkage=0)
    return SimpleNamespace(
        team=team,
        other=other,
        wang=make_user("wangfang", display_name="王芳", teams=(team,)),
        li=make_user("lilei", display_name="李雷", teams=(team,)),
        lead=make_user("zhaolead", display_name="赵组长", role=Role.TEAM_LEAD, teams=(team,)),
        other_lead=make_user("qianlead", display_name="钱组长", role=Role.TEAM_LEAD, teams=(other,)),
        boss=make_user("sunboss", display_name="孙主管", role=Role.SUPERVISOR),
    )
