"""A small floor for the wallboard: two teams, their agents and leads, Chinese conversations."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.utils import timezone

from kefu.accounts.models import AgentStatus, Role
from kefu.conversations.models import Conversation
from kefu.conversations.services import do_receive_customer_message


def customer_writes(channel: Any, visitor: str, text: str, *, name: str = "") -> Conversation:
    """A customer's message through the one entrance; returns its conversation."""
    message, _ = do_receive_customer_message(
        channel=channel,
        identities=[("web", visitor)],
        text=text,
        client_msg_id=f"{visitor}-{abs(hash(text))}",
        customer_name=name,
    )
    return Conversation.objects.select_related("customer").get(pk=message.conversation_id)


def waiting_since(conversation: Conversation, seconds: int) -> None:
    """In the team's queue for ``seconds`` (as routing leaves it when nobody has room)."""
    Conversation.objects.filter(pk=conversation.pk).update(
        assignee=None, queued_at=timezone.now() - timedelta(seconds=seconds)
    )


def first_response_due_in(conversation: Conversation, seconds: int) -> None:
    Conversation.objects.filter(pk=conversation.pk).update(
        first_response_due=timezone.now() + timedelta(seconds=seconds), first_response_at=None
    )


@pytest.fixture(autouse=True)
def fresh_kpis(settings: Any) -> None:
    """Today's tiles computed for every snapshot: a cached copy would outlive the test's data."""
    settings.KEFU_WALLBOARD_KPI_SECONDS = 0


@pytest.fixture
def floor(make_team: Any, make_user: Any, make_channel: Any) -> SimpleNamespace:
    """售前咨询 (A) and 售后服务 (B): agents by status, a lead each, a supervisor, and
    conversations waiting, near their first-response deadline, or angry."""
    presale = make_team("售前咨询", is_general=True)
    aftersale = make_team("售后服务")
    xiaomei = make_user(
        "xiaomei", teams=(presale,), status=AgentStatus.ONLINE, display_name="小美", max_concurrent=3
    )
    ajie = make_user("ajie", teams=(presale,), status=AgentStatus.BREAK, display_name="阿杰")
    laozhou = make_user("laozhou", teams=(aftersale,), status=AgentStatus.BUSY, display_name="老周")
    lead_a = make_user("lead_a", role=Role.TEAM_LEAD, teams=(presale,), display_name="陈组长")
    lead_b = make_user("lead_b", role=Role.TEAM_LEAD, teams=(aftersale,), display_name="林组长")
    supervisor = make_user("zhuguan", role=Role.SUPERVISOR, display_name="王主管")
    web_a = make_channel("web", team=presale, name="官网在线客服")
    web_b = make_channel("web", team=aftersale, name="售后在线客服")

    size = customer_writes(web_a, "v-size", "你好，这款羽绒服L码还有货吗？", name="张伟")
    coupon = customer_writes(web_a, "v-coupon", "双十一的满减券怎么用？", name="李娜")
    refund = customer_writes(web_b, "v-refund", "我的退款申请三天了还没到账", name="王芳")
    angry = customer_writes(
        web_b, "v-angry", "你们太过分了！快递丢了没人管，再不处理我就去12315投诉！", name="赵强"
    )
    waiting_since(size, 300)
    waiting_since(coupon, 45)
    waiting_since(refund, 130)
    Conversation.objects.filter(pk=angry.pk).update(assignee=laozhou, queued_at=None)
    first_response_due_in(size, 3600)
    first_response_due_in(angry, 3600)
    first_response_due_in(coupon, 120)  # about to breach
    first_response_due_in(refund, -60)  # breached, still unanswered
    return SimpleNamespace(
        presale=presale,
        aftersale=aftersale,
        xiaomei=xiaomei,
        ajie=ajie,
        laozhou=laozhou,
        lead_a=lead_a,
        lead_b=lead_b,
        supervisor=supervisor,
        web_a=web_a,
        web_b=web_b,
        size=size,
        coupon=coupon,
        refund=refund,
        angry=angry,
    )
