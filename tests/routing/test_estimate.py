"""The queue estimate's arithmetic (``kefu.routing.estimate``), on realistic handling times."""

from __future__ import annotations

import pytest

from kefu.routing import estimate
from kefu.routing.estimate import handle_time, wait_minutes, wait_seconds

# A week of an after-sales team's chats, first reply → resolved, in seconds: most take
# 4–10 minutes; one was resolved by mistake 3 s in, one sat open over lunch (1 h 50 min),
# one overnight (9 h).
AFTER_SALES = [
    312, 455, 280, 610, 198, 402, 365, 540, 720, 288,
    3, 6600, 32400, 505, 431, 377, 260, 615, 344, 480,
]  # fmt: skip
# A pre-sales team answering size and stock questions: quick.
PRE_SALES = [95, 140, 120, 180, 75, 160, 110, 130]


def test_handle_time_is_the_median_of_the_teams_recent_chats_without_accidents() -> None:
    measured = handle_time(AFTER_SALES, AFTER_SALES + PRE_SALES)

    usable = sorted(s for s in AFTER_SALES if 10 <= s <= 8 * 3600)
    assert measured.source == "team" and measured.samples == len(usable) == 18
    assert measured.seconds == round((usable[8] + usable[9]) / 2) == 416
    # The lunch break moves a mean by minutes; the median does not care.
    assert sum(usable) / len(usable) > 750


def test_a_team_with_too_little_history_borrows_the_desks_median() -> None:
    measured = handle_time([300, 420], AFTER_SALES + PRE_SALES)
    assert measured.source == "desk"
    assert 150 < measured.seconds < 416


def test_without_history_the_default_is_used_and_said() -> None:
    measured = handle_time([], [3, 5, 40000])
    assert (measured.seconds, measured.samples, measured.source) == (
        estimate.DEFAULT_HANDLE_SECONDS,
        0,
        "default",
    )


def test_nobody_online_gives_no_estimate_at_all() -> None:
    assert wait_seconds(ahead=0, capacity=0, free=0, handle_seconds=423) is None
    assert wait_seconds(ahead=5, capacity=0, free=0, handle_seconds=423) is None


def test_a_free_place_means_now_never_minutes() -> None:
    # 「客服马上为您服务，预计等待约 4 分钟」 must not happen: a free place is 0 s.
    assert wait_seconds(ahead=0, capacity=5, free=1, handle_seconds=423) == 0
    assert wait_seconds(ahead=2, capacity=10, free=3, handle_seconds=423) == 0


def test_full_desk_waits_for_places_to_turn_over() -> None:
    # Two agents with 5 chats each, all taken; a chat takes 423 s: a place frees every 42.3 s.
    assert wait_seconds(ahead=0, capacity=10, free=0, handle_seconds=423) == 43
    assert wait_seconds(ahead=9, capacity=10, free=0, handle_seconds=423) == 423
    # Two places free and four ahead: the first two go now, then three more must free.
    assert wait_seconds(ahead=4, capacity=10, free=2, handle_seconds=423) == 127


@pytest.mark.parametrize("capacity", [1, 3, 10, 40])
def test_the_wait_grows_with_the_queue_and_shrinks_with_capacity(capacity: int) -> None:
    waits = [wait_seconds(ahead=a, capacity=capacity, free=0, handle_seconds=300) for a in range(30)]
    assert all(isinstance(w, int) and w > 0 for w in waits)
    assert waits == sorted(waits)
    more = [wait_seconds(ahead=a, capacity=capacity + 2, free=0, handle_seconds=300) for a in range(30)]
    assert all(m <= w for m, w in zip(more, waits, strict=True))  # type: ignore[operator]


def test_minutes_are_whole_and_at_least_one() -> None:
    assert [wait_minutes(s) for s in (1, 43, 60, 61, 423, 960)] == [1, 1, 1, 2, 8, 16]
