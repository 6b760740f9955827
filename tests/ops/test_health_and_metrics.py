"""Health, readiness and Prometheus metrics (kefu.ops.views) through HTTP and the sockets."""

from __future__ import annotations

import re
from typing import Any

import pytest
from channels.db import database_sync_to_async

from kefu.conversations.services import do_receive_customer_message
from kefu.core import telemetry

pytestmark = pytest.mark.django_db


def _value(text: str, series: str) -> float | None:
    """The value of one exposition line (``name{labels}``), or None when absent."""
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
    return float(match.group(1)) if match else None


def test_healthz_answers_without_touching_anything(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_readyz_is_ok_when_the_database_and_cache_answer(client):
    assert client.get("/readyz").json() == {"status": "ok"}


def test_readyz_is_503_naming_the_database_when_it_fails(client, monkeypatch):
    from django.db import OperationalError

    from kefu.ops import views

    def database_away() -> None:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(views, "_check_database", database_away)
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json() == {"status": "unavailable", "failed": {"database": "OperationalError"}}


def test_readyz_is_200_degraded_when_only_redis_fails(client, monkeypatch):
    from kefu.ops import views

    def redis_away() -> None:
        raise ConnectionError("Redis 已断开")

    monkeypatch.setattr(views, "_check_cache", redis_away)
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "degraded", "degraded": {"cache": "ConnectionError"}}


def test_metrics_count_requests_messages_and_show_the_queues(
    client, desk, open_all_week, django_capture_on_commit_callbacks
):
    from kefu.accounts.models import AgentStatus, User

    User.objects.filter(pk=desk.agent.pk).update(status=AgentStatus.OFFLINE)  # nobody online: it queues
    before = (
        _value(client.get("/metrics").content.decode(), 'kefu_customer_messages_total{channel="web"}') or 0
    )
    with django_capture_on_commit_callbacks(execute=True):  # it is queued after the commit
        do_receive_customer_message(
            channel=desk.channel, identities=[("web", "m-1")], text="你好，想问下发货时间"
        )
    client.get("/api/v1/ping")
    r = client.get("/metrics")
    assert r.status_code == 200 and r["Content-Type"].startswith("text/plain; version=0.0.4")
    text = r.content.decode()
    assert _value(text, 'kefu_customer_messages_total{channel="web"}') == before + 1
    assert (_value(text, 'kefu_http_requests_total{method="GET",status="2xx"}') or 0) >= 2
    assert "# TYPE kefu_http_request_duration_seconds histogram" in text
    assert _value(text, 'kefu_http_request_duration_seconds_bucket{method="GET",le="+Inf"}') >= 2
    queued = f'kefu_conversations_queued{{team="售前咨询",team_id="{desk.team.pk}"}}'
    assert _value(text, queued) == 1
    assert _value(text, 'kefu_tasks{state="ready"}') is not None
    assert _value(text, "kefu_webhook_deliveries_pending") == 0


def test_metrics_are_refused_from_elsewhere_without_the_token(client, settings):
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 403
    settings.KEFU_METRICS_TOKEN = "prom-令牌-2026"
    assert client.get("/metrics").status_code == 403  # loopback no longer enough
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    ok = client.get("/metrics", REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION="Bearer prom-令牌-2026")
    assert ok.status_code == 200


def test_histogram_buckets_are_cumulative_and_large_values_only_count_in_inf():
    telemetry.observe("kefu_test_seconds", "测试", 0.003)
    telemetry.observe("kefu_test_seconds", "测试", 0.3)
    telemetry.observe("kefu_test_seconds", "测试", 42.0)
    text = telemetry.render()
    assert _value(text, 'kefu_test_seconds_bucket{le="0.005"}') == 1
    assert _value(text, 'kefu_test_seconds_bucket{le="0.5"}') == 2
    assert _value(text, 'kefu_test_seconds_bucket{le="5.0"}') == 2
    assert _value(text, 'kefu_test_seconds_bucket{le="+Inf"}') == 3
    assert _value(text, "kefu_test_seconds_count") == 3
    assert _value(text, "kefu_test_seconds_sum") == pytest.approx(42.303)


@pytest.mark.django_db(transaction=True)
async def test_open_websockets_and_desk_frames_are_counted(desk: Any, settings: Any):
    from tests.realtime.sockets import desk_socket, receive_until, session_for

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    series = 'kefu_websockets_open{kind="desk"}'
    before = _value(telemetry.render(), series) or 0
    comm = desk_socket(await database_sync_to_async(session_for)(desk.agent))
    assert (await comm.connect(timeout=10))[0]
    assert _value(telemetry.render(), series) == before + 1
    frames = _value(telemetry.render(), 'kefu_desk_frames_total{type="event"}') or 0
    await database_sync_to_async(do_receive_customer_message)(
        channel=desk.channel, identities=[("web", "ws-1")], text="在吗？"
    )
    await receive_until(comm, lambda f: f.get("event") == "message.created")
    assert (_value(telemetry.render(), 'kefu_desk_frames_total{type="event"}') or 0) > frames
    await comm.disconnect()
    assert _value(telemetry.render(), series) == before
