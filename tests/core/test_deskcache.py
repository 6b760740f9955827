"""The desk cache: a value kept until an event reaches one of the groups it depends on."""

from __future__ import annotations

from typing import Any

import pytest

from kefu.core import deskcache


def _counter() -> Any:
    calls = []

    def compute() -> dict[str, int]:
        calls.append(1)
        return {"queued": len(calls)}

    compute.calls = calls  # type: ignore[attr-defined]
    return compute


def test_a_value_is_computed_once_while_its_groups_hear_nothing() -> None:
    compute = _counter()
    groups = ["desk.user.7", "desk.team.3"]
    assert deskcache.cached("counts:7", groups, compute) == {"queued": 1}
    assert deskcache.cached("counts:7", groups, compute) == {"queued": 1}
    assert len(compute.calls) == 1


def test_an_event_to_any_of_its_groups_makes_it_computed_again_and_others_stay() -> None:
    compute, other = _counter(), _counter()
    deskcache.cached("counts:7", ["desk.user.7", "desk.team.3"], compute)
    deskcache.cached("counts:8", ["desk.user.8", "desk.team.4"], other)
    deskcache.mark_changed(["desk.team.3"])
    assert deskcache.cached("counts:7", ["desk.user.7", "desk.team.3"], compute) == {"queued": 2}
    assert deskcache.cached("counts:8", ["desk.user.8", "desk.team.4"], other) == {"queued": 1}


def test_a_changed_stamp_is_a_miss() -> None:
    compute = _counter()
    deskcache.cached("counts:7", ["desk.user.7"], compute, stamp=("agent", (3,)))
    assert deskcache.cached("counts:7", ["desk.user.7"], compute, stamp=("agent", (3, 4))) == {"queued": 2}


def test_a_cache_that_is_away_computes_every_time(monkeypatch: pytest.MonkeyPatch) -> None:
    def down(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("redis away")

    monkeypatch.setattr(deskcache.cache, "get_many", down)
    monkeypatch.setattr(deskcache.cache, "incr_many", down, raising=False)
    compute = _counter()
    deskcache.mark_changed(["desk.user.7"])  # never raises
    assert deskcache.cached("counts:7", ["desk.user.7"], compute) == {"queued": 1}
    assert deskcache.cached("counts:7", ["desk.user.7"], compute) == {"queued": 2}


@pytest.mark.django_db
def test_publish_marks_the_groups_that_hear_the_event_in_full(
    django_capture_on_commit_callbacks: Any,
) -> None:
    from kefu.core.events import publish

    team, user, watcher = _counter(), _counter(), _counter()
    deskcache.cached("t", ["desk.team.3"], team)
    deskcache.cached("u", ["desk.user.9"], user)
    deskcache.cached("w", ["desk.user.5"], watcher)
    with django_capture_on_commit_callbacks(execute=True):
        # Chatter: the team hears only an activity frame, the assignee the message.
        publish("message.created", {"message": {}}, team_id=3, user_ids=[9], conversation_id=1, chatter=True)
    assert deskcache.cached("t", ["desk.team.3"], team) == {"queued": 1}
    assert deskcache.cached("u", ["desk.user.9"], user) == {"queued": 2}
    with django_capture_on_commit_callbacks(execute=True):
        publish("conversation.created", {}, team_id=3, webhook=False)
    assert deskcache.cached("t", ["desk.team.3"], team) == {"queued": 2}
    assert deskcache.cached("w", ["desk.user.5"], watcher) == {"queued": 1}


def test_while_redis_is_known_down_the_cache_is_not_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    from kefu.core import realtime

    asked: list[str] = []
    monkeypatch.setattr(realtime, "should_send", lambda: False)
    monkeypatch.setattr(deskcache.cache, "get_many", lambda *a, **k: asked.append("get") or {})
    monkeypatch.setattr(deskcache.cache, "incr_many", lambda *a, **k: asked.append("incr"), raising=False)
    compute = _counter()
    deskcache.mark_changed(["desk.user.7"])
    assert deskcache.cached("counts:7", ["desk.user.7"], compute) == {"queued": 1}
    assert deskcache.cached("counts:7", ["desk.user.7"], compute) == {"queued": 2}
    assert asked == []
