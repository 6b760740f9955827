"""Erlang C, plain: the probability of waiting, the service level and the agents a half hour needs.

No database, no Django. Traffic ``a`` is in Erlangs (arrivals per second × handle time in
seconds); ``n`` is the number of servers. Chat concurrency (docs/staffing.md): an agent who
holds up to ``c`` chats at once is ``c`` servers, each busy for the handle time of one chat as
measured at that concurrency (kefu's AHT is that time). So a half hour with ``n`` agents is an
M/M/(n·c) queue, and the agents it needs are the fewest ``n`` whose ``n·c`` servers reach the
service level. Shrinkage (breaks, training, meetings off the desk) is added on top.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# Above this many servers the answer is "more than any desk has": a guard against bad input.
MAX_SERVERS = 20_000


class ErlangError(ValueError):
    """Bad input; ``field`` names the parameter, the message is Chinese."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def erlang_b(a: float, n: int) -> float:
    """Blocking probability of ``n`` servers offered ``a`` Erlangs (the stable recursion)."""
    if a < 0:
        raise ErlangError("traffic", "话务量不能为负")
    if n < 0:
        raise ErlangError("servers", "坐席数不能为负")
    b = 1.0
    for k in range(1, n + 1):
        b = a * b / (k + a * b)
    return b


def erlang_c(a: float, n: int) -> float:
    """Probability that an arrival waits (Erlang C); 1.0 when ``n <= a`` (the queue grows without end)."""
    if a <= 0:
        return 0.0
    if n <= a:
        return 1.0
    b = erlang_b(a, n)
    return n * b / (n - a * (1 - b))


def service_level(a: float, n: int, aht: float, answer_seconds: float) -> float:
    """Share of arrivals answered within ``answer_seconds`` with ``n`` servers (M/M/n, FCFS)."""
    if a <= 0:
        return 1.0
    if n <= a:
        return 0.0
    return 1.0 - erlang_c(a, n) * math.exp(-(n - a) * answer_seconds / aht)


def average_wait(a: float, n: int, aht: float) -> float:
    """Mean wait in seconds over all arrivals (ASA); infinity when ``n <= a``."""
    if a <= 0:
        return 0.0
    if n <= a:
        return math.inf
    return erlang_c(a, n) * aht / (n - a)


@dataclass(frozen=True)
class Target:
    """A service-level target: ``level`` of arrivals answered within ``answer_seconds``."""

    level: float = 0.8
    answer_seconds: float = 20.0
    # Occupancy ceiling per server (None: none). Large desks reach the service level at
    # occupancies no one keeps up for long; 0.85–0.9 is a common ceiling.
    max_occupancy: float | None = None

    def check(self) -> None:
        if not 0 < self.level < 1:
            raise ErlangError("level", "服务水平目标应在 0 到 1 之间（不含）")
        if not 0 <= self.answer_seconds <= 3600:
            raise ErlangError("answer_seconds", "应答时限应在 0 到 3600 秒之间")
        if self.max_occupancy is not None and not 0 < self.max_occupancy <= 1:
            raise ErlangError("max_occupancy", "最高占用率应在 0 到 1 之间")


@dataclass(frozen=True)
class Need:
    """What one interval needs: agents on the desk, agents scheduled, and what Erlang C predicts."""

    contacts: float
    traffic: float  # Erlangs
    agents: int  # on the desk (serving)
    scheduled: int  # with shrinkage
    service_level: float  # predicted with ``agents``
    wait_probability: float
    average_wait: float  # seconds (inf when there is no agent)
    occupancy: float  # per server

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "contacts": round(self.contacts, 2),
            "traffic": round(self.traffic, 3),
            "agents": self.agents,
            "scheduled": self.scheduled,
            "service_level": round(self.service_level, 4),
            "wait_probability": round(self.wait_probability, 4),
            "average_wait": None if math.isinf(self.average_wait) else round(self.average_wait, 1),
            "occupancy": round(self.occupancy, 4),
        }


def servers_needed(a: float, aht: float, target: Target) -> int:
    """The fewest servers that reach the target's service level (and occupancy ceiling)."""
    target.check()
    if a <= 0:
        return 0
    n = max(1, math.floor(a) + 1)
    if target.max_occupancy is not None:
        n = max(n, math.ceil(a / target.max_occupancy - 1e-9))
    while service_level(a, n, aht, target.answer_seconds) < target.level:
        n += 1
        if n > MAX_SERVERS:
            raise ErlangError("contacts", f"所需坐席超过 {MAX_SERVERS}，请检查预测量与处理时长")
    return n


def check_inputs(
    *, contacts: float, aht: float, interval_seconds: float, concurrency: int, shrinkage: float
) -> None:
    if not math.isfinite(contacts) or contacts < 0:
        raise ErlangError("contacts", "接入量不能为负")
    if not math.isfinite(aht) or not 1 <= aht <= 86_400:
        raise ErlangError("aht", "平均处理时长应在 1 秒到 24 小时之间")
    if not 60 <= interval_seconds <= 86_400:
        raise ErlangError("interval_seconds", "时段长度应在 60 秒到 24 小时之间")
    if not 1 <= concurrency <= 20:
        raise ErlangError("concurrency", "同时接待数应在 1 到 20 之间")
    if not 0 <= shrinkage < 0.9:
        raise ErlangError("shrinkage", "损耗率应在 0 到 0.9 之间")


def agents_needed(
    contacts: float,
    *,
    aht: float,
    interval_seconds: float = 1800,
    target: Target | None = None,
    concurrency: int = 1,
    shrinkage: float = 0.0,
) -> Need:
    """Agents one interval needs for ``contacts`` arrivals with handle time ``aht`` seconds.

    Each agent is ``concurrency`` servers (module docstring); ``scheduled`` divides the agents
    on the desk by ``1 - shrinkage`` (the share of paid time spent off the desk).
    """
    target = target or Target()
    check_inputs(
        contacts=contacts,
        aht=aht,
        interval_seconds=interval_seconds,
        concurrency=concurrency,
        shrinkage=shrinkage,
    )
    a = contacts * aht / interval_seconds
    servers = servers_needed(a, aht, target)
    agents = math.ceil(servers / concurrency)
    n = agents * concurrency
    scheduled = math.ceil(agents / (1 - shrinkage) - 1e-9) if agents else 0
    return Need(
        contacts=contacts,
        traffic=a,
        agents=agents,
        scheduled=scheduled,
        service_level=service_level(a, n, aht, target.answer_seconds) if n else (1.0 if a <= 0 else 0.0),
        wait_probability=erlang_c(a, n) if n else (0.0 if a <= 0 else 1.0),
        average_wait=average_wait(a, n, aht) if n else (0.0 if a <= 0 else math.inf),
        occupancy=a / n if n else 0.0,
    )


def predicted_service_level(
    contacts: float,
    agents: int,
    *,
    aht: float,
    interval_seconds: float = 1800,
    answer_seconds: float = 20,
    concurrency: int = 1,
) -> float:
    """Erlang C's service level for ``agents`` agents of ``concurrency`` chats each."""
    a = contacts * aht / interval_seconds
    return service_level(a, agents * concurrency, aht, answer_seconds)


# --- a day: the load carried from one half hour into the next ----------------------------

# Parts of each interval over which the offered load is followed.
STEPS = 6


def part_rates(contacts: Sequence[float], steps: int = STEPS) -> list[list[float]]:
    """Contacts in each of ``steps`` parts of each interval: the interval's total, sloped toward its
    neighbours (the central difference), as traffic climbs or falls inside a half hour.

    The slope keeps the interval's total; an interval next to a closed one (no contacts) is flat
    on that side, as opening and closing are steps.
    """
    out = []
    for i, c in enumerate(contacts):
        before = contacts[i - 1] if i > 0 and contacts[i - 1] > 0 else c
        after = contacts[i + 1] if i + 1 < len(contacts) and contacts[i + 1] > 0 else c
        slope = (after - before) / 2  # change per interval
        parts = [max(0.0, c + slope * ((k + 0.5) / steps - 0.5)) for k in range(steps)]
        total = sum(parts)
        out.append([p * c / total if total else 0.0 for p in parts])
    return out


def offered_loads(
    contacts: Sequence[float], *, aht: float, interval_seconds: float = 1800, steps: int = STEPS
) -> list[list[float]]:
    """The modified offered load: busy servers an unlimited desk would have, as the mean over each
    of ``steps`` parts of each interval (arrivals as ``part_rates``).

    Chats last an exponential time of mean ``aht``, so the load follows ``m' = λ − m / aht``:
    after a busy half hour the next one starts with the chats still open, and a climbing half
    hour ends busier than its mean (docs/staffing.md: why plain per-interval Erlang C falls short).
    """
    m = 0.0
    dt = interval_seconds / steps
    decay = math.exp(-dt / aht)
    spread = aht / dt * (1 - decay)  # mean of e^{-u/aht} over [0, dt]
    out = []
    for parts_in in part_rates(contacts, steps):
        loads = []
        for c in parts_in:
            level = c / dt * aht
            loads.append(level + (m - level) * spread)
            m = level + (m - level) * decay
        out.append(loads)
    return out


class _BlockingTable:
    """Erlang B of one traffic for n = 0, 1, 2 … grown as asked: a search over n costs O(n) in all."""

    def __init__(self, a: float):
        self.a = a
        self.b = [1.0]

    def _grow(self, n: int) -> None:
        b, a = self.b, self.a
        prev = b[-1]
        for k in range(len(b), n + 1):
            prev = a * prev / (k + a * prev)
            b.append(prev)

    def wait_probability(self, n: int) -> float:
        a = self.a
        if a <= 0:
            return 0.0
        if n <= a:
            return 1.0
        if len(self.b) <= n:
            self._grow(n)
        b = self.b[n]
        return n * b / (n - a * (1 - b))

    def service_level(self, n: int, aht: float, answer_seconds: float) -> float:
        a = self.a
        if a <= 0:
            return 1.0
        if n <= a:
            return 0.0
        return 1.0 - self.wait_probability(n) * math.exp(-(n - a) * answer_seconds / aht)

    def average_wait(self, n: int, aht: float) -> float:
        a = self.a
        if a <= 0:
            return 0.0
        if n <= a:
            return math.inf
        return self.wait_probability(n) * aht / (n - a)


def _fewest(level: Callable[[int], float], low: int, goal: float) -> int:
    """The least ``n >= low`` with ``level(n) >= goal``, for ``level`` increasing in ``n``: gallop, then bisect."""
    if level(low) >= goal:
        return low
    step, high = 1, low + 1
    while level(high) < goal:
        low, step = high, step * 2
        high = low + step
        if high > MAX_SERVERS:
            if level(MAX_SERVERS) < goal:
                raise ErlangError("contacts", f"所需坐席超过 {MAX_SERVERS}，请检查预测量与处理时长")
            high = MAX_SERVERS
            break
    while high - low > 1:  # level(low) < goal <= level(high)
        mid = (low + high) // 2
        if level(mid) >= goal:
            high = mid
        else:
            low = mid
    return high


def servers_for_parts(parts: Sequence[float], weights: Sequence[float], aht: float, target: Target) -> int:
    """The fewest servers whose service level, averaged over the parts (weighted by their arrivals),
    reaches the target."""
    return _servers_for_parts(parts, weights, aht, target, [_BlockingTable(a) for a in parts])


def _servers_for_parts(
    parts: Sequence[float], weights: Sequence[float], aht: float, target: Target, tables: list[_BlockingTable]
) -> int:
    target.check()
    total = sum(weights)
    if not parts or total <= 0:
        return 0

    def level(n: int) -> float:
        return (
            sum(
                w * t.service_level(n, aht, target.answer_seconds)
                for t, w in zip(tables, weights, strict=True)
            )
            / total
        )

    low = max(1, math.floor(min(parts)) + 1)  # at or below the lightest part's load nobody is answered
    if target.max_occupancy is not None:
        low = max(low, math.ceil(max(parts) / target.max_occupancy - 1e-9))
    return _fewest(level, low, target.level)


def staff_day(
    contacts: Sequence[float],
    *,
    aht: float,
    interval_seconds: float = 1800,
    target: Target | None = None,
    concurrency: int = 1,
    shrinkage: float = 0.0,
) -> list[Need]:
    """What each interval of a day (or any run of consecutive intervals) needs.

    Like ``agents_needed`` for each interval, with the load each inherits from the one before
    (``offered_loads``); an interval with no contacts needs no one.
    """
    target = target or Target()
    for c in contacts:
        check_inputs(
            contacts=c,
            aht=aht,
            interval_seconds=interval_seconds,
            concurrency=concurrency,
            shrinkage=shrinkage,
        )
    loads = offered_loads(contacts, aht=aht, interval_seconds=interval_seconds)
    rates = part_rates(contacts)
    out = []
    for c, parts, weights in zip(contacts, loads, rates, strict=True):
        a = c * aht / interval_seconds
        tables = [_BlockingTable(p) for p in parts]
        servers = _servers_for_parts(parts, weights, aht, target, tables) if c > 0 else 0
        agents = math.ceil(servers / concurrency)
        n = agents * concurrency
        share = [w / c for w in weights] if c > 0 else [1 / len(parts)] * len(parts)
        out.append(
            Need(
                contacts=c,
                traffic=a,
                agents=agents,
                scheduled=math.ceil(agents / (1 - shrinkage) - 1e-9) if agents else 0,
                service_level=(
                    sum(
                        w * t.service_level(n, aht, target.answer_seconds)
                        for t, w in zip(tables, share, strict=True)
                    )
                    if n
                    else 1.0
                ),
                wait_probability=sum(w * t.wait_probability(n) for t, w in zip(tables, share, strict=True))
                if n
                else 0.0,
                average_wait=sum(w * t.average_wait(n, aht) for t, w in zip(tables, share, strict=True))
                if n
                else 0.0,
                occupancy=min(1.0, sum(parts) / len(parts) / n) if n else 0.0,
            )
        )
    return out
