"""Schemathesis over the whole OpenAPI document, as an admin: no 5xx, answers match the schema."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES = 8


def _load() -> Any:
    from django.core.handlers.wsgi import WSGIHandler

    from kefu.api import api

    loaded = schemathesis.openapi.from_dict(api.get_openapi_schema())
    loaded.app = WSGIHandler()
    return loaded


schema = _load()


@pytest.fixture
def admin_headers(make_user: Any) -> dict[str, str]:
    from kefu.accounts.models import Role
    from kefu.accounts.services import do_create_token

    admin = make_user("fuzz-admin", role=Role.ADMIN, display_name="管理员")
    _, key = do_create_token(user=admin, name="schemathesis")
    return {"Authorization": f"Bearer {key}"}


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@pytest.mark.django_db
def test_api(case: Any, admin_headers: dict[str, str]) -> None:
    case.call_and_validate(
        headers=admin_headers,
        checks=[
            not_a_server_error,
            response_schema_conformance,
            content_type_conformance,
            status_code_conformance,
        ],
    )
