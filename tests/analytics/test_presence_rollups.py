"""Online time and occupancy from the presence rollups equal the live walk of the status history:
across midnights, for a period starting mid-day, and after a status change inserted late."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest import mock

from django.utils import timezone

from .conftest import END, START, at


def later() -> Any:
    return timezone.now() + timedelta(hours=1)


def presence(scope: Any) -> dict[str, Any]:
    from kefu.analytics import metrics

    out: dict[str, Any] = {"compute": metrics.compute(scope, ["online_time", "occupancy"])}
    for name in ("online_time", "occupancy"):
        for by in ("agent", "team"):
            out[f"{name}/{by}"] = metrics.breakdown(scope, name, by)
    return out


def scopes() -> list[Any]:
    from kefu.analytics import metrics

    return [
        metrics.Scope(START, END),
        metrics.Scope(at(3, 13, 30, 7), END),  # starts mid-day
        metrics.Scope(at(3, 13, 30, 7), at(6, 2, 15)),  # ends mid-day too
        metrics.Scope(START, END, team_id=None, agent_id=None, channel_id=None),
    ]


def shifts(week: Any) -> None:
    """李娜 and 陈静 work night shifts over midnight, with changes at odd microseconds."""
    from kefu.accounts.models import StatusChange

    micro = timedelta(microseconds=123_457)
    for user, days in ((week.li, (2, 3, 4, 5)), (week.chen, (3, 5))):
        for day in days:
            for when, old, new in (
                (at(day, 20) + micro, "offline", "online"),
                (at(day, 23, 10, 3) + micro, "online", "busy"),
                (at(day + 1, 1, 20, 41) + micro, "busy", "online"),
                (at(day + 1, 6, 0, 0), "online", "offline"),
            ):
                StatusChange.objects.create(user=user, from_status=old, to_status=new, at=when)


def test_presence_from_rollups_equals_live_including_late_changes(week: Any):
    from kefu.accounts.models import StatusChange
    from kefu.analytics import metrics
    from kefu.analytics.models import PresenceRollup
    from kefu.analytics.rollups import do_refresh_rollups, rollup_status

    shifts(week)
    live = [presence(scope) for scope in scopes()]
    assert live[0]["compute"]["online_time"].value > 8 * 3600

    progress = do_refresh_rollups(later())
    assert progress.presence_days == PresenceRollup.objects.count() > 0
    assert rollup_status()["status_changes_behind"] == 0
    walked: list[tuple[Any, Any]] = []
    real = metrics._spans

    def spy(users: list[int], start: Any, end: Any) -> Any:
        if week.li.pk in users:
            walked.append((start, end))
        return real(users, start, end)

    with mock.patch.object(metrics, "_spans", spy):
        assert [presence(scope) for scope in scopes()] == live
    # For 李娜, rolled up from the 3rd, only the period edges were walked: never a whole day after it.
    assert walked and all(end <= at(3, 0) or end - start < timedelta(days=1) for start, end in walked)
    # The rolled-up days are what the figures read.
    row = PresenceRollup.objects.get(user=week.li, day=at(4, 0).date())
    PresenceRollup.objects.filter(pk=row.pk).update(online_seconds=row.online_seconds + 60)
    assert (
        presence(scopes()[0])["compute"]["online_time"].value == live[0]["compute"]["online_time"].value + 60
    )
    PresenceRollup.objects.filter(pk=row.pk).update(online_seconds=row.online_seconds)
    assert do_refresh_rollups(later()).presence_days == 0  # nothing new

    # A change inserted late for a day already rolled up: 李娜 went offline for two hours on the 4th.
    StatusChange.objects.create(user=week.li, from_status="online", to_status="offline", at=at(4, 3, 0, 0))
    StatusChange.objects.create(user=week.li, from_status="offline", to_status="online", at=at(4, 5, 0, 0))
    stale = [presence(scope) for scope in scopes()]
    assert stale[0]["compute"]["online_time"].value == live[0]["compute"]["online_time"].value - 2 * 3600
    progress = do_refresh_rollups(later())
    assert progress.presence_days >= 1  # the 4th and after, rolled up again
    assert [presence(scope) for scope in scopes()] == stale
    PresenceRollup.objects.all().delete()
    assert [presence(scope) for scope in scopes()] == stale  # the plain live walk agrees


def test_rebuild_and_status_include_presence(week: Any):
    from django.core.management import call_command

    from kefu.analytics.models import PresenceRollup
    from kefu.analytics.rollups import do_rebuild_rollups, rollup_status

    shifts(week)
    first = do_rebuild_rollups().presence_days
    assert first == PresenceRollup.objects.count() > 0
    assert do_rebuild_rollups().presence_days == first
    assert rollup_status()["presence_days"] == first
    out: Any = mock.MagicMock()
    call_command("rollups", "status", stdout=out)
    assert any("presence_days" in str(call) for call in out.write.call_args_list)
