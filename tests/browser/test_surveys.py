"""A customer rates a resolved chat in the widget's card (stars and the 0–10 question); the low score
lands on the team lead's 回访 page."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.browser

# NPS asked desk-wide; 刘先生's question answered by 小美 and resolved.
SETUP = """
from kefu.accounts.models import User
from kefu.channels.models import Channel
from kefu.conversations.models import Conversation
from kefu.conversations.services import do_receive_customer_message, do_send_agent_message, do_set_status
from kefu.surveys.models import SurveySetting
SurveySetting.objects.create(key="desk", nps_enabled=True)
agent = User.objects.get(username="xiaomei")
msg, _ = do_receive_customer_message(channel=Channel.objects.get(kind="web"), identities=[("web", "visitor-liu")],
                                     customer_name="刘先生", text="空气炸锅下单四天了还没发货，怎么回事？")
do_send_agent_message(agent=agent, conversation_id=msg.conversation_id, text="您好，已为您催促仓库，今天会发出。",
                      confirm_findings=True)
do_set_status(actor=agent, conversation_id=msg.conversation_id, status=Conversation.Status.RESOLVED)
emit({"conversation_id": msg.conversation_id})
"""

CHECK = """
from kefu.surveys.models import FollowUp, Survey
s = Survey.objects.get(conversation_id={conversation_id})
emit({{"csat": s.csat, "nps": s.nps, "comment": s.comment,
       "follow_ups": list(FollowUp.objects.filter(survey=s).values_list("kind", flat=True))}})
"""


def test_the_customer_answers_the_card_and_the_lead_sees_the_follow_up(
    live_desk: Any, chat_page: Any, desk_page: Any
) -> None:
    conversation_id = live_desk.run(SETUP)["conversation_id"]
    _, page = chat_page("liu")
    card = page.locator("[data-role=rating]")
    card.wait_for(state="visible")
    card.locator("[data-score='2']").click()
    card.locator("[data-nps='3']").click()
    assert card.locator("[data-nps='3']").get_attribute("aria-checked") == "true"
    card.locator("[data-role=rating-comment]").fill("发货太慢了，等了四天")
    card.locator("[data-role=rating-submit]").click()
    page.locator("[data-role=rating-thanks]").wait_for(state="visible")
    assert card.is_hidden()

    stored = live_desk.run(CHECK.format(conversation_id=conversation_id))
    assert stored == {"csat": 2, "nps": 3, "comment": "发货太慢了，等了四天", "follow_ups": ["low_score"]}

    lead = desk_page("zuzhang", path="/desk/follow-ups/")
    row = lead.locator("#kefu-follow-ups tbody tr").first
    assert f"#{conversation_id}" in row.inner_text() and "低分回访" in row.inner_text()
    assert "发货太慢了" in row.inner_text()
