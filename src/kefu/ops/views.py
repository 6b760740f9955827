"""Health, readiness and Prometheus metrics of one kefu process (docs/operations.md).

* ``GET /healthz`` — the process answers (liveness): always 200, touches nothing.
* ``GET /readyz`` — it can serve (readiness): 200 ``ok`` when the database and Redis
  answer, 200 ``degraded`` naming what failed when only Redis does not (the desk
  works without realtime), 503 when the database does not. A load balancer sends
  traffic only to ready processes.
* ``GET /metrics`` — this process's counters (``kefu.core.telemetry``) plus, at scrape
  time, the database-wide queues: conversations waiting for an agent, the task backlog
  and webhook deliveries waiting. Allowed with ``Authorization: Bearer
  <KEFU_METRICS_TOKEN>`` when that is set, otherwise only from the machine itself
  (loopback), so the figures are not public.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from django_tasks_db.models import DBTaskResult

from kefu.core import realtime, telemetry
from kefu.routing.services import queue_overview
from kefu.webhooks.models import WebhookDelivery

log = logging.getLogger(__name__)

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_cache() -> None:
    cache.get("kefu:readyz")


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    failed: dict[str, str] = {}
    for name, check in (("database", _check_database), ("cache", _check_cache)):
        try:
            check()
        except Exception as exc:  # whatever the backend raises, the answer is "not ready"
            log.warning("readiness check %s failed", name, exc_info=True)
            failed[name] = type(exc).__name__
    if "database" in failed:
        return JsonResponse({"status": "unavailable", "failed": failed}, status=503)
    # Without Redis the process still serves: messages are stored and acknowledged,
    # rate limits are skipped, and realtime events resume when it is back. Every
    # process shares that Redis, so answering 503 would only take them all out of the
    # balancer at once (docs/reliability.md).
    live = realtime.status()
    if live["status"] != "ok":
        failed["realtime"] = live["reason"]
    if failed:
        return JsonResponse({"status": "degraded", "degraded": failed})
    return JsonResponse({"status": "ok"})


def _allowed(request: HttpRequest) -> bool:
    token = settings.KEFU_METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def _queue_gauges() -> list[tuple[str, str, dict[str, str], float]]:
    gauges: list[tuple[str, str, dict[str, str], float]] = []
    for row in queue_overview():
        labels = {"team_id": str(row["team_id"]), "team": str(row["team"])}
        gauges.append(
            (
                "kefu_conversations_queued",
                "Conversations waiting in a team's queue for an agent.",
                labels,
                row["waiting"],
            )  # type: ignore[arg-type]
        )
        gauges.append(
            (
                "kefu_queue_longest_wait_seconds",
                "How long the longest-waiting conversation of a team's queue has waited.",
                labels,
                row["longest_wait_seconds"],  # type: ignore[arg-type]
            )
        )
    tasks = DBTaskResult.objects.values_list("status").order_by()
    by_status: dict[str, int] = {}
    for (status,) in tasks.filter(status__in=("READY", "RUNNING")):
        by_status[status] = by_status.get(status, 0) + 1
    for status in ("READY", "RUNNING"):
        gauges.append(
            (
                "kefu_tasks",
                "Background tasks by state: READY is the backlog the worker has not started.",
                {"state": status.lower()},
                by_status.get(status, 0),
            )
        )
    gauges.append(
        (
            "kefu_webhook_deliveries_pending",
            "Webhook deliveries written and not yet delivered or given up.",
            {},
            WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING).count(),
        )
    )
    return gauges


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not _allowed(request):
        return JsonResponse({"error": "forbidden", "detail": "需要指标令牌或本机访问"}, status=403)
    extra: list[Any] = []
    try:
        extra = _queue_gauges()
    except Exception:  # the process's own counters are still worth a scrape
        log.exception("metrics: the database gauges failed")
        telemetry.count("kefu_metrics_errors_total", "Scrapes whose database gauges failed.")
    return HttpResponse(telemetry.render(extra), content_type=PROMETHEUS_TEXT)
