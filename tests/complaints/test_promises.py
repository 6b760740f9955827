from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from kefu.complaints.models import Promise
from kefu.complaints.promise_text import find_promises
from kefu.conversations.services import do_receive_customer_message, do_send_agent_message

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 23, 14, 0, tzinfo=SH)  # a Monday


@pytest.mark.parametrize(
    ("text", "due"),
    [
        ("我已联系快递核实，今天18:00前给您回复结果。", datetime(2026, 11, 23, 18, 0, tzinfo=SH)),
        ("我们会在24小时内为您退款。", datetime(2026, 11, 24, 14, 0, tzinfo=SH)),
        ("明天上午10点前我再联系您确认。", datetime(2026, 11, 24, 10, 0, tzinfo=SH)),
        ("下午三点半前给您回电", datetime(2026, 11, 23, 15, 30, tzinfo=SH)),
        ("我们将在2个工作日内完成处理", datetime(2026, 11, 25, 14, 0, tzinfo=SH)),
        ("我们会在二十四小时内给您答复", datetime(2026, 11, 24, 14, 0, tzinfo=SH)),
    ],
)
def test_commitments_with_a_time_are_found(text, due):
    assert [p.due_at for p in find_promises(text, NOW)] == [due]


def test_traditional_reply_is_found_and_quoted_as_written():
    found = find_promises("我們會在24小時內為您退款。", NOW)
    assert found[0].due_at == NOW + timedelta(hours=24)
    assert found[0].description == "我們會在24小時內為您退款。"


@pytest.mark.parametrize(
    "text",
    [
        "退款一般1-3个工作日到账。",  # information, not a commitment
        "好的，我马上为您查询，大约需要2分钟。",  # no deadline
        "您好，请问有什么可以帮您？",
    ],
)
def test_information_and_pleasantries_are_not_promises(text):
    assert find_promises(text, NOW) == []


def test_a_clock_time_already_past_today_means_tomorrow():
    found = find_promises("我10:00前给您回电", NOW)
    assert found[0].due_at == datetime(2026, 11, 24, 10, 0, tzinfo=SH)


@pytest.mark.django_db
def test_a_sent_reply_registers_its_promise_on_the_agents_list(desk):
    msg, _ = do_receive_customer_message(
        channel=desk.channel, identities=[("web", "p1")], text="什么时候退款？"
    )
    do_send_agent_message(
        agent=desk.agent, conversation_id=msg.conversation_id, text="非常抱歉，我们会在24小时内为您退款。"
    )
    promise = Promise.objects.get()
    assert promise.owner == desk.agent and promise.conversation_id == msg.conversation_id
    assert "24小时内为您退款" in promise.description
    # Saying it again does not register it twice.
    do_send_agent_message(
        agent=desk.agent, conversation_id=msg.conversation_id, text="非常抱歉，我们会在24小时内为您退款。"
    )
    assert Promise.objects.count() == 1
