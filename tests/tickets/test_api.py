"""The tickets API through HTTP: every bad input is a 4xx JSON body, never a 500."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from kefu.tickets.models import Ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client, shop):
    client.force_login(shop.agent)
    return client


def post(client, url, data=None):
    return client.post(url, data or {}, content_type="application/json")


def patch(client, url, data):
    return client.patch(url, data, content_type="application/json")


def _create(api, shop, **extra):
    response = post(api, "/api/v1/tickets", {"conversation_id": shop.conversation.pk, **extra})
    assert response.status_code == 201, response.json()
    return response.json()


def test_anonymous_is_401(client, shop):
    assert client.get("/api/v1/tickets").status_code == 401


def test_create_from_conversation_and_read_detail(api, shop):
    body = _create(api, shop)
    assert body["number"].startswith("TK-")
    assert body["fields"] == {"order_no": "SO-20261120-7"}
    assert body["conversation_ids"] == [shop.conversation.pk]
    assert body["timeline"][0]["kind"] == "created"
    assert body["allowed_statuses"] == ["in_progress"]
    detail = api.get(f"/api/v1/tickets/{body['id']}").json()
    assert detail["owner_name"] == "小美"


def test_create_from_fields(api, shop):
    response = post(
        api,
        "/api/v1/tickets",
        {
            "customer_id": shop.conversation.customer_id,
            "title": "发票抬头错误",
            "category": "after_sales",
            "important": True,
        },
    )
    assert response.status_code == 201
    assert response.json()["priority"] == "P2"


@pytest.mark.parametrize(
    ("payload", "status", "field"),
    [
        ({"conversation_id": 1, "colour": "red"}, 422, "colour"),
        ({"conversation_id": "1"}, 422, "conversation_id"),
        ({"customer_id": 10**9, "title": "x"}, 400, "customer_id"),
        ({}, 400, "conversation_id"),
        ({"conversation_id": 1, "category": "weird"}, 400, "category"),
        ({"conversation_id": 1, "urgent": "yes"}, 422, "urgent"),
    ],
)
def test_bad_create_is_4xx_naming_the_field(api, shop, payload, status, field):
    if payload.get("conversation_id") == 1:
        payload["conversation_id"] = shop.conversation.pk
    response = post(api, "/api/v1/tickets", payload)
    assert response.status_code == status, response.json()
    assert field in response.json()["fields"]


def test_unknown_conversation_is_404(api, shop):
    assert post(api, "/api/v1/tickets", {"conversation_id": 10**9}).status_code == 404


def test_list_filters_and_pages(api, shop):
    first = _create(api, shop)
    _create(api, shop, urgent=True, important=True)
    assert api.get("/api/v1/tickets").json()["count"] == 2
    p1 = api.get("/api/v1/tickets?priority=P1").json()
    assert [t["priority"] for t in p1["items"]] == ["P1"]
    assert api.get("/api/v1/tickets?owner=me&status=new&category=after_sales").json()["count"] == 2
    page = api.get("/api/v1/tickets?limit=1&offset=1").json()
    assert page["count"] == 2 and [t["id"] for t in page["items"]] == [first["id"]]
    assert api.get("/api/v1/tickets?status=bogus").status_code == 400
    assert api.get("/api/v1/tickets?limit=0").status_code == 422
    assert api.get(f"/api/v1/tickets?department={shop.warehouse.pk}").json()["count"] == 0


def test_list_is_bounded_in_queries(api, shop, django_assert_max_num_queries):
    for _ in range(5):
        _create(api, shop)
    with django_assert_max_num_queries(8):
        assert len(api.get("/api/v1/tickets").json()["items"]) == 5


def test_patch_status_transfer_flow(api, shop):
    ticket = _create(api, shop)
    url = f"/api/v1/tickets/{ticket['id']}"
    body = patch(api, url, {"title": "杯子破损（补发）", "fields": {"customer_request": "补发"}}).json()
    assert body["title"] == "杯子破损（补发）" and body["fields"]["customer_request"] == "补发"
    assert patch(api, url, {"nope": 1}).status_code == 422
    conflict = post(api, f"{url}/status", {"status": "closed"})
    assert conflict.status_code == 409
    assert conflict.json()["allowed"] == ["in_progress"]
    assert post(api, f"{url}/status", {"status": "in_progress"}).json()["status"] == "in_progress"
    missing = post(api, f"{url}/transfer", {"department_id": shop.warehouse.pk})
    assert missing.status_code == 400
    assert missing.json()["missing"] == ["evidence"]
    assert "evidence" in missing.json()["fields"]
    moved = post(
        api, f"{url}/transfer", {"department_id": shop.warehouse.pk, "fields": {"evidence": "照片3张"}}
    )
    assert moved.status_code == 200
    assert moved.json()["status"] == "waiting_department"
    assert moved.json()["department_name"] == "仓储部"
    assert post(api, f"{url}/transfer", {"department_id": 10**9}).status_code == 400


def test_a_department_member_handing_a_ticket_on_gets_the_answer_then_loses_sight_of_it(
    api, client, shop, make_team
):
    from kefu.tickets.models import Department

    finance = Department.objects.create(name="财务部", team=make_team("财务部"), required_fields=[])
    ticket = _create(api, shop)
    url = f"/api/v1/tickets/{ticket['id']}"
    moved = post(
        api, f"{url}/transfer", {"department_id": shop.warehouse.pk, "fields": {"evidence": "照片3张"}}
    )
    assert moved.status_code == 200
    client.force_login(shop.clerk)  # the warehouse sees it through its department
    assert client.get(url).status_code == 200
    onward = post(client, f"{url}/transfer", {"department_id": finance.pk, "note": "涉及退款，转财务"})
    assert onward.status_code == 200, onward.json()
    assert onward.json()["department_name"] == "财务部"
    assert onward.json()["timeline"][-1]["kind"] == "transferred"
    assert client.get(url).status_code == 403  # the answer is not a way back in


def test_comments_follow_ups_and_customer_update(api, shop):
    ticket = _create(api, shop)
    url = f"/api/v1/tickets/{ticket['id']}"
    assert post(api, f"{url}/comments", {"text": "已联系仓库"}).status_code == 201
    assert post(api, f"{url}/comments", {"text": "  "}).status_code == 400
    due = (timezone.now() - timedelta(minutes=1)).isoformat()
    follow_up = post(api, f"{url}/follow-ups", {"due_at": due, "note": "回访"})
    assert follow_up.status_code == 201
    assert post(api, f"{url}/follow-ups", {"due_at": "tomorrow", "note": "x"}).status_code == 422
    mine = api.get("/api/v1/follow-ups").json()
    assert [f["id"] for f in mine["overdue"]] == [follow_up.json()["id"]]
    done = post(api, f"/api/v1/follow-ups/{follow_up.json()['id']}/complete")
    assert done.json()["done_at"] is not None
    sent = post(api, f"{url}/customer-updates", {"text": "补发已安排"})
    assert sent.status_code == 201
    assert sent.json()["conversation_id"] == shop.conversation.pk
    kinds = [e["kind"] for e in api.get(url).json()["timeline"]]
    assert kinds == ["created", "comment", "follow_up", "follow_up", "customer_update"]


def test_stranger_gets_403(client, shop, make_user, make_team):
    client.force_login(shop.agent)
    ticket = _create(client, shop)
    client.force_login(make_user("stranger", teams=(make_team("别组"),)))
    assert client.get(f"/api/v1/tickets/{ticket['id']}").status_code == 403
    assert post(client, f"/api/v1/tickets/{ticket['id']}/comments", {"text": "hi"}).status_code == 403
    assert client.get("/api/v1/tickets/999999").status_code == 404


def test_departments_list_required_fields(api, shop):
    (dept,) = api.get("/api/v1/departments").json()
    assert dept["required_fields"] == [
        {"key": "order_no", "label": "订单号"},
        {"key": "evidence", "label": "凭证（照片/视频链接）"},
    ]
    assert Ticket.objects.count() == 0


def test_waiting_for_the_customer_pauses_the_deadline_through_the_api(api, shop):
    body = _create(api, shop, urgent=True, important=True)
    url = f"/api/v1/tickets/{body['id']}/status"
    assert post(api, url, {"status": "in_progress"}).status_code == 200
    waiting = post(api, url, {"status": "waiting_customer", "note": "请客户补充照片"}).json()
    assert waiting["sla_paused"] is True and waiting["sla_paused_at"]
    Ticket.objects.filter(pk=body["id"]).update(sla_paused_at=timezone.now() - timedelta(hours=2))
    resumed = post(api, url, {"status": "in_progress"}).json()
    assert resumed["sla_paused"] is False
    assert 7190 <= resumed["sla_paused_seconds"] <= 7210
    moved = timezone.datetime.fromisoformat(resumed["due_at"]) - timezone.datetime.fromisoformat(
        body["due_at"]
    )
    assert abs(moved - timedelta(hours=2)) < timedelta(seconds=10)


# --- what one write costs in queries (docs/performance.md, "Ticket API") ---------------


def test_the_created_ticket_is_answered_as_its_detail_reads(api, shop):
    for extra in (
        {},
        {"category": "complaint", "title": "杯子破损要求赔偿", "urgent": True},
        {
            "conversation_id": None,
            "customer_id": shop.conversation.customer_id,
            "title": "电话回访：杯子破损",
        },
    ):
        body = _create(api, shop, **extra)
        assert body == api.get(f"/api/v1/tickets/{body['id']}").json()


def test_a_status_change_is_answered_as_the_detail_reads_and_not_read_again(
    api, shop, django_assert_max_num_queries
):
    ticket = _create(api, shop)
    url = f"/api/v1/tickets/{ticket['id']}"
    # 14 on SQLite (2026-12-03); 16 when the answer was read again with the actor's teams.
    with django_assert_max_num_queries(14) as queries:
        body = post(api, f"{url}/status", {"status": "in_progress"}).json()
    # One read through the permission query (the service's, under its lock).
    sql = [q["sql"] for q in queries.captured_queries]
    assert sum(s.startswith("SELECT") and 'FROM "tickets_ticket"' in s for s in sql) == 1
    assert body == api.get(url).json()
    assert post(api, f"{url}/status", {"status": "in_progress"}).json() == body  # unchanged: same answer


def test_creating_a_ticket_is_bounded_in_queries(api, shop, django_assert_max_num_queries):
    _create(api, shop)  # the day's first number, caches warmed
    # Session and user; the conversation, its customer and order; the SLA policy; the
    # number (one upsert of the day's counter); the ticket, its links, timeline line,
    # activity line and event. The answer reads nothing back. 21 on SQLite (2026-12-03;
    # 25 before the counter row and the answer from what was written).
    with django_assert_max_num_queries(21) as queries:
        _create(api, shop)
    sql = [q["sql"] for q in queries.captured_queries]
    assert not [s for s in sql if "django_session" in s and s.startswith("UPDATE")]  # no session rewrite
    assert sum('FROM "tickets_ticket"' in s and "compensationrequest" in s.lower() for s in sql) == 0
    assert not [s for s in sql if s.startswith("SELECT") and "tickets_" in s]  # no read back, no number scan
