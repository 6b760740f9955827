"""Shared fixtures: small factories that go through the real services."""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest

_seq = itertools.count(1)


def pytest_configure(config: Any) -> None:
    """Under pytest-xdist each worker keeps its own Redis keys (``KEFU_REDIS_PREFIX``).

    Workers share the Redis database and create the same ids in their own test
    databases: without a prefix, a consumer of one worker's ``user-1`` group hears the
    other's events. Settings are loaded before this runs, so the loaded settings are
    set as kefu.settings would set them; the environment carries the prefix to the
    subprocesses a test starts.
    """
    _test_database_from_template()
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return
    from django.conf import settings

    prefix = f"test-{worker}:"
    os.environ["KEFU_REDIS_PREFIX"] = prefix
    settings.KEFU_REDIS_PREFIX = prefix
    layer = settings.CHANNEL_LAYERS["default"]
    if "prefix" in layer.get("CONFIG", {}):
        layer["CONFIG"]["prefix"] = f"{prefix}asgi"
    cache = settings.CACHES["default"]
    if "KEY_PREFIX" in cache:
        cache["KEY_PREFIX"] = f"{prefix}kefu"


def _test_database_from_template() -> None:
    """On PostgreSQL the test database is a copy of the migrated template (tests/migrated.py).

    Django creates it with ``TEMPLATE`` and finds every migration applied: seconds instead of
    the 20 s of migrating each pytest-xdist worker's database.
    """
    from django.conf import settings

    database = settings.DATABASES["default"]
    url = os.environ.get("KEFU_DATABASE_URL", "")
    if "postgresql" not in database["ENGINE"] or not url.startswith(("postgres://", "postgresql://")):
        return
    from tests import migrated

    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["DJANGO_SETTINGS_MODULE"] = "kefu.settings"
    database.setdefault("TEST", {})["TEMPLATE"] = migrated.postgresql_template(url, env)


# --- the data migrations' rows survive a transactional test --------------------------------
#
# A transactional test (``django_db(transaction=True)``) ends with a flush, which empties
# every table, the rows data migrations installed (SLA default policies, official holidays)
# included; post_migrate handlers refill only their own. In one process pytest-django runs
# those tests last; under pytest-xdist a worker runs other modules after them, so the rows
# are written back after each flush: every table the flush left empty gets its rows as
# they were when the test database was created.

_initial_rows: list[tuple[Any, str]] = []
_db_blocker: list[Any] = []


def _flush_postgresql_by_delete() -> None:
    """A transactional test's flush empties PostgreSQL's tables with DELETE, not TRUNCATE.

    TRUNCATE of the ~200 tables gives each a new file: about 4 s per transactional test on
    a loaded two-core machine, most of the PostgreSQL run. The tables hold a few rows, so
    DELETE is milliseconds; Django's foreign keys on PostgreSQL are DEFERRABLE INITIALLY
    DEFERRED, so the order does not matter inside the flush's transaction. Tests only;
    ``kefu``'s own code never flushes.
    """
    from django.db.backends.postgresql.operations import DatabaseOperations

    truncate = DatabaseOperations.sql_flush
    if getattr(truncate, "_kefu_by_delete", False):
        return

    def sql_flush(
        self: Any, style: Any, tables: Any, *, reset_sequences: bool = False, allow_cascade: bool = False
    ) -> list[str]:
        if reset_sequences:
            return truncate(self, style, tables, reset_sequences=True, allow_cascade=allow_cascade)
        return [
            f"{style.SQL_KEYWORD('DELETE FROM')} {style.SQL_FIELD(self.quote_name(table))};"
            for table in tables
        ]

    sql_flush._kefu_by_delete = True  # type: ignore[attr-defined]
    DatabaseOperations.sql_flush = sql_flush  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: Any, django_db_blocker: Any) -> None:
    from django.apps import apps
    from django.core import serializers
    from django.db import connection

    if connection.vendor == "postgresql":
        _flush_postgresql_by_delete()
    _db_blocker.append(django_db_blocker)
    with django_db_blocker.unblock():
        for model in apps.get_models():
            if model._meta.proxy or not model._meta.managed:
                continue
            rows = list(model._base_manager.order_by("pk"))
            if rows:
                _initial_rows.append((model, serializers.serialize("json", rows)))


def _restore_initial_rows() -> None:
    from django.core import serializers
    from django.core.management.color import no_style
    from django.db import connection, transaction

    restored = []
    with _db_blocker[0].unblock(), transaction.atomic():
        for model, rows in _initial_rows:
            if model._base_manager.exists():
                continue
            for obj in serializers.deserialize("json", rows):
                obj.save()
            restored.append(model)
        if restored:
            with connection.cursor() as cursor:
                for sql in connection.ops.sequence_reset_sql(no_style(), restored):
                    cursor.execute(sql)


def _flushes(item: Any) -> bool:
    marker = item.get_closest_marker("django_db")
    transactional = marker is not None and (
        marker.kwargs.get("transaction") or (marker.args and marker.args[0])
    )
    return bool(transactional) or bool(
        {"transactional_db", "live_server"} & set(getattr(item, "fixturenames", ()))
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: Any, nextitem: Any) -> Any:
    try:
        return (yield)
    finally:
        # With no next item the session (and the test database) is gone.
        if nextitem is not None and _initial_rows and _flushes(item):
            _restore_initial_rows()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """PBKDF2's deliberate slowness buys nothing in tests; production keeps Django's default."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True, scope="session")
def _disconnect_rate_limiter() -> Iterator[None]:
    """Redis connections closed before the end of the run, not left to the garbage collector."""
    yield
    from kefu.core import ratelimit

    ratelimit.close()


@pytest.fixture(autouse=True)
def _own_rate_limit_counters(monkeypatch: Any) -> None:
    """Each test counts from zero: the counters live in a cache the whole run (on Redis, every run) shares."""
    from kefu.core import ratelimit

    monkeypatch.setattr(ratelimit, "NAMESPACE", f"rl-test-{uuid.uuid4().hex}")


@pytest.fixture(autouse=True)
def _own_desk_cache(monkeypatch: Any) -> None:
    """Each test caches desk counts afresh: user ids repeat between tests, the cache is shared."""
    from kefu.core import deskcache

    monkeypatch.setattr(deskcache, "NAMESPACE", f"desk-test-{uuid.uuid4().hex}")


@pytest.fixture(autouse=True)
def _loopback_test_doubles(settings: Any) -> None:
    """The tests' webhook receivers and platforms listen on 127.0.0.1, which production
    refuses unless an admin allows it (``KEFU_ALLOWED_PRIVATE_NETWORKS``, kefu.core.netguard);
    tests of that guard set the setting themselves."""
    settings.KEFU_ALLOWED_PRIVATE_NETWORKS = ("127.0.0.0/8",)


@pytest.fixture
def rate_clock(monkeypatch: Any) -> SimpleNamespace:
    """The rate limiter's clock, stopped; move it with ``rate_clock.now += seconds``."""
    from kefu.core import ratelimit

    clock = SimpleNamespace(now=1_800_000_000.0)
    monkeypatch.setattr(ratelimit, "now", lambda: clock.now)
    return clock


@pytest.fixture
def rate_limits(settings: Any) -> Callable[..., None]:
    """``rate_limits(chat_message="2/1m")``: set limits for this test (``"off"`` turns one off)."""
    from kefu.settings import parse_rates

    def set_limits(**limits: str) -> None:
        for name in limits:
            assert name in settings.KEFU_RATE_LIMITS, f"no limit named {name}"
        parsed = {name: parse_rates(value) for name, value in limits.items()}
        settings.KEFU_RATE_LIMITS = {**settings.KEFU_RATE_LIMITS, **parsed}

    return set_limits


@pytest.fixture
def make_team(db: Any) -> Callable[..., Any]:
    from kefu.accounts.models import Team

    def make(name: str | None = None, *, is_general: bool = False) -> Team:
        return Team.objects.create(name=name or f"团队{next(_seq)}", is_general=is_general)

    return make


@pytest.fixture
def make_user(db: Any) -> Callable[..., Any]:
    from django.utils import timezone

    from kefu.accounts.models import AgentStatus, Role, User
    from kefu.accounts.services import do_create_user

    def make(
        username: str | None = None,
        *,
        role: str = Role.AGENT,
        teams: tuple[Any, ...] = (),
        status: str = AgentStatus.OFFLINE,
        max_concurrent: int = 5,
        password: str = "kefu-test-pass-2026",
        display_name: str = "",
        is_senior: bool = False,
    ) -> User:
        user = do_create_user(
            username=username or f"agent{next(_seq)}",
            password=password,
            role=role,
            teams=teams,
            display_name=display_name,
            max_concurrent=max_concurrent,
            is_senior=is_senior,
        )
        if status != AgentStatus.OFFLINE:
            # At her desk: seen now, as an open desk socket would report (docs/presence.md).
            seen = timezone.now()
            User.objects.filter(pk=user.pk).update(status=status, last_seen_at=seen)
            user.status, user.last_seen_at = status, seen
        return user

    return make


@pytest.fixture
def make_channel(db: Any) -> Callable[..., Any]:
    from kefu.channels.models import Channel

    def make(kind: str = "web", *, team: Any = None, name: str | None = None, **kw: Any) -> Channel:
        return Channel.objects.create(name=name or f"{kind}-{next(_seq)}", kind=kind, team=team, **kw)

    return make


@pytest.fixture
def desk(
    make_team: Callable[..., Any], make_user: Callable[..., Any], make_channel: Callable[..., Any]
) -> Any:
    """A small desk: one general team, one online agent, a supervisor and a web channel."""
    from kefu.accounts.models import AgentStatus, Role

    team = make_team("售前咨询", is_general=True)
    agent = make_user("xiaomei", teams=(team,), status=AgentStatus.ONLINE, display_name="小美")
    supervisor = make_user("zhuguan", role=Role.SUPERVISOR, display_name="王主管")
    channel = make_channel("web", team=team, name="官网在线客服")
    return SimpleNamespace(team=team, agent=agent, supervisor=supervisor, channel=channel)


@pytest.fixture
def open_all_week(settings: Any) -> None:
    """Business hours around the clock (no schedule set): whether anyone is there is up to presence alone."""
    settings.KEFU_DEFAULT_BUSINESS_HOURS = tuple((day, "00:00", "24:00") for day in range(7))


@pytest.fixture
def closed_now(settings: Any) -> Any:
    """Business hours of three hours a day starting a few hours from now: closed now; returns when it opens."""
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.localtime()
    start = (now.hour + 3) % 24
    if start > 21:  # keep the three hours within one day
        start = 1
    opens = now.replace(hour=start, minute=0, second=0, microsecond=0)
    if opens <= now:
        opens += timedelta(days=1)
    window = (f"{start:02d}:00", f"{start + 3:02d}:00")
    settings.KEFU_DEFAULT_BUSINESS_HOURS = tuple((day, *window) for day in range(7))
    return opens
