"""Presence in the browser: a break with a reason, closing the browser and logging out stop new chats."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import LiveDesk

pytestmark = pytest.mark.browser

GRACE_SECONDS = 4

STATUS_OF = """
from kefu.accounts.models import User
u = User.objects.get(username="xiaomei")
emit({"status": u.status, "reason": u.status_reason})
"""

SWEEP = """
from kefu.accounts.services import do_sweep_presence
emit(do_sweep_presence())
"""

ASSIGNEE_OF_LATEST = """
from kefu.conversations.models import Conversation
c = Conversation.objects.order_by("-id").first()
emit({"assignee": c.assignee.username if c.assignee else None, "queued": c.queued_at is not None})
"""


@pytest.fixture(scope="module")
def live_desk(desk_template: LiveDesk) -> Iterator[LiveDesk]:
    """This module's server with a short presence grace, so a closed browser counts within seconds."""
    desk = LiveDesk.from_template(desk_template)
    desk.env.update(
        {"KEFU_PRESENCE_GRACE_SECONDS": str(GRACE_SECONDS), "KEFU_PRESENCE_HEARTBEAT_SECONDS": "1"}
    )
    try:
        yield desk.start()
    finally:
        desk.stop()


def _customer_writes(new_context: Any, live_desk: LiveDesk, text: str) -> Any:
    """A new customer writes in /chat; with nobody online the page does not say 在线 (the status line is hidden)."""
    chat = new_context().new_page()
    chat.goto(f"{live_desk.url}/chat")
    chat.wait_for_selector("[data-role=conn][data-state=online]", state="attached")
    # Nobody online (or outside business hours, by the clock): never the green 客服在线.
    expect(chat.locator("[data-role=desk-badge]")).not_to_have_attribute("data-state", "open")
    chat.fill("[data-role=text]", text)
    chat.press("[data-role=text]", "Enter")
    expect(chat.locator(".kefu-msg--incoming", has_text=text).locator(".kefu-msg__state")).to_have_text(
        "已送达"
    )
    return chat


def _routed(live_desk: LiveDesk) -> dict[str, Any]:
    """Who the newest conversation went to, once routing (after the message's commit) has run."""
    for _ in range(20):
        state = live_desk.run(ASSIGNEE_OF_LATEST)
        if state["assignee"] or state["queued"]:
            return state
        time.sleep(0.2)
    return state


def test_closing_the_browser_or_logging_out_stops_new_chats(
    live_desk: LiveDesk, desk_page: Any, new_context: Any
) -> None:
    # A break with a reason, chosen in the top bar, then back online.
    desk = desk_page("xiaomei")
    expect(desk.locator("#kefu-live-state")).to_have_text("● 实时")
    desk.select_option("#kefu-status", "break:meal")
    expect(desk.locator("#kefu-status-dot")).to_have_class("status-dot status-break")
    assert live_desk.run(STATUS_OF) == {"status": "break", "reason": "meal"}
    desk.select_option("#kefu-status", "online")
    expect(desk.locator("#kefu-status-dot")).to_have_class("status-dot status-online")

    # The browser is closed: past the grace she is not routed to, and the sweep records it.
    desk.context.close()
    time.sleep(GRACE_SECONDS + 1)
    _customer_writes(new_context, live_desk, "你好，我买的羽绒服尺码偏小，能换大一号吗")
    assert _routed(live_desk) == {"assignee": None, "queued": True}
    assert live_desk.run(SWEEP) == 1
    assert live_desk.run(STATUS_OF) == {"status": "offline", "reason": "disconnected"}

    # Back at her desk and online, then she signs out.
    desk = desk_page("xiaomei")
    desk.select_option("#kefu-status", "online")
    expect(desk.locator("#kefu-status-dot")).to_have_class("status-dot status-online")
    desk.get_by_role("button", name="退出").click()
    desk.wait_for_url(f"{live_desk.url}/login/")
    assert live_desk.run(STATUS_OF) == {"status": "offline", "reason": "logout"}
    _customer_writes(new_context, live_desk, "在吗？发票抬头开错了想重开")
    assert _routed(live_desk) == {"assignee": None, "queued": True}
