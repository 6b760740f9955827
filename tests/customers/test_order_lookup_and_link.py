"""A customer who types an order number; agents find customers by order number or phone and link a web visitor."""

from __future__ import annotations

import re

import pytest

from kefu.accounts.models import AuditLog
from kefu.conversations.models import Conversation
from kefu.conversations.services import do_receive_customer_message
from kefu.customers.models import Customer
from kefu.customers.orders import do_upsert_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def known(db):
    """张女士, known by phone, with an order; she now writes in as an anonymous web visitor."""
    order, _ = do_upsert_order(
        actor=None,
        order_no="YJ20261118001",
        amount="129.00",
        placed_at="2026-11-18T10:00:00+08:00",
        customer={"kind": "phone", "value": "13812345678"},
        customer_name="张女士",
        items=[{"name": "悦家 316 不锈钢保温杯 500ml", "quantity": 1, "price": "129.00", "sku": "SKU-CUP"}],
    )
    Customer.objects.filter(pk=order.customer_id).update(phone="+86 13812345678")
    return order


def _visitor_says(desk, text, visitor="visitor-zhang"):
    message, _ = do_receive_customer_message(channel=desk.channel, identities=[("web", visitor)], text=text)
    return Conversation.objects.get(pk=message.conversation_id)


def test_typed_order_number_links_the_conversation_to_that_order(desk, known):
    conversation = _visitor_says(desk, "你好，我的订单ＹＪ20261118001 一直没发货，能帮忙查下吗？")
    assert conversation.order_id == known.pk


def test_latest_mentioned_order_wins_and_unknown_numbers_change_nothing(desk, known):
    other, _ = do_upsert_order(
        actor=None,
        order_no="YJ20261119002", amount="399.00", placed_at="2026-11-19T10:00:00+08:00",
        customer={"kind": "web", "value": "visitor-zhang"},
    )  # fmt: skip
    conversation = _visitor_says(desk, "订单 YJ20261118001 的发票开一下")
    assert conversation.order_id == known.pk
    _visitor_says(desk, "还有 yj20261119002 这个")
    conversation.refresh_from_db()
    assert conversation.order_id == other.pk
    _visitor_says(desk, "我手机 13900001111，订单号 YJ99999999999 好像不对")
    conversation.refresh_from_db()
    assert conversation.order_id == other.pk


def test_conversation_page_shows_the_order_of_another_customer_with_a_link_offer(client, desk, known):
    conversation = _visitor_says(desk, "YJ20261118001 的保温杯什么时候到？")
    client.force_login(desk.agent)
    page = client.get(f"/desk/c/{conversation.pk}/").content.decode()
    block = re.search(r'<div class="mentioned-order".*?</div>', page, re.S).group(0)
    assert "YJ20261118001" in block and "悦家 316 不锈钢保温杯" in block and "张女士" in block
    assert f'action="/desk/customers/{known.customer_id}/link/"' in block


def test_agent_finds_customer_by_order_number_or_phone_with_phone_masked(client, desk, known):
    client.force_login(desk.agent)
    for q in ("YJ20261118001", "yj20261118001", "13812345678", "138 1234 5678", "+8613812345678"):
        page = client.get("/desk/customers/", {"q": q}).content.decode()
        assert "张女士" in page, q
        assert "13812345678" not in page.replace(f'value="{q}"', ""), q
        assert "138****5678" in page, q


def test_agent_links_the_visitor_to_the_known_customer_audited(client, desk, known):
    conversation = _visitor_says(desk, "YJ20261118001 退款进度怎么样了")
    visitor = conversation.customer
    client.force_login(desk.agent)
    r = client.post(
        f"/desk/customers/{known.customer_id}/link/",
        {"source_id": visitor.pk, "conversation_id": conversation.pk},
        follow=True,
    )
    assert "已把访客关联到客户「张女士」" in r.content.decode()
    conversation.refresh_from_db()
    assert conversation.customer_id == known.customer_id
    visitor.refresh_from_db()
    assert visitor.merged_into_id == known.customer_id
    row = AuditLog.objects.get(action=AuditLog.Action.CUSTOMER_LINK)
    assert row.actor == desk.agent and row.detail["source_id"] == visitor.pk
    # The next visit of the same browser is the known customer.
    again = _visitor_says(desk, "谢谢")
    assert again.customer_id == known.customer_id


def test_agent_cannot_link_a_known_customer_or_a_visitor_she_cannot_see(
    client, desk, known, make_team, make_user
):
    conversation = _visitor_says(desk, "在吗")
    other_team_agent = make_user(teams=(make_team("投诉处理"),))
    client.force_login(other_team_agent)
    r = client.post(
        f"/desk/customers/{known.customer_id}/link/",
        {"source_id": conversation.customer_id, "conversation_id": conversation.pk},
    )
    assert r.status_code == 403
    client.force_login(desk.agent)
    r = client.post(
        f"/desk/customers/{conversation.customer_id}/link/",
        {"source_id": known.customer_id, "conversation_id": conversation.pk},
        follow=True,
    )
    assert "只能把网页访客关联到已知客户" in r.content.decode()
    assert not Customer.objects.filter(merged_into__isnull=False).exists()
    assert client.post(f"/desk/customers/{known.customer_id}/link/", {"source_id": "abc"}).status_code == 400


def test_list_opened_from_a_conversation_offers_the_link(client, desk, known):
    conversation = _visitor_says(desk, "你好")
    client.force_login(desk.agent)
    page = client.get(
        "/desk/customers/",
        {"q": "YJ20261118001", "link_from": conversation.customer_id, "conversation": conversation.pk},
    ).content.decode()
    assert f'action="/desk/customers/{known.customer_id}/link/"' in page
    assert "关联到此客户" in page
