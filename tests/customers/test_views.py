from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from kefu.accounts.models import AuditLog
from kefu.conversations.services import do_receive_customer_message, do_send_agent_message
from kefu.customers.models import Customer
from kefu.customers.orders import do_upsert_order

pytestmark = pytest.mark.django_db


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def add_order(customer, n: int) -> None:
    do_upsert_order(
        actor=None,
        order_no=f"YJ{customer.pk:04d}{n:04d}",
        customer_id=customer.pk,
        amount="99.00",
        placed_at=timezone.now() - timedelta(days=n),
        shipping_status="in_transit",
        carrier="顺丰速运",
        tracking_no=f"SF{n:010d}",
        address="上海市浦东新区张江路 188 弄 6 号 1201 室",
        items=[
            {"name": f"商品{n}", "quantity": 1, "price": "99.00"},
            {"name": "赠品", "quantity": 1, "price": "0"},
        ],
        logistics=[
            {"at": timezone.now() - timedelta(days=n, hours=-2), "location": "上海", "description": "已揽收"},
            {
                "at": timezone.now() - timedelta(days=n, hours=-8),
                "location": "上海转运中心",
                "description": "运输中",
            },
        ],
    )


@pytest.fixture
def rich_customer(desk, make_channel, make_customer):
    """A customer with orders, and conversations on two channels."""
    customer = make_customer(
        "刘洋<script>",
        identities=(("web", "visitor-1"), ("phone", "13812345678")),
        id_card="110105199003071234",
        tags=["老客户"],
        vip_level=2,
    )
    for n in range(6):
        add_order(customer, n)
    app = make_channel("app", team=desk.team, name="悦家 App")
    for channel, text in ((desk.channel, "充电宝能带上飞机吗"), (app, "App 登录不上去")):
        msg, _ = do_receive_customer_message(channel=channel, identities=[("web", "visitor-1")], text=text)
        do_send_agent_message(
            agent=desk.agent, conversation_id=msg.conversation_id, text="您好，我来帮您看看"
        )
    return customer


def test_profile_shows_masked_pii_orders_and_history(desk, rich_customer, django_assert_max_num_queries):
    client = login(desk.agent)
    # 18 + one for the proactive messages on the timeline (docs/proactive.md)
    with django_assert_max_num_queries(19):
        r = client.get(f"/desk/customers/{rich_customer.pk}/")
    assert r.status_code == 200
    html = r.content.decode()
    assert "138****5678" in html and "13812345678" not in html
    assert "110105********1234" in html
    assert "张江路" not in html
    assert "YJ" in html and "上海转运中心" in html
    assert "充电宝能带上飞机吗" in html and "悦家 App" in html
    assert "/desk/c/" in html
    assert "刘洋&lt;script&gt;" in html and "刘洋<script>" not in html


def test_profile_query_count_does_not_grow_with_orders(desk, rich_customer, django_assert_max_num_queries):
    for n in range(6, 20):
        add_order(rich_customer, n)
    client = login(desk.agent)
    # 18 + one for the proactive messages on the timeline (docs/proactive.md)
    with django_assert_max_num_queries(19):
        assert client.get(f"/desk/customers/{rich_customer.pk}/").status_code == 200


def test_agent_sees_no_reveal_button_but_team_lead_does(desk, rich_customer, make_user):
    assert "data-reveal" not in login(desk.agent).get(f"/desk/customers/{rich_customer.pk}/").content.decode()
    lead = make_user(role="team_lead")
    html = login(lead).get(f"/desk/customers/{rich_customer.pk}/").content.decode()
    assert 'data-reveal="phone"' in html and 'data-reveal="address"' in html


def test_merge_form_only_for_admins(desk, rich_customer, make_user):
    assert (
        "合并到当前客户" not in login(desk.agent).get(f"/desk/customers/{rich_customer.pk}/").content.decode()
    )
    admin = make_user(role="admin")
    assert "合并到当前客户" in login(admin).get(f"/desk/customers/{rich_customer.pk}/").content.decode()


def test_admin_merges_from_the_page(desk, rich_customer, make_user, make_customer):
    dup = make_customer("刘洋", identities=(("wechat", "o-liu"),))
    admin = make_user(role="admin")
    r = login(admin).post(f"/desk/customers/{rich_customer.pk}/merge/", {"source_id": dup.pk})
    assert r.status_code == 302
    assert Customer.objects.get(pk=dup.pk).merged_into_id == rich_customer.pk
    assert AuditLog.objects.filter(action="customer_merge").exists()
    # The old profile now leads to the merged one.
    assert (
        login(admin).get(f"/desk/customers/{dup.pk}/")["Location"] == f"/desk/customers/{rich_customer.pk}/"
    )


def test_agent_cannot_merge_from_the_page(desk, rich_customer, make_customer):
    dup = make_customer("刘洋")
    r = login(desk.agent).post(f"/desk/customers/{rich_customer.pk}/merge/", {"source_id": dup.pk})
    assert r.status_code == 403
    assert Customer.objects.get(pk=dup.pk).merged_into_id is None


def test_merge_with_garbage_id_is_a_message_not_an_error(desk, rich_customer, make_user):
    admin = make_user(role="admin")
    client = login(admin)
    r = client.post(f"/desk/customers/{rich_customer.pk}/merge/", {"source_id": "abc"}, follow=True)
    assert r.status_code == 200
    assert "请输入要合并进来的客户编号" in r.content.decode()


def test_edit_notes_tags_and_vip(desk, rich_customer, make_user):
    lead = make_user(role="team_lead", teams=(desk.team,))
    r = login(lead).post(
        f"/desk/customers/{rich_customer.pk}/edit/",
        {"name": "刘洋", "tags": "老客户，爱砍价 复购", "vip_level": "3", "notes": "周末联系"},
    )
    assert r.status_code == 302
    rich_customer.refresh_from_db()
    assert rich_customer.tags == ["老客户", "爱砍价", "复购"]
    assert rich_customer.vip_level == 3
    assert rich_customer.notes == "周末联系"


def test_edit_with_bad_vip_level_shows_message(desk, rich_customer):
    r = login(desk.agent).post(
        f"/desk/customers/{rich_customer.pk}/edit/", {"vip_level": "lots"}, follow=True
    )
    assert r.status_code == 200
    assert "VIP 等级无效" in r.content.decode()


def test_add_and_delete_identity_on_the_page(desk, rich_customer):
    client = login(desk.agent)
    client.post(
        f"/desk/customers/{rich_customer.pk}/identities/", {"kind": "email", "value": "liu@example.com"}
    )
    identity = rich_customer.identities.get(kind="email")
    client.post(f"/desk/customers/{rich_customer.pk}/identities/{identity.pk}/delete/")
    assert not rich_customer.identities.filter(kind="email").exists()


def test_reveal_from_the_page_is_audited(desk, rich_customer, make_user):
    lead = make_user(role="team_lead", teams=(desk.team,))
    r = login(lead).post(
        f"/api/v1/customers/{rich_customer.pk}/reveal", {"field": "phone"}, content_type="application/json"
    )
    assert r.json()["value"] == "13812345678"
    assert AuditLog.objects.filter(action="reveal_pii", actor=lead).count() == 1


def test_missing_customer_page_is_404(desk):
    assert login(desk.agent).get("/desk/customers/99999/").status_code == 404


def test_profile_requires_login(client, rich_customer):
    r = client.get(f"/desk/customers/{rich_customer.pk}/")
    assert r.status_code == 302 and "/login/" in r["Location"]


def test_customer_list_search_is_bounded(desk, rich_customer, make_customer, django_assert_max_num_queries):
    for i in range(30):
        make_customer(f"客户{i}", identities=((("app", f"u{i}"),)))
    client = login(desk.agent)
    with django_assert_max_num_queries(10):
        r = client.get("/desk/customers/", {"q": "刘"})
    html = r.content.decode()
    assert f"/desk/customers/{rich_customer.pk}/" in html
    assert "138****5678" in html
    assert "客户1" not in html
