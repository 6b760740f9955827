"""Numbers customers type are masked in the inbox and the workspace, live too; a team lead
reveals one message on purpose, an agent cannot."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

FIRST = "退款请打到我的卡 6222021234567890128，有问题打我电话 138 1234 5678"
LIVE = "开发票要身份证吗？我的是 11010519491231002X"


def _say(chat, text):
    chat.fill("[data-role=text]", text)
    chat.press("[data-role=text]", "Enter")
    expect(chat.locator(".kefu-msg--incoming", has_text=text).locator(".kefu-msg__state")).to_have_text(
        re.compile("已送达|已读")
    )


def test_lead_sees_masked_text_live_and_reveals_one_message(desk_page, chat_page):
    _, chat = chat_page("liu")
    _say(chat, FIRST)  # the customer sees what they typed

    lead = desk_page("zuzhang", path="/desk/?view=team")
    row = lead.locator("#kefu-inbox-list .conv-row", has_text="6222***********0128")
    expect(row).to_contain_text("138 **** 5678")
    expect(lead.locator("#kefu-inbox-list")).not_to_contain_text("6222021234567890128")
    row.locator("a").click()

    masked = lead.locator("#kefu-messages .msg.dir-incoming", has_text="6222***********0128")
    first = lead.locator(f'[data-message-id="{masked.get_attribute("data-message-id")}"]')
    expect(first.locator(".text")).to_have_text(
        "退款请打到我的卡 6222***********0128，有问题打我电话 138 **** 5678"
    )
    first.get_by_role("button", name="查看原文").click()
    expect(first.locator(".text")).to_have_text(FIRST)
    expect(first.get_by_role("button", name="查看原文")).to_have_count(0)

    _say(chat, LIVE)  # arrives over the desk socket, masked, with its own button
    live = lead.locator("#kefu-messages .msg.dir-incoming", has_text="开发票要身份证吗")
    live = lead.locator(f'[data-message-id="{live.get_attribute("data-message-id")}"]')
    expect(live.locator(".text")).to_have_text("开发票要身份证吗？我的是 110105********002X")
    live.get_by_role("button", name="查看原文").click()
    expect(live.locator(".text")).to_have_text(LIVE)


def test_agent_sees_masked_text_without_a_reveal_button(desk_page, chat_page):
    _, chat = chat_page("zhao")
    _say(chat, "快递员电话打不通，我手机 13912345678")
    agent = desk_page("xiaomei", path="/desk/?view=team")
    agent.locator("#kefu-inbox-list .conv-row", has_text="139****5678").locator("a").click()
    msg = agent.locator("#kefu-messages .msg.dir-incoming", has_text="快递员电话打不通")
    expect(msg.locator(".text")).to_have_text("快递员电话打不通，我手机 139****5678")
    expect(msg.get_by_role("button", name="查看原文")).to_have_count(0)
    expect(agent.locator("#kefu-conversation")).not_to_contain_text("13912345678")
