"""Beside and under the composer: knowledge-base answers, emotion, reply coaching, the
script picker; compensation approval; a missed promise the customer hears about."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

KB_ANSWER = (
    "非常抱歉给您带来困扰。请先检查杯盖内的硅胶密封圈是否装正、有无破损，拧紧杯盖后倒置 1 分钟观察；"
    "如仍漏水，属于质量问题，我们为您免费换新，运费由我们承担。"
)
ANGRY = "你们到底怎么回事！！！新买的保温杯漏水，把我电脑都弄坏了，再不处理我就投诉到12315！"


def _say(chat, text):
    chat.fill("[data-role=text]", text)
    chat.press("[data-role=text]", "Enter")
    expect(chat.locator(".kefu-msg--incoming", has_text=text).locator(".kefu-msg__state")).to_have_text(
        re.compile("已送达|已读")
    )


def _open_conversation(desk, preview):
    desk.locator("#kefu-inbox-list .conv-row", has_text=preview).locator("a").click()
    expect(desk.locator("#kefu-conversation")).to_be_visible()
    # The composer's helpers are deferred scripts: the page is usable once they ran.
    desk.wait_for_load_state("load")
    return int(desk.locator("#kefu-conversation").get_attribute("data-conversation-id"))


def test_a_kb_answer_and_the_emotion_appear_beside_the_composer(live_desk, desk_page, chat_page):
    article_id = live_desk.run(f"""
from kefu.accounts.models import User
from kefu.kb.services import do_create_article
lead = User.objects.get(username="zuzhang")
emit(do_create_article(actor=lead, data={{
    "title": "保温杯漏水怎么办", "status": "published", "answer": {KB_ANSWER!r},
    "body": "保温杯漏水多因密封圈未装正或破损。先检查密封圈，再倒置测试。",
    "similar_questions": ["杯子漏水", "保温杯盖子漏水", "水杯倒过来会漏"], "tags": ["保温杯", "售后"],
}}).pk)
""")
    _, chat = chat_page("zhang")
    _say(chat, "在吗")
    desk = desk_page("xiaomei")
    _open_conversation(desk, "在吗")
    panel = desk.locator("#assist-panel")
    expect(panel.locator("[data-role=kb-suggestions] .empty")).to_be_visible()

    _say(chat, ANGRY)
    expect(desk.locator("#kefu-messages .msg.dir-incoming", has_text="保温杯漏水")).to_be_visible()
    suggestion = panel.locator("[data-role=kb-suggestions] .kb-suggestion", has_text="保温杯漏水怎么办")
    expect(suggestion).to_be_visible()
    expect(panel.locator("[data-role=emotion-badge]")).to_have_text(re.compile(r"^愤怒 \d+\.\d$"))
    expect(panel.locator("[data-role=guidance] li").first).to_be_visible()

    suggestion.get_by_role("button", name="插入").click()
    expect(desk.locator("#kefu-composer-text")).to_have_value(KB_ANSWER)
    # The insertion is remembered: the conversation's rating will count for the article.
    uses = live_desk.run("""
import time
from kefu.kb.models import ArticleUse
for _ in range(100):
    if ArticleUse.objects.exists():
        break
    time.sleep(0.1)
emit(list(ArticleUse.objects.values_list("source", flat=True)))
""")
    assert uses == ["agent"]
    desk.goto(desk.url.split("/desk/")[0] + f"/desk/kb/{article_id}/")
    expect(desk.locator("#kefu-kb-satisfaction [data-role=conversations]")).to_have_text("1")


def test_composer_coaches_a_reply_and_fills_a_script(live_desk, desk_page, chat_page):
    _, chat = chat_page("zhang")
    _say(chat, "我的保温杯到哪了？")
    desk = desk_page("xiaomei")
    _open_conversation(desk, "我的保温杯到哪了")
    composer = desk.locator("#kefu-composer-text")

    composer.fill("这是公司规定，没办法")
    finding = desk.locator("#kefu-quality-hints [data-rule=blame_policy]").first
    expect(finding).to_be_visible()
    expect(finding).to_contain_text("这是公司规定")
    finding.get_by_role("button", name="一键改写").click()
    expect(composer).not_to_have_value("这是公司规定，没办法")
    expect(composer).to_have_value(re.compile("售后政策"))

    composer.fill("")
    composer.press_sequentially("/wl")
    option = desk.locator(".reply-picker .reply-option", has_text="物流进度告知")
    expect(option).to_be_visible()
    expect(desk.locator(".reply-picker .reply-option.active")).to_contain_text("物流进度告知")
    composer.press("Enter")
    order_no = live_desk.seed["visitors"]["zhang"]["order_no"]
    expect(composer).to_have_value(re.compile(f"您的订单{order_no}已由顺丰速运发出"))
    assert "{" not in composer.input_value()
    expect(desk.locator(".reply-picker")).to_be_hidden()


def test_compensation_above_the_agents_limit_waits_for_the_supervisor(live_desk, desk_page, chat_page):
    _, chat = chat_page("chen")
    _say(chat, "乳胶枕有很重的异味，我要投诉")
    ids = live_desk.run(f"""
from kefu.accounts.models import User
from kefu.complaints.services import do_open_complaint
from kefu.conversations.models import Conversation
conversation = Conversation.objects.filter(customer_id={live_desk.seed["visitors"]["chen"]["customer_id"]}).latest("id")
complaint = do_open_complaint(actor=User.objects.get(username="xiaomei"), conversation_id=conversation.pk, data={{
    "what_happened": "乳胶枕收到后异味很重", "customer_request": "退货并补偿",
}})
emit({{"complaint_id": complaint.pk}})
""")
    url = f"/desk/complaints/{ids['complaint_id']}/"
    agent = desk_page("xiaomei", path=url)
    form = agent.locator("form", has=agent.locator("input[name=action][value=compensation]"))
    form.locator("select[name=kind]").select_option(index=0)
    form.locator("input[name=amount]").fill("300")
    form.locator("input[name=reason]").fill("异味严重影响使用，安抚补偿")
    form.get_by_role("button", name="申请补偿").click()
    row = agent.locator("table.list tr", has_text="异味严重影响使用")
    expect(row).to_contain_text("300")
    expect(row).to_contain_text("待审批（待主管审批）")

    supervisor = desk_page("zhuguan", path="/desk/approvals/")
    pending = supervisor.locator("table.list tbody tr", has_text="异味严重影响使用")
    expect(pending).to_contain_text("300.00 元")
    expect(pending).to_contain_text("小美")
    pending.locator("input[name=note]").fill("同意，尽快安抚")
    pending.get_by_role("button", name="批准").click()
    expect(supervisor.locator("table.list tbody")).to_contain_text("没有待审批的申请")

    agent.reload()
    expect(agent.locator("table.list tr", has_text="异味严重影响使用")).to_contain_text("已批准")


def test_a_missed_promise_is_apologised_for_in_the_customers_chat(live_desk, chat_page):
    _, chat = chat_page("zhao")
    _say(chat, "电热水壶说好今天给我回电话的")
    live_desk.run(f"""
from datetime import timedelta
from django.utils import timezone
from kefu.accounts.models import User
from kefu.complaints.promises import do_make_promise
from kefu.complaints.services import do_sweep
from kefu.conversations.models import Conversation
conversation = Conversation.objects.filter(customer_id={live_desk.seed["visitors"]["zhao"]["customer_id"]}).latest("id")
promise = do_make_promise(actor=User.objects.get(username="xiaomei"), description="回电告知换货进度",
                          due_at=timezone.now() + timedelta(minutes=1), conversation_id=conversation.pk)
emit(do_sweep(now=timezone.now() + timedelta(minutes=2)))
""")
    # The sweep ran in another process: the customer sees it when the chat resumes.
    chat.reload()
    apology = chat.locator(".kefu-msg--auto", has_text="非常抱歉，我们原定于")
    expect(apology).to_be_visible()
    expect(apology).to_contain_text("回电告知换货进度")


def test_each_side_sees_the_other_typing(live_desk, desk_page, chat_page):
    _, chat = chat_page("zhang")
    _say(chat, "我想问下保温杯的保修期是多久")
    desk = desk_page("xiaomei")
    _open_conversation(desk, "保温杯的保修期")

    # The customer types (not sent yet): the agent's conversation page says so. The chat
    # sends a typing frame at most every 3 s; the first may come before the page has opened
    # the conversation on its socket, so the customer goes on typing, as people do.
    indicator = desk.locator("#kefu-typing")
    for word in ("还有", "一个", "问题", "想问", "一下"):
        chat.locator("[data-role=text]").press_sequentially(word)
        if indicator.is_visible():
            break
        desk.wait_for_timeout(1500)
    expect(indicator).to_be_visible()
    expect(indicator).to_contain_text("正在输入")

    # The agent types in the composer: the customer's chat shows the agent typing.
    desk.locator("#kefu-composer-text").press_sequentially("您好，保温杯保修")
    expect(chat.locator("[data-role=typing]")).to_be_visible()
    expect(chat.locator("[data-role=typing]")).to_have_text("客服正在输入…")
