"""A real kefu server and Chromium for the browser tests.

A database is migrated and seeded once per session through the real services (in a
subprocess); ``live_desk`` (one per test module) serves a copy of it with uvicorn on a
free loopback port. Websockets are real, and the test process never touches the
database, so Playwright's sync API and Django's async-safety checks stay apart.
``live_desk.run(code)`` runs more setup in the same database (``emit(obj)`` prints
the JSON the call returns). Realtime uses the in-memory channel layer of the one
server process, so events published by such a setup subprocess reach no browser:
a page that needs them is reloaded, as a customer coming back would.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import migrated
from tests.chromium import CHROMIUM, chromium

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "kefu-browser-pass-2026"

PRELUDE = """
import json, os, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu.settings")
django.setup()
def emit(obj):
    print(json.dumps(obj, ensure_ascii=False))
"""

# The shop every browser test starts from: a general team with an online agent, a
# supervisor, the web channel, a department that needs an order and a tracking number,
# the script library, and known web visitors with orders (their tokens are returned so
# a page can open the chat as that visitor).
SEED = """
from datetime import timedelta
from django.utils import timezone
from kefu.accounts.models import AgentStatus, Role, Team, User
from kefu.accounts.services import do_create_user
from kefu.channels.models import Channel
from kefu.channels.visitor import issue_visitor_token
from kefu.customers.models import Customer
from kefu.customers.orders import do_upsert_order
from kefu.replies.library import LIBRARY
from kefu.replies.models import ShopProfile
from kefu.replies.services import do_install_library
from kefu.tickets.models import Department

password = os.environ["SEED_PASSWORD"]
team = Team.objects.create(name="售前咨询", is_general=True)
agent = do_create_user(username="xiaomei", password=password, role=Role.AGENT, teams=(team,),
                       display_name="小美", max_concurrent=50)
User.objects.filter(pk=agent.pk).update(status=AgentStatus.ONLINE, last_seen_at=timezone.now())
lead = do_create_user(username="zuzhang", password=password, role=Role.TEAM_LEAD, teams=(team,),
                      display_name="李组长")
supervisor = do_create_user(username="zhuguan", password=password, role=Role.SUPERVISOR,
                            display_name="王主管")
channel = Channel.objects.create(name="官网在线客服", kind=Channel.Kind.WEB, team=team)
Department.objects.create(name="仓储物流部", required_fields=["order_no", "tracking_no"], deadline_hours=24)
ShopProfile.objects.create(shop_name="悦家生活旗舰店", return_address="浙江省杭州市余杭区仓前街道 1 号悦家仓",
                           service_hours="每天 9:00-22:00")
do_install_library(LIBRARY, actor=supervisor)

now = timezone.now()
visitors = {}
for key, name, vip, tags, order_no, product, price in [
    ("zhang", "张女士", 2, ["老客户", "保温杯"], "YJ20261118001", "悦家 316 不锈钢保温杯 500ml", "129.00"),
    ("liu", "刘先生", 0, [], "YJ20261119002", "悦家 空气炸锅 5L", "399.00"),
    ("chen", "陈女士", 1, ["易投诉"], "YJ20261117003", "悦家 乳胶枕 2 只装", "258.00"),
    ("zhao", "赵先生", 0, [], "YJ20261116004", "悦家 电热水壶 1.7L", "89.00"),
]:
    visitor_id = "visitor-" + key
    order, _ = do_upsert_order(
        actor=None,
        order_no=order_no, amount=price, placed_at=now - timedelta(days=4),
        customer={"kind": "web", "value": visitor_id}, customer_name=name,
        shipping_status="in_transit", carrier="顺丰速运", tracking_no="SF14" + order_no[-7:] + "88",
        address="上海市浦东新区张江路 88 弄 6 号 1202 室",
        items=[{"name": product, "quantity": 1, "price": price, "sku": "SKU-" + key.upper()}],
        logistics=[
            {"at": (now - timedelta(days=3)).isoformat(), "location": "杭州", "description": "快件已从杭州转运中心发出"},
            {"at": (now - timedelta(days=2, hours=20)).isoformat(), "location": "上海", "description": "快件到达上海浦东集散中心"},
        ],
    )
    Customer.objects.filter(pk=order.customer_id).update(vip_level=vip, tags=tags, phone="13812345678")
    visitors[key] = {"customer_id": order.customer_id, "order_no": order_no,
                     "token": issue_visitor_token(channel.pk, visitor_id=visitor_id)}
emit({"channel_id": channel.pk, "team_id": team.pk, "agent_id": agent.pk,
      "supervisor_id": supervisor.pk, "lead_id": lead.pk, "visitors": visitors})
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveDesk:
    """A seeded kefu behind uvicorn: ``url``, ``seed`` and ``run(code)`` for more setup.

    ``LiveDesk.prepare()`` migrates and seeds a database once; ``from_template`` copies
    it (migrating takes most of a server's start-up) and serves the copy.
    """

    def __init__(self, *, secret_key: str | None = None) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="kefu-browser-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = self.tmp / "uvicorn.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.seed: dict[str, Any] = {}
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("KEFU_", "PYTEST_", "DJANGO_"))}
        self.env.update(
            {
                "DJANGO_SETTINGS_MODULE": "kefu.settings",
                # Visitor tokens in the seed are signed with it: copies share the key.
                "KEFU_SECRET_KEY": secret_key or secrets.token_urlsafe(40),
                "KEFU_SQLITE_PATH": str(self.db),
                "KEFU_VAR_DIR": str(self.tmp / "var"),
                "KEFU_LOG_LEVEL": "WARNING",
                "KEFU_ALLOWED_HOSTS": "127.0.0.1,localhost",
                # The seed's agent is online from the start, long before most tests open
                # her desk: a long grace keeps her routed to (presence has its own tests).
                "KEFU_PRESENCE_GRACE_SECONDS": "86400",
                "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]),
                "SEED_PASSWORD": PASSWORD,
            }
        )

    @property
    def db(self) -> Path:
        return self.tmp / "db.sqlite3"

    def run(self, code: str, *, timeout: float = 60) -> Any:
        """Run ``code`` (Django set up, ``emit`` defined) against this server's database."""
        result = subprocess.run(
            [sys.executable, "-c", PRELUDE + code],
            cwd=self.tmp,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(f"setup code failed ({result.returncode}):\n{result.stderr[-4000:]}")
        lines = result.stdout.strip().splitlines()
        return json.loads(lines[-1]) if lines else None

    @classmethod
    def prepare(cls) -> LiveDesk:
        """A migrated, seeded database with no server (the template)."""
        desk = cls()
        try:
            migrated.sqlite_copy(desk.db, desk.env)
            desk.seed = desk.run(SEED)
        except BaseException:
            desk.stop()
            raise
        return desk

    @classmethod
    def from_template(cls, template: LiveDesk) -> LiveDesk:
        desk = cls(secret_key=template.env["KEFU_SECRET_KEY"])
        for suffix in ("", "-wal", "-shm"):
            source = Path(str(template.db) + suffix)
            if source.exists():
                shutil.copyfile(source, str(desk.db) + suffix)
        desk.seed = json.loads(json.dumps(template.seed))
        return desk

    def start(self) -> LiveDesk:
        with open(self.log, "wb") as fh:
            self.proc = subprocess.Popen(
                [
                    sys.executable, "-m", "uvicorn", "kefu.asgi:application",
                    "--host", "127.0.0.1", "--port", str(self.port),
                    "--lifespan", "off", "--log-level", "warning", "--no-access-log",
                ],
                cwd=self.tmp,
                env=self.env,
                stdout=fh,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited:\n{self.logs()}")
            try:
                if httpx.get(f"{self.url}/api/v1/ping", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"uvicorn not ready after 60 s:\n{self.logs()}")

    def logs(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None
        shutil.rmtree(self.tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def desk_template() -> Iterator[LiveDesk]:
    if not os.path.exists(CHROMIUM):
        pytest.skip("no Chromium at /usr/bin/chromium")
    template = LiveDesk.prepare()
    try:
        yield template
    finally:
        template.stop()


@pytest.fixture(scope="module")
def live_desk(desk_template: LiveDesk) -> Iterator[LiveDesk]:
    desk = LiveDesk.from_template(desk_template)
    try:
        yield desk.start()
    finally:
        desk.stop()


@pytest.fixture(scope="module")
def browser(live_desk: LiveDesk) -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    # A loaded two-core machine running the whole suite needs more than the 5 s default.
    sync_api.expect.set_options(timeout=10_000)
    try:
        with chromium() as browser:
            yield browser
    finally:
        sync_api.expect.set_options(timeout=None)


@pytest.fixture
def new_context(browser: Any) -> Iterator[Any]:
    """``new_context(**options)``: a fresh browser profile, closed after the test."""
    contexts: list[Any] = []

    def make(**options: Any) -> Any:
        options.setdefault("locale", "zh-CN")
        options.setdefault("timezone_id", "Asia/Shanghai")
        context = browser.new_context(**options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def desk_page(new_context: Any, live_desk: LiveDesk) -> Any:
    """``desk_page("xiaomei", path="/desk/")``: a page logged in through /login/."""

    def login(username: str, *, path: str = "/desk/", **options: Any) -> Any:
        page = new_context(**options).new_page()
        page.goto(f"{live_desk.url}/login/?next={path}")
        page.fill("#id_username", username)
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_desk.url}{path}")
        return page

    return login


@pytest.fixture
def chat_page(new_context: Any, live_desk: LiveDesk) -> Any:
    """``chat_page(visitor=None)``: the customer's /chat, as a known seeded visitor or a new one."""

    def open_chat(visitor: str | None = None, *, init_script: str = "", **options: Any) -> tuple[Any, Any]:
        context = new_context(**options)
        if init_script:
            context.add_init_script(init_script)
        if visitor is not None:
            channel = live_desk.seed["channel_id"]
            token = live_desk.seed["visitors"][visitor]["token"]
            context.add_init_script(
                f"window.localStorage.setItem({json.dumps(f'kefu.chat.token.{channel}')}, {json.dumps(token)});"
            )
        page = context.new_page()
        page.goto(f"{live_desk.url}/chat")
        page.wait_for_selector(
            "[data-role=conn][data-state=online]", state="attached"
        )  # hidden once online: the header shows the desk's state
        return context, page

    return open_chat


@pytest.fixture
def shop_site(new_context: Any, live_desk: LiveDesk) -> Iterator[Any]:
    """``shop_site(channel_id, title=…, body=…, page_kind=…, path=…)``: a shop's page with the
    embed snippet, served on a loopback origin of its own, opened in a new browser context.

    A page made up by the browser counts as public, and Chromium's private-network rules then
    refuse loopback; on its own origin the widget's requests and the chat iframe are
    cross-origin, as on a real shop.
    """
    servers: list[ThreadingHTTPServer] = []

    def open_shop(
        channel_id: int,
        *,
        title: str = "悦家生活旗舰店",
        body: str = "<h1>悦家生活旗舰店</h1>",
        page_kind: str | None = None,
        path: str = "/",
    ) -> Any:
        kind = f" data-page='{page_kind}'" if page_kind else ""
        html = (
            f"<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'><title>{title}</title></head>"
            f"<body>{body}"
            f"<script src='{live_desk.url}/static/kefu/widget.js' data-channel='{channel_id}'{kind} async></script>"
            "</body></html>"
        ).encode()

        class Shop(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(html)))
                self.end_headers()
                self.wfile.write(html)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Shop)
        servers.append(server)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        page = new_context().new_page()
        page.goto(f"http://localhost:{server.server_address[1]}{path}")
        return page

    yield open_shop
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Any:
    """A failed browser test shows the end of its server's log (CI keeps only a failed run's output)."""
    report = yield
    if report.failed and call.when == "call":
        desk = item.funcargs.get("live_desk") if hasattr(item, "funcargs") else None
        if isinstance(desk, LiveDesk):
            report.sections.append(("uvicorn log (last 4,000 characters)", desk.logs() or "(empty)"))
    return report
