"""The interactive API docs load their scripts from kefu's own static files, never a CDN."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db


def test_docs_page_uses_local_swagger_assets(client, desk):
    client.force_login(desk.supervisor)
    r = client.get("/api/v1/docs")
    assert r.status_code == 200
    page = r.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', page)
    assert any("swagger-ui-bundle.js" in a for a in assets)
    assert all(a.startswith("/static/") for a in assets), assets
    assert "cdn" not in page.lower()
