"""A migrated, empty kefu database, built once and copied by every test that starts servers.

``kefu migrate`` takes 7–15 s of a loaded two-core machine (longer on PostgreSQL), and the
realtime clusters and the browser desk each used to run it for a database of their own.
Here it runs once per state of the code: the template is named by a hash of kefu's
sources (migrations import code such as the holiday tables) and Django's version, so an
edited migration builds a new one and a stale template is never used.

- SQLite: a file under ``var/test-cache/``; a copy is a file copy.
- PostgreSQL: a database ``kefu_tpl_<hash>``; a copy is ``CREATE DATABASE … TEMPLATE``.

Test processes (pytest-xdist workers, subprocesses) build it under a lock (``flock`` for the
file, an advisory lock for PostgreSQL); a template is published under its final name only
once complete, so a crashed build leaves nothing that looks usable.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "var" / "test-cache"
# An arbitrary key for pg_advisory_lock: the template build, whoever does it.
_PG_LOCK = 0x6B656675
# Templates kept per server (or cache folder), newest first.
KEEP = 6


@cache
def code_hash() -> str:
    import django

    digest = hashlib.sha256(django.__version__.encode())
    for path in sorted((REPO / "src" / "kefu").rglob("*.py")):
        digest.update(str(path.relative_to(REPO)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _migrate(env: dict[str, str], cwd: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kefu.cli", "migrate", "--noinput", "-v", "0"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        # Minutes, not seconds, on a machine shared by several test runs.
        timeout=600,
    )
    if result.returncode != 0:
        raise RuntimeError(f"migrate failed ({result.returncode}):\n{result.stderr[-4000:]}")


def sqlite_copy(target: Path, env: dict[str, str]) -> None:
    """Write a migrated, empty SQLite database to ``target`` (``env``: a server's environment)."""
    template = CACHE / f"migrated-{code_hash()}.sqlite3"
    if not template.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        with open(CACHE / "build.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not template.exists():
                _build_sqlite(template, env)
    shutil.copyfile(template, target)
    for suffix in ("-wal", "-shm"):
        Path(str(target) + suffix).unlink(missing_ok=True)


def _build_sqlite(template: Path, env: dict[str, str]) -> None:
    work = Path(tempfile.mkdtemp(prefix="kefu-tpl-", dir=CACHE))
    try:
        db = work / "db.sqlite3"
        _migrate({**env, "KEFU_SQLITE_PATH": str(db), "KEFU_VAR_DIR": str(work / "var")}, work)
        # One self-contained file: the WAL folded in, the journal back to a plain file
        # (each server turns WAL on again when it connects).
        conn = sqlite3.connect(db)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.execute("PRAGMA journal_mode=DELETE")
        finally:
            conn.close()
        os.replace(db, template)
        # Runs of other states of the code may still copy theirs: only the oldest beyond KEEP go.
        built = sorted(CACHE.glob("migrated-*.sqlite3"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in built[KEEP:]:
            old.unlink(missing_ok=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def postgresql_template(database_url: str, env: dict[str, str]) -> str:
    """The name of the migrated template database on ``database_url``'s server, built if missing."""
    import psycopg

    template = f"kefu_tpl_{code_hash()}"
    with psycopg.connect(_admin_url(database_url), autocommit=True, connect_timeout=5) as conn:
        with _pg_lock(conn):
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (template,)).fetchone():
                _build_postgresql(conn, database_url, template, env)
    return template


def postgresql_copy(database_url: str, name: str, env: dict[str, str]) -> None:
    """Create the database ``name`` as a copy of the migrated template, on ``database_url``'s server."""
    import psycopg

    template = postgresql_template(database_url, env)
    with psycopg.connect(_admin_url(database_url), autocommit=True, connect_timeout=5) as conn:
        with _pg_lock(conn):
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')


def _admin_url(database_url: str) -> str:
    return urlunsplit(urlsplit(database_url)._replace(path="/postgres"))


@contextmanager
def _pg_lock(conn: Any) -> Iterator[None]:
    conn.execute("SELECT pg_advisory_lock(%s)", (_PG_LOCK,))
    try:
        yield
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_PG_LOCK,))


def _build_postgresql(conn: Any, database_url: str, template: str, env: dict[str, str]) -> None:
    building = f"{template}_building"
    conn.execute(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)')
    conn.execute(f'CREATE DATABASE "{building}"')
    url = urlunsplit(urlsplit(database_url)._replace(path="/" + building))
    work = Path(tempfile.mkdtemp(prefix="kefu-tpl-"))
    try:
        _migrate(
            {**env, "KEFU_DATABASE_URL": url, "KEFU_VAR_DIR": str(work / "var"), "KEFU_DB_POOL": "0"}, work
        )
    except BaseException:
        conn.execute(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)')
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    # Published under its final name only once complete. Other checkouts of other code
    # (worktrees, CI) may be using theirs: only the oldest beyond KEEP go.
    conn.execute(f'ALTER DATABASE "{building}" RENAME TO "{template}"')
    rows = conn.execute(
        "SELECT datname FROM pg_database WHERE datname ~ '^kefu_tpl_[0-9a-f]+$' ORDER BY oid DESC"
    ).fetchall()
    for (old,) in rows[KEEP:]:
        conn.execute(f'DROP DATABASE IF EXISTS "{old}" WITH (FORCE)')
