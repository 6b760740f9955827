"""REST /api/v1/proactive/… and the widget's /chat/page: bad input is a 4xx naming the field."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from kefu.accounts.models import AuditLog
from kefu.conversations.models import Conversation
from kefu.proactive.models import Kind, Notice, Rule, Statement
from kefu.replies.models import CannedReply

pytestmark = pytest.mark.django_db


def send(client, method, url, data=None):
    return getattr(client, method)(url, json.dumps(data or {}), content_type="application/json")


@pytest.fixture
def sup(client, shop):
    client.force_login(shop.desk.supervisor)
    return client


def rule_body(shop, **kw):
    body = {"name": "发货通知", "kind": "order_shipped", "reply_id": shop.replies[Kind.ORDER_SHIPPED].pk}
    body.update(kw)
    return body


def test_a_supervisor_creates_changes_and_deletes_a_rule(sup, shop):
    created = send(sup, "post", "/api/v1/proactive/rules", rule_body(shop, daily_limit=2))
    assert created.status_code == 201, created.content
    rule = created.json()
    assert rule["kind_label"] == "发货通知" and rule["daily_limit"] == 2 and rule["team_id"] is None
    changed = send(
        sup,
        "patch",
        f"/api/v1/proactive/rules/{rule['id']}",
        {"is_enabled": False, "team_id": shop.desk.team.pk},
    )
    assert changed.status_code == 200
    assert changed.json()["is_enabled"] is False and changed.json()["team"] == "售前咨询"
    assert [r["id"] for r in sup.get("/api/v1/proactive/rules").json()] == [rule["id"]]
    assert send(sup, "delete", f"/api/v1/proactive/rules/{rule['id']}").status_code == 204
    assert not Rule.objects.exists()
    assert AuditLog.objects.filter(action__startswith="proactive_rule_").count() == 3


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "birthday"}, "kind"),
        ({"daily_limit": 0}, "daily_limit"),
        ({"daily_limit": 21}, "daily_limit"),
        ({"stall_hours": 0}, "stall_hours"),
        ({"linger_seconds": 2}, "linger_seconds"),
        ({"name": ""}, "name"),
        ({"name": "发货\x00通知"}, "name"),
        ({"reply_id": 999999}, "reply_id"),
        ({"team_id": 999999}, "team_id"),
        ({"kind": "page_linger", "page_kinds": []}, "page_kinds"),
        ({"kind": "page_linger", "page_kinds": ["home"]}, "page_kinds"),
    ],
)
def test_a_bad_rule_is_refused_naming_the_field(sup, shop, change, field):
    response = send(sup, "post", "/api/v1/proactive/rules", rule_body(shop, **change))
    assert response.status_code == 400, response.content
    assert field in response.json()["fields"]
    assert not Rule.objects.exists()


def test_a_personal_script_cannot_speak_for_the_shop(sup, shop):
    mine = CannedReply.objects.create(
        title="我的话术", text="亲，发货啦", scope=CannedReply.Scope.PERSONAL, owner=shop.desk.agent
    )
    response = send(sup, "post", "/api/v1/proactive/rules", rule_body(shop, reply_id=mine.pk))
    assert response.status_code == 400
    assert "reply_id" in response.json()["fields"]


def test_unknown_fields_and_wrong_types_are_422(sup, shop):
    assert send(sup, "post", "/api/v1/proactive/rules", rule_body(shop, colour="红")).status_code == 422
    response = send(sup, "post", "/api/v1/proactive/rules", rule_body(shop, daily_limit="三"))
    assert response.status_code == 422
    assert "daily_limit" in json.dumps(response.json(), ensure_ascii=False)


def test_the_kind_of_a_rule_cannot_change(sup, shop, make_rule):
    rule = make_rule(Kind.ORDER_SHIPPED)
    response = send(sup, "patch", f"/api/v1/proactive/rules/{rule.pk}", {"kind": "refund_completed"})
    assert response.status_code == 400 and "kind" in response.json()["fields"]


def test_agents_and_leads_cannot_touch_rules(client, shop, make_rule):
    rule = make_rule(Kind.ORDER_SHIPPED)
    for user in (shop.desk.agent, shop.lead):
        client.force_login(user)
        assert client.get("/api/v1/proactive/rules").status_code == 403
        assert send(client, "post", "/api/v1/proactive/rules", rule_body(shop)).status_code == 403
        assert send(client, "delete", f"/api/v1/proactive/rules/{rule.pk}").status_code == 403
        assert client.get("/api/v1/proactive/notices").status_code == 403


def test_a_statement_is_proposed_by_a_lead_and_approved_by_a_supervisor(
    client, shop, make_customer, push_order
):
    customer = make_customer("李娜", email="li.na@example.com")
    push_order(customer, "YJ20261202001", shipping_status="in_transit", carrier="韵达快递", tracking_no="YD1")
    Conversation.objects.create(
        channel=shop.email, customer=customer, team=shop.desk.team
    )  # the team serves her
    client.force_login(shop.lead)
    body = {
        "title": "华东暴雪配送延误",
        "reason": "weather",
        "text": "{客户姓名}您好，受暴雪影响，订单{订单号}预计{预计送达}送达，非常抱歉。",
        "team_id": shop.desk.team.pk,
        "order_nos": ["YJ20261202001"],
        "new_estimate": "2026-12-08",
    }
    created = send(client, "post", "/api/v1/proactive/statements", body)
    assert created.status_code == 201, created.content
    sid = created.json()["id"]
    assert send(client, "post", f"/api/v1/proactive/statements/{sid}/approve").status_code == 403
    client.force_login(shop.desk.supervisor)
    approved = send(client, "post", f"/api/v1/proactive/statements/{sid}/approve")
    assert approved.status_code == 200
    assert approved.json()["status"] == "approved" and approved.json()["approved_by"] == "王主管"
    again = send(client, "post", f"/api/v1/proactive/statements/{sid}/approve")
    assert again.status_code == 409
    recipients = client.get(f"/api/v1/proactive/notices?statement_id={sid}").json()
    assert [n["order_no"] for n in recipients["items"]] == ["YJ20261202001"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"order_nos": [], "carrier": ""}, "order_nos"),
        ({"order_nos": ["YJ404404404"]}, "order_nos"),
        ({"reason": "心情"}, "reason"),
        ({"text": "您好，{优惠券}已发放"}, "text"),
        ({"text": "预计{预计送达}送达", "new_estimate": None}, "new_estimate"),
        ({"new_estimate": "12月8日"}, "new_estimate"),
        ({"title": "x" * 65}, "title"),
    ],
)
def test_a_bad_statement_is_refused_naming_the_field(sup, shop, change, field):
    body = {
        "title": "高峰延误",
        "reason": "peak",
        "text": "您好，高峰期订单会晚到一两天。",
        "carrier": "韵达快递",
    }
    body.update(change)
    response = send(sup, "post", "/api/v1/proactive/statements", body)
    assert response.status_code == 400, response.content
    assert field in response.json()["fields"]
    assert not Statement.objects.exists()


def test_a_lead_proposes_only_for_their_own_team(client, shop, make_team):
    other = make_team("售后服务")
    client.force_login(shop.lead)
    body = {
        "title": "延误",
        "reason": "peak",
        "text": "您好，订单会晚到。",
        "carrier": "韵达快递",
        "team_id": other.pk,
    }
    response = send(client, "post", "/api/v1/proactive/statements", body)
    assert response.status_code == 400 and "team_id" in response.json()["fields"]


def test_the_widget_report_hands_out_a_token_and_names_bad_fields(client, shop):
    response = client.post(
        "/chat/page",
        json.dumps({"url": "/item/BWB-500", "page_kind": "product"}),
        content_type="text/plain",
    )
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    data = response.json()
    assert data["token"] and data["invite"] is None and 1 <= data["next_report"] <= 10
    bad = client.post(
        "/chat/page", json.dumps({"token": data["token"], "page_kind": "home"}), content_type="text/plain"
    )
    assert bad.status_code == 400 and "page_kind" in bad.json()["fields"]
    huge = client.post(
        "/chat/page", json.dumps({"url": "/" + "x" * 600, "page_kind": "product"}), content_type="text/plain"
    )
    assert huge.status_code == 400 and "url" in huge.json()["fields"]
    nul = client.post(
        "/chat/page", json.dumps({"url": "/item/\x00", "page_kind": "product"}), content_type="text/plain"
    )
    assert nul.status_code == 400 and "url" in nul.json()["fields"]
    assert client.post("/chat/page", "不是JSON", content_type="text/plain").status_code == 400
    assert (
        client.post("/chat/page", json.dumps({"channel": 999999}), content_type="text/plain").status_code
        == 404
    )


def test_the_widget_report_keeps_the_visitor_and_invites_after_the_stay(
    client, shop, make_rule, open_all_week
):
    from datetime import timedelta

    from kefu.proactive.models import PageVisit

    make_rule(Kind.PAGE_LINGER, linger_seconds=20)
    first = client.post(
        "/chat/page", json.dumps({"url": "/checkout", "page_kind": "checkout"}), content_type="text/plain"
    ).json()
    PageVisit.objects.update(page_since=timezone.now() - timedelta(seconds=25))
    second = client.post(
        "/chat/page",
        json.dumps({"token": first["token"], "url": "/checkout", "page_kind": "checkout"}),
        content_type="text/plain",
    ).json()
    assert second["token"] == first["token"]
    assert second["invite"]["text"].startswith("您好，欢迎光临悦家生活旗舰店")
    assert Notice.objects.get().channel_kind == "widget"


def test_the_openapi_schemas_keep_their_own_names():
    # Two body classes of one name would share one OpenAPI component: routing's RuleIn
    # would then be documented (and sampled by the permission matrix) as this app's.
    from kefu.api import api

    components = api.get_openapi_schema()["components"]["schemas"]
    assert "keywords" in components["RuleIn"]["properties"]
    assert "daily_limit" in components["ProactiveRuleIn"]["properties"]
    assert "order_nos" in components["DelayStatementIn"]["properties"]
