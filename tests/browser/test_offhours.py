"""A customer on a shop's page when nobody can take the chat: the widget and chat say so, a message left is a ticket.

The shop's page is served by a server of its own on another loopback port (a page made up
by the browser counts as public, and Chromium's private-network rules then refuse loopback),
with the embed snippet, so the widget's state request and the chat iframe are cross-origin,
as on a real shop.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

pytestmark = pytest.mark.browser


# An after-sales team with hours around the clock, its agent offline, and its own web channel.
SETUP = """
from kefu.accounts.models import Role, Team
from kefu.accounts.services import do_create_user
from kefu.channels.models import Channel
from kefu.hours.models import Schedule
team = Team.objects.create(name="售后服务")
Schedule.objects.create(name="售后全天", team=team, scope_key=f"team:{team.pk}",
                        week=[[day, 0, 1440] for day in range(7)], observe_holidays=False)
agent = do_create_user(username="xiaoli", password=os.environ["SEED_PASSWORD"], role=Role.AGENT, teams=(team,),
                       display_name="小李")
channel = Channel.objects.create(name="悦家售后在线客服", kind=Channel.Kind.WEB, team=team)
emit({"channel_id": channel.pk, "team_id": team.pk, "agent_id": agent.pk})
"""


@pytest.fixture(scope="module")
def night(live_desk: Any) -> dict[str, Any]:
    return live_desk.run(SETUP)


@pytest.fixture
def shop_page(shop_site: Any) -> Any:
    """``shop_page(channel_id)``: the shop's home page with the widget, on its own origin."""
    return shop_site


def test_widget_says_nobody_is_online_and_a_message_left_becomes_a_ticket(
    shop_page: Any, live_desk: Any, night: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    page = shop_page(night["channel_id"])
    button = page.get_by_role("button", name=re.compile("在线客服"))
    expect(button).to_have_attribute("data-state", "closed")
    expect(button).to_have_text("在线客服 · 暂无客服在线")
    assert "客服暂时都不在线" in (button.get_attribute("title") or "")

    button.click()
    chat = page.frame_locator("iframe[title='在线客服']")
    badge = chat.locator("[data-role=desk-badge]")
    expect(badge).to_have_text("暂无客服在线")
    expect(badge).to_have_attribute("data-state", "closed")
    expect(chat.locator("[data-role=desk-text]")).to_contain_text("您可以留言")
    expect(chat.locator("[data-role=conn]")).to_have_attribute(
        "data-state", "online"
    )  # connected, but not "在线"

    chat.get_by_role("button", name="留言").click()
    form = chat.locator("form[data-role=leave]")
    form.get_by_label("手机号").fill("1381234567")
    form.get_by_label("留言内容").fill("昨天买的电热水壶底座漏电，跳闸了，想退货")
    form.get_by_role("button", name="提交留言").click()
    expect(form.locator("[data-error-for=phone]")).to_contain_text("请填写11位手机号")
    expect(form.get_by_label("手机号")).to_have_attribute("aria-invalid", "true")

    form.get_by_label("称呼（选填）").fill("赵先生")
    form.get_by_label("手机号").fill("139 1234 5678")
    form.get_by_label("邮箱").fill("zhao.xs@163.com")
    form.get_by_role("button", name="提交留言").click()
    done = chat.locator("[data-role=leave-done]")
    expect(done).to_contain_text(re.compile(r"已收到您的留言（工单号 TK-\d{8}-\d{4}），我们会在 .+ 前回复您"))
    expect(done).to_contain_text("回复会发送到邮箱 zhao.xs@163.com")
    expect(form).to_be_hidden()
    expect(chat.locator(".kefu-msg--incoming")).to_contain_text("电热水壶底座漏电")
    expect(chat.locator(".kefu-msg--auto")).to_contain_text("已收到您的留言")

    ticket = live_desk.run(
        "from kefu.tickets.models import Ticket\n"
        "t = Ticket.objects.select_related('customer').get(source='left_message')\n"
        "emit({'number': t.number, 'team_id': t.team_id, 'owner_id': t.owner_id, 'phone': t.customer.phone,"
        " 'due': t.first_response_due.isoformat()})"
    )
    assert ticket["team_id"] == night["team_id"] and ticket["owner_id"] is None
    assert ticket["phone"] == "13912345678" and ticket["number"] in done.inner_text()


def test_the_answer_is_in_the_chat_when_the_customer_comes_back_and_the_header_follows_the_desk(
    new_context: Any, live_desk: Any, night: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    context = new_context()
    page = context.new_page()
    page.goto(f"{live_desk.url}/chat?channel={night['channel_id']}")
    expect(page.locator("[data-role=desk-badge]")).to_have_text("暂无客服在线")
    page.get_by_role("button", name="留言").click()
    page.get_by_label("邮箱").fill("sun@example.com")
    page.get_by_label("留言内容").fill("发票抬头开错了，能重开吗？")
    page.get_by_role("button", name="提交留言").click()
    expect(page.locator("[data-role=leave-done]")).to_contain_text("已收到您的留言")
    page.close()

    # The next morning: 小李 comes online and answers in the conversation.
    live_desk.run(
        "from django.utils import timezone\n"
        "from kefu.accounts.models import AgentStatus, User\n"
        "from kefu.conversations.models import Conversation\n"
        "from kefu.conversations.services import do_send_agent_message\n"
        f"User.objects.filter(pk={night['agent_id']}).update(status=AgentStatus.ONLINE, max_concurrent=5,"
        " last_seen_at=timezone.now())\n"
        "c = Conversation.objects.filter(messages__text='发票抬头开错了，能重开吗？').get()\n"
        f"agent = User.objects.get(pk={night['agent_id']})\n"
        "do_send_agent_message(agent=agent, conversation_id=c.pk, text='孙女士您好，发票已作废重开，新发票已发到您邮箱。')\n"
        "emit(c.pk)"
    )

    back = context.new_page()
    back.goto(f"{live_desk.url}/chat?channel={night['channel_id']}")
    expect(back.locator(".kefu-msg--outgoing")).to_contain_text("发票已作废重开")
    expect(back.locator("[data-role=desk-badge]")).to_have_text("客服在线")
    expect(back.locator("[data-role=desk-badge]")).to_have_attribute("data-state", "open")
    expect(back.locator("[data-role=desk]")).to_be_hidden()
