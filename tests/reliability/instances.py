"""PostgreSQL and Redis servers of our own, to stop and restart under a running kefu.

The servers on 127.0.0.1:5432 and :6379 are shared by everyone on the machine: a test
that restarts them breaks every other run. ``PrivatePostgres`` is a cluster ``initdb``'d
into a temporary directory (run as the ``postgres`` user when we are root: PostgreSQL
refuses to run as root), listening on a free loopback port with its unix socket in that
directory; ``PrivateRedis`` is a ``redis-server`` on a free port, without persistence
(like the machine's: a restart loses every key, channel-layer groups included). Both can
be stopped, killed and started again on the same port, and are removed on ``close()``.

``migrated_postgres()`` starts a cluster that already holds kefu's migrated template
(``tests/migrated.py``): the data directory is built once per state of the code under
``var/test-cache/`` and copied, a second instead of a migration per run.

Used by ``tests/reliability/`` and ``bench/faults.py``.
"""

from __future__ import annotations

import fcntl
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tests import migrated
from tests.realtime.cluster import free_port

CACHE = migrated.CACHE
# Data directories kept (newest first); each is ~40 MB.
KEEP = 2


def postgres_bin() -> Path | None:
    """The newest PostgreSQL server binaries installed (Debian layout), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def unavailable_reason() -> str | None:
    """Why private instances cannot be started here, or None."""
    if postgres_bin() is None:
        return "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin (initdb)"
    if shutil.which("redis-server") is None:
        return "redis-server is not installed"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser: PostgreSQL refuses to run as root"
    return None


def _as_postgres(args: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; as any other user it runs as that user.
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def _chown_tree(path: Path) -> None:
    if os.geteuid() != 0:
        return
    import pwd

    entry = pwd.getpwnam("postgres")
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in dirs + files:
            os.lchown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)


def _chown_tree_shallow(path: Path) -> None:
    if os.geteuid() == 0:
        import pwd

        entry = pwd.getpwnam("postgres")
        os.chown(path, entry.pw_uid, entry.pw_gid)


class PrivatePostgres:
    """``pg = PrivatePostgres(); pg.start()`` — ``pg.url``; ``pg.restart()``, ``pg.stop(mode="immediate")``."""

    def __init__(self, *, data_from: Path | None = None):
        bindir = postgres_bin()
        if bindir is None:
            raise RuntimeError(unavailable_reason() or "no PostgreSQL")
        self.bin = bindir
        self.root = Path(tempfile.mkdtemp(prefix="kefu-pg-"))
        os.chmod(self.root, 0o755)
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = free_port()
        if data_from is not None:
            # cp -a keeps the owner (the cache is postgres's) and is several times faster
            # than copytree's file-by-file copy of a data directory's ~1,500 files.
            subprocess.run(["cp", "-a", str(data_from), str(self.data)], check=True)
        else:
            self.data.mkdir(mode=0o700)
        _chown_tree(self.root) if data_from is None else _chown_tree_shallow(self.root)
        if data_from is None:
            self._pg(
                ["initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8"]
                + ["--no-locale", "--no-sync"]
            )

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _pg(self, args: list[str], *, timeout: float = 120) -> None:
        cmd = _as_postgres([str(self.bin / args[0]), *args[1:]])
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=self.root)
        if result.returncode != 0:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{args[0]} failed ({result.returncode}): {result.stderr[-2000:]}\n{tail}")

    def start(self) -> PrivatePostgres:
        # fsync off: only the machine crashing could lose what PostgreSQL wrote, never a
        # restart or a kill of PostgreSQL itself; synchronous_commit stays on, so a
        # commit that returned is in the WAL when the server is killed right after.
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c full_page_writes=off -c max_connections=60 -c shared_buffers=32MB"
        )
        self._pg(
            ["pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start"]
        )
        return self

    def stop(self, *, mode: str = "fast") -> None:
        """``fast``: roll back and disconnect every session, shut down cleanly; ``immediate``: a crash."""
        if (self.data / "postmaster.pid").exists():
            self._pg(["pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop"])

    def restart(self, *, mode: str = "fast", down_for: float = 0.0) -> None:
        self.stop(mode=mode)
        time.sleep(down_for)
        self.start()

    def close(self) -> None:
        try:
            self.stop(mode="immediate")
        except Exception:  # already gone; the directory goes anyway
            pass
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PrivatePostgres:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def migrated_postgres(env: dict[str, str]) -> PrivatePostgres:
    """A started private cluster holding kefu's migrated template (``env``: a server's environment)."""
    version = postgres_bin().parts[-2]  # type: ignore[union-attr]
    cached = CACHE / f"pgdata-{version}-{migrated.code_hash()}"
    if not cached.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        with open(CACHE / "pgdata.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not cached.exists():
                _build_cached(cached, env)
    return PrivatePostgres(data_from=cached).start()


def _build_cached(cached: Path, env: dict[str, str]) -> None:
    pg = PrivatePostgres().start()
    try:
        migrated.postgresql_template(pg.url, env)
        pg.stop(mode="fast")
        building = cached.with_name(cached.name + ".building")
        shutil.rmtree(building, ignore_errors=True)
        subprocess.run(["cp", "-a", str(pg.data), str(building)], check=True)
        (building / "postmaster.pid").unlink(missing_ok=True)
        os.replace(building, cached)
    finally:
        pg.close()
    built = sorted(CACHE.glob("pgdata-*"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in [p for p in built if not p.name.endswith(".building")][KEEP:]:
        shutil.rmtree(old, ignore_errors=True)


class PrivateRedis:
    """``r = PrivateRedis().start()`` — ``r.url``; ``r.stop()``, ``r.kill()``, ``r.start()`` again."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="kefu-redis-"))
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *, timeout: float = 20) -> PrivateRedis:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        with open(self.root / "redis.log", "ab") as log:
            self.proc = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", str(self.root), "--protected-mode", "no"],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited:\n{(self.root / 'redis.log').read_text()[-2000:]}")
            if self.ping():
                return self
            time.sleep(0.05)
        raise RuntimeError(f"redis-server on {self.port} did not answer within {timeout}s")

    def ping(self) -> bool:
        import redis

        client = redis.Redis(port=self.port, socket_connect_timeout=0.5, socket_timeout=0.5)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def stop(self) -> None:
        """SIGTERM: Redis closes every client connection and exits (no save: no persistence)."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        self._end(signal.SIGKILL)

    def _end(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=20)

    def restart(self, *, down_for: float = 0.0) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PrivateRedis:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
