"""Django settings, read once from the environment.

Embedded defaults (SQLite in WAL mode under ``var/``, in-memory channel layer) need no
configuration; ``KEFU_DATABASE_URL`` and ``KEFU_REDIS_URL`` switch to PostgreSQL and
Redis. The secret key is generated on first run and kept in ``var/secret_key``.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from pathlib import Path

import dj_database_url


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


_RATE = re.compile(r"(\d+)/(\d*)([smh]?)")
_RATE_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600}


def parse_rates(value: str, *, name: str = "rate limit") -> tuple[tuple[int, int], ...]:
    """``"8/10s,20/1m"`` (8 per 10 seconds and 20 per minute) → ``((8, 10), (20, 60))``; ``off`` → none."""
    value = value.strip().lower()
    if value in {"", "off"}:
        return ()
    rates = []
    for part in value.split(","):
        match = _RATE.fullmatch(part.strip())
        count, seconds = (0, 0)
        if match:
            count = int(match[1])
            seconds = int(match[2] or 1) * _RATE_UNITS[match[3]]
        if count < 1 or seconds < 1:
            raise RuntimeError(f"{name}: expected rates like 8/10s,20/1m (or off), got {value!r}")
        rates.append((count, seconds))
    return tuple(rates)


def _env_rates(name: str, default: str) -> tuple[tuple[int, int], ...]:
    return parse_rates(os.environ.get(name, default), name=name)


PACKAGE_DIR = Path(__file__).resolve().parent
VAR_DIR = Path(os.environ.get("KEFU_VAR_DIR", Path.cwd() / "var")).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    if key := os.environ.get("KEFU_SECRET_KEY"):
        return key
    path = VAR_DIR / "secret_key"
    if not path.exists():
        # Written once with owner-only permissions; every process of this
        # installation then shares the key, so sessions survive restarts. Written
        # aside and linked into place: processes starting together (server workers,
        # test workers) never read a half-written key, and the first link wins.
        draft = VAR_DIR / f".secret_key.{os.getpid()}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(50))
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = _env_bool("KEFU_DEBUG", False)
ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get("KEFU_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")
    if h.strip()
]
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("KEFU_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]

# The reports' index of agent replies (conversations.0010) is a covering index on
# PostgreSQL; SQLite keeps it as a plain partial index, which is all it needs there. Its
# warning (models.W040) was printed by every command, `kefu serve` included.
SILENCED_SYSTEM_CHECKS = ["models.W040"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_tasks_db",
    # Swagger UI and Redoc from the package's own static files: /api/v1/docs works offline.
    "ninja",
    "kefu.core",
    "kefu.accounts",
    "kefu.customers",
    "kefu.channels",
    "kefu.conversations",
    "kefu.routing",
    "kefu.tickets",
    "kefu.sla",
    "kefu.webhooks",
    "kefu.understanding",
    "kefu.kb",
    "kefu.quality",
    "kefu.replies",
    "kefu.complaints",
    "kefu.hours",
    "kefu.wallboard",
    "kefu.performance",
    "kefu.analytics",
    "kefu.staffing",
    "kefu.incidents",
    "kefu.surveys",
    "kefu.bot",
    "kefu.proactive",
    "kefu.training",
    "kefu.demo",
    "kefu.ops",
]

MIDDLEWARE = [
    "kefu.core.middleware.TelemetryMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before anything reads a body or answers in HTML: the API always answers JSON.
    "kefu.core.middleware.ApiErrorMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "kefu.accounts.middleware.IdleTimeoutMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "kefu.core.middleware.KefuErrorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "kefu.urls"
ASGI_APPLICATION = "kefu.asgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/desk/"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PACKAGE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "kefu.accounts.context.desk_context",
            ],
        },
    },
]

DATABASE_URL = os.environ.get("KEFU_DATABASE_URL", "")
POSTGRES_ENGINES = ("django.db.backends.postgresql", "django.contrib.gis.db.backends.postgis")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
    # Parallel test runs (several engineers, CI) each need their own test database.
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("KEFU_TEST_DB_NAME") or None}
    if DATABASES["default"]["ENGINE"] in POSTGRES_ENGINES:
        # No JIT: the metrics' aggregates carry many correlated subqueries whose estimated
        # cost crosses jit_above_cost, and compiling them took 15 s on a query that runs in
        # 0.6 s without (docs/performance.md). kefu's queries are short; JIT never pays.
        DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off"
    if DATABASES["default"]["ENGINE"] in POSTGRES_ENGINES and _env_bool("KEFU_DB_POOL", True):
        # Under ASGI, Django closes the connection after every request and every
        # database_sync_to_async call (CONN_MAX_AGE must stay 0 with a pool); the pool
        # turns that close into a return, so a chat message no longer pays for a new
        # PostgreSQL backend. One pool per process: the websocket consumers share one
        # thread (one connection), each concurrent HTTP request takes another; past the
        # maximum they wait (KEFU_DB_POOL_TIMEOUT). Budget processes × maximum
        # (plus the worker and migrations) below the server's max_connections.
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": int(os.environ.get("KEFU_DB_POOL_MIN", "1")),
            "max_size": int(os.environ.get("KEFU_DB_POOL_MAX", "4")),
            # How long a request waits for a connection: past the maximum under load, or
            # while PostgreSQL restarts (the pool cannot connect). Then OperationalError,
            # answered 503 with Retry-After (kefu.core.outage). psycopg_pool's own 30 s
            # held every chat frame (they share one thread) half a minute each.
            "timeout": float(os.environ.get("KEFU_DB_POOL_TIMEOUT", "10")),
            # psycopg_pool's own defaults: an idle connection is closed after 10 minutes, any
            # connection replaced after an hour (settable so a test can run those minutes in
            # seconds: tests/realtime/test_two_processes.py, the quiet sockets).
            "max_idle": float(os.environ.get("KEFU_DB_POOL_MAX_IDLE", "600")),
            "max_lifetime": float(os.environ.get("KEFU_DB_POOL_MAX_LIFETIME", "3600")),
        }
        # Pooled connections can outlive a PostgreSQL restart; check each one as it
        # is handed out (one empty round trip) instead of failing the next request.
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("KEFU_SQLITE_PATH", str(VAR_DIR / "kefu.sqlite3")),
            "TEST": {"NAME": os.environ.get("KEFU_SQLITE_TEST_PATH") or None},
        }
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The same options whether SQLite was chosen by default or by a sqlite:/// URL:
    # without them 8 concurrent API clients already met "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        **DATABASES["default"].get("OPTIONS", {}),
        # WAL lets readers run beside the single writer; IMMEDIATE takes the
        # write lock at BEGIN so two writers queue instead of deadlocking.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # Websocket consumers run all database work on one long-lived thread; with
    # a connection per call (age 0) opening SQLite and its PRAGMAs cost more
    # than the message itself (docs/performance.md: ~4x fewer messages/s).
    DATABASES["default"]["CONN_MAX_AGE"] = int(os.environ.get("KEFU_SQLITE_CONN_MAX_AGE", "600"))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("KEFU_REDIS_URL", "")
# channels-redis waits for the next event with a blocking BZPOPMIN of up to 5 seconds
# (RedisChannelLayer.brpop_timeout). redis-py 8 times out every socket read after 5 s
# by default, so each quiet socket's wait ended in a TimeoutError and the socket died
# (close 1006). The read timeout must outlast that wait; it is still finite, so a
# Redis that stops answering is noticed. Keepalive and a periodic health check find
# connections a NAT or firewall dropped while idle.
KEFU_REDIS_SOCKET_TIMEOUT = float(os.environ.get("KEFU_REDIS_SOCKET_TIMEOUT", "20"))
# Put before every key the channel layer and the counters write, so installations (or
# parallel test workers) that share one Redis database never hear each other's groups.
KEFU_REDIS_PREFIX = os.environ.get("KEFU_REDIS_PREFIX", "")
# Events a socket's inbox holds. When it is full the channel layer drops what a group send
# adds, without an error: at channels' default (100) desks that fell behind under load lost
# message events (docs/performance.md, "A floor under load"). A lagging socket is late;
# it must not also miss events.
KEFU_CHANNEL_CAPACITY = int(os.environ.get("KEFU_CHANNEL_CAPACITY", "1000"))
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # channels-redis, made to outlive a Redis restart (kefu.core.realtime).
            "BACKEND": "kefu.core.realtime.RedisChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_timeout": KEFU_REDIS_SOCKET_TIMEOUT,
                        "socket_connect_timeout": 5,
                        "socket_keepalive": True,
                        "health_check_interval": 30,
                    }
                ],
                "prefix": f"{KEFU_REDIS_PREFIX}asgi",
                "capacity": KEFU_CHANNEL_CAPACITY,
            },
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": KEFU_CHANNEL_CAPACITY},
        }
    }

# The rate limiter's counters (kefu.core.ratelimit). Redis when there is one, shared by
# every process; otherwise this process's memory, enough for the one process that runs
# without Redis. Short timeouts: if Redis stalls, limits are skipped, not the request.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "kefu.core.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"{KEFU_REDIS_PREFIX}kefu",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "kefu.core.cache.LocMemCache",
            "LOCATION": "kefu",
            # The default (300 entries, then a third dropped) would forget live counters.
            "OPTIONS": {"MAX_ENTRIES": 50_000},
        }
    }

TASKS = {"default": {"BACKEND": os.environ.get("KEFU_TASKS_BACKEND", "django_tasks_db.DatabaseBackend")}}
# A task left RUNNING by a worker that has not beaten for this long (killed mid-task) is
# put back in the queue (kefu.ops.leases); each worker beats six times per lease.
KEFU_WORKER_LEASE_SECONDS = max(1.0, float(os.environ.get("KEFU_WORKER_LEASE_SECONDS", "30")))
# A claimed webhook attempt that never reported back (its worker was killed) is made
# again after this (kefu.webhooks.delivery).
KEFU_WEBHOOK_CLAIM_SECONDS = max(1.0, float(os.environ.get("KEFU_WEBHOOK_CLAIM_SECONDS", "120")))

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "zh-hans"
# The desk speaks Simplified Chinese whatever the browser asks for: with English listed,
# an English browser got Django's own strings (the password page, form errors) in English.
LANGUAGES = [("zh-hans", "简体中文")]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
TIME_ZONE = os.environ.get("KEFU_TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
# The desk and chat assets live in the package, not in an app: point the finders at them.
STATICFILES_DIRS = [PACKAGE_DIR / "static"]
# WhiteNoise warns at start-up when the directory is missing (before collectstatic).
STATIC_ROOT.mkdir(exist_ok=True)
MEDIA_URL = "/media/"
MEDIA_ROOT = VAR_DIR / "media"
WHITENOISE_USE_FINDERS = True

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "SAMEORIGIN"
# Handbooks ask for screens that lock when an agent steps away: after this many
# seconds without a request the session ends and the login page says why.
KEFU_IDLE_TIMEOUT = int(os.environ.get("KEFU_IDLE_TIMEOUT", "900"))
# How often an open desk socket re-checks its session, account, teams and role on its
# own (changes made through kefu's services are pushed at once).
# How often each server process checks that Redis answers and still holds its groups
# (kefu.core.realtime); while it does not, twice a second. docs/reliability.md.
KEFU_REALTIME_CHECK_SECONDS = max(0.2, float(os.environ.get("KEFU_REALTIME_CHECK_SECONDS", "2")))
KEFU_DESK_RECHECK_SECONDS = float(os.environ.get("KEFU_DESK_RECHECK_SECONDS", "60"))
# uvicorn pings every websocket this often and closes one whose pong is this late (its own
# defaults, 20 s and 20 s): a socket that says nothing for minutes stays open, a dead peer is
# found within both. `kefu serve` passes them on.
KEFU_WS_PING_SECONDS = max(1.0, float(os.environ.get("KEFU_WS_PING_SECONDS", "20")))
KEFU_WS_PING_TIMEOUT_SECONDS = max(1.0, float(os.environ.get("KEFU_WS_PING_TIMEOUT_SECONDS", "20")))
# GET /metrics answers with this bearer token; unset, only from the machine itself (loopback).
# Graceful shutdown (kefu serve on SIGTERM, kefu.core.drain): websockets are told to
# reconnect within a random delay up to the spread, then the process waits this long for
# sockets and requests in flight before it exits.
KEFU_DRAIN_SPREAD_MS = max(0, int(os.environ.get("KEFU_DRAIN_SPREAD_MS", "2000")))
KEFU_DRAIN_TIMEOUT_SECONDS = max(1, int(os.environ.get("KEFU_DRAIN_TIMEOUT_SECONDS", "10")))
KEFU_METRICS_TOKEN = os.environ.get("KEFU_METRICS_TOKEN", "")
# A desk socket folds the chatter of conversations it does not have open into one
# ``activity`` frame per this many seconds (docs/architecture.md, "Desk websocket").
KEFU_DESK_ACTIVITY_SECONDS = max(0.0, float(os.environ.get("KEFU_DESK_ACTIVITY_SECONDS", "1")))
# The wallboard (docs/wallboard.md): a board on a desk socket or a wall screen is computed
# again at least this often (waits grow, timers run down) and, after a desk event, at most
# once per KEFU_WALLBOARD_DEBOUNCE_SECONDS (a burst of events costs one snapshot).
KEFU_WALLBOARD_REFRESH_SECONDS = max(1.0, float(os.environ.get("KEFU_WALLBOARD_REFRESH_SECONDS", "10")))
KEFU_WALLBOARD_DEBOUNCE_SECONDS = max(0.0, float(os.environ.get("KEFU_WALLBOARD_DEBOUNCE_SECONDS", "1")))
# Today's KPI tiles (analytics.metrics) are computed at most this often per team; 0: every snapshot.
KEFU_WALLBOARD_KPI_SECONDS = max(0, int(os.environ.get("KEFU_WALLBOARD_KPI_SECONDS", "15")))
# Presence (docs/presence.md): an agent counts as online — routed to, shown to customers
# as someone who can answer — only while her desk was seen within the grace. An open desk
# socket writes a heartbeat to the database every KEFU_PRESENCE_HEARTBEAT_SECONDS, so every
# server process and the worker agree without asking each other; a closed browser, a
# killed server or a lost network stops the heartbeat and the worker's sweep takes her
# offline. The grace covers page changes and reconnects.
KEFU_PRESENCE_GRACE_SECONDS = max(2.0, float(os.environ.get("KEFU_PRESENCE_GRACE_SECONDS", "120")))
KEFU_PRESENCE_HEARTBEAT_SECONDS = min(
    float(os.environ.get("KEFU_PRESENCE_HEARTBEAT_SECONDS", "30")), KEFU_PRESENCE_GRACE_SECONDS / 3
)

# Limits on what customers may send.
KEFU_MAX_MESSAGE_CHARS = int(os.environ.get("KEFU_MAX_MESSAGE_CHARS", "5000"))
KEFU_MAX_IMAGE_BYTES = int(os.environ.get("KEFU_MAX_IMAGE_BYTES", str(5 * 1024 * 1024)))
KEFU_IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
DATA_UPLOAD_MAX_MEMORY_SIZE = KEFU_MAX_IMAGE_BYTES + 1024 * 1024
# A multipart upload to the API (a knowledge-base attachment: 10 MB) with its form
# around it; a larger body is refused with 413 before it is read.
KEFU_MAX_API_UPLOAD_BYTES = int(os.environ.get("KEFU_MAX_API_UPLOAD_BYTES", str(11 * 1024 * 1024)))
# How often they may send it (docs/channels.md, "Rate limits"): per visitor, per address
# (IPv4, or an IPv6 /64), per account. Addresses are shared behind carrier and office
# NAT, so their limits leave room for several people at once.
KEFU_RATE_LIMITS = {
    "chat_message": _env_rates("KEFU_RATELIMIT_CHAT_MESSAGE", "8/10s,20/1m"),
    "chat_message_ip": _env_rates("KEFU_RATELIMIT_CHAT_MESSAGE_IP", "30/10s,120/1m"),
    "chat_signal": _env_rates("KEFU_RATELIMIT_CHAT_SIGNAL", "20/10s,60/1m"),
    # Socket connections per address: each costs two database reads before any frame.
    # Loose, because a shop's customers behind one carrier NAT reconnect on every page.
    "chat_connect_ip": _env_rates("KEFU_RATELIMIT_CHAT_CONNECT_IP", "60/10s,1200/1h"),
    "chat_upload": _env_rates("KEFU_RATELIMIT_CHAT_UPLOAD", "6/1m,30/1h"),
    "chat_upload_ip": _env_rates("KEFU_RATELIMIT_CHAT_UPLOAD_IP", "20/1m,100/1h"),
    "chat_token_ip": _env_rates("KEFU_RATELIMIT_CHAT_TOKEN_IP", "30/1m"),
    # The desk's open/busy/closed state, asked by widget.js on every page of a shop.
    "chat_state_ip": _env_rates("KEFU_RATELIMIT_CHAT_STATE_IP", "120/1m"),
    # The widget's page reports (proactive invitations): one every 10 s per open page.
    "chat_page_ip": _env_rates("KEFU_RATELIMIT_CHAT_PAGE_IP", "120/1m"),
    # Messages left (留言) while the desk is closed or busy: each one becomes a ticket.
    "chat_leave_message": _env_rates("KEFU_RATELIMIT_CHAT_LEAVE_MESSAGE", "3/10m,10/24h"),
    "chat_leave_message_ip": _env_rates("KEFU_RATELIMIT_CHAT_LEAVE_MESSAGE_IP", "20/1h"),
    "csat_ip": _env_rates("KEFU_RATELIMIT_CSAT_IP", "20/1m"),
    "help_feedback_ip": _env_rates("KEFU_RATELIMIT_HELP_FEEDBACK_IP", "10/1m,60/1h"),
    "login": _env_rates("KEFU_RATELIMIT_LOGIN", "5/1m,20/1h"),
    "login_user": _env_rates("KEFU_RATELIMIT_LOGIN_USER", "50/1h"),
    "login_ip": _env_rates("KEFU_RATELIMIT_LOGIN_IP", "20/1m,100/1h"),
}

# Email: inbound SMTP listener and outbound relay.
KEFU_SMTP_LISTEN_HOST = os.environ.get("KEFU_SMTP_LISTEN_HOST", "127.0.0.1")
KEFU_SMTP_LISTEN_PORT = int(os.environ.get("KEFU_SMTP_LISTEN_PORT", "2525"))
# Larger mail is refused during DATA (552) before anything is parsed.
KEFU_MAX_EMAIL_BYTES = int(os.environ.get("KEFU_MAX_EMAIL_BYTES", str(10 * 1024 * 1024)))
# Images attached to one inbound mail that become image messages (each at most
# KEFU_MAX_IMAGE_BYTES); other files are named in the mail's text, not kept.
KEFU_MAX_EMAIL_IMAGES = int(os.environ.get("KEFU_MAX_EMAIL_IMAGES", "10"))
# Other files customers send (docs/channels.md, "Attachments"): the types kept, each
# confirmed by its bytes (kefu.core.files), their size each and together per mail, and
# where they are stored — outside MEDIA_ROOT, served only by permission-checked downloads.
_KNOWN_FILE_TYPES = ("pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "txt", "csv", "zip")
KEFU_FILE_TYPES = tuple(
    t.strip().lower().lstrip(".")
    for t in os.environ.get("KEFU_FILE_TYPES", ",".join(_KNOWN_FILE_TYPES)).split(",")
    if t.strip()
)
if _unknown := set(KEFU_FILE_TYPES) - set(_KNOWN_FILE_TYPES):
    raise RuntimeError(
        f"KEFU_FILE_TYPES: unknown types {sorted(_unknown)} (known: {', '.join(_KNOWN_FILE_TYPES)})"
    )
KEFU_MAX_FILE_BYTES = int(os.environ.get("KEFU_MAX_FILE_BYTES", str(5 * 1024 * 1024)))
KEFU_MAX_EMAIL_FILE_BYTES = int(os.environ.get("KEFU_MAX_EMAIL_FILE_BYTES", str(7 * 1024 * 1024)))
KEFU_MAX_EMAIL_FILES = int(os.environ.get("KEFU_MAX_EMAIL_FILES", "20"))
KEFU_FILE_ROOT = Path(os.environ.get("KEFU_FILE_ROOT", str(VAR_DIR / "files")))
# Outbound delivery of agent replies (email, platform webhooks): attempts, first retry
# delay (doubling each time) and the HTTP timeout for a platform's outbound URL.
KEFU_OUTBOUND_MAX_ATTEMPTS = int(os.environ.get("KEFU_OUTBOUND_MAX_ATTEMPTS", "6"))
# Proactive service (docs/proactive.md): a customer whose chat window reported within this
# many seconds is "in the chat" and gets proactive messages there rather than by email or IM.
KEFU_PROACTIVE_ONLINE_SECONDS = int(os.environ.get("KEFU_PROACTIVE_ONLINE_SECONDS", "90"))
# An incident's notice to affected customers (docs/incidents.md) is not sent to a customer who
# already received this many proactive messages in the last 24 hours, and counts towards it.
KEFU_PROACTIVE_INCIDENT_DAILY_LIMIT = int(os.environ.get("KEFU_PROACTIVE_INCIDENT_DAILY_LIMIT", "3"))
# Public posts (docs/incidents.md): a negative social or live-stream message is "visible" when
# any reach figure the platform sends is at or above its threshold here.
KEFU_PUBLIC_POST_THRESHOLDS = {
    "followers": int(os.environ.get("KEFU_PUBLIC_POST_FOLLOWERS", "10000")),
    "views": int(os.environ.get("KEFU_PUBLIC_POST_VIEWS", "1000")),
    "likes": int(os.environ.get("KEFU_PUBLIC_POST_LIKES", "100")),
    "shares": int(os.environ.get("KEFU_PUBLIC_POST_SHARES", "20")),
    "comments": int(os.environ.get("KEFU_PUBLIC_POST_COMMENTS", "50")),
}
KEFU_OUTBOUND_RETRY_SECONDS = int(os.environ.get("KEFU_OUTBOUND_RETRY_SECONDS", "30"))
KEFU_OUTBOUND_TIMEOUT = float(os.environ.get("KEFU_OUTBOUND_TIMEOUT", "5"))
# Webhook endpoints and outbound URLs that admins type may only lead to public
# addresses (kefu.core.netguard): these networks (CIDRs, comma-separated) are allowed
# too, for integrations inside the company network. Nothing is allowed by default.
KEFU_ALLOWED_PRIVATE_NETWORKS = tuple(
    n.strip() for n in os.environ.get("KEFU_ALLOWED_PRIVATE_NETWORKS", "").split(",") if n.strip()
)
for _net in KEFU_ALLOWED_PRIVATE_NETWORKS:
    try:
        ipaddress.ip_network(_net, strict=False)
    except ValueError as _exc:
        raise RuntimeError(
            f"KEFU_ALLOWED_PRIVATE_NETWORKS: {_net!r} is not a network (e.g. 10.0.0.0/8)"
        ) from _exc
# Django 6.1 mailers: outbound email replies go through the "default" SMTP mailer.
MAILERS = {
    "default": {
        "BACKEND": os.environ.get("KEFU_MAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend"),
        "OPTIONS": {
            "host": os.environ.get("KEFU_SMTP_HOST", "127.0.0.1"),
            "port": int(os.environ.get("KEFU_SMTP_PORT", "25")),
            "username": os.environ.get("KEFU_SMTP_USER", ""),
            "password": os.environ.get("KEFU_SMTP_PASSWORD", ""),
            "use_tls": _env_bool("KEFU_SMTP_TLS", False),
            "timeout": 10,
        },
    }
}
DEFAULT_FROM_EMAIL = os.environ.get("KEFU_FROM_EMAIL", "kefu@shop.example")
# SLA escalation steps also email the people they notify (when they have an address);
# the desk's public address makes the ticket link in those emails absolute.
KEFU_SLA_EMAIL = _env_bool("KEFU_SLA_EMAIL", False)
KEFU_DESK_URL = os.environ.get("KEFU_DESK_URL", "").rstrip("/")
# The weekly review (docs/review-and-stars.md) is emailed to each team's leads on Monday
# from this time (desk time) when switched on.
KEFU_REVIEW_EMAIL = _env_bool("KEFU_REVIEW_EMAIL", False)
KEFU_REVIEW_EMAIL_TIME = os.environ.get("KEFU_REVIEW_EMAIL_TIME", "09:00")
if not re.fullmatch(r"([01]?\d|2[0-3]):[0-5]\d", KEFU_REVIEW_EMAIL_TIME):
    raise RuntimeError(
        f"KEFU_REVIEW_EMAIL_TIME: {KEFU_REVIEW_EMAIL_TIME!r} is not a time of day (e.g. 09:00)"
    )

# Off hours (docs/offhours.md): a message left (留言) while nobody can take the chat is
# answered within this much business time of the team's hours (so in the next opening
# when the desk is closed); and the window of recent conversations whose handling times
# give the queue estimate.
KEFU_LEAVE_MESSAGE_REPLY_MINUTES = int(os.environ.get("KEFU_LEAVE_MESSAGE_REPLY_MINUTES", "120"))
KEFU_QUEUE_ESTIMATE_WINDOW_DAYS = int(os.environ.get("KEFU_QUEUE_ESTIMATE_WINDOW_DAYS", "7"))

# Roles allowed to reveal unmasked personal data (each reveal is audited).
KEFU_PII_REVEAL_ROLES = tuple(
    os.environ.get("KEFU_PII_REVEAL_ROLES", "team_lead,supervisor,manager,admin").split(",")
)

# Opening hours used when no schedule is configured for a team, a channel or the whole desk
# (kefu.hours): (weekday 0=Monday…6=Sunday, "HH:MM", "HH:MM"). Monday to Friday 09:00–18:00,
# the working week the SLA counted before schedules existed; public holidays are closed and
# make-up working days (调休) open. Admins set real hours on /desk/settings/hours/.
KEFU_DEFAULT_BUSINESS_HOURS = tuple((day, "09:00", "18:00") for day in range(5))

# KEFU_LOG_FORMAT=json: one JSON object per line (time, level, logger, message, and the
# exception when there is one), for journald / a log shipper; the default is plain text.
KEFU_LOG_LEVEL = os.environ.get("KEFU_LOG_LEVEL", "INFO").upper()
KEFU_LOG_FORMAT = "json" if os.environ.get("KEFU_LOG_FORMAT", "").strip().lower() == "json" else "text"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "kefu.core.logs.JsonFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            **({"formatter": "json"} if KEFU_LOG_FORMAT == "json" else {}),
        }
    },
    "root": {"handlers": ["console"], "level": KEFU_LOG_LEVEL},
    "loggers": {"django.request": {"level": "ERROR"}},
}

if not DEBUG and os.environ.get("KEFU_SECRET_KEY", "").startswith("django-insecure"):
    raise RuntimeError("Refusing to start: KEFU_SECRET_KEY is an insecure default.")
