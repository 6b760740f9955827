"""Settings and the pages around them, in the browser: the hub, the offline API docs."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def _block_internet(context, live_desk) -> list[str]:
    """Abort every request that leaves the test server; returns the list of those refused."""
    own = urlsplit(live_desk.url).netloc
    refused: list[str] = []

    def route(r):
        if urlsplit(r.request.url).netloc == own:
            r.continue_()
        else:
            refused.append(r.request.url)
            r.abort("internetdisconnected")

    context.route("**/*", route)
    return refused


def test_api_docs_render_operations_with_the_internet_blocked(desk_page, live_desk):
    page = desk_page("zhuguan", path="/desk/settings/")
    refused = _block_internet(page.context, live_desk)
    page.get_by_role("link", name="API 文档").click()
    page.wait_for_url(f"{live_desk.url}/api/v1/docs")
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    assert page.locator(".swagger-ui .opblock").count() > 50
    expect(page.locator(".swagger-ui")).to_contain_text("/api/v1/conversations")
    assert refused == []
