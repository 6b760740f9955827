"""Settings read from the environment: rate limits (``parse_rates``), and PostgreSQL connections
from a psycopg pool.

Under ASGI Django closes the connection after every request and every
``database_sync_to_async`` call; with the pool that close hands the connection back
instead of ending the PostgreSQL backend. The cross-process check (real servers) is
in ``tests/realtime/test_two_processes.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.db import connection

from kefu.settings import parse_rates

REPO = Path(__file__).resolve().parents[1]

SHOW_DATABASE = """
import json
from kefu import settings
db = settings.DATABASES["default"]
print(json.dumps({"pool": db.get("OPTIONS", {}).get("pool"), "health": db["CONN_HEALTH_CHECKS"]}))
"""

SHOW_SQLITE = """
import json
from kefu import settings
db = settings.DATABASES["default"]
print(json.dumps({"name": db["NAME"], "options": db["OPTIONS"], "age": db["CONN_MAX_AGE"]}))
"""

SHOW_REDIS_LAYER = """
import json, os, django
os.environ["DJANGO_SETTINGS_MODULE"] = "kefu.settings"
django.setup()
from channels.layers import get_channel_layer
layer = get_channel_layer()
pool = layer.create_pool(0)
print(json.dumps({"read_timeout": pool.connection_kwargs.get("socket_timeout"), "wait": layer.brpop_timeout}))
"""


def _database_settings(tmp_path: Path, *, code: str = SHOW_DATABASE, **env: str) -> dict[str, Any]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("KEFU_", "DJANGO_"))}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**clean, "KEFU_VAR_DIR": str(tmp_path), "KEFU_SECRET_KEY": "settings-test-key", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout)


def _pooled() -> bool:
    return connection.vendor == "postgresql" and bool(connection.settings_dict["OPTIONS"].get("pool"))


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def test_postgresql_pool_sizes_and_wait_come_from_the_environment(tmp_path: Path) -> None:
    url = "postgres://kefu@db.internal:5432/kefu"
    assert _database_settings(tmp_path, KEFU_DATABASE_URL=url) == {
        "pool": {"min_size": 1, "max_size": 4, "timeout": 10.0, "max_idle": 600.0, "max_lifetime": 3600.0},
        "health": True,
    }
    sized = _database_settings(
        tmp_path,
        KEFU_DATABASE_URL=url,
        KEFU_DB_POOL_MIN="2",
        KEFU_DB_POOL_MAX="10",
        KEFU_DB_POOL_TIMEOUT="3",
        KEFU_DB_POOL_MAX_IDLE="120",
        KEFU_DB_POOL_MAX_LIFETIME="900",
    )
    assert sized["pool"] == {
        "min_size": 2,
        "max_size": 10,
        "timeout": 3.0,
        "max_idle": 120.0,
        "max_lifetime": 900.0,
    }


def test_kefu_db_pool_0_turns_the_pool_off(tmp_path: Path) -> None:
    db = _database_settings(tmp_path, KEFU_DATABASE_URL="postgres://kefu@db/kefu", KEFU_DB_POOL="0")
    assert db["pool"] is None


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_pool_serves_the_test_database() -> None:
    if not _pooled():
        pytest.skip("needs PostgreSQL with the pool on")
    # The pool keeps the connection parameters it was built with: it must have been
    # (re)built after pytest-django switched NAME to the test database.
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_database()")
        assert cursor.fetchone()[0] == connection.settings_dict["NAME"]
    assert connection.pool is not None
    assert connection.pool.kwargs["dbname"] == connection.settings_dict["NAME"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
async def test_database_sync_to_async_calls_reuse_pooled_connections() -> None:
    if not _pooled():
        pytest.skip("needs PostgreSQL with the pool on")
    # Each call closes its connection afterwards (CONN_MAX_AGE=0): without the pool
    # every call would be a new PostgreSQL backend with its own pid.
    pids = [await database_sync_to_async(_backend_pid)() for _ in range(10)]
    assert len(set(pids)) <= connection.pool.max_size < len(pids)


def test_a_sqlite_url_gets_the_same_options_as_the_default_path(tmp_path: Path) -> None:
    default = _database_settings(tmp_path, code=SHOW_SQLITE)
    by_url = _database_settings(
        tmp_path, code=SHOW_SQLITE, KEFU_DATABASE_URL=f"sqlite:///{tmp_path}/desk.sqlite3"
    )
    assert by_url["name"] == f"{tmp_path}/desk.sqlite3"
    assert by_url["options"] == default["options"]
    assert by_url["age"] == default["age"] == 600
    assert by_url["options"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in by_url["options"]["init_command"]
    assert "busy_timeout=20000" in by_url["options"]["init_command"]


def test_the_redis_layer_waits_longer_for_a_read_than_its_blocking_wait(tmp_path: Path) -> None:
    # redis-py 8 gives every read 5 s by default, exactly channels-redis's BZPOPMIN wait:
    # every quiet socket then died of a TimeoutError.
    layer = _database_settings(tmp_path, code=SHOW_REDIS_LAYER, KEFU_REDIS_URL="redis://127.0.0.1:6379/8")
    assert layer["read_timeout"] >= layer["wait"] + 10
    slow = _database_settings(
        tmp_path,
        code=SHOW_REDIS_LAYER,
        KEFU_REDIS_URL="redis://127.0.0.1:6379/8",
        KEFU_REDIS_SOCKET_TIMEOUT="60",
    )
    assert slow["read_timeout"] == 60


def test_rates_are_read_as_count_per_period():
    assert parse_rates("8/10s, 20/1m") == ((8, 10), (20, 60))
    assert parse_rates("100/h,5/30") == ((100, 3600), (5, 30))
    assert parse_rates("off") == () and parse_rates("") == ()


@pytest.mark.parametrize("value", ["8", "0/10s", "8/0s", "8/10d", "eight/m", "8/10s,"])
def test_a_malformed_rate_refuses_to_start(value):
    with pytest.raises(RuntimeError, match="KEFU_RATELIMIT_X"):
        parse_rates(value, name="KEFU_RATELIMIT_X")


def test_the_system_check_has_nothing_to_warn_about():
    """Every kefu command (serve, migrate, demo) prints the check's warnings: there must be none."""
    from django.core.management import call_command

    call_command("check", fail_level="WARNING")
