"""An incident's approved wording in a real browser: the notice in the chat widget and the
statement pinned in the agent's composer, inserted with one click and offered first by `/`."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

STATEMENT = "因密封圈批次问题，部分保温杯存在漏水情况。我们将在12月5日前为您免费换新，并补偿20元优惠券。"


def test_the_notice_shows_to_customers_and_the_statement_is_pinned_for_the_agent(
    live_desk, desk_page, chat_page
):
    live_desk.run(f"""
from kefu.accounts.models import Team, User
from kefu.incidents.services import do_open_incident
do_open_incident(actor=User.objects.get(username="zhuguan"), team_id=Team.objects.get(name="售前咨询").pk,
                 title="保温杯密封圈批次漏水", keywords=["漏水"], statement={STATEMENT!r})
""")
    _, chat = chat_page("zhang")
    expect(chat.locator("#kefu-incident-notice")).to_contain_text("12月5日前为您免费换新")
    chat.fill("[data-role=text]", "我買的保溫杯漏水了，蓋子那裡一直滴")
    chat.press("[data-role=text]", "Enter")
    expect(
        chat.locator(".kefu-msg--incoming", has_text="保溫杯漏水").locator(".kefu-msg__state")
    ).to_have_text(re.compile("已送达|已读"))
    live_desk.run("""
from kefu.incidents.services import do_detect_incidents
do_detect_incidents(force=True)
""")

    desk = desk_page("xiaomei")
    desk.locator("#kefu-inbox-list .conv-row", has_text="保溫杯漏水").locator("a").click()
    pinned = desk.locator("#kefu-incident-pinned")
    expect(pinned).to_contain_text("保温杯密封圈批次漏水")
    expect(pinned).to_contain_text(STATEMENT)
    composer = desk.locator("#kefu-composer-text")
    pinned.get_by_role("button", name="插入回复框").click()
    expect(composer).to_have_value(STATEMENT)

    composer.fill("")
    composer.press_sequentially("/")
    first = desk.locator(".reply-picker .reply-option").first
    expect(first).to_contain_text("统一口径：保温杯密封圈批次漏水")
