"""The wallboard in the browser: a lead's board updates live when a customer threatens a
complaint, and the lead's whisper reaches the agent's page but never the customer's chat."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

THREAT = "保温杯漏水还不给我换！！再拖我就去12315投诉你们"


def test_the_leads_board_shows_a_new_complaint_threat_live_and_a_whisper_reaches_only_the_agent(
    live_desk, desk_page, chat_page
):
    board = desk_page("zuzhang", path="/desk/wallboard/")
    expect(board.locator("#kefu-live-state")).to_have_text("● 实时")
    emotions = board.locator('[data-panel="emotions"]')
    expect(emotions).to_contain_text("没有情绪激动或投诉风险的会话")
    board.wait_for_timeout(300)  # the socket joins its groups right after it opens

    _, chat = chat_page("zhang")
    chat.fill("[data-role=text]", THREAT)
    chat.press("[data-role=text]", "Enter")

    row = emotions.locator("tr.wb-risk")
    expect(row).to_be_visible()
    expect(row).to_contain_text("投诉风险")
    expect(row).to_contain_text("张女士")
    expect(row.locator("button[data-action=whisper]")).to_be_visible()
    expect(board.locator('[data-panel="agents"] tr', has_text="小美")).to_contain_text("1/50")

    conversation_id = row.get_attribute("data-conversation-id")
    agent = desk_page("xiaomei", path=f"/desk/c/{conversation_id}/")
    expect(agent.locator("body")).to_have_attribute("data-live", "open")
    agent.wait_for_timeout(300)  # the socket joins its groups right after it opens
    board.once("dialog", lambda dialog: dialog.accept("先道歉，再给她换新"))
    row.locator("button[data-action=whisper]").click()
    expect(board.locator("#kefu-wallboard-status")).to_have_text("悄悄话已发送")
    expect(agent.locator("#kefu-toasts .toast-whisper")).to_contain_text("先道歉，再给她换新")
    expect(agent.locator("#kefu-whispers")).to_contain_text("李组长")
    chat.wait_for_timeout(500)
    expect(chat.locator("body")).not_to_contain_text("先道歉")
