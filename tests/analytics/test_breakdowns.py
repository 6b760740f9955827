"""The shared passes (``metrics.breakdowns``, ``metrics.shared``) give the very figures of the
one-figure-at-a-time computations, on the hand-built week (tests/analytics/conftest.py)."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import END, START

# Sums and counts, means, medians and percentiles, rates with rollup-backed flags, a ratio.
NAMES = (
    "volume",
    "resolution_rate",
    "fcr_rate",
    "reopen_rate",
    "transfer_rate",
    "csat_mean",
    "nps",
    "first_response_mean",
    "first_response_p50",
    "first_response_p90",
    "aht_mean",
    "response_time_mean",
    "complaint_count",
    "complaint_rate",
)
# Scope field of each dimension a report breaks down by.
FILTERS = {"channel": "channel_id", "team": "team_id", "agent": "agent_id", "intent": "intent"}


@pytest.mark.parametrize("by", ["channel", "intent", "team", "agent", "hour", "weekday", "day", "halfhour"])
def test_one_grouped_pass_equals_one_breakdown_per_figure(week: Any, by: str) -> None:
    from kefu.analytics import metrics

    scope = metrics.Scope(START, END)
    shared = metrics.breakdowns(scope, NAMES, by)
    assert shared == {name: metrics.breakdown(scope, name, by) for name in NAMES}
    assert shared["volume"], "the week has conversations in every dimension"


@pytest.mark.parametrize("by", list(FILTERS))
def test_each_group_of_the_shared_pass_equals_a_compute_of_that_group(week: Any, by: str) -> None:
    from kefu.analytics import metrics

    scope = metrics.Scope(START, END)
    rows = metrics.breakdowns(scope, NAMES, by)
    checked = 0
    for name, figures in rows.items():
        for key, _label, figure in figures:
            if not key:  # the 未分配 row: no filter selects "no team"
                continue
            value: Any = key if by == "intent" else int(key)
            alone = metrics.compute(metrics.Scope(START, END, **{FILTERS[by]: value}), [name])[name]
            assert (figure.value, figure.count) == (alone.value, alone.count), (name, by, key)
            checked += 1
    assert checked >= len(NAMES)


def test_a_shared_block_changes_no_figure(week: Any) -> None:
    from kefu.analytics import metrics

    scope = metrics.Scope(START, END)

    def everything() -> Any:
        return (
            metrics.compute(scope),  # (``compare`` opens a shared block of its own)
            metrics.compute(scope.previous()),
            {by: metrics.breakdowns(scope, NAMES, by) for by in ("channel", "team", "agent", "hour")},
            metrics.breakdown(scope, "online_time", "agent"),
            metrics.breakdown(scope, "occupancy", "team"),
            metrics.heatmap(scope, "first_response_mean"),
            metrics.distribution(scope, "first_response"),
        )

    alone = everything()
    with metrics.shared():
        assert everything() == alone
        assert everything() == alone  # and again, from what the block already read


def test_every_team_from_one_pass_equals_a_compute_of_each_team(week: Any) -> None:
    from kefu.accounts.models import Team
    from kefu.analytics import metrics
    from kefu.analytics.models import MetricTarget

    # A team of its own target (first response judged against 30 s, not the desk's 60 s),
    # and a team with nothing in the week.
    own = week.c[0].team
    MetricTarget.objects.create(name="first_response_mean", team=own, value=30.0)
    idle = Team.objects.create(name="会员服务")
    scope = metrics.Scope(START, END)
    team_ids = list(Team.objects.values_list("pk", flat=True))
    assert own.pk in team_ids and idle.pk in team_ids
    teams = metrics.compute_teams(scope, team_ids)
    for team_id in team_ids:
        assert teams[team_id] == metrics.compute(metrics.Scope(START, END, team_id=team_id)), team_id
    assert teams[own.pk]["first_response_mean"].target == 30.0
    # Judged against the desk's 60 s (a breakdown by team), the same team scores otherwise.
    by_team = dict((k, f) for k, _l, f in metrics.breakdown(scope, "first_response_within_target", "team"))
    assert by_team[str(own.pk)].value != teams[own.pk]["first_response_within_target"].value
    assert teams[idle.pk]["volume"].value == 0.0


@pytest.mark.parametrize("field", [None, "team_id", "channel_id", "agent_id"])
def test_both_periods_from_one_read_equal_a_compute_of_each(week: Any, field: str | None) -> None:
    from dataclasses import replace
    from datetime import timedelta

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from kefu.analytics import metrics

    whole = metrics.Scope(START, END)
    if field is not None:  # the filter of the busiest row of that dimension
        by = {v: k for k, v in FILTERS.items()}[field]
        key = max(metrics.breakdown(whole, "volume", by), key=lambda row: row[2].value or 0)[0]
        whole = replace(whole, **{field: int(key)})
    middle = START + (END - START) / 2
    previous, scope = replace(whole, end=middle), replace(whole, start=middle)
    with CaptureQueriesContext(connection) as together:
        both = metrics.compare_periods(scope, previous)
    assert both == (metrics.compute(scope), metrics.compute(previous))
    if field is None:
        assert both[0]["volume"].count and both[1]["volume"].count, (
            "both halves of the week have conversations"
        )
    # Two periods with a day between them (a "to date" comparison): the rows between are dropped.
    gap = replace(previous, end=middle - timedelta(days=1))
    with CaptureQueriesContext(connection) as apart_read:
        assert metrics.compare_periods(scope, gap) == (metrics.compute(scope), metrics.compute(gap))
    # Two periods that overlap: each read on its own.
    overlap = replace(previous, end=middle + timedelta(hours=12))
    with CaptureQueriesContext(connection) as apart:
        assert metrics.compare_periods(scope, overlap) == (metrics.compute(scope), metrics.compute(overlap))

    # The sums and counts of both periods came from reads grouped by period (one per source).
    def by_period(queries: list[dict[str, Any]]) -> int:
        return sum('THEN 0 ELSE NULL END AS "k"' in q["sql"] for q in queries)

    assert by_period(together.captured_queries) >= 3 and by_period(apart_read.captured_queries) >= 3
    assert by_period(apart.captured_queries) == 0
    # As a report reads them: inside its shared block over both periods.
    with metrics.shared(window=(previous.start, scope.end)):
        assert metrics.compare_periods(scope, previous) == both
    # A period before with no rows at all: its own query gives what an aggregate of nothing gives.
    empty = replace(whole, start=START - timedelta(days=7), end=START)
    assert metrics.compare_periods(whole, empty) == (metrics.compute(whole), metrics.compute(empty))
