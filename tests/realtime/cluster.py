"""Real kefu server processes for multi-process tests and ``bench/ingest.py``.

``Cluster`` prepares a database every process shares (a temp-file SQLite, or a
private PostgreSQL database when ``KEFU_DATABASE_URL`` is set), creates the tables
with ``kefu migrate`` in a subprocess, seeds a desk, and starts uvicorn servers on
free loopback ports, all sharing one Redis channel layer when one is given. Every
process it starts is stopped on exit, also when a step fails.
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import websockets

from tests import migrated

REPO = Path(__file__).resolve().parents[2]
# Redis database kept for these tests unless KEFU_REDIS_URL says otherwise.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/3"

SEED = """
import json, os, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu.settings")
django.setup()
from django.utils import timezone
from kefu.accounts.models import AgentStatus, Role, Team, User
from kefu.accounts.services import do_create_token, do_create_user
from kefu.channels.models import Channel
from kefu.channels.visitor import issue_visitor_token
from tests.realtime.sockets import session_for

team = Team.objects.create(name="售前咨询", is_general=True)
agent = do_create_user(username="xiaomei", password="kefu-test-pass-2026", role=Role.AGENT,
                       teams=(team,), display_name="小美", max_concurrent=1000)
status = os.environ.get("SEED_AGENT_STATUS", AgentStatus.ONLINE)
User.objects.filter(pk=agent.pk).update(status=status, last_seen_at=timezone.now())
channel = Channel.objects.create(name="官网在线客服", kind=Channel.Kind.WEB, team=team)
_, api_key = do_create_token(user=agent, name="realtime-test")
visitors = int(os.environ.get("SEED_VISITORS", "1"))
print(json.dumps({
    "team_id": team.pk,
    "agent_id": agent.pk,
    "channel_id": channel.pk,
    "session_key": session_for(agent),
    "api_key": api_key,
    "visitor_tokens": [issue_visitor_token(channel.pk) for _ in range(visitors)],
}))
"""

_CLUSTERS = itertools.count(1)


def redis_url() -> str:
    return os.environ.get("KEFU_REDIS_URL") or DEFAULT_REDIS_URL


def redis_unreachable_reason(url: str) -> str | None:
    """Why Redis at ``url`` cannot be used, or None if it answers PING."""
    try:
        import redis
    except ImportError:
        return "the redis client library is not installed"
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:
        return f"Redis at {url} is not reachable ({exc.__class__.__name__}: {exc})"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listens_on(pid: int, port: int) -> bool:
    """Whether process ``pid`` holds the listening socket of ``port`` (Linux /proc; elsewhere: assumed).

    Other engineers' test servers share this machine's loopback: a port picked free (or
    freed by a restart) can be taken by one of theirs before ours binds it, and a ping
    would then be answered by their server, running their code on their database.
    """
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            return True
        for row in rows:
            fields = row.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # LISTEN
                inodes.add(fields[9])
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in inodes:
            return True
    return False


class Server:
    def __init__(self, port: int, proc: subprocess.Popen[bytes], log: Path):
        self.port = port
        self.proc = proc
        self.log = log

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def desk(self, session_key: str) -> Any:
        """A desk websocket to this server (``async with``), logged in by ``session_key``."""
        return websockets.connect(
            f"{self.ws}/ws/desk/", origin=self.http, additional_headers={"Cookie": f"sessionid={session_key}"}
        )

    def chat(self, token: str) -> Any:
        """A customer's chat websocket to this server (``async with``) with a visitor token."""
        return websockets.connect(f"{self.ws}/ws/chat/?token={token}", origin=self.http)

    def stop(self) -> None:
        terminate(self.proc)


def terminate(proc: subprocess.Popen[Any] | None, *, timeout: float = 10, group: bool = False) -> None:
    """SIGTERM a test's process and wait; SIGKILL it (its whole process group with ``group``)
    if it has not ended within ``timeout``."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        if group:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
        proc.wait(timeout=5)


class Cluster:
    """``with Cluster(servers=2, redis=url) as c:`` — ``c.servers``, ``c.seed``, ``c.env``.

    ``env`` is added to every process's environment (e.g. ``{"KEFU_DB_POOL": "0"}``);
    ``seed_env`` only to the seeding script's. ``kefu_serve=True`` starts each server with
    ``kefu serve`` (its graceful shutdown) instead of plain uvicorn. ``seed=False`` leaves
    the database as migrated (``run`` sets it up; ``seed`` stays empty).
    """

    def __init__(
        self,
        *,
        servers: int = 2,
        redis: str | None = None,
        database_url: str | None = None,
        seed_env: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
        kefu_serve: bool = False,
        seed: bool = True,
    ):
        self.count = servers
        self.seeded = seed
        self.kefu_serve = kefu_serve
        self.redis = redis
        self.database_url = (
            database_url if database_url is not None else os.environ.get("KEFU_DATABASE_URL", "")
        )
        self.seed_env = seed_env or {}
        self.extra_env = env or {}
        self.servers: list[Server] = []
        self.seed: dict[str, Any] = {}
        self.tmp = Path(tempfile.mkdtemp(prefix="kefu-rt-"))
        self._pg_db: str | None = None
        self.env = self._env()

    # --- setup ----------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KEFU_", "PYTEST_", "DJANGO_"))}
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "kefu.settings",
                "KEFU_SECRET_KEY": secrets.token_urlsafe(40),
                "KEFU_VAR_DIR": str(self.tmp / "var"),
                "KEFU_LOG_LEVEL": "WARNING",
                "KEFU_ALLOWED_HOSTS": "127.0.0.1,localhost",
                "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "src")]),
                # Every client here is 127.0.0.1, and runs on this machine share one Redis:
                # one run's (or the bench's) messages must not use up another's address limit.
                "KEFU_RATELIMIT_CHAT_MESSAGE_IP": "off",
                "KEFU_RATELIMIT_CHAT_CONNECT_IP": "off",
                # The seeded agent is online without a desk open: a long grace keeps her
                # routed to for the whole run (presence has its own tests).
                "KEFU_PRESENCE_GRACE_SECONDS": "86400",
            }
        )
        if self.redis:
            env["KEFU_REDIS_URL"] = self.redis
            # Two test workers' clusters share the Redis database (tests/conftest.py).
            if prefix := os.environ.get("KEFU_REDIS_PREFIX"):
                env["KEFU_REDIS_PREFIX"] = prefix
        if self.database_url:
            # One database per cluster: a test may start its own beside its module's.
            self._pg_db = (
                f"{os.environ.get('KEFU_TEST_DB_NAME') or 'test_kefu'}_procs_{os.getpid()}_{next(_CLUSTERS)}"
            )
            parts = urlsplit(self.database_url)
            env["KEFU_DATABASE_URL"] = urlunsplit(parts._replace(path="/" + self._pg_db))
        else:
            env["KEFU_SQLITE_PATH"] = str(self.tmp / "kefu.sqlite3")
        env.update(self.extra_env)
        return env

    def _pg_admin(self, sql: str) -> None:
        import psycopg

        parts = urlsplit(self.database_url)
        admin = urlunsplit(parts._replace(path="/postgres"))
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql)

    def _run(self, args: list[str], *, extra_env: dict[str, str] | None = None, timeout: float = 180) -> str:
        result = subprocess.run(
            [sys.executable, *args],
            cwd=self.tmp,
            env={**self.env, **(extra_env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{args[:3]} failed ({result.returncode}):\n{result.stderr[-4000:]}")
        return result.stdout

    def start(self) -> Cluster:
        # A copy of the migrated template (tests/migrated.py), not a migration per cluster.
        if self._pg_db:
            migrated.postgresql_copy(self.database_url, self._pg_db, self.env)
        else:
            url = self.env.get("KEFU_DATABASE_URL", "")
            path = (
                url.removeprefix("sqlite:///")
                if url.startswith("sqlite:///")
                else self.env["KEFU_SQLITE_PATH"]
            )
            migrated.sqlite_copy(Path(path), self.env)
        if self.seeded:
            out = self._run(["-c", SEED], extra_env=self.seed_env)
            self.seed = json.loads(out.strip().splitlines()[-1])
        for _ in range(self.count):
            self.servers.append(self._serve())
        for i, server in enumerate(self.servers):
            self.servers[i] = self._ready_or_elsewhere(server)
        return self

    def run(self, code: str) -> Any:
        """Run ``code`` against the cluster's database with Django set up; returns the JSON of its last line.

        For more setup than the seed (teams, rules, people): ``session_for`` is imported.
        """
        prelude = (
            "import json, os, django\n"
            'os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu.settings")\n'
            "django.setup()\n"
            "from tests.realtime.sockets import session_for\n"
        )
        lines = self._run(["-c", prelude + code]).strip().splitlines()
        return json.loads(lines[-1]) if lines else None

    def serve_again(self, server: Server) -> None:
        """Start a stopped ``server`` again on the same port (its clients saw it drop)."""
        assert server.proc.poll() is not None, "stop() it first"
        fresh = self._serve(server.port)
        server.proc, server.log = fresh.proc, fresh.log
        self._wait_ready(server)

    def _ready_or_elsewhere(self, server: Server, tries: int = 3) -> Server:
        """Wait for ``server``; if its free port was taken before it bound it, start it on another.

        ``free_port()`` releases the port it found so that uvicorn can bind it: under load
        another engineer's process (or our other server) sometimes takes it in between.
        """
        for attempt in range(tries):
            try:
                self._wait_ready(server)
                return server
            except RuntimeError:
                lost_race = server.proc.poll() is not None and "address already in use" in (
                    server.log.read_text(errors="replace").lower()
                )
                if not lost_race or attempt == tries - 1:
                    raise
                server = self._serve()
        raise AssertionError("unreachable")

    def _serve(self, port: int | None = None) -> Server:
        port = port or free_port()
        log = self.tmp / f"uvicorn-{port}.log"
        if self.kefu_serve:
            args = ["-m", "kefu.cli", "serve", "--no-smtp", "--no-access-log"]
        else:
            args = [
                "-m",
                "uvicorn",
                "kefu.asgi:application",
                "--lifespan",
                "off",
                "--log-level",
                "warning",
                "--no-access-log",
            ]
            if ping := self.env.get("KEFU_WS_PING_SECONDS"):  # what `kefu serve` reads from settings
                args += ["--ws-ping-interval", ping]
                args += ["--ws-ping-timeout", self.env.get("KEFU_WS_PING_TIMEOUT_SECONDS", ping)]
        with open(log, "wb") as fh:
            proc = subprocess.Popen(
                [sys.executable, *args, "--host", "127.0.0.1", "--port", str(port)],
                cwd=self.tmp,
                env=self.env,
                stdout=fh,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        return Server(port, proc, log)

    def _wait_ready(self, server: Server, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if server.proc.poll() is not None:
                raise RuntimeError(f"uvicorn on {server.port} exited:\n{server.log.read_text()[-4000:]}")
            try:
                answered = httpx.get(f"{server.http}/api/v1/ping", timeout=2).status_code == 200
            except httpx.HTTPError:
                answered = False
            # Only our own process counts: another engineer's server may hold the port.
            if answered and listens_on(server.proc.pid, server.port):
                return
            time.sleep(0.2)
        raise RuntimeError(
            f"uvicorn on {server.port} not ready after {timeout}s:\n{server.log.read_text()[-4000:]}"
        )

    def logs(self) -> str:
        """The servers' output, for failure messages."""
        return "\n".join(
            f"--- uvicorn :{s.port}\n{s.log.read_text(errors='replace')[-3000:]}" for s in self.servers
        )

    # --- teardown -------------------------------------------------------------------

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        self.servers = []
        if self._pg_db:
            try:
                self._pg_admin(f'DROP DATABASE IF EXISTS "{self._pg_db}" WITH (FORCE)')
            except Exception:  # teardown must go on; the name is per-pid and reused next run
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> Cluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
