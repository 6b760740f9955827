"""A customer and an agent in two browsers: live inbox, reply, ticket, department; reconnect."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

QUESTION = "你好，我的快递三天没有物流更新了"
ANSWER = "您好，我马上为您查询物流进度，请稍等。"


# Chromium's offline mode holds an open websocket's frames instead of closing it; the
# test drops the chat's socket itself, as a lost connection would.
TRACK_SOCKETS = """
(() => {
  const Native = window.WebSocket;
  window.__kefuSockets = [];
  window.WebSocket = class extends Native {
    constructor(...args) { super(...args); window.__kefuSockets.push(this); }
  };
})();
"""


def _say(chat, text):
    chat.fill("[data-role=text]", text)
    chat.press("[data-role=text]", "Enter")


def _inbox_row(inbox, text):
    return inbox.locator("#kefu-inbox-list .conv-row", has_text=text)


def test_customer_question_reaches_the_agent_live_and_becomes_a_department_ticket(
    live_desk, desk_page, chat_page
):
    inbox = desk_page("xiaomei")
    expect(inbox.locator("#kefu-live-state")).to_have_text("● 实时")
    inbox.evaluate("window.__notReloaded = true")

    _, chat = chat_page()
    _say(chat, QUESTION)
    expect(chat.locator(".kefu-msg--incoming", has_text=QUESTION).locator(".kefu-msg__state")).to_have_text(
        re.compile("已送达|已读")
    )

    row = _inbox_row(inbox, QUESTION)
    expect(row).to_be_visible()
    assert inbox.evaluate("window.__notReloaded") is True  # arrived over the socket, no reload
    row.locator("a").click()
    expect(inbox.locator("#kefu-messages .msg.dir-incoming", has_text=QUESTION)).to_be_visible()

    conversation = inbox
    conversation.fill("#kefu-composer-text", ANSWER)
    conversation.press("#kefu-composer-text", "Enter")
    expect(conversation.locator(".msg.dir-outgoing[data-message-id]", has_text=ANSWER)).to_be_visible()
    expect(chat.locator(".kefu-msg--outgoing", has_text=ANSWER)).to_be_visible()
    expect(chat.locator(".kefu-msg--outgoing .kefu-msg__who")).to_have_text("小美")

    conversation.get_by_role("button", name="创建工单").click()
    ticket_link = conversation.locator(".tickets-panel .linked-tickets a")
    expect(ticket_link).to_have_count(1)
    ticket_link.click()
    ticket = conversation
    expect(ticket.locator("#kefu-ticket")).to_be_visible()

    ticket.select_option("#kefu-transfer-department", label="仓储物流部（24 小时内处理）")
    order_no = ticket.locator("#kefu-transfer-form .transfer-field[data-key=order_no] input")
    tracking_no = ticket.locator("#kefu-transfer-form .transfer-field[data-key=tracking_no] input")
    expect(order_no).to_be_visible()
    order_no.fill("YJ20261120999")
    tracking_no.fill("SF1400000000999")
    ticket.fill("#kefu-transfer-form textarea[name=note]", "客户反映三天无物流更新，请核实快件位置")
    ticket.locator("#kefu-transfer-form button[type=submit]").click()

    expect(ticket.locator(".thread-sub .status")).to_have_text("等待部门")
    expect(ticket.locator("#kefu-ticket-timeline")).to_contain_text(
        "小美 将工单转交「仓储物流部」：客户反映三天无物流更新，请核实快件位置"
    )
    expect(ticket.locator(".ticket-grid dl").first).to_contain_text("YJ20261120999")


def test_a_message_written_offline_is_delivered_once_after_reconnecting(live_desk, desk_page, chat_page):
    context, chat = chat_page("liu", init_script=TRACK_SOCKETS)
    _say(chat, "在吗？我想问一下空气炸锅的发货时间")
    desk = desk_page("xiaomei")
    _inbox_row(desk, "空气炸锅的发货时间").locator("a").click()
    expect(desk.locator("#kefu-messages .msg.dir-incoming")).to_have_count(1)

    context.set_offline(True)
    chat.evaluate("window.__kefuSockets.forEach((s) => s.close())")
    expect(chat.locator("[data-role=conn]")).to_have_attribute("data-state", "offline")
    offline_text = "我刚才断网了，这条消息能收到吗"
    _say(chat, offline_text)
    mine = chat.locator(".kefu-msg--incoming", has_text=offline_text)
    expect(mine.locator(".kefu-msg__state")).to_have_text("发送中…")
    context.set_offline(False)

    expect(chat.locator("[data-role=conn]")).to_have_attribute("data-state", "online")
    expect(mine.locator(".kefu-msg__state")).to_have_text(re.compile("已送达|已读"))
    expect(mine).to_have_count(1)
    expect(desk.locator("#kefu-messages .msg.dir-incoming", has_text=offline_text)).to_have_count(1)
    # Reloads resume from the server's copy: still one message on each side.
    chat.reload()
    expect(chat.locator(".kefu-msg--incoming", has_text=offline_text)).to_have_count(1)
    expect(chat.locator(".kefu-msg--incoming")).to_have_count(2)
    desk.reload()
    expect(desk.locator("#kefu-messages .msg.dir-incoming", has_text=offline_text)).to_have_count(1)
