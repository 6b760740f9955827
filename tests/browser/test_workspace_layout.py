"""The agent workspace at 1440×900: thread, composer, assistant and customer side by side."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.scenes import VIEWPORT, open_workspace

pytestmark = pytest.mark.browser


def test_workspace_fits_a_laptop_screen_with_the_assistant_beside_the_thread(live_desk, desk_page, tmp_path):
    page = open_workspace(live_desk, desk_page)
    expect(page.locator("#kefu-messages .msg.dir-incoming")).to_have_count(3)
    expect(page.locator("#kefu-messages .msg.dir-outgoing")).to_have_count(2)
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORT["width"]
    thread = page.locator(".conversation-page .thread").bounding_box()
    sidebar = page.locator(".conversation-page .sidebar").bounding_box()
    composer = page.locator("#kefu-composer").bounding_box()
    assist = page.locator("#assist-panel").bounding_box()
    assert thread and sidebar and composer and assist
    assert thread["x"] + thread["width"] <= sidebar["x"] + 1  # side by side, not stacked
    assert sidebar["x"] + sidebar["width"] <= VIEWPORT["width"]
    assert composer["y"] + composer["height"] <= VIEWPORT["height"]  # the composer is on screen
    assert assist["y"] < VIEWPORT["height"] / 2
    shot = page.screenshot(path=tmp_path / "workspace.png")
    assert shot[:8] == b"\x89PNG\r\n\x1a\n"
