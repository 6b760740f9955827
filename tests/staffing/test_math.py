"""The plain math: Erlang C against known values, the forecast, the roster builder."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

import pytest

from kefu.staffing.erlang import (
    ErlangError,
    Target,
    agents_needed,
    average_wait,
    erlang_c,
    offered_loads,
    service_level,
    staff_day,
)
from kefu.staffing.forecast import forecast_days
from kefu.staffing.rostering import AgentSpec, ShiftSpec, build


def _erlang_c_direct(a: float, n: int) -> float:
    """The textbook formula with factorials, for comparison."""
    top = a**n / math.factorial(n) * n / (n - a)
    return top / (sum(a**k / math.factorial(k) for k in range(n)) + top)


@pytest.mark.parametrize(
    ("servers", "wait_probability", "level"),
    # 10 Erlangs (100 chats in 30 min, AHT 180 s), target 20 s: the call-centre textbook example.
    [
        (11, 0.6821, 0.3896),
        (12, 0.4494, 0.6402),
        (13, 0.2853, 0.7956),
        (14, 0.1741, 0.8884),
        (15, 0.1020, 0.9415),
    ],
)
def test_erlang_c_known_values_for_10_erlangs(servers: int, wait_probability: float, level: float):
    assert erlang_c(10, servers) == pytest.approx(wait_probability, abs=5e-5)
    assert erlang_c(10, servers) == pytest.approx(_erlang_c_direct(10, servers), rel=1e-9)
    assert service_level(10, servers, 180, 20) == pytest.approx(level, abs=5e-5)


def test_80_in_20_for_10_erlangs_needs_14_agents():
    need = agents_needed(100, aht=180, interval_seconds=1800, target=Target(0.8, 20))
    assert (need.agents, need.scheduled) == (14, 14)
    assert need.service_level == pytest.approx(0.8884, abs=1e-4)
    assert need.average_wait == pytest.approx(7.84, abs=0.01)
    assert need.occupancy == pytest.approx(10 / 14)


def test_no_traffic_needs_nobody_and_overload_waits_forever():
    assert agents_needed(0, aht=300).agents == 0
    assert erlang_c(5, 5) == 1.0
    assert service_level(5, 4, 300, 20) == 0.0
    assert average_wait(5, 5, 300) == math.inf


def test_concurrency_makes_each_agent_several_servers_and_shrinkage_adds_on_top():
    # 100 chats of 540 s each at 3 at a time: 30 Erlangs on 3-slot agents.
    need = agents_needed(100, aht=540, concurrency=3, shrinkage=0.3)
    assert need.traffic == pytest.approx(30)
    assert need.agents == 12  # 36 slots reach 80 % in 20 s; 33 do not
    assert service_level(30, 33, 540, 20) < 0.8 <= service_level(30, 36, 540, 20)
    assert need.scheduled == math.ceil(12 / 0.7)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"aht": 0}, "aht"),
        ({"aht": 300, "concurrency": 0}, "concurrency"),
        ({"aht": 300, "shrinkage": 0.95}, "shrinkage"),
    ],
)
def test_bad_parameters_name_the_field(kwargs: dict, field: str):
    with pytest.raises(ErlangError) as caught:
        agents_needed(10, **kwargs)
    assert caught.value.field == field


def test_the_load_carried_from_a_busy_half_hour_raises_the_next_ones_need():
    busy_then_quiet = staff_day([900, 300], aht=360, concurrency=1)
    quiet_alone = staff_day([0, 300], aht=360, concurrency=1)
    assert busy_then_quiet[1].agents > quiet_alone[1].agents
    loads = offered_loads([900, 300], aht=360)
    assert loads[1][0] > 300 * 360 / 1800 > loads[1][-1]  # starts busy, slopes down toward quiet


def _history(weeks: int, per_week: dict[tuple[int, int], int], start: date) -> list[tuple[datetime, int]]:
    rows = []
    for w in range(weeks):
        for (weekday, slot), count in per_week.items():
            day = start + timedelta(days=7 * w + weekday)
            rows.append((datetime(day.year, day.month, day.day, slot // 2, 30 * (slot % 2)), count))
    return rows


def test_forecast_is_the_weekday_half_hour_mean_times_the_promotion():
    monday = date(2026, 10, 19)
    history = _history(4, {(0, 20): 3, (1, 28): 2}, monday)
    covered = [monday + timedelta(days=i) for i in range(28)]
    days = [date(2026, 11, 16), date(2026, 11, 17)]
    mon, tue = forecast_days(history, covered, days, multipliers={days[1]: ("双12预热", 3.0)})
    assert mon.slots[20] == pytest.approx(3.0) and mon.total == pytest.approx(3.0)
    assert tue.slots[28] == pytest.approx(6.0) and tue.special == "双12预热"


def test_a_steady_growth_is_projected_and_a_short_history_is_not():
    monday = date(2026, 9, 7)
    history = []
    for d in range(56):  # +1 % a day
        day = monday + timedelta(days=d)
        history.append((datetime(day.year, day.month, day.day, 10), round(100 * 1.01**d)))
    covered = [monday + timedelta(days=d) for d in range(56)]
    later = monday + timedelta(days=63)
    (grown,) = forecast_days(history, covered, [later])
    assert grown.slots[20] > 100 * 1.01**50
    (flat,) = forecast_days(history[-14:], covered[-14:], [later])
    assert flat.base_index == 1.0


SHIFTS = [
    ShiftSpec(1, "早班", 8 * 60, 16 * 60 + 30, 11 * 60, 13 * 60 + 30),
    ShiftSpec(2, "晚班", 15 * 60 + 30, 24 * 60, 18 * 60 + 30, 20 * 60 + 30),
]


def test_the_builder_covers_a_requirement_it_can():
    day = date(2026, 11, 16)
    req = [0] * 48
    for s in range(16, 33):
        req[s] = 2
    for s in range(31, 48):
        req[s] = max(req[s], 1)
    agents = [AgentSpec(i, f"客服{i}") for i in range(1, 6)]
    plan = build({day: req}, SHIFTS, agents)
    assert plan.short_slots == 0
    assert all(c >= r for c, r in zip(plan.coverage[day], req, strict=True))
    assert len(plan.assignments) == 3  # two early shifts, one late


def test_the_builder_reports_the_gap_and_keeps_max_hours_and_weekdays():
    days = [date(2026, 11, 16) + timedelta(days=i) for i in range(7)]
    req = {d: [3 if 16 <= s < 33 else 0 for s in range(48)] for d in days}
    agents = [
        AgentSpec(1, "王芳", max_minutes=17 * 60),  # two 8.5 h shifts a week at most
        AgentSpec(2, "李雷", weekdays=frozenset({0, 1, 2})),
        AgentSpec(3, "陈静", max_minutes=40 * 60),
    ]
    plan = build(req, SHIFTS, agents)
    assert plan.minutes[1] <= 17 * 60
    assert {a.day.weekday() for a in plan.assignments if a.agent_id == 2} <= {0, 1, 2}
    assert plan.short_slots > 0
    assert max(g for d in days for g in plan.gap[d]) >= 1
    per_day = {(a.agent_id, a.day) for a in plan.assignments}
    assert len(per_day) == len(plan.assignments)  # one shift a day each
