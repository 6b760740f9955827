"""Who may change a customer, see their history and write orders, through the API and the desk.

Two teams serve the same shop: 售前咨询 (the ``desk`` fixture's) and 售后服务. A customer who
wrote to 售前 is 售前's to change; 售后's agents and lead may read the profile but not rewrite it,
make it VIP, delete its identities or reveal its personal data; the timeline tells them the
customer was served elsewhere without showing what about. Orders are the store's: written by
an integration's scoped token and by roles an admin granted, not by every agent.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from django.test import Client

from kefu.accounts.models import AuditLog, Role
from kefu.accounts.services import do_create_token
from kefu.conversations.services import do_receive_customer_message
from kefu.customers.models import Customer, Order

from .conftest import ApiClient


@pytest.fixture
def shop(desk: Any, make_team: Any, make_user: Any) -> SimpleNamespace:
    after_sales = make_team("售后服务")
    msg, _ = do_receive_customer_message(
        channel=desk.channel,
        identities=[("web", "visitor-liuyang"), ("phone", "13812345678")],
        text="我买的空气炸锅什么时候发货？我手机号13812345678",
    )
    customer = Customer.objects.get(conversations__pk=msg.conversation_id)
    Customer.objects.filter(pk=customer.pk).update(phone="13812345678", name="刘洋")
    return SimpleNamespace(
        customer=customer,
        conversation_id=msg.conversation_id,
        agent_a=desk.agent,
        lead_a=make_user("zuzhang-a", role=Role.TEAM_LEAD, teams=(desk.team,)),
        agent_b=make_user("shouhou-xiaowang", teams=(after_sales,)),
        lead_b=make_user("zuzhang-b", role=Role.TEAM_LEAD, teams=(after_sales,)),
        supervisor=desk.supervisor,
        admin=make_user("guanliyuan", role=Role.ADMIN),
    )


def test_another_teams_agent_reads_the_profile_but_cannot_change_it(shop):
    api = ApiClient(shop.agent_b)
    assert api.get(f"/customers/{shop.customer.pk}").status_code == 200
    r = api.patch(f"/customers/{shop.customer.pk}", {"notes": "这个客户很难缠"})
    assert r.status_code == 403 and r.json()["error"] == "permission_denied"
    identity = shop.customer.identities.get(kind="web")
    assert api.delete(f"/identities/{identity.pk}").status_code == 403
    assert (
        api.post(
            f"/customers/{shop.customer.pk}/identities", {"kind": "email", "value": "x@example.com"}
        ).status_code
        == 403
    )
    shop.customer.refresh_from_db()
    assert shop.customer.notes == "" and shop.customer.identities.filter(pk=identity.pk).exists()


def test_the_serving_agent_edits_notes_but_only_a_lead_sets_the_vip_level(shop):
    agent = ApiClient(shop.agent_a)
    assert agent.patch(f"/customers/{shop.customer.pk}", {"notes": "偏好电话联系"}).status_code == 200
    r = agent.patch(f"/customers/{shop.customer.pk}", {"vip_level": 10})
    assert r.status_code == 403
    assert (
        ApiClient(shop.lead_b).patch(f"/customers/{shop.customer.pk}", {"vip_level": 10}).status_code == 403
    )
    assert ApiClient(shop.lead_a).patch(f"/customers/{shop.customer.pk}", {"vip_level": 3}).status_code == 200
    shop.customer.refresh_from_db()
    assert shop.customer.vip_level == 3 and shop.customer.notes == "偏好电话联系"
    # Re-sending the level it already has is no VIP change: agents' forms send every field.
    assert (
        agent.patch(f"/customers/{shop.customer.pk}", {"vip_level": 3, "notes": "周末联系"}).status_code
        == 200
    )
    # Nor may an agent create a profile that jumps the queue.
    r = agent.post("/customers", {"name": "王芳", "vip_level": 5})
    assert r.status_code == 403 and not Customer.objects.filter(name="王芳").exists()


def test_a_lead_reveals_only_the_customers_of_their_teams_and_each_reveal_is_audited(shop):
    r = ApiClient(shop.lead_b).post(f"/customers/{shop.customer.pk}/reveal", {"field": "phone"})
    assert r.status_code == 403
    assert not AuditLog.objects.filter(action="reveal_pii").exists()
    r = ApiClient(shop.lead_a).post(f"/customers/{shop.customer.pk}/reveal", {"field": "phone"})
    assert r.json()["value"] == "13812345678"
    r = ApiClient(shop.supervisor).post(f"/customers/{shop.customer.pk}/reveal", {"field": "phone"})
    assert r.status_code == 200
    assert AuditLog.objects.filter(action="reveal_pii").count() == 2


def test_the_timeline_tells_another_team_the_customer_was_served_without_saying_what_about(shop):
    from kefu.tickets.models import Ticket

    Ticket.objects.create(number="TK-20261202-0001", title="空气炸锅退款申请", customer=shop.customer)
    other = ApiClient(shop.agent_b)
    assert other.get(f"/conversations/{shop.conversation_id}").status_code == 403
    items = other.get(f"/customers/{shop.customer.pk}/timeline").json()["items"]
    by_type = {e["type"]: e for e in items}
    assert by_type["conversation"]["restricted"] and by_type["ticket"]["restricted"]
    text = json.dumps(items, ensure_ascii=False)
    assert "空气炸锅" not in text and "发货" not in text and "小美" not in text
    assert by_type["conversation"]["title"] == "其他团队的会话" and by_type["conversation"]["url"] == ""
    # The team that served them sees the subject and can follow the link.
    own = ApiClient(shop.supervisor).get(f"/customers/{shop.customer.pk}/timeline").json()["items"]
    conversation = next(e for e in own if e["type"] == "conversation")
    assert not conversation["restricted"] and conversation["url"] == f"/desk/c/{shop.conversation_id}/"
    assert "空气炸锅" in next(e for e in own if e["type"] == "ticket")["title"]


def test_the_profile_page_of_another_teams_customer_hides_history_and_refuses_edits_readably(shop):
    client = Client()
    client.force_login(shop.agent_b)
    html = client.get(f"/desk/customers/{shop.customer.pk}/").content.decode()
    assert "其他团队的会话" in html and "空气炸锅" not in html
    r = client.post(f"/desk/customers/{shop.customer.pk}/edit/", {"notes": "改一下"}, follow=True)
    assert r.status_code in (200, 403)
    assert "该客户由其他团队服务" in r.content.decode()
    shop.customer.refresh_from_db()
    assert shop.customer.notes == ""


# --- orders -------------------------------------------------------------------------


def test_an_agent_cannot_rewrite_an_order_or_fake_a_delivery(shop, order_payload):
    admin = ApiClient(shop.admin)
    assert admin.post("/orders", order_payload).status_code == 201
    agent = ApiClient(shop.agent_a)
    cheap = {**order_payload, "amount": "0.01", "payment_status": "refunded"}
    assert agent.post("/orders", cheap).status_code == 403
    fake = {
        "events": [{"at": "2026-11-21T09:00:00+08:00", "description": "已签收"}],
        "shipping_status": "delivered",
    }
    assert agent.post(f"/orders/{order_payload['order_no']}/logistics", fake).status_code == 403
    order = Order.objects.get()
    assert (
        str(order.amount) == "128.00"
        and order.payment_status == "paid"
        and order.shipping_status == "shipped"
    )
    assert order.logistics.count() == 1
    assert agent.get(f"/orders/{order_payload['order_no']}").status_code == 200  # reading stays open


def test_an_integration_token_with_the_orders_scope_writes_orders(shop, order_payload):
    # The ERP's account is no more than an agent; its token carries the grant.
    erp = ApiClient(shop.admin).post(
        "/tokens", {"name": "ERP 订单同步", "scopes": ["orders.write"], "user_id": shop.agent_b.pk}
    )
    assert erp.status_code == 201, erp.content
    assert erp.json()["scopes"] == ["orders.write"] and erp.json()["user_id"] == shop.agent_b.pk
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {erp.json()['key']}"}
    client = Client()
    r = client.post("/api/v1/orders", json.dumps(order_payload), content_type="application/json", **bearer)
    assert r.status_code == 201, r.content
    events = {"events": [{"at": "2026-11-21T09:00:00+08:00", "location": "杭州", "description": "派送中"}]}
    r = client.post(
        f"/api/v1/orders/{order_payload['order_no']}/logistics",
        json.dumps(events),
        content_type="application/json",
        **bearer,
    )
    assert r.status_code == 200 and r.json()["added_events"] == 1
    # The same account signed in at the desk, or with a token without the scope, may not.
    assert ApiClient(shop.agent_b).post("/orders", order_payload).status_code == 403
    _, plain = do_create_token(user=shop.agent_b, name="自己的令牌")
    r = Client().post(
        "/api/v1/orders",
        json.dumps(order_payload),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {plain}",
    )
    assert r.status_code == 403


def test_only_admins_make_scoped_tokens_or_tokens_for_others(shop):
    agent = ApiClient(shop.agent_a)
    assert agent.post("/tokens", {"name": "偷偷写订单", "scopes": ["orders.write"]}).status_code == 403
    assert agent.post("/tokens", {"name": "给别人", "user_id": shop.agent_b.pk}).status_code == 403
    r = ApiClient(shop.admin).post("/tokens", {"name": "x", "scopes": ["orders.delete"]})
    assert r.status_code == 400 and "scopes" in r.json()["fields"]
    assert agent.post("/tokens", {"name": "我的脚本"}).status_code == 201


def test_an_admin_grants_order_writing_to_a_role_and_it_is_audited(shop, order_payload):
    admin = ApiClient(shop.admin)
    supervisor = ApiClient(shop.supervisor)
    assert supervisor.post("/orders", order_payload).status_code == 403
    assert supervisor.get("/grants").status_code == 403
    assert supervisor.patch("/grants/orders.write", {"roles": ["supervisor"]}).status_code in (403, 405)
    r = admin._call("put", "/grants/orders.write", {"roles": ["supervisor", "manager"]})
    assert r.status_code == 200 and r.json()["role_labels"] == ["主管", "经理"]
    assert supervisor.post("/orders", order_payload).status_code == 201
    assert {g["permission"]: g["roles"] for g in admin.get("/grants").json()["items"]} == {
        "orders.write": ["supervisor", "manager"]
    }
    row = AuditLog.objects.get(action="grant_change")
    assert row.actor == shop.admin and row.detail["after"] == ["supervisor", "manager"]
    bad = admin._call("put", "/grants/orders.write", {"roles": ["boss"]})
    assert bad.status_code == 400 and "roles" in bad.json()["fields"]
    assert admin._call("put", "/grants/orders.fly", {"roles": []}).status_code == 404
    # Taking it back works the same way.
    assert admin._call("put", "/grants/orders.write", {"roles": []}).status_code == 200
    assert supervisor.post("/orders", {**order_payload, "order_no": "YJ20261120002"}).status_code == 403
