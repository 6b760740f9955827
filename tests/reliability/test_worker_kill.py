"""``kill -9`` of ``kefu worker`` in the middle of a task: the task runs again, its effect happens once.

The task is a webhook send (``send_pending_webhooks``) whose receiver holds the first
request open; the worker is killed while it waits. django_tasks_db alone would leave the
task RUNNING for ever; the next worker finds it orphaned (its worker's heartbeat is
older than the lease), runs it again, and the receiver gets the same delivery id a
second time, answers it, and so counts one delivery.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.realtime.cluster import Cluster

pytestmark = [pytest.mark.slow]

PUBLISH = """
from django.db import transaction
from kefu.core.events import publish
from kefu.webhooks.models import WebhookEndpoint
WebhookEndpoint.objects.create(url="http://127.0.0.1:{port}/hook", events=["ticket.created"], trusted=True)
with transaction.atomic():
    publish("ticket.created", {{"ticket": {{"number": "TK-20261203-0001", "title": "退款未到账"}}}})
print(json.dumps(None))
"""

STATE = """
from django_tasks_db.models import DBTaskResult
from kefu.webhooks.models import WebhookDelivery
tasks = [
    {"id": str(t.pk), "status": t.status, "path": t.task_path, "workers": t.worker_ids}
    for t in DBTaskResult.objects.order_by("enqueued_at")
]
deliveries = list(WebhookDelivery.objects.values("event_id", "status", "attempts"))
print(json.dumps({"tasks": tasks, "deliveries": deliveries}, default=str))
"""


class Receiver(ThreadingHTTPServer):
    """Holds the first request open until ``release``; answers 200 to the rest, counting ids."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.first_arrived = threading.Event()
        self.release = threading.Event()
        self.seen: list[str] = []
        self.accepted: set[str] = set()
        self.lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        delivery = self.headers.get("X-Kefu-Delivery", "")
        with self.server.lock:
            first = not self.server.seen
            self.server.seen.append(delivery)
        if first:
            self.server.first_arrived.set()
            self.server.release.wait(30)
            return  # the worker is dead by now: nobody reads an answer
        with self.server.lock:
            self.server.accepted.add(delivery)  # an integration de-duplicates by this id
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()


def _worker(cluster: Cluster) -> subprocess.Popen[bytes]:
    with open(cluster.tmp / "worker.log", "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "kefu.cli", "worker", "--interval", "0.2", "--timer-interval", "0.5"],
            cwd=cluster.tmp,
            env=cluster.env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


def _wait(check: Any, timeout: float, what: str, cluster: Cluster) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.2)
    log = (cluster.tmp / "worker.log").read_text(errors="replace")[-4000:]
    raise AssertionError(f"{what} not within {timeout}s; state {cluster.run(STATE)}\n{log}")


def test_a_task_cut_off_by_kill_9_runs_again_and_delivers_once(receiver: Receiver) -> None:
    env = {
        "KEFU_ALLOWED_PRIVATE_NETWORKS": "127.0.0.0/8",
        "KEFU_WORKER_LEASE_SECONDS": "2",
        "KEFU_WEBHOOK_CLAIM_SECONDS": "2",
    }
    with Cluster(servers=0, env=env) as cluster:
        cluster.run(PUBLISH.format(port=receiver.server_address[1]))
        first = _worker(cluster)
        try:
            assert receiver.first_arrived.wait(60), (cluster.tmp / "worker.log").read_text(errors="replace")
            first.kill()  # SIGKILL: no clean-up of any kind
            first.wait(10)
        finally:
            if first.poll() is None:
                first.kill()
        receiver.release.set()
        cut = cluster.run(STATE)
        running = [t for t in cut["tasks"] if t["status"] == "RUNNING"]
        assert [t["path"] for t in running] == ["kefu.webhooks.delivery.send_pending_webhooks"], cut

        second = _worker(cluster)
        try:

            def settled() -> dict[str, Any] | None:
                state = cluster.run(STATE)
                task = next(t for t in state["tasks"] if t["id"] == running[0]["id"])
                delivered = state["deliveries"][0]["status"] == "succeeded"
                return state if task["status"] == "SUCCESSFUL" and delivered else None

            state = _wait(settled, 60, "the requeued task and the delivery", cluster)
        finally:
            second.terminate()
            try:
                second.wait(30)
            except subprocess.TimeoutExpired:
                second.kill()
                second.wait(10)

    task = next(t for t in state["tasks"] if t["id"] == running[0]["id"])
    assert len(task["workers"]) == 2  # claimed by the killed worker, then by the next one
    (delivery,) = state["deliveries"]
    assert delivery["attempts"] == 2
    # The receiver saw the one event twice (the cut-off attempt, then the retry) and took it once.
    assert receiver.seen == [delivery["event_id"]] * 2
    assert receiver.accepted == {delivery["event_id"]}
    assert not [t for t in state["tasks"] if t["status"] == "RUNNING"]
    json.dumps(state)
