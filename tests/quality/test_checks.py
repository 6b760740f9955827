"""Reply checks in the desk (kefu.quality.checks): the draft's context, the agent's authority,
and the findings recorded for every sent reply."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kefu.accounts.models import Role
from kefu.complaints.models import AuthorityLimit, CompensationKind, CompensationRequest
from kefu.quality import checks
from kefu.quality.models import ReplyFindings

pytestmark = pytest.mark.django_db

ANGRY = "你们什么破快递，都一个星期了还没到！什么时候能到？投诉！"
BAD_REPLY = "这是公司规定，可能是您操作不当。"


def test_sent_replies_store_findings_with_the_context_they_were_checked_in(chat, desk):
    conversation = chat(("customer", ANGRY), ("agent", BAD_REPLY))
    recorded = ReplyFindings.objects.get(conversation=conversation)
    assert recorded.agent == desk.agent and recorded.ruleset_version == 1
    assert recorded.context["is_first_agent_reply"] is True
    assert recorded.context["expects_time"] is True
    assert recorded.context["customer_emotion"] in ("dissatisfied", "angry")
    rules = {f["rule"] for f in recorded.findings}
    assert {"blame_policy", "missing_greeting", "no_empathy"} <= rules
    assert recorded.high_count >= 1


def test_a_broken_rule_set_never_stops_a_reply_from_being_sent(chat, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("engine down")

    monkeypatch.setattr(checks, "check_reply", boom)
    conversation = chat(("customer", "在吗"), ("agent", "您好，在的。"))
    assert conversation.messages.filter(direction="outgoing").count() == 1
    assert not ReplyFindings.objects.exists()


def test_draft_context_reads_emotion_first_reply_and_time_question(chat, desk):
    conversation = chat(("customer", "我的訂單什麼時候發貨？"))
    check = checks.access_reply_check(user=desk.agent, conversation_id=conversation.pk, text="尽快吧")
    assert check.context.is_first_agent_reply and check.context.expects_time
    assert {f.rule for f in check.findings} >= {"promise_without_time", "missing_greeting"}


def _set_limit(role: str, amount: str) -> None:
    AuthorityLimit.objects.update_or_create(role=role, defaults={"max_amount": Decimal(amount)})


def test_the_agents_authority_comes_from_the_complaints_table(chat, desk):
    conversation = chat(("customer", "杯子漏水了"))
    text = "您好，给您补偿50元红包。"
    check = checks.access_reply_check(user=desk.agent, conversation_id=conversation.pk, text=text)
    assert check.context.compensation_limit == 20 and check.context.agent_role == "agent"
    assert any(f.rule == "compensation_over_limit" for f in check.findings)  # the default 20 元
    _set_limit(Role.AGENT, "100")
    check = checks.access_reply_check(user=desk.agent, conversation_id=conversation.pk, text=text)
    assert check.context.compensation_limit == 100
    assert not any(f.rule == "compensation_over_limit" for f in check.findings)


def test_an_approved_compensation_may_be_named_in_the_reply(chat, desk):
    conversation = chat(("customer", "杯子漏水了"))
    _set_limit(Role.AGENT, "0")
    CompensationRequest.objects.create(
        conversation=conversation,
        kind=CompensationKind.COUPON,
        amount=Decimal("50"),
        reason="杯子漏水",
        requested_by=desk.agent,
        status=CompensationRequest.Status.APPROVED,
        decided_by=desk.supervisor,
    )
    check = checks.access_reply_check(
        user=desk.agent, conversation_id=conversation.pk, text="您好，给您补偿50元红包。"
    )
    assert check.context.approved_compensation == 50
    assert not any(f.rule == "compensation_over_limit" for f in check.findings)


def test_no_limit_is_stored_as_json(chat, desk):
    desk.agent.role = Role.MANAGER  # no limit of their own
    desk.agent.save(update_fields=["role"])
    conversation = chat(("customer", "杯子漏水了"), ("agent", "您好，给您补偿500元。"))
    recorded = ReplyFindings.objects.get(conversation=conversation)
    assert recorded.context["compensation_limit"] == checks.NO_LIMIT
    assert not any(f["rule"] == "compensation_over_limit" for f in recorded.findings)
