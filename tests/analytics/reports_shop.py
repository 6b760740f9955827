"""A small shop with a known history for the report tests: two teams, their leads, agents and conversations."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from django.utils import timezone

from kefu.accounts.models import Role
from kefu.conversations.models import Conversation
from kefu.customers.models import Customer

CUSTOMERS = ("张女士", "刘先生", "陈女士", "赵先生", "王女士", "孙先生")


def build_shop(make_team: Any, make_user: Any, make_channel: Any) -> SimpleNamespace:
    """售后服务 has three conversations (two yesterday, one three days ago), 售前咨询 one yesterday."""
    after_sales, pre_sales = make_team("售后服务", is_general=True), make_team("售前咨询")
    web = make_channel("web", team=after_sales, name="官网在线客服")
    app = make_channel("app", team=after_sales, name="悦家 App")
    lead = make_user("liqiang", role=Role.TEAM_LEAD, teams=(after_sales,), display_name="李强")
    other_lead = make_user("zhangli", role=Role.TEAM_LEAD, teams=(pre_sales,), display_name="张丽")
    agent = make_user("majun", teams=(after_sales,), display_name="马俊")
    other_agent = make_user("linmeiling", teams=(pre_sales,), display_name="林美玲")
    supervisor = make_user("wanghaitao", role=Role.SUPERVISOR, display_name="王海涛")
    now = timezone.now()
    rows = [
        # (team, channel, agent, days ago, first response after s, resolved, csat, intent)
        (after_sales, web, agent, 1, 30, True, 5, "物流查询"),
        (after_sales, app, agent, 1, 90, True, 4, "退换货与退款"),
        (after_sales, web, agent, 3, 45, False, None, "物流查询"),
        (pre_sales, web, other_agent, 1, 20, True, 5, "售前咨询"),
    ]
    conversations = []
    for i, (team, channel, who, days, frt, resolved, csat, intent) in enumerate(rows):
        created = now - timedelta(days=days, hours=1)
        c = Conversation.objects.create(
            channel=channel,
            customer=Customer.objects.create(name=CUSTOMERS[i]),
            team=team,
            assignee=who,
            first_responder=who,
            status=Conversation.Status.RESOLVED if resolved else Conversation.Status.OPEN,
            intent=intent,
            csat_score=csat,
        )
        Conversation.objects.filter(pk=c.pk).update(
            created_at=created,
            queued_at=created,
            first_response_at=created + timedelta(seconds=frt),
            resolved_at=created + timedelta(minutes=20) if resolved else None,
            csat_at=created + timedelta(minutes=25) if csat else None,
        )
        conversations.append(c)
    return SimpleNamespace(
        after_sales=after_sales,
        pre_sales=pre_sales,
        web=web,
        app=app,
        lead=lead,
        other_lead=other_lead,
        agent=agent,
        other_agent=other_agent,
        supervisor=supervisor,
        conversations=conversations,
    )
