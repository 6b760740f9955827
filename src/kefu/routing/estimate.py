"""How long a waiting customer will wait, from recent handling times and the agents online.

Pure arithmetic over plain numbers (no database): :mod:`kefu.routing.availability`
gathers the numbers. The model, documented in docs/offhours.md:

* **Handle time** ``H``: the median of recent conversations' handling times (first agent
  reply → resolved) of the team, over ``WINDOW``; the desk's when the team has fewer
  than ``MIN_SAMPLES``, else ``DEFAULT_HANDLE_SECONDS``. The median, because one chat
  left open over lunch must not move everybody's estimate.
* **Capacity** ``C``: the chats the team's online agents may hold at once (the sum of
  their ``max_concurrent``); **free** ``F``: the places among those not taken.
* Every place turns over once per ``H`` on average, so places free up at ``C / H`` per
  second. A customer with ``ahead`` people before them is served at once when
  ``ahead < F``, else after ``ahead - F + 1`` places have freed:
  ``wait = (ahead - F + 1) × H / C``.
* Nobody online (``C == 0``): there is no estimate at all — not a number.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass

# Used until a team (or the desk) has handled enough conversations to measure.
DEFAULT_HANDLE_SECONDS = 240
# Fewer measured conversations than this and the figure is not trusted.
MIN_SAMPLES = 5
# A conversation "handled" in under 10 s or over 8 h is an accident (resolved by
# mistake, left open overnight), not a handling time.
MIN_HANDLE_SECONDS = 10
MAX_HANDLE_SECONDS = 8 * 3600


@dataclass(frozen=True, slots=True)
class HandleTime:
    seconds: int
    samples: int
    source: str  # "team", "desk" or "default"


def usable(samples: Iterable[float]) -> list[float]:
    """The handling times worth counting (see ``MIN_HANDLE_SECONDS``, ``MAX_HANDLE_SECONDS``)."""
    return [s for s in samples if MIN_HANDLE_SECONDS <= s <= MAX_HANDLE_SECONDS]


def handle_time(team_samples: Iterable[float], desk_samples: Iterable[float] = ()) -> HandleTime:
    """The median handling time of the team's samples, else the desk's, else the default."""
    team = usable(team_samples)
    if len(team) >= MIN_SAMPLES:
        return HandleTime(round(statistics.median(team)), len(team), "team")
    desk = usable(desk_samples)
    if len(desk) >= MIN_SAMPLES:
        return HandleTime(round(statistics.median(desk)), len(desk), "desk")
    return HandleTime(DEFAULT_HANDLE_SECONDS, 0, "default")


def wait_seconds(*, ahead: int, capacity: int, free: int, handle_seconds: int) -> int | None:
    """Seconds until a customer with ``ahead`` people before them is taken; None when nobody is online.

    0 means "now": a place is free for them. Never a number without someone online.
    """
    if capacity <= 0:
        return None
    ahead = max(0, ahead)
    free = max(0, free)
    if ahead < free:
        return 0
    return math.ceil((ahead - free + 1) * handle_seconds / capacity)


def wait_minutes(seconds: int) -> int:
    """What the customer is told: whole minutes, at least one (a wait of 0 is told as "now")."""
    return max(1, math.ceil(seconds / 60))
