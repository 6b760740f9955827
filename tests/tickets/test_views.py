"""Ticket pages: list with reminders, detail with actions, the conversation panel."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.utils import timezone

from kefu.tickets.models import Ticket
from kefu.tickets.services import do_add_follow_up, do_create_ticket, do_transfer_ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def page(client, shop):
    client.force_login(shop.agent)
    return client


def test_anonymous_is_sent_to_login(client, shop):
    response = client.get("/desk/tickets/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_one_click_create_from_conversation_redirects_back(page, shop):
    response = page.post(
        f"/desk/tickets/from-conversation/{shop.conversation.pk}/",
        {"next": f"/desk/c/{shop.conversation.pk}/"},
    )
    assert response.status_code == 302
    assert response["Location"] == f"/desk/c/{shop.conversation.pk}/"
    ticket = Ticket.objects.get()
    assert ticket.conversations.get() == shop.conversation


def test_create_refuses_an_offsite_next(page, shop):
    response = page.post(
        f"/desk/tickets/from-conversation/{shop.conversation.pk}/", {"next": "https://evil.example/"}
    )
    assert response["Location"] == f"/desk/c/{shop.conversation.pk}/"


def test_create_for_unknown_conversation_is_404_page(page, shop):
    response = page.post("/desk/tickets/from-conversation/999999/")
    assert response.status_code == 404
    assert "会话" in response.content.decode()


def test_list_shows_owned_after_transfer_and_due_follow_ups(page, shop, django_assert_max_num_queries):
    ticket = do_create_ticket(actor=shop.agent, conversation_id=shop.conversation.pk)
    do_transfer_ticket(
        actor=shop.agent, ticket_id=ticket.pk, department_id=shop.warehouse.pk, fields={"evidence": "照片"}
    )
    do_add_follow_up(
        actor=shop.agent, ticket_id=ticket.pk, due_at=timezone.now() - timedelta(hours=1), note="回访客户"
    )
    for _ in range(4):
        do_create_ticket(actor=shop.agent, conversation_id=shop.conversation.pk)
    with django_assert_max_num_queries(12):
        response = page.get("/desk/tickets/")
    html = response.content.decode()
    assert response.status_code == 200
    assert ticket.number in html and "仓储部" in html
    assert "已逾期" in html and "回访客户" in html


def test_list_filters_and_bad_filter(page, shop):
    do_create_ticket(actor=shop.agent, conversation_id=shop.conversation.pk)
    assert "没有符合条件的工单" in page.get("/desk/tickets/?status=closed").content.decode()
    assert page.get("/desk/tickets/?status=bogus").status_code == 400
    assert page.get("/desk/tickets/?view=all&priority=P4").status_code == 200


def test_detail_escapes_user_text_and_shows_required_fields(page, shop):
    ticket = do_create_ticket(
        actor=shop.agent, conversation_id=shop.conversation.pk, title="<script>alert(1)</script>"
    )
    html = page.get(f"/desk/tickets/{ticket.pk}/").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html
    assert "仓储部 需要：订单号、凭证（照片/视频链接）" in html
    assert 'name="field_evidence"' in html


def test_transfer_form_reports_missing_fields(page, shop):
    ticket = do_create_ticket(actor=shop.agent, conversation_id=shop.conversation.pk)
    url = f"/desk/tickets/{ticket.pk}/transfer/"
    response = page.post(url, {"department_id": shop.warehouse.pk, "field_evidence": ""}, follow=True)
    assert "还缺少：凭证" in response.content.decode()
    response = page.post(url, {"department_id": shop.warehouse.pk, "field_evidence": "3张照片"}, follow=True)
    assert "已转交「仓储部」" in response.content.decode()
    assert Ticket.objects.get().status == "waiting_department"
    assert page.post(url, {"department_id": "abc"}).status_code == 302


def test_status_comment_follow_up_and_customer_update_forms(page, shop):
    ticket = do_create_ticket(actor=shop.agent, conversation_id=shop.conversation.pk)
    base = f"/desk/tickets/{ticket.pk}"
    page.post(f"{base}/status/", {"status": "in_progress"})
    conflict = page.post(f"{base}/status/", {"status": "closed"}, follow=True)
    assert "可选" in conflict.content.decode()
    page.post(f"{base}/comment/", {"text": "仓库已确认"})
    page.post(f"{base}/follow-up/", {"due_at": "2026-12-01T10:00", "note": "回访"})
    bad = page.post(f"{base}/follow-up/", {"due_at": "明天", "note": "回访"}, follow=True)
    assert "有效的时间" in bad.content.decode()
    page.post(f"{base}/customer-update/", {"text": "补发已安排"})
    page.post(
        f"{base}/edit/",
        {"title": "杯子破损补发", "category": "after_sales", "urgent": "on", "important": "on"},
    )
    ticket.refresh_from_db()
    assert ticket.status == "in_progress" and ticket.priority == "P1" and ticket.title == "杯子破损补发"
    kinds = list(ticket.events.values_list("kind", flat=True))
    assert kinds[:5] == ["created", "status", "comment", "follow_up", "customer_update"]
    follow_up = ticket.follow_ups.get()
    page.post(f"/desk/follow-ups/{follow_up.pk}/done/")
    follow_up.refresh_from_db()
    assert follow_up.done_at is not None
    assert page.post(f"{base}/unknown/").status_code == 404


def test_stranger_gets_403_page(client, shop, make_user, make_team):
    ticket = do_create_ticket(actor=shop.agent, conversation_id=shop.conversation.pk)
    client.force_login(make_user("stranger", teams=(make_team("别组"),)))
    assert client.get(f"/desk/tickets/{ticket.pk}/").status_code == 403
    assert client.post(f"/desk/tickets/{ticket.pk}/comment/", {"text": "x"}).status_code == 403


def test_panel_lists_linked_tickets_and_the_create_button(shop):
    ticket = do_create_ticket(actor=shop.agent, conversation_id=shop.conversation.pk)
    request = RequestFactory().get(f"/desk/c/{shop.conversation.pk}/")
    request.user = shop.agent
    html = render_to_string("tickets/_panel.html", {"conversation": shop.conversation}, request=request)
    assert ticket.number in html
    assert f"/desk/tickets/from-conversation/{shop.conversation.pk}/" in html
    assert "创建工单" in html


def test_conversation_page_includes_the_panel(page, shop):
    html = page.get(f"/desk/c/{shop.conversation.pk}/").content.decode()
    assert "创建工单" in html


def test_detail_and_list_show_a_paused_clock(page, shop):
    ticket = do_create_ticket(actor=shop.agent, conversation_id=shop.conversation.pk)
    base = f"/desk/tickets/{ticket.pk}"
    page.post(f"{base}/status/", {"status": "in_progress"})
    page.post(f"{base}/status/", {"status": "waiting_customer"})
    assert "计时暂停（等待客户" in page.get(f"{base}/").content.decode()
    assert "计时暂停" in page.get("/desk/tickets/").content.decode()
    page.post(f"{base}/status/", {"status": "in_progress"})
    assert "计时暂停" not in page.get(f"{base}/").content.decode()
