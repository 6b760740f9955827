"""Small measuring helpers the benchmarks share (nearest-rank percentiles, a process's CPU time)."""

from __future__ import annotations

import os
from pathlib import Path


def pct(values: list[float], p: float) -> float:
    """The nearest-rank ``p``-th percentile of ``values`` (NaN when there are none)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds process ``pid`` has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
