"""The 主动服务 settings page: supervisors edit rules and approve statements; leads propose statements."""

from __future__ import annotations

import pytest

from kefu.proactive.models import Kind, Rule, Statement

pytestmark = pytest.mark.django_db

URL = "/desk/settings/proactive/"


def test_a_supervisor_adds_a_rule_from_the_page(client, shop):
    client.force_login(shop.desk.supervisor)
    page = client.get(URL)
    assert page.status_code == 200
    assert "主动服务" in page.content.decode() and "添加规则" in page.content.decode()
    response = client.post(
        URL,
        {
            "action": "create_rule",
            "name": "结算页停留邀请",
            "kind": "page_linger",
            "reply_id": shop.replies[Kind.PAGE_LINGER].pk,
            "daily_limit": "2",
            "linger_seconds": "40",
            "page_kinds": ["checkout"],
            "is_enabled": "on",
        },
    )
    assert response.status_code == 302
    rule = Rule.objects.get()
    assert (rule.kind, rule.linger_seconds, rule.page_kinds, rule.daily_limit) == (
        "page_linger",
        40,
        ["checkout"],
        2,
    )
    assert "结算页停留邀请" in client.get(URL).content.decode()


def test_a_refused_rule_shows_the_field_on_the_page(client, shop):
    client.force_login(shop.desk.supervisor)
    response = client.post(
        URL,
        {
            "action": "create_rule",
            "name": "发货",
            "kind": "order_shipped",
            "reply_id": shop.replies[Kind.ORDER_SHIPPED].pk,
            "daily_limit": "99",
        },
    )
    assert response.status_code == 400
    assert 'data-field="daily_limit"' in response.content.decode()
    assert not Rule.objects.exists()


def test_a_lead_sees_statements_only_and_cannot_approve(client, shop):
    client.force_login(shop.lead)
    page = client.get(URL).content.decode()
    assert "配送延误声明" in page and "添加规则" not in page
    response = client.post(
        URL,
        {
            "action": "create_statement",
            "title": "双12高峰延误",
            "reason": "peak",
            "text": "您好，双12期间订单较多，您的订单{订单号}会晚一两天送达，敬请谅解。",
            "team_id": shop.desk.team.pk,
            "carrier": "极兔速递",
        },
    )
    assert response.status_code == 302
    statement = Statement.objects.get()
    assert client.post(URL, {"action": "approve_statement", "id": statement.pk}).status_code == 403
    assert Statement.objects.get().status == Statement.Status.DRAFT


def test_agents_cannot_open_the_page(client, shop):
    client.force_login(shop.desk.agent)
    assert client.get(URL).status_code == 403


def test_the_page_runs_a_fixed_number_of_queries(client, shop, make_rule, django_assert_max_num_queries):
    for kind in (Kind.ORDER_SHIPPED, Kind.REFUND_COMPLETED, Kind.LOGISTICS_STALLED):
        make_rule(kind)
    client.force_login(shop.desk.supervisor)
    client.get(URL)
    with django_assert_max_num_queries(16) as ctx:
        client.get(URL)
    few = len(ctx.captured_queries)
    for i in range(5):
        make_rule(Kind.ORDER_SHIPPED, name=f"发货通知{i}")
    with django_assert_max_num_queries(few):
        client.get(URL)
