"""The audit log for supervisors: a Chinese page at /desk/audit/ and GET /api/v1/audit, with filters
by user, action, customer and days; leads and agents get 403."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from kefu.accounts.access import audit
from kefu.accounts.models import AgentStatus, AuditLog, Role
from kefu.conversations.models import Message
from kefu.conversations.services import do_receive_customer_message, do_reveal_message
from kefu.customers.models import Customer
from kefu.customers.services import do_reveal_pii

pytestmark = pytest.mark.django_db


@pytest.fixture
def log(desk: Any, make_user: Any) -> Any:
    """Two reveals by a lead (a message of one customer, a phone of another) and a login."""
    lead = make_user(
        "zuzhang", role=Role.TEAM_LEAD, teams=(desk.team,), status=AgentStatus.ONLINE, display_name="刘组长"
    )
    msg, _ = do_receive_customer_message(
        channel=desk.channel,
        identities=[("web", "a1")],
        text="发票寄到这，电话 13812345678",
        customer_name="周先生",
    )
    do_reveal_message(user=lead, conversation_id=msg.conversation_id, message_id=msg.pk)
    other = Customer.objects.create(name="吴女士", phone="13900001111")
    do_reveal_pii(user=lead, customer=other, field="phone")
    audit(AuditLog.Action.LOGIN, actor=desk.agent)
    return type("Log", (), {"lead": lead, "message": msg, "first": msg.conversation.customer, "other": other})


def test_supervisor_reads_the_page_in_chinese(client, desk, log):
    client.force_login(desk.supervisor)
    html = client.get("/desk/audit/").content.decode()
    assert "审计日志" in html and "操作人" in html and "起始日期" in html
    assert "查看明文个人信息" in html and "刘组长" in html
    assert f"消息原文（会话 #{log.message.conversation_id}，消息 #{log.message.pk}）" in html
    assert "手机号" in html
    assert "13812345678" not in html and "13900001111" not in html


def test_page_filters_by_customer_user_action_and_days(client, desk, log):
    client.force_login(desk.supervisor)
    by_customer = client.get(f"/desk/audit/?customer={log.other.pk}").content.decode()
    assert "共 1 条记录" in by_customer and "手机号" in by_customer
    by_actor = client.get(f"/desk/audit/?actor={desk.agent.pk}").content.decode()
    assert "共 1 条记录" in by_actor and "登录" in by_actor
    by_action = client.get("/desk/audit/?action=reveal_pii").content.decode()
    assert "共 2 条记录" in by_action
    today = timezone.localdate()
    assert "共 0 条记录" in client.get(f"/desk/audit/?date_to={today - timedelta(days=1)}").content.decode()
    assert "共 0 条记录" not in client.get(f"/desk/audit/?date_from={today}&date_to={today}").content.decode()


def test_page_shows_readable_errors_for_bad_filters(client, desk, log):
    client.force_login(desk.supervisor)
    r = client.get("/desk/audit/?date_from=2026-13-40")
    assert r.status_code == 200 and "日期格式有误" in r.content.decode()
    r = client.get("/desk/audit/?date_from=2026-12-05&date_to=2026-12-01")
    assert "开始日期晚于结束日期" in r.content.decode()
    r = client.get("/desk/audit/?customer=abc")
    assert "请填写编号" in r.content.decode()


def test_page_is_paginated(client, desk):
    for _ in range(55):
        audit(AuditLog.Action.LOGIN, actor=desk.agent)
    client.force_login(desk.supervisor)
    first = client.get("/desk/audit/?action=login").content.decode()
    assert "第 1 / 2 页" in first and "action=login&amp;page=2" in first
    assert "第 2 / 2 页" in client.get("/desk/audit/?action=login&page=2").content.decode()


@pytest.mark.parametrize("role", [Role.AGENT, Role.TEAM_LEAD])
def test_leads_and_agents_get_403(client, make_user, role):
    client.force_login(make_user("u-" + role, role=role))
    r = client.get("/desk/audit/")
    assert r.status_code == 403
    assert client.get("/api/v1/audit").status_code == 403


def test_settings_hub_links_the_page_for_supervisors(client, desk):
    client.force_login(desk.supervisor)
    assert 'href="/desk/audit/"' in client.get("/desk/settings/").content.decode()


def test_api_filters_by_customer_and_days(client, desk, log):
    client.force_login(desk.supervisor)
    body = client.get(f"/api/v1/audit?customer_id={log.first.pk}").json()
    assert body["count"] == 1
    row = body["items"][0]
    assert row["action"] == "reveal_pii" and row["action_label"] == "查看明文个人信息"
    assert row["detail"]["field"] == "message" and row["detail"]["message_id"] == log.message.pk
    today = timezone.localdate().isoformat()
    assert client.get(f"/api/v1/audit?date_from={today}&date_to={today}").json()["count"] >= 3
    bad = client.get("/api/v1/audit?date_from=yesterday")
    assert bad.status_code == 400 and "date_from" in bad.json()["fields"]
    unknown = client.get("/api/v1/audit?action=steal")
    assert unknown.status_code == 400 and "action" in unknown.json()["fields"]
    assert Message.objects.filter(pk=log.message.pk).exists()
