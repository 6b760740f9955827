"""A visitor lingering on a shop's product page is invited to chat by the widget (the desk decides).

The shop's page is served on its own loopback origin, as in test_offhours, so the widget's
page reports and the chat iframe are cross-origin, as on a real shop.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

pytestmark = pytest.mark.browser

SETUP = """
from kefu.channels.models import Channel
from kefu.proactive.models import Rule
from kefu.replies.models import CannedReply, ShopProfile
ShopProfile.objects.all().delete()
ShopProfile.objects.create(shop_name="悦家生活旗舰店")
reply = CannedReply.objects.create(title="商品页邀请", scenario="售前咨询",
                                   text="您好，欢迎光临{店铺名称}！这款保温杯有什么想了解的吗？")
Rule.objects.create(name="商品页停留邀请", kind="page_linger", reply=reply, linger_seconds=5,
                    page_kinds=["product"])
emit({"channel_id": Channel.objects.get(name="官网在线客服").pk})
"""


@pytest.fixture
def product_page(shop_site: Any) -> Any:
    """``product_page(channel_id)``: a product page (``data-page='product'``) with the widget, on its own origin."""

    def open_page(channel_id: int) -> Any:
        return shop_site(
            channel_id,
            title="真空保温杯 500ml",
            body="<h1>真空保温杯 500ml</h1><p>¥89.00</p>",
            page_kind="product",
            path="/item/BWB-500",
        )

    return open_page


def test_a_visitor_lingering_on_a_product_page_is_invited_and_the_chat_opens(
    product_page: Any, live_desk: Any
) -> None:
    from playwright.sync_api import expect

    seed = live_desk.run(SETUP)
    page = product_page(seed["channel_id"])
    invite = page.locator(".kefu-invite")
    expect(invite).to_be_hidden()
    expect(invite).to_be_visible(timeout=15_000)
    expect(invite).to_contain_text("您好，欢迎光临悦家生活旗舰店！这款保温杯有什么想了解的吗？")
    page.get_by_role("button", name="立即咨询").click()
    expect(invite).to_be_hidden()
    frame = page.locator("iframe")
    expect(frame).to_have_attribute("src", re.compile(r"/chat\?embed=1&channel=\d+&vt="))
    chat = page.frame_locator("iframe")
    expect(chat.get_by_role("textbox", name="消息内容")).to_be_visible()
    expect(chat.locator("[data-role=conn][data-state=online]")).to_be_attached()
    # One invitation, and the chat it opened is the visitor the widget reported as (its
    # socket marked that visitor as in the chat).
    found = live_desk.run(
        "from kefu.proactive.models import Notice, PageVisit\n"
        "n = Notice.objects.get()\n"
        "v = PageVisit.objects.get(visitor_id=n.visitor_id)\n"
        "emit([n.kind, n.status, n.channel_kind, v.url, v.chat_seen_at is not None])"
    )
    assert found == ["page_linger", "sent", "widget", "/item/BWB-500", True]
