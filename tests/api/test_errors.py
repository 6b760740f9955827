"""The API's boundary: every answer is JSON, bad input is a 4xx naming the field, never a 500.

Found by fuzzing (schemathesis) and raw clients: NUL and lone surrogates, offsets past
2**63, time-zone offsets PostgreSQL cannot store, a 30 MB body, JSON sent as text/plain,
unknown URLs and failures answered with Django's HTML pages.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def _post(client: Client, path: str, body: Any, headers: dict[str, str], **kw: Any) -> Any:
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(
        path, data=raw, content_type=kw.pop("content_type", "application/json"), **headers, **kw
    )


@pytest.mark.parametrize(
    "text",
    ["退款\x00到账了吗", "发票\ud800抬头", "尺码\x1b[31m偏小"],
    ids=["nul", "lone-surrogate", "escape"],
)
def test_a_control_character_or_lone_surrogate_in_a_body_is_a_400_naming_the_field(
    client: Client, admin_headers: dict[str, str], text: str
) -> None:
    # json.dumps writes a lone surrogate as the escape a raw client would send.
    response = _post(client, "/api/v1/customers", {"name": "李娜", "notes": text}, admin_headers)
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid_input"
    assert response.json()["fields"] == {"notes": "不能包含控制字符"}


def test_a_nested_string_is_named_by_its_path(client: Client, admin_headers: dict[str, str]) -> None:
    body = {"name": "王芳", "identities": [{"kind": "phone", "value": "138\x000013"}]}
    response = _post(client, "/api/v1/customers", body, admin_headers)
    assert response.status_code == 400
    assert response.json()["fields"] == {"identities.0.value": "不能包含控制字符"}


def test_a_nul_in_a_query_parameter_is_a_400(client: Client, admin_headers: dict[str, str]) -> None:
    response = client.get("/api/v1/customers", {"q": "张\x00伟"}, **admin_headers)
    assert response.status_code == 400
    assert response.json()["fields"] == {"q": "不能包含控制字符"}


def test_a_nul_in_the_path_is_a_400(client: Client, admin_headers: dict[str, str]) -> None:
    response = client.get("/api/v1/orders/SO2026%00/logistics", **admin_headers)
    assert response.status_code == 400
    assert response.json()["fields"] == {"path": "不能包含控制字符"}


def test_json_sent_as_text_plain_is_415(client: Client, admin_headers: dict[str, str]) -> None:
    response = _post(client, "/api/v1/customers", {"name": "赵磊"}, admin_headers, content_type="text/plain")
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"
    from kefu.customers.models import Customer

    assert not Customer.objects.filter(name="赵磊").exists()


def test_json_with_a_charset_is_accepted(client: Client, admin_headers: dict[str, str]) -> None:
    response = _post(
        client,
        "/api/v1/customers",
        {"name": "赵磊"},
        admin_headers,
        content_type="application/json; charset=utf-8",
    )
    assert response.status_code == 201, response.content


def test_a_30_mb_body_is_413_json_before_it_is_read(client: Client, admin_headers: dict[str, str]) -> None:
    body = json.dumps({"name": "大客户", "notes": "备注" * (15 * 1024 * 1024)})
    response = _post(client, "/api/v1/customers", body, admin_headers)
    assert response.status_code == 413
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"] == "too_large"


def test_a_body_over_the_limit_without_content_length_is_413(
    client: Client, admin_headers: dict[str, str], settings: Any
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    # The length header says little (a chunked upload): the limit holds while reading.
    response = _post(client, "/api/v1/customers", {"notes": "长" * 2048}, admin_headers, CONTENT_LENGTH="10")
    assert response.status_code in (400, 413)
    assert response["Content-Type"].startswith("application/json")


def test_an_unknown_api_url_is_a_json_404(client: Client, admin_headers: dict[str, str]) -> None:
    response = client.get("/api/v1/no-such-thing", **admin_headers)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_a_method_the_path_does_not_serve_is_a_json_405(
    client: Client, admin_headers: dict[str, str]
) -> None:
    response = client.put("/api/v1/customers", **admin_headers)
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
    assert "GET" in response["Allow"]


def test_an_unexpected_failure_is_a_json_500(
    client: Client, admin_headers: dict[str, str], monkeypatch: Any, caplog: Any
) -> None:
    from kefu.customers import services

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "do_create_customer", broken)
    response = _post(client, "/api/v1/customers", {"name": "孙悦"}, admin_headers)
    assert response.status_code == 500
    assert response.json() == {"error": "server_error", "detail": "服务器内部错误，请稍后再试"}
    assert "disk full" in caplog.text


@pytest.mark.parametrize("path", ["/api/v1/customers", "/api/v1/audit", "/api/v1/tickets", "/api/v1/orders"])
def test_an_offset_past_2_to_the_63_is_an_empty_page(
    client: Client, admin_headers: dict[str, str], path: str
) -> None:
    response = client.get(path, {"offset": 2**63, "limit": 10}, **admin_headers)
    assert response.status_code == 200, response.content
    assert response.json()["items"] == []
    assert response.json()["offset"] == 2**63


def test_an_id_past_2_to_the_63_is_a_400_not_a_500(client: Client, admin_headers: dict[str, str]) -> None:
    response = client.get("/api/v1/audit", {"actor_id": -(2**80)}, **admin_headers)
    assert response.status_code in (200, 400), response.content
    response = client.get(f"/api/v1/customers/{2**70}", **admin_headers)
    assert response.status_code in (400, 404), response.content


@pytest.mark.parametrize("offset", ["+23:00", "-16:00"])
def test_a_logistics_time_with_an_offset_beyond_15_59_is_a_400(
    client: Client, admin_headers: dict[str, str], offset: str
) -> None:
    created = _post(
        client,
        "/api/v1/orders",
        {
            "order_no": "SO20261202001",
            "customer": {"kind": "phone", "value": "13800138000"},
            "customer_name": "周杰",
            "amount": "238.00",
            "placed_at": "2026-11-30T09:00:00+08:00",
        },
        admin_headers,
    )
    assert created.status_code == 201, created.content
    event = {"at": f"2026-12-01T10:00:00{offset}", "location": "上海转运中心", "description": "已发出"}
    response = _post(client, "/api/v1/orders/SO20261202001/logistics", {"events": [event]}, admin_headers)
    assert response.status_code == 400, response.content
    assert response.json()["fields"] == {"events.0.at": "时区偏移应在 ±15:59 以内，如 +08:00"}


def test_retraining_intents_is_reachable(client: Client, admin_headers: dict[str, str]) -> None:
    response = _post(client, "/api/v1/intents/retrain", {}, admin_headers)
    assert response.status_code == 202, response.content
    assert response.json()["task_id"]
