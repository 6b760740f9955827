"""An admin's token for the API-wide tests."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def admin_headers(make_user: Any) -> dict[str, str]:
    from kefu.accounts.models import Role
    from kefu.accounts.services import do_create_token

    admin = make_user("guanliyuan", role=Role.ADMIN, display_name="系统管理员")
    _, key = do_create_token(user=admin, name="api-tests")
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}
