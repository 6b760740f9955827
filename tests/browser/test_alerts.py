"""Alerts and notifications in the desk: a customer threatens a complaint, the agent's and
the lead's desks raise a red toast with a sound and a badge, the lead acknowledges it;
an agent with the tab in the background is notified of new chats and messages."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

# Records the tones desk.js plays instead of playing them.
FAKE_AUDIO = """
window.__tones = [];
window.AudioContext = class {
  constructor() { this.currentTime = 0; this.state = "running"; this.destination = {}; }
  resume() {}
  createGain() { return { gain: { value: 0 }, connect() {} }; }
  createOscillator() {
    const osc = { type: "", frequency: { value: 0 }, connect() {}, stop() {},
                  start() { window.__tones.push(osc.frequency.value); } };
    return osc;
  }
};
"""

# A Notification API that records what it would show, and a tab that can be put in the
# background (window.__away) without leaving the page.
FAKE_NOTIFICATIONS = """
window.__shown = [];
window.Notification = function (title, options) {
  window.__shown.push({ title: title, body: (options || {}).body, tag: (options || {}).tag });
  this.close = function () {};
};
// The browser remembers a site's permission; so does the stand-in.
window.Notification.permission = localStorage.getItem("__notificationPermission") || "default";
window.Notification.requestPermission = function () {
  window.Notification.permission = "granted";
  localStorage.setItem("__notificationPermission", "granted");
  return Promise.resolve("granted");
};
Object.defineProperty(document, "hidden", { configurable: true, get: () => !!window.__away });
document.hasFocus = () => !window.__away;
"""

THREAT = "乳胶枕发霉了还不给我退款！！我要去12315投訴你們"


def _say(chat, text):
    chat.fill("[data-role=text]", text)
    chat.press("[data-role=text]", "Enter")


def _live(page):
    expect(page.locator("body")).to_have_attribute("data-live", "open")
    page.wait_for_timeout(300)  # the socket joins its groups right after it opens


def test_a_complaint_threat_raises_a_red_toast_and_badge_for_agent_and_lead_and_the_lead_acknowledges_it(
    live_desk, desk_page, chat_page
):
    agent = desk_page("xiaomei", path="/desk/")
    agent.context.add_init_script(FAKE_AUDIO)
    agent.reload()
    lead = desk_page("zuzhang", path="/desk/tickets/")  # any desk page
    lead.context.add_init_script(FAKE_AUDIO)
    lead.reload()
    for page in (agent, lead):
        _live(page)
        expect(page.locator('.nav-badge[data-count="open_alerts"]')).to_be_hidden()

    _, chat = chat_page("chen")
    _say(chat, THREAT)

    for page in (agent, lead):
        toast = page.locator("#kefu-toasts .toast.toast-complaint_risk")
        expect(toast).to_be_visible()
        expect(toast.locator(".toast-level")).to_have_text("投诉风险")
        expect(toast.locator(".toast-customer")).to_contain_text("陈女士")
        expect(toast.locator(".toast-reason")).to_contain_text("12315")
        badge = page.locator('.nav-badge[data-count="open_alerts"]')
        expect(badge).to_be_visible()
        expect(badge).to_have_text("1")
        # The complaint-risk alarm: four tones, louder than an emotion alert's two.
        assert page.evaluate("window.__tones") == [988, 659, 988, 659]
    assert (
        lead.locator(".toast-level").evaluate("el => getComputedStyle(el).backgroundColor")
        == "rgb(216, 57, 49)"
    )

    lead.locator("#kefu-toasts .toast-ack").click()
    expect(lead.locator("#kefu-toasts .toast-done")).to_have_text("李组长 已确认")
    expect(agent.locator("#kefu-toasts .toast-done")).to_have_text("李组长 已确认")
    for page in (agent, lead):
        expect(page.locator('.nav-badge[data-count="open_alerts"]')).to_be_hidden()

    lead.goto(f"{live_desk.url}/desk/alerts/")
    row = lead.locator("table.alerts tbody tr", has_text="陈女士")
    expect(row.locator(".alert-level-complaint_risk")).to_have_text("投诉风险")
    expect(row).to_contain_text(re.compile(r"李组长 于 \d\d-\d\d \d\d:\d\d 确认"))
    expect(row.locator(".badge.priority")).to_have_text("P1")


def test_desktop_notifications_are_opt_in_remembered_and_show_new_chats_and_messages_in_the_background(
    live_desk, desk_page, chat_page
):
    conversation_id = live_desk.run(
        """
from kefu.channels.models import Channel
from kefu.conversations.services import do_receive_customer_message
msg, _ = do_receive_customer_message(channel=Channel.objects.get(kind="web"),
                                     identities=[("web", "visitor-zhang")], text="保温杯可以刻字吗")
emit({"conversation_id": msg.conversation_id})
"""
    )["conversation_id"]
    agent = desk_page("xiaomei", path="/desk/")
    agent.context.add_init_script(FAKE_NOTIFICATIONS + FAKE_AUDIO)
    agent.goto(f"{live_desk.url}/desk/c/{conversation_id}/")
    toggle = agent.locator("#kefu-notify-toggle")
    expect(toggle).to_have_text("桌面通知：关")
    toggle.click()
    expect(toggle).to_have_text("桌面通知：开")
    assert agent.evaluate("localStorage.getItem('kefu.desk.notify')") == "on"
    agent.reload()  # remembered by this browser
    expect(agent.locator("#kefu-notify-toggle")).to_have_text("桌面通知：开")
    _live(agent)
    expect(agent.locator("#kefu-my-open li", has_text="刘先生")).to_have_count(0)

    agent.evaluate("window.__away = true")
    _, chat = chat_page("zhao")
    _say(chat, "电热水壶什么时候发货？")
    expect(agent.locator("#kefu-my-open li.has-unread", has_text="赵先生").locator(".unread")).to_have_text(
        "1"
    )
    agent.wait_for_function("window.__shown.length >= 1")
    _say(chat, "急用，能不能今天发")
    agent.wait_for_function("window.__shown.length >= 2")
    shown = agent.evaluate("window.__shown")
    assert shown[0]["title"] == "新会话 · 赵先生" and shown[0]["body"] == "电热水壶什么时候发货？"
    assert shown[1]["title"] == "新消息 · 赵先生" and shown[1]["body"] == "急用，能不能今天发"
    expect(agent.locator("#kefu-my-open li", has_text="赵先生").locator(".unread")).to_have_text("2")
    # Conversations of earlier tests in this module may reach the agent from the queue once she is
    # online, so the badge is held to the server's own count, live, rather than to a fixed number.
    counts = agent.evaluate("fetch('/api/v1/desk/counts').then(r => r.json())")
    assert counts["unread_conversations"] >= 1
    expect(agent.locator('.nav-badge[data-count="unread_conversations"]')).to_have_text(
        str(counts["unread_conversations"])
    )
    assert len(agent.evaluate("window.__tones")) >= 2  # a tone for each

    # In front again: nothing is shown for a message the agent sees anyway.
    agent.evaluate("window.__away = false")
    _say(chat, "好的谢谢")
    expect(agent.locator("#kefu-my-open li", has_text="赵先生").locator(".unread")).to_have_text("3")
    assert len(agent.evaluate("window.__shown")) == 2


def test_desktop_notifications_stay_off_until_the_agent_opts_in(live_desk, desk_page, chat_page):
    agent = desk_page("xiaomei", path="/desk/")
    agent.context.add_init_script(FAKE_NOTIFICATIONS)
    agent.reload()
    expect(agent.locator("#kefu-notify-toggle")).to_have_text("桌面通知：关")
    _live(agent)
    agent.evaluate("window.__away = true")
    _, chat = chat_page("liu")
    _say(chat, "空气炸锅有现货吗")
    expect(agent.locator('.nav-badge[data-count="unread_conversations"]')).to_be_visible()
    assert agent.evaluate("window.__shown") == []
    assert agent.evaluate("Notification.permission") == "default"  # never asked unprompted
