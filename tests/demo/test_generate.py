"""``kefu generate``: a tiny, deterministic history whose figures are sane (and the same from rollups)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db import transaction

TZ = ZoneInfo("Asia/Shanghai")
END = date(2026, 11, 11)  # 双11: the busiest day of the year


class _Undo(Exception):
    pass


def _fingerprint() -> list[Any]:
    from kefu.conversations.models import Conversation, Message

    rows = Conversation.objects.order_by("pk").values_list(
        "created_at", "channel__name", "team__name", "assignee__username", "intent", "status", "csat_score"
    )
    return [
        list(rows),
        Message.objects.count(),
        list(Message.objects.order_by("pk").values_list("text", flat=True)[:50]),
    ]


def _generate(**kw: Any) -> list[Any]:
    try:
        with transaction.atomic():
            call_command("generate", **{"agents": 6, "days": 2, "tickets": 15, "end": END, "seed": 7, **kw})
            fp = _fingerprint()
            raise _Undo
    except _Undo:
        return fp


def test_the_same_arguments_write_the_same_rows(db: Any):
    first, again = _generate(), _generate()
    assert first == again and first[1] > 100
    assert _generate(seed=8) != first


def test_a_tiny_history_has_every_kind_of_row_and_sane_figures(db: Any, capsys: Any):
    from kefu.accounts.models import StatusChange, Team, User
    from kefu.analytics import metrics
    from kefu.analytics.rollups import do_refresh_rollups
    from kefu.conversations.models import Conversation, Message
    from kefu.tickets.models import Ticket

    call_command("generate", agents=6, days=3, tickets=40, end=END, seed=7)
    assert "已生成 3 天数据" in capsys.readouterr().out
    assert (
        Team.objects.filter(name="售后服务").exists()
        and User.objects.filter(teams__isnull=False).count() == 6
    )
    assert Ticket.objects.count() >= 40 and StatusChange.objects.count() > 6
    n = Conversation.objects.count()
    assert n > 50 and not Conversation.objects.filter(messages__isnull=True).exists()
    assert Message.objects.filter(direction="activity", meta__has_key="to_team").exists()  # transfers
    assert Message.objects.filter(direction="activity", meta__has_key="csat_score").exists()
    # The promotion day is busier than the two days before it.
    days = {
        d: Conversation.objects.filter(created_at__date=d).count() for d in (END - timedelta(days=1), END)
    }
    assert days[END] > days[END - timedelta(days=1)]

    start = datetime.combine(END - timedelta(days=2), datetime.min.time(), TZ)
    scope = metrics.Scope(start, start + timedelta(days=3))
    live = metrics.compute(scope)
    assert live["volume"].value == n
    assert 75 <= live["resolution_rate"].value <= 100
    assert (
        0 < live["first_response_p50"].value < 300
        and live["first_response_p90"].value >= live["first_response_p50"].value
    )
    assert 0 < live["transfer_rate"].value < 25 and 0 <= live["reopen_rate"].value < 20
    assert 3.0 < live["csat_mean"].value <= 5 and live["csat_mean"].count > n // 4
    assert 0 < live["response_time_p90"].value < 3600 * 48
    assert live["online_time"].value > 0 and 0 < live["occupancy"].value <= 100
    assert live["quality_score_mean"].value > 40 and live["complaint_count"].value >= 0
    do_refresh_rollups(datetime.now(TZ) + timedelta(hours=1))
    assert metrics.compute(scope) == live


@pytest.mark.parametrize("args", [["--agents", "0"], ["--days", "-1"], ["--tickets", "-5"]])
def test_bad_scale_is_refused(db: Any, args: list[str]):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("generate", *args)
