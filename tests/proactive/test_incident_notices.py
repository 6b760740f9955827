"""An incident's published statement goes to the customers of the orders it names, within the
proactive limits, logged on their timeline."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import TestCase
from django.utils import timezone

from kefu.conversations.models import Message
from kefu.conversations.services import do_receive_customer_message
from kefu.customers.models import LogisticsEvent, Order
from kefu.customers.services import customer_timeline
from kefu.incidents.models import Incident
from kefu.incidents.services import do_confirm_incident, do_open_incident, do_update_incident
from kefu.proactive import services
from kefu.proactive.models import Notice

pytestmark = pytest.mark.django_db

STATEMENT = "因密封圈批次问题，部分保温杯存在漏水情况。我们将在12月5日前为您免费换新，并补偿20元优惠券。"
LEAKY = [{"sku": "BWB-500", "name": "真空保温杯 500ml", "quantity": 1, "price": "89.00"}]
OTHER = [{"sku": "YRF-XL", "name": "轻薄羽绒服 XL", "quantity": 1, "price": "399.00"}]


def run_worker(incident: Incident | int) -> int:
    """What the worker's task queued after the commit does."""
    return services.do_send_incident_notices(getattr(incident, "pk", incident))


def open_leak(shop: Any, **kw: Any) -> Incident:
    with TestCase.captureOnCommitCallbacks(execute=True):
        incident = do_open_incident(
            actor=shop.desk.supervisor,
            team_id=shop.desk.team.pk,
            title="保温杯漏水",
            statement=kw.pop("statement", STATEMENT),
            skus=["BWB-500"],
            **kw,
        )
    run_worker(incident)
    return incident


def test_the_statement_goes_once_to_each_customer_of_an_affected_order(
    shop: Any, make_customer: Any, push_order: Any
) -> None:
    li = make_customer("李娜", email="li.na@example.com")
    push_order(li, "YJ20261201101", items=LEAKY)
    push_order(li, "YJ20261201102", items=LEAKY)
    zhou = make_customer("周敏", email="zhou.min@example.com")
    push_order(zhou, "YJ20261201103", items=LEAKY)
    sun = make_customer("孙悦", email="sun.yue@example.com")
    push_order(sun, "YJ20261201104", items=OTHER)
    old = make_customer("吴磊", email="wu.lei@example.com")
    push_order(old, "YJ20261001105", items=LEAKY, placed_at=timezone.now() - timedelta(days=45))

    incident = open_leak(shop)

    sent = Notice.objects.filter(kind="incident")
    assert {n.customer_id for n in sent} == {li.pk, zhou.pk}
    assert all(n.status == Notice.Status.SENT and n.channel_kind == "email" for n in sent)
    assert Message.objects.filter(meta__proactive="incident", text=STATEMENT).count() == 2
    incident.refresh_from_db()
    assert incident.notices_queued == 2
    assert incident.events.filter(kind="notice").exists()
    [entry] = [e for e in customer_timeline(li, user=shop.desk.supervisor) if e["type"] == "proactive"]
    assert entry["title"] == f"主动服务·事件通知：{STATEMENT}"

    # Published again (edited): nobody hears it twice.
    with TestCase.captureOnCommitCallbacks(execute=True):
        do_update_incident(
            actor=shop.desk.supervisor, incident_id=incident.pk, statement=STATEMENT + "给您添麻烦了。"
        )
    assert Notice.objects.filter(kind="incident").count() == 2


def test_a_customer_at_the_daily_limit_is_skipped_and_the_notice_counts_towards_it(
    shop: Any, make_customer: Any, push_order: Any, settings: Any
) -> None:
    settings.KEFU_PROACTIVE_INCIDENT_DAILY_LIMIT = 1
    li = make_customer("李娜", email="li.na@example.com")
    push_order(li, "YJ20261201111", items=LEAKY)
    zhou = make_customer("周敏", email="zhou.min@example.com")
    push_order(zhou, "YJ20261201112", items=LEAKY)
    Notice.objects.create(
        dedupe_key="rule:1:earlier",
        kind="order_shipped",
        customer=li,
        status=Notice.Status.SENT,
        sent_at=timezone.now() - timedelta(hours=2),
    )
    open_leak(shop)
    skipped = Notice.objects.get(kind="incident", customer=li)
    assert skipped.status == Notice.Status.SKIPPED and "上限" in skipped.reason
    assert Notice.objects.get(kind="incident", customer=zhou).status == Notice.Status.SENT
    assert services.sent_in_window(customer_id=zhou.pk, now=timezone.now()) == 1


def test_customers_already_talking_about_it_and_a_switched_off_notice_get_nothing(
    shop: Any, make_customer: Any, push_order: Any
) -> None:
    li = make_customer("李娜", email="li.na@example.com")
    order = push_order(li, "YJ20261201121", items=LEAKY)
    message, _ = do_receive_customer_message(
        channel=shop.desk.channel,
        identities=[("external", li.identities.first().value)],
        text=f"保温杯漏水了，订单 {order.order_no}",
    )
    assert message.conversation.customer_id == li.pk
    open_leak(shop)
    assert not Notice.objects.filter(kind="incident").exists()

    zhou = make_customer("周敏", email="zhou.min@example.com")
    push_order(zhou, "YJ20261201122", items=LEAKY)
    incident = open_leak(shop, notify_customers=False)
    assert not Notice.objects.filter(
        kind="incident", dedupe_key__startswith=f"incident:{incident.pk}:"
    ).exists()


def test_a_proposal_notifies_only_once_confirmed_with_a_statement_and_a_route_reaches_parcels_on_the_way(
    shop: Any, make_customer: Any, push_order: Any
) -> None:
    li = make_customer("李娜", email="li.na@example.com")
    on_way = push_order(li, "YJ20261201131", items=OTHER)
    Order.objects.filter(pk=on_way.pk).update(shipping_status=Order.Shipping.IN_TRANSIT)
    LogisticsEvent.objects.create(order=on_way, at=timezone.now(), location="华东仓", description="已出库")
    zhou = make_customer("周敏", email="zhou.min@example.com")
    done = push_order(zhou, "YJ20261201132", items=OTHER)
    Order.objects.filter(pk=done.pk).update(shipping_status=Order.Shipping.DELIVERED)
    LogisticsEvent.objects.create(order=done, at=timezone.now(), location="华东仓", description="已出库")
    proposal = Incident.objects.create(
        team=shop.desk.team,
        title="物流 华东仓 集中咨询",
        kind=Incident.Kind.ROUTE,
        spec={"routes": ["华东仓"]},
    )
    with TestCase.captureOnCommitCallbacks(execute=True):
        do_confirm_incident(actor=shop.desk.supervisor, incident_id=proposal.pk)
    assert not Notice.objects.filter(kind="incident").exists()  # no statement yet
    with TestCase.captureOnCommitCallbacks(execute=True):
        do_update_incident(
            actor=shop.desk.supervisor,
            incident_id=proposal.pk,
            statement="受暴雨影响，华东仓发出的包裹预计延误2天，给您添麻烦了。",
        )
    assert run_worker(proposal) == 1
    assert [n.customer_id for n in Notice.objects.filter(kind="incident")] == [li.pk]


def test_a_lost_send_task_is_finished_by_the_sweep(shop: Any, make_customer: Any, push_order: Any) -> None:
    li = make_customer("李娜", email="li.na@example.com")
    push_order(li, "YJ20261201141", items=LEAKY)
    do_open_incident(  # the after-commit task never runs
        actor=shop.desk.supervisor,
        team_id=shop.desk.team.pk,
        title="保温杯漏水",
        statement=STATEMENT,
        skus=["BWB-500"],
    )
    notice = Notice.objects.get(kind="incident")
    assert notice.status == Notice.Status.PENDING
    assert services.do_sweep(timezone.now() + timedelta(minutes=2), scan_stalls=False) >= 1
    notice.refresh_from_db()
    assert notice.status == Notice.Status.SENT


def test_publishing_through_the_api_notifies_and_reports_the_count(
    client: Any, shop: Any, make_customer: Any, push_order: Any
) -> None:
    li = make_customer("李娜", email="li.na@example.com")
    push_order(li, "YJ20261201151", items=LEAKY)
    client.force_login(shop.desk.supervisor)
    body = {
        "title": "保温杯漏水",
        "team_id": shop.desk.team.pk,
        "skus": ["BWB-500"],
        "notify_customers": "yes",
    }
    bad = client.post("/api/v1/incidents", data=json.dumps(body), content_type="application/json")
    assert bad.status_code in (400, 422) and "notify_customers" in bad.content.decode()
    body["notify_customers"] = True
    created = client.post("/api/v1/incidents", data=json.dumps(body), content_type="application/json")
    assert created.status_code == 201
    incident_id = created.json()["id"]
    with TestCase.captureOnCommitCallbacks(execute=True):
        r = client.patch(
            f"/api/v1/incidents/{incident_id}",
            data=json.dumps({"statement": STATEMENT}),
            content_type="application/json",
        )
    assert r.status_code == 200
    assert r.json()["notices_queued"] == 1
    assert run_worker(incident_id) == 1
    assert Notice.objects.get(kind="incident").status == Notice.Status.SENT
