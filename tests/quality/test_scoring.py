"""Scoring a finished conversation (kefu.quality.scoring): the rubric stored on close, KB correctness."""

from __future__ import annotations

import pytest

from kefu.accounts.models import Role
from kefu.quality.models import QualityScore

pytestmark = pytest.mark.django_db

ANGRY = "你们什么破快递，都一个星期了还没到！什么时候能到？投诉！"
GOOD_REPLY = "您好，非常理解您的心情，给您带来不便非常抱歉。我已为您催促快递，今天18:00前给您回复进度。"
GOOD_CLOSING = "包裹明天上午送到，感谢您的耐心。请问还有其他可以帮您的吗？"
BAD_REPLY = "这是公司规定，可能是您操作不当。"


def test_closing_a_conversation_scores_it(chat, close, desk):
    conversation = chat(
        ("customer", ANGRY), ("agent", GOOD_REPLY), ("customer", "好的"), ("agent", GOOD_CLOSING)
    )
    assert not QualityScore.objects.exists()
    close(conversation)
    score = QualityScore.objects.get(conversation=conversation)
    assert score.agent == desk.agent and score.rubric_version == 1
    assert score.total >= 80
    keys = [i["key"] for i in score.items]
    assert {"greeting", "empathy", "closing", "response_time"} <= set(keys)


def test_a_poor_conversation_scores_low_and_is_marked_for_sampling(chat, close):
    conversation = chat(("customer", ANGRY), ("agent", BAD_REPLY), ("agent", "尽快吧。"))
    close(conversation, status="closed")
    score = QualityScore.objects.get(conversation=conversation)
    assert score.total < 50
    assert score.high_findings >= 1
    assert score.rule_counts["blame_policy"] >= 1


def test_kb_correctness_counts_replies_that_carry_the_kb_answer(chat, close, desk, make_user):
    from kefu.kb.index import reset_index
    from kefu.kb.services import do_create_article

    admin = make_user("kbadmin", role=Role.ADMIN)
    do_create_article(
        actor=admin,
        data={
            "title": "保温杯漏水怎么办",
            "answer": "请先检查杯盖密封圈是否安装到位，如仍漏水可申请换货。",
            "status": "published",
            "similar_questions": ["杯子漏水"],
        },
    )
    reset_index()
    conversation = chat(
        ("customer", "我买的保温杯漏水怎么办"),
        ("agent", "您好，请先检查杯盖密封圈是否安装到位，如仍漏水我为您申请换货。"),
    )
    close(conversation)
    score = QualityScore.objects.get(conversation=conversation)
    assert score.kb_correctness == 1.0
    assert any(i["key"] == "kb_correctness" for i in score.items)
