"""The reducers behind means, medians and percentiles, and the stretch arithmetic of presence,
give what the plain definitions give (``statistics``, a filter by ``math.isfinite``, max / min
per stretch), whatever the values: unanswered waits (``inf``), a stray NaN or ``-inf``, sums that
overflow, empty lists. Their fast paths must never change a figure."""

from __future__ import annotations

import bisect
import math
import random
import statistics

import pytest

from kefu.analytics import metrics


def _plain_mean(values: list[float]) -> tuple[float | None, int]:
    values = [v for v in values if math.isfinite(v)]
    return (statistics.fmean(values) if values else None, len(values))


def _plain_median(values: list[float]) -> tuple[float | None, int]:
    values = [v for v in values if math.isfinite(v)]
    return (float(statistics.median(values)) if values else None, len(values))


def _plain_p90(values: list[float]) -> tuple[float | None, int]:
    values = sorted(v for v in values if math.isfinite(v))
    if not values:
        return None, 0
    return values[max(0, math.ceil(0.9 * len(values)) - 1)], len(values)


def _outcome(reduce: object, values: list[float]) -> str:
    try:
        return repr(reduce(list(values)))  # type: ignore[operator]
    except (OverflowError, ValueError) as error:
        return type(error).__name__


def _waits(rng: random.Random) -> list[float]:
    pool = [0.1, 15.0, 59.999, 3600.0, 1e308, math.inf]
    values = [
        rng.choice([*pool, rng.random() * 900, rng.expovariate(0.01)]) for _ in range(rng.randint(0, 40))
    ]
    if rng.random() < 0.1:
        values.insert(rng.randint(0, len(values)), math.nan)
    if rng.random() < 0.05:
        values.insert(rng.randint(0, len(values)), -math.inf)
    return values


EDGES = [
    [],
    [math.inf],
    [42.0],
    [math.nan],
    [1.0, math.nan, 3.0],
    [-math.inf, 2.0],
    [math.inf, -math.inf, 5.0],
    [1e308, 1e308, 3.0],
    [math.inf, 1e308, 1e308],
    [math.inf, math.nan, 7.5],
    [30.0, 12.5, math.inf, 45.25, math.inf],
]


@pytest.mark.parametrize(
    ("fast", "plain"),
    [(metrics._mean, _plain_mean), (metrics._median, _plain_median), (metrics._p90, _plain_p90)],
    ids=["mean", "median", "p90"],
)
def test_reducers_give_the_plain_definitions_figure_for_any_values(fast: object, plain: object) -> None:
    rng = random.Random(2026)
    for values in [*EDGES, *(_waits(rng) for _ in range(3000))]:
        assert _outcome(fast, values) == _outcome(plain, values), values


def _stretches(rng: random.Random) -> list[tuple[int, int]]:
    out, t = [], rng.randint(0, 100)
    for _ in range(rng.randint(0, 10)):
        start = t + rng.randint(0, 50)
        t = start + rng.randint(1, 80)
        out.append((start, t))
    return out


def test_overlap_of_stretches_is_the_sum_of_pairwise_overlaps() -> None:
    rng = random.Random(11)
    for _ in range(3000):
        a, b = _stretches(rng), _stretches(rng)
        plain = 0.0
        i = j = 0
        while i < len(a) and j < len(b):
            s, e = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
            if e > s:
                plain += (e - s) / 1_000_000
            if a[i][1] < b[j][1]:
                i += 1
            else:
                j += 1
        assert metrics._overlap_us(a, b) == plain


def test_clipping_stretches_cuts_only_at_the_spans_edges() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        mine = _stretches(rng)
        store = metrics._SpanStore(None, None)  # type: ignore[arg-type]
        store.add({1: mine})
        start = rng.randint(0, 400)
        end = start + rng.randint(0, 400)
        i = bisect.bisect_right([e for _s, e in mine], start)
        j = bisect.bisect_left([s for s, _e in mine], end)
        assert store.clip(1, start, end) == [(max(s, start), min(e, end)) for s, e in mine[i:j]]
        assert store.clip(1, start, end) == store.clip(1, start, end)  # the stored stretches untouched
