"""A complaint opened from the conversation page, as an agent does it in the desk."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_an_agent_opens_a_complaint_from_the_conversation_and_lands_on_its_case(
    live_desk, desk_page, chat_page
):
    _, chat = chat_page("chen")
    text = "乳胶枕收到就有很重的异味，客服还不理人，我要投诉！"
    chat.fill("[data-role=text]", text)
    chat.press("[data-role=text]", "Enter")
    expect(chat.locator(".kefu-msg--incoming", has_text=text).locator(".kefu-msg__state")).to_have_text(
        re.compile("已送达|已读")
    )
    desk = desk_page("xiaomei")
    desk.locator("#kefu-inbox-list .conv-row", has_text="乳胶枕").locator("a").click()
    expect(desk.locator("#kefu-conversation")).to_be_visible()
    conversation_url = desk.url

    action = desk.locator("#kefu-complaint-action")
    action.locator("summary").click()
    form = action.locator("#kefu-complaint-form")
    form.locator("textarea[name=what_happened]").fill("乳胶枕到货即有刺鼻异味，客户多次咨询未获答复")
    form.locator("textarea[name=customer_request]").fill("退货退款并道歉")
    form.get_by_role("button", name="登记投诉").click()

    expect(desk).to_have_url(re.compile(r"/desk/complaints/\d+/$"))
    expect(desk.locator(".flash .flash-success")).to_contain_text("已登记投诉")
    expect(desk.locator("textarea[name=what_happened]")).to_have_value(
        "乳胶枕到货即有刺鼻异味，客户多次咨询未获答复"
    )
    expect(desk.locator("textarea[name=customer_request]")).to_have_value("退货退款并道歉")
    expect(desk.locator("h1 .badge").first).to_have_text("受理登记")
    complaint_path = re.search(r"/desk/complaints/\d+/", desk.url).group(0)

    # Back in the conversation, the case is one click away and not opened twice.
    desk.goto(conversation_url)
    action = desk.locator("#kefu-complaint-action")
    action.locator("summary").click()
    expect(action.locator(f'a[href="{complaint_path}"]')).to_contain_text("查看投诉")
    expect(action.locator("#kefu-complaint-form")).to_have_count(0)
