"""A page's query string is checked at the boundary, as the API's is (kefu.core.middleware)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_a_control_character_in_a_pages_query_is_a_readable_400(client: Client, make_user: Any) -> None:
    """The inbox's filters reach the database as they are: NUL is refused before they run."""
    client.force_login(make_user("nul-agent"))
    for query in ({"status": "open\x00"}, {"x\x01y": "1"}):
        response = client.get("/desk/", query)
        assert response.status_code == 400
        assert "含有无效字符" in response.content.decode()
    assert client.get("/desk/", {"status": "open"}).status_code == 200
