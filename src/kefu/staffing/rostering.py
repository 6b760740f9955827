"""The roster builder, plain: shifts for agents so that every half hour has the agents it needs.

No database, no Django. A greedy set cover (docs/staffing.md): while some half hour is short,
take the (day, shift) whose half hours cover the most shortage per half hour worked (ties: the
one covering more), and give it to the eligible agent with the fewest hours so far — eligible
meaning available that weekday and date, not yet on a shift that day, and within their weekly
maximum. Stop when nothing short can be covered any more; what is left is the gap. Then drop,
longest first, every shift the others made redundant; finally a local search, day by day,
changes one shift to another type when that lets other shifts be dropped and the hours fall
(the greedy choice is made before the later shifts overlap it).

An agent counts on the desk for every half hour of their shift: breaks are inside the
shrinkage the requirement already carries, and each shift names the window its break is
taken in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

SLOT_MINUTES = 30
SLOTS = 24 * 60 // SLOT_MINUTES


@dataclass(frozen=True)
class ShiftSpec:
    """A shift type: minutes after local midnight, ``0 <= start < end <= 1440``, on slot bounds."""

    id: int
    name: str
    start: int
    end: int
    break_start: int | None = None
    break_end: int | None = None

    @property
    def minutes(self) -> int:
        return self.end - self.start

    @property
    def slots(self) -> range:
        return range(self.start // SLOT_MINUTES, -(-self.end // SLOT_MINUTES))


@dataclass(frozen=True)
class AgentSpec:
    id: int
    name: str
    max_minutes: int = 40 * 60
    weekdays: frozenset[int] = frozenset(range(7))  # Mon=0
    unavailable: frozenset[date] = frozenset()
    shift_ids: frozenset[int] | None = None  # None: any shift


@dataclass(frozen=True)
class Assignment:
    agent_id: int
    day: date
    shift: ShiftSpec


@dataclass
class Plan:
    assignments: list[Assignment]
    coverage: dict[date, list[int]]
    gap: dict[date, list[int]]  # required − covered: > 0 short, < 0 over
    minutes: dict[int, int] = field(default_factory=dict)  # per agent

    @property
    def short_slots(self) -> int:
        return sum(max(0, g) for day in self.gap.values() for g in day)

    @property
    def agent_hours(self) -> float:
        return sum(self.minutes.values()) / 60


def coverage_of(assignments: Iterable[Assignment], days: Iterable[date]) -> dict[date, list[int]]:
    cov = {d: [0] * SLOTS for d in days}
    for a in assignments:
        row = cov.get(a.day)
        if row is None:
            continue
        for s in a.shift.slots:
            row[s] += 1
    return cov


def build(
    requirement: Mapping[date, Sequence[int]],
    shifts: Sequence[ShiftSpec],
    agents: Sequence[AgentSpec],
    *,
    fixed: Iterable[Assignment] = (),
) -> Plan:
    """Cover ``requirement`` (agents per half hour for each date) with ``shifts`` worked by ``agents``.

    ``fixed`` assignments (kept from an edited roster) count first.
    """
    days = sorted(requirement)
    fixed = list(fixed)
    assignments = list(fixed)
    minutes: dict[int, int] = {a.id: 0 for a in agents}
    busy: set[tuple[int, date]] = set()
    for a in assignments:
        minutes[a.agent_id] = minutes.get(a.agent_id, 0) + a.shift.minutes
        busy.add((a.agent_id, a.day))
    cov = coverage_of(assignments, days)
    short = {d: [max(0, int(requirement[d][s]) - cov[d][s]) for s in range(SLOTS)] for d in days}
    blocked: set[tuple[date, int]] = set()  # (day, shift) nobody can take any more

    def gain(day: date, shift: ShiftSpec) -> int:
        row = short[day]
        return sum(1 for s in shift.slots if row[s] > 0)

    while True:
        best: tuple[float, int, date, ShiftSpec] | None = None
        for d in days:
            for sh in shifts:
                if (d, sh.id) in blocked or not sh.minutes:
                    continue
                g = gain(d, sh)
                if g == 0:
                    continue
                key = (g / len(sh.slots), g, d, sh)
                if best is None or key[:2] > best[:2]:
                    best = key
        if best is None:
            break
        _, _, day, shift = best
        who = _pick_agent(agents, day, shift, minutes, busy)
        if who is None:
            blocked.add((day, shift.id))
            continue
        assignments.append(Assignment(agent_id=who.id, day=day, shift=shift))
        minutes[who.id] += shift.minutes
        busy.add((who.id, day))
        for s in shift.slots:
            cov[day][s] += 1
            if short[day][s] > 0:
                short[day][s] -= 1
    _prune(assignments, len(fixed), requirement, cov, minutes)
    _improve(assignments, len(fixed), requirement, cov, minutes, shifts, agents)
    gap = {d: [int(requirement[d][s]) - cov[d][s] for s in range(SLOTS)] for d in days}
    assignments.sort(key=lambda a: (a.day, a.shift.start, a.agent_id))
    return Plan(assignments=assignments, coverage=cov, gap=gap, minutes=minutes)


def _prune(
    assignments: list[Assignment],
    kept: int,
    requirement: Mapping[date, Sequence[int]],
    cov: dict[date, list[int]],
    minutes: dict[int, int],
) -> None:
    """Drop shifts the others made redundant (every half hour still covered without them),
    longest first; the first ``kept`` (fixed) assignments stay."""
    order = sorted(range(kept, len(assignments)), key=lambda i: -assignments[i].shift.minutes)
    dropped = set()
    for i in order:
        a = assignments[i]
        row, need = cov[a.day], requirement[a.day]
        if all(row[s] - 1 >= int(need[s]) for s in a.shift.slots):
            for s in a.shift.slots:
                row[s] -= 1
            minutes[a.agent_id] -= a.shift.minutes
            dropped.add(i)
    assignments[:] = [a for i, a in enumerate(assignments) if i not in dropped]


_Move = tuple[int, int, ShiftSpec, list[int], list[int]]  # saving, index, new shift, dropped, coverage


def _improve(
    assignments: list[Assignment],
    kept: int,
    requirement: Mapping[date, Sequence[int]],
    cov: dict[date, list[int]],
    minutes: dict[int, int],
    shifts: Sequence[ShiftSpec],
    agents: Sequence[AgentSpec],
) -> bool:
    """Local search after the greedy cover, day by day: change one shift to another shift type
    (same agent, same day, within her maximum) when that lets other shifts of the day be
    dropped and the day's hours fall, no half hour becoming short; take the move that saves
    the most and repeat until none saves anything. The greedy choice is the best value *when*
    it is made; later shifts overlap it. The first ``kept`` (fixed) assignments stay.
    Returns whether anything changed."""
    changed = False
    for day in sorted(cov):
        need = [int(n) for n in requirement[day]]
        while True:
            mine = sorted(
                (i for i in range(kept, len(assignments)) if assignments[i].day == day),
                key=lambda i: (-assignments[i].shift.minutes, i),
            )
            best = _best_move(assignments, mine, need, cov[day], minutes, shifts, agents)
            if best is None:
                break
            _saving, i, sh, dropped, row = best
            a = assignments[i]
            minutes[a.agent_id] += sh.minutes - a.shift.minutes
            assignments[i] = Assignment(agent_id=a.agent_id, day=day, shift=sh)
            for j in dropped:
                minutes[assignments[j].agent_id] -= assignments[j].shift.minutes
            gone = set(dropped)
            assignments[:] = [x for k, x in enumerate(assignments) if k not in gone]
            cov[day] = row
            changed = True
    return changed


def _best_move(
    assignments: list[Assignment],
    mine: list[int],
    need: list[int],
    covered: list[int],
    minutes: Mapping[int, int],
    shifts: Sequence[ShiftSpec],
    agents: Sequence[AgentSpec],
) -> _Move | None:
    """The change of one of the day's shifts (``mine``, longest first) that saves the most minutes."""
    allowed = {a.id: a.shift_ids for a in agents}
    most = {a.id: a.max_minutes for a in agents}
    best: _Move | None = None
    for i in mine:
        a = assignments[i]
        only = allowed.get(a.agent_id)
        for sh in shifts:
            if sh.id == a.shift.id or not sh.minutes or (only is not None and sh.id not in only):
                continue
            if minutes.get(a.agent_id, 0) - a.shift.minutes + sh.minutes > most.get(a.agent_id, 0):
                continue
            row = covered[:]
            for s in a.shift.slots:
                row[s] -= 1
            for s in sh.slots:
                row[s] += 1
            if any(row[s] < min(need[s], covered[s]) for s in a.shift.slots):
                continue  # a half hour would become (more) short
            saving = a.shift.minutes - sh.minutes
            dropped = []
            for j in mine:
                other = assignments[j]
                if j != i and all(row[s] - 1 >= need[s] for s in other.shift.slots):
                    for s in other.shift.slots:
                        row[s] -= 1
                    saving += other.shift.minutes
                    dropped.append(j)
            if saving > 0 and (best is None or saving > best[0]):
                best = (saving, i, sh, dropped, row)
    return best


def _pick_agent(
    agents: Sequence[AgentSpec],
    day: date,
    shift: ShiftSpec,
    minutes: Mapping[int, int],
    busy: set[tuple[int, date]],
) -> AgentSpec | None:
    """The eligible agent with the fewest minutes so far (then the lowest id: stable)."""
    best: AgentSpec | None = None
    for agent in agents:
        if (agent.id, day) in busy or day.weekday() not in agent.weekdays or day in agent.unavailable:
            continue
        if agent.shift_ids is not None and shift.id not in agent.shift_ids:
            continue
        if minutes.get(agent.id, 0) + shift.minutes > agent.max_minutes:
            continue
        if best is None or (minutes.get(agent.id, 0), agent.id) < (minutes.get(best.id, 0), best.id):
            best = agent
    return best
