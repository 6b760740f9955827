"""The agent workspace with a realistic conversation, for the layout test and the README
screenshot (``docs/screenshots/make_screenshots.py``)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

VIEWPORT = {"width": 1440, "height": 900}
KB_ANSWER = (
    "非常抱歉给您带来困扰。请先检查杯盖内的硅胶密封圈是否装正、有无破损，拧紧杯盖后倒置 1 分钟观察；"
    "如仍漏水，属于质量问题，我们为您免费换新，运费由我们承担。"
)

# A past conversation (resolved, with a ticket) and the one on screen; the customer is
# the seeded 张女士 whose thermos is in transit.
SETUP = f"""
from kefu.accounts.models import User
from kefu.channels.models import Channel
from kefu.conversations.services import do_receive_customer_message, do_send_agent_message, do_set_status
from kefu.kb.services import do_create_article
from kefu.tickets.services import do_create_ticket

agent = User.objects.get(username="xiaomei")
lead = User.objects.get(username="zuzhang")
channel = Channel.objects.get(kind="web")
who = [("web", "visitor-zhang")]
do_create_article(actor=lead, data={{
    "title": "保温杯漏水怎么办", "status": "published", "answer": {KB_ANSWER!r},
    "body": "保温杯漏水多因密封圈未装正或破损。先检查密封圈，再倒置测试；仍漏水按质量问题换新。",
    "similar_questions": ["杯子漏水", "保温杯盖子漏水", "水杯倒过来会漏"], "tags": ["保温杯", "售后"],
}})

msg, _ = do_receive_customer_message(channel=channel, identities=who, text="请问保温杯可以刻字吗？想送人")
past = msg.conversation
do_send_agent_message(agent=agent, conversation_id=past.pk,
                      text="您好，可以的，下单时在备注里写上要刻的字（10 个字以内）即可，刻字免费。还有其他可以帮您的吗？")
do_set_status(actor=agent, conversation_id=past.pk, status="resolved")

turns = [
    ("customer", "你好，我上周买的保温杯收到了，但是倒过来会漏水"),
    ("agent", "您好，很高兴为您服务。非常抱歉给您添麻烦了，请问是杯盖位置在漏水吗？方便拍张照片给我看看吗？"),
    ("customer", "对，就是盖子那里一直渗水，包里的书都湿了"),
    ("agent", "非常理解您的心情，书被打湿确实让人着急。我先帮您看一下订单 YJ20261118001 的情况。"),
    ("customer", "才用了两天就漏水，质量也太差了吧！能不能直接给我换一个新的？"),
]
conversation = None
for role, text in turns:
    if role == "customer":
        msg, _ = do_receive_customer_message(channel=channel, identities=who, text=text, conversation=conversation,
                                             new_conversation=conversation is None)
        conversation = msg.conversation
    else:
        do_send_agent_message(agent=agent, conversation_id=conversation.pk, text=text)
do_create_ticket(actor=agent, conversation_id=past.pk)
emit({{"conversation_id": conversation.pk}})
"""


def open_workspace(live_desk: Any, login: Any) -> Any:
    """The agent's page of the scene's conversation, suggestions loaded and a reply drafted."""
    conversation_id = live_desk.run(SETUP)["conversation_id"]
    page = login("xiaomei", path=f"/desk/c/{conversation_id}/", viewport=VIEWPORT)
    suggestion = page.locator("#assist-panel .kb-suggestion", has_text="保温杯漏水怎么办")
    # The server's first search loads jieba and builds the index (the test server is plain
    # uvicorn, without kefu serve's warm-up): on a loaded two-core machine, over 10 s.
    expect(suggestion).to_be_visible(timeout=30_000)
    suggestion.get_by_role("button", name="插入").click()
    expect(page.locator("#kefu-composer-text")).to_have_value(KB_ANSWER)
    page.locator("#kefu-composer-text").blur()
    page.evaluate("document.fonts.ready")
    return page
