"""This process's counters and gauges, rendered in the Prometheus text format.

Plain in-process numbers, no dependency: every kefu process (each ``kefu serve``, the
worker) counts its own, and ``GET /metrics`` on a process shows that process's
(Prometheus scrapes each process, as it does any multi-process server without shared
state). ``kefu.ops.views.metrics`` adds the database-wide gauges (queues, task
backlog) at scrape time.

Names follow Prometheus conventions: ``_total`` for counters, base units (seconds).
Labels are a small fixed set per metric (method, status class, socket kind); nothing
derived from user input becomes a label.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable

# Request durations, seconds: buckets around what a desk notices.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

Labels = tuple[tuple[str, str], ...]

_lock = threading.Lock()
_help: dict[str, tuple[str, str]] = {}  # name -> (type, help)
_values: dict[str, dict[Labels, float]] = {}
_histograms: dict[str, dict[Labels, list[float]]] = {}  # bucket counts, then sum, then count


def _declare(name: str, kind: str, text: str) -> None:
    _help.setdefault(name, (kind, text))


def _key(labels: dict[str, str] | None) -> Labels:
    return tuple(sorted((labels or {}).items()))


def count(name: str, text: str, labels: dict[str, str] | None = None, n: float = 1) -> None:
    """Add ``n`` to counter ``name`` (declared with ``text`` as its help on first use)."""
    with _lock:
        _declare(name, "counter", text)
        series = _values.setdefault(name, {})
        key = _key(labels)
        series[key] = series.get(key, 0) + n


def gauge_add(name: str, text: str, labels: dict[str, str] | None = None, n: float = 1) -> None:
    """Move gauge ``name`` by ``n`` (open sockets: +1 on connect, -1 on close)."""
    with _lock:
        _declare(name, "gauge", text)
        series = _values.setdefault(name, {})
        key = _key(labels)
        series[key] = series.get(key, 0) + n


def observe(name: str, text: str, value: float, labels: dict[str, str] | None = None) -> None:
    """Record ``value`` in histogram ``name`` (``DURATION_BUCKETS``)."""
    with _lock:
        _declare(name, "histogram", text)
        series = _histograms.setdefault(name, {})
        row = series.setdefault(_key(labels), [0.0] * (len(DURATION_BUCKETS) + 2))
        bucket = bisect.bisect_left(DURATION_BUCKETS, value)
        if bucket < len(DURATION_BUCKETS):  # above the last bound: only in +Inf (the count)
            row[bucket] += 1
        row[-2] += value
        row[-1] += 1


def _labels(key: Labels, extra: Iterable[tuple[str, str]] = ()) -> str:
    pairs = [*key, *extra]
    if not pairs:
        return ""
    escaped = (
        k + '="' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"' for k, v in pairs
    )
    return "{" + ",".join(escaped) + "}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def render(extra_gauges: Iterable[tuple[str, str, dict[str, str], float]] = ()) -> str:
    """The Prometheus text exposition (version 0.0.4) of this process, plus ``extra_gauges``.

    ``extra_gauges``: ``(name, help, labels, value)`` computed by the caller at scrape time.
    """
    lines: list[str] = []
    with _lock:
        for name in sorted(_values):
            kind, text = _help[name]
            lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
            lines += [f"{name}{_labels(k)} {_number(v)}" for k, v in sorted(_values[name].items())]
        for name in sorted(_histograms):
            _, text = _help[name]
            lines += [f"# HELP {name} {text}", f"# TYPE {name} histogram"]
            for key, row in sorted(_histograms[name].items()):
                running = 0.0
                for bound, n in zip(DURATION_BUCKETS, row, strict=False):
                    running += n
                    lines.append(f"{name}_bucket{_labels(key, [('le', repr(bound))])} {_number(running)}")
                lines.append(f"{name}_bucket{_labels(key, [('le', '+Inf')])} {_number(row[-1])}")
                lines.append(f"{name}_sum{_labels(key)} {_number(row[-2])}")
                lines.append(f"{name}_count{_labels(key)} {_number(row[-1])}")
    declared: set[str] = set()
    for name, text, labels, value in extra_gauges:
        if name not in declared:
            lines += [f"# HELP {name} {text}", f"# TYPE {name} gauge"]
            declared.add(name)
        lines.append(f"{name}{_labels(_key(labels))} {_number(value)}")
    return "\n".join(lines) + "\n"


def reset() -> None:
    """Forget every value (tests)."""
    with _lock:
        _values.clear()
        _histograms.clear()
