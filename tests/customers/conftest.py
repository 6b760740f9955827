"""Fixtures for the customers tests: signed-in API clients per role."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client


class ApiClient:
    """A session client that speaks JSON to /api/v1."""

    def __init__(self, user: Any):
        self.client = Client()
        self.client.force_login(user)
        self.user = user

    def _call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        fn = getattr(self.client, method)
        if body is None:
            return fn(f"/api/v1{path}", params or None)
        return fn(f"/api/v1{path}", data=json.dumps(body), content_type="application/json")

    def get(self, path: str, **params: Any) -> Any:
        return self._call("get", path, **params)

    def post(self, path: str, body: Any = None) -> Any:
        return self._call("post", path, body if body is not None else {})

    def patch(self, path: str, body: Any) -> Any:
        return self._call("patch", path, body)

    def delete(self, path: str) -> Any:
        return self.client.delete(f"/api/v1{path}")


@pytest.fixture
def api_as(make_user: Callable[..., Any]) -> Callable[..., ApiClient]:
    def make(role: str = "agent", **kw: Any) -> ApiClient:
        return ApiClient(make_user(role=role, **kw))

    return make


@pytest.fixture
def make_customer(db: Any) -> Callable[..., Any]:
    from django.db import transaction

    from kefu.customers.identities import do_resolve_customer

    def make(name: str = "张伟", *, identities: tuple[tuple[str, str], ...] = (), **fields: Any) -> Any:
        from kefu.customers.models import Customer

        with transaction.atomic():
            if identities:
                customer = do_resolve_customer(identities, name=name)
            else:
                customer = Customer.objects.create(name=name)
            if fields:
                Customer.objects.filter(pk=customer.pk).update(**fields)
                customer.refresh_from_db()
        return customer

    return make


ORDER = {
    "order_no": "YJ20261120001",
    "customer": {"kind": "phone", "value": "13812345678"},
    "customer_name": "李娜",
    "amount": "128.00",
    "payment_status": "paid",
    "shipping_status": "shipped",
    "carrier": "顺丰速运",
    "tracking_no": "SF1234567890",
    "address": "浙江省杭州市西湖区文三路 90 号 3 幢 502 室",
    "placed_at": "2026-11-20T14:30:00+08:00",
    "items": [
        {"sku": "BWB-500", "name": "真空保温杯 500ml", "quantity": 1, "price": "89.00"},
        {"name": "杯刷", "quantity": 3, "price": "13.00"},
    ],
    "logistics": [
        {"at": "2026-11-20T18:00:00+08:00", "location": "杭州", "description": "快件已揽收"},
    ],
}


@pytest.fixture
def order_payload() -> dict[str, Any]:
    return json.loads(json.dumps(ORDER))


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    # Users are created in almost every test; the real hasher is slow on purpose.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
