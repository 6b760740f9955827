"""The bot in the chat widget: answers, buttons, a hand-over whose summary the agent reads, orders only for their owner."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

# A loaded machine needs minutes for the first answer (models and the index load on first use).
pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

# The bot on for the shop's web chat, with a few FAQ articles (published through the real service).
SETUP = """
from kefu.accounts.models import Role
from kefu.accounts.services import do_create_user
from kefu.bot.services import do_save_setting
from kefu.channels.models import Channel
from kefu.kb.services import do_create_article
admin = do_create_user(username="guanliyuan", password=os.environ["SEED_PASSWORD"], role=Role.ADMIN)
for title, answer, similar in [
    ("发票怎么开", "下单后在「我的订单」里点「申请开票」，填写抬头和税号，电子发票1-3个工作日内发到您的邮箱。",
     ["怎么开发票", "可以开发票吗"]),
    ("退货运费谁承担", "商品质量问题退货的运费由我们承担；七天无理由退货的运费由您承担。",
     ["退货要自己出运费吗", "退货邮费谁出"]),
]:
    do_create_article(actor=admin, data={"title": title, "answer": answer, "similar_questions": similar,
                                         "status": "published"})
do_save_setting(actor=admin, channel_id=Channel.objects.get(name="官网在线客服").pk, team_id=None,
                data={"enabled": True})
emit({"ok": True})
"""

LATEST = """
from kefu.conversations.models import Conversation
emit(Conversation.objects.order_by("-id").values_list("id", flat=True).first())
"""


@pytest.fixture(scope="module", autouse=True)
def bot_on(live_desk):
    return live_desk.run(SETUP, timeout=300)


def _say(chat, text):
    chat.fill("[data-role=text]", text)
    chat.press("[data-role=text]", "Enter")


def _bot(chat, text):
    return chat.locator(".kefu-msg--auto", has_text=text)


def test_the_bot_answers_takes_a_button_and_hands_over_with_a_summary_the_agent_reads(
    live_desk, chat_page, desk_page
):
    _, chat = chat_page()
    _say(chat, "發票怎麼開？")
    # The server's first question loads the search index and the language models.
    expect(_bot(chat, "您好，我是智能客服")).to_be_visible(timeout=90_000)
    answer = _bot(chat, "申请开票")
    expect(answer).to_contain_text("这个回答解决您的问题了吗？")
    answer.get_by_role("button", name="没解决").click()
    expect(chat.locator(".kefu-msg--incoming", has_text="没解决")).to_be_visible()
    sorry = _bot(chat, "抱歉没能帮到您")
    expect(sorry).to_be_visible()

    _say(chat, "退货要自己付运费吗")
    expect(_bot(chat, "七天无理由退货的运费由您承担")).to_be_visible()
    _say(chat, "不是这个意思，我要找真人客服")
    expect(_bot(chat, "正在为您转接人工客服")).to_be_visible()
    # Waiting for the agent, the customer asks again: the bot stays silent, the agent gets its suggestion.
    _say(chat, "退货运费到底谁出？")
    expect(
        chat.locator(".kefu-msg--incoming", has_text="退货运费到底谁出").locator(".kefu-msg__state")
    ).to_have_text(re.compile("已送达|已读"))

    conversation_id = live_desk.run(LATEST, timeout=120)
    agent = desk_page("xiaomei", path=f"/desk/c/{conversation_id}/")
    summary = agent.locator("[data-role=bot-summary]")
    expect(summary).to_be_visible()
    expect(summary.locator("[data-role=bot-summary-reason]")).to_have_text("客户要求人工")
    expect(summary).to_contain_text("申请开票")  # what the bot already said
    expect(summary).to_contain_text("不是这个意思，我要找真人客服")
    # The bot's suggestion beside the composer: 采用 puts it in the composer.
    suggestion = agent.locator("#bot-suggestion")
    expect(suggestion).to_be_visible()
    expect(suggestion.locator("[data-role=bot-suggestion-score]")).to_have_text(re.compile(r"^匹配度 \d+%$"))
    suggestion.get_by_role("button", name="采用").click()
    expect(agent.locator("#kefu-composer-text")).to_have_value(re.compile("运费"))
    expect(suggestion.locator("[data-role=bot-suggestion-result]")).to_have_text("已采用")


def test_an_order_is_answered_to_its_owner_only(live_desk, chat_page):
    order_no = live_desk.seed["visitors"]["liu"]["order_no"]
    _, owner = chat_page("liu")
    _say(owner, f"我的订单 {order_no} 到哪了")
    reply = _bot(owner, order_no)
    expect(reply).to_contain_text("上海浦东集散中心")
    expect(reply).to_contain_text("顺丰速运")
    expect(reply).not_to_contain_text("张江路 88 弄")  # the address is masked

    _, stranger = chat_page("zhao")
    _say(stranger, f"帮我查下订单{order_no}到哪了")
    expect(_bot(stranger, "没有在您的账户下找到这个订单号")).to_be_visible()
    expect(stranger.locator(".kefu-msg--auto", has_text="上海浦东集散中心")).to_have_count(0)


def test_nul_and_huge_input_are_refused_in_the_chat_and_the_bot_goes_on(chat_page):
    _, chat = chat_page()
    chat.evaluate(
        "(t) => { const el = document.querySelector('[data-role=text]'); el.value = t; }", "怎么开\u0000发票"
    )
    chat.press("[data-role=text]", "Enter")
    expect(chat.locator(".kefu-msg--failed")).to_have_count(1)
    chat.evaluate("(t) => { document.querySelector('[data-role=text]').value = t; }", "发" * 6000)
    chat.press("[data-role=text]", "Enter")
    expect(chat.locator(".kefu-msg--failed")).to_have_count(2)
    _say(chat, "可以开发票吗")
    expect(_bot(chat, "申请开票")).to_be_visible()
