"""Schemathesis over the whole OpenAPI document, as an admin.

Every operation gets ``KEFU_FUZZ_EXAMPLES`` generated requests (valid and invalid
values, huge numbers, odd strings); the run fails on any 5xx, on a status the document
does not list, and on an answer that breaks its documented schema or content type.
Bounded so that it fits ``make test`` (about a minute on a 2-core machine).
"""

from __future__ import annotations

import os
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

EXAMPLES = int(os.environ.get("KEFU_FUZZ_EXAMPLES", "8"))


def _load() -> Any:
    from django.core.handlers.wsgi import WSGIHandler

    from kefu.api import api

    loaded = schemathesis.openapi.from_dict(api.get_openapi_schema())
    loaded.app = WSGIHandler()
    return loaded


schema = _load()


@pytest.fixture
def bearer(make_user: Any) -> dict[str, str]:
    from kefu.accounts.models import Role
    from kefu.accounts.services import do_create_token

    admin = make_user("fuzz-admin", role=Role.ADMIN, display_name="管理员")
    _, key = do_create_token(user=admin, name="schemathesis")
    return {"Authorization": f"Bearer {key}"}


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=os.environ.get("KEFU_FUZZ_RANDOM") != "1",
)
@pytest.mark.django_db
def test_api(case: Any, bearer: dict[str, str]) -> None:
    case.call_and_validate(
        headers=bearer,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
