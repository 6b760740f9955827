"""The figures read what the real services write: a conversation lived through kefu's own write path."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.test import Client
from django.utils import timezone


def test_a_transferred_reopened_rated_conversation_through_the_services(
    desk: Any, make_team: Any, make_user: Any, open_all_week: None
):
    from kefu.accounts.models import AgentStatus
    from kefu.conversations import services as conv

    after_sales = make_team("售后服务")
    colleague = make_user("laoli", teams=(after_sales,), status=AgentStatus.ONLINE, display_name="老李")
    start = timezone.now() - timedelta(minutes=5)
    visitor = [("web", "visitor-metrics-1")]
    first, _ = conv.do_receive_customer_message(
        channel=desk.channel, identities=visitor, text="我的订单还没发货"
    )
    c = first.conversation
    conv.do_send_agent_message(agent=desk.agent, conversation_id=c.pk, text="您好，我帮您查一下")
    conv.do_transfer(actor=desk.agent, conversation_id=c.pk, note="客户要改地址，转售后", to_user=colleague)
    conv.do_send_agent_message(agent=colleague, conversation_id=c.pk, text="您好，地址已经改好了")
    conv.do_set_status(actor=colleague, conversation_id=c.pk, status="resolved")
    conv.do_receive_customer_message(channel=desk.channel, identities=visitor, text="那什么时候能到？")
    conv.do_send_agent_message(agent=colleague, conversation_id=c.pk, text="预计明天送达")
    conv.do_set_status(actor=colleague, conversation_id=c.pk, status="resolved")
    c.refresh_from_db()
    conv.do_rate_conversation(conversation=c, score=5, comment="老李服务很好")

    client = Client()
    client.force_login(desk.supervisor)
    query = {"start": start.isoformat(), "end": (timezone.now() + timedelta(minutes=5)).isoformat()}
    names = "volume,transfer_rate,reopen_rate,fcr_rate,resolution_rate,csat_mean,first_response_mean,response_time_mean"
    r = client.get(f"/api/v1/metrics?{urlencode({**query, 'names': names})}")
    got = {f["name"]: (f["value"], f["count"]) for f in r.json()["figures"]}
    assert got["volume"] == (1, 1)
    assert got["transfer_rate"] == (100.0, 1)
    assert got["reopen_rate"] == (100.0, 1)
    assert got["fcr_rate"] == (0.0, 1)
    assert got["resolution_rate"] == (100.0, 1)
    assert got["csat_mean"] == (5.0, 1)
    assert got["first_response_mean"][1] == 1
    # Two customer turns, each ended by an agent reply (the colleague's reply after the transfer ends none).
    assert got["response_time_mean"][1] == 2
    r = client.get(
        f"/api/v1/metrics/breakdown?{urlencode({**query, 'name': 'first_response_mean', 'by': 'agent'})}"
    )
    assert [i["label"] for i in r.json()["items"]] == ["小美"]
