"""REST: GET /api/v1/wallboard with the board's scoping, a lead's actions, display tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from kefu.accounts.models import AuditLog
from kefu.conversations.models import Conversation, Message
from kefu.tickets.models import Ticket
from kefu.wallboard.models import DisplayToken, Whisper

pytestmark = pytest.mark.django_db


def post(client, url, data=None):
    return client.post(url, data or {}, content_type="application/json")


def test_the_wallboard_needs_credentials_and_a_lead(client, floor):
    assert client.get("/api/v1/wallboard").status_code == 401
    client.force_login(floor.xiaomei)
    r = client.get("/api/v1/wallboard")
    assert r.status_code == 403 and "组长" in r.json()["detail"]


def test_the_api_snapshot_has_the_same_scoping(client, floor):
    client.force_login(floor.lead_a)
    board = client.get("/api/v1/wallboard").json()
    assert [t["name"] for t in board["teams"]] == ["售前咨询"]
    assert "赵强" not in str(board)
    r = client.get(f"/api/v1/wallboard?team_id={floor.aftersale.pk}")
    assert r.status_code == 403 and r.json()["fields"] == {"team_id": "不是您的团队"}
    client.force_login(floor.supervisor)
    board = client.get("/api/v1/wallboard").json()
    assert {t["name"] for t in board["teams"]} == {"售前咨询", "售后服务"}
    assert board["queues"]["total"] == 3


def test_a_lead_takes_over_a_waiting_conversation_of_their_team(client, floor):
    client.force_login(floor.lead_a)
    r = post(client, f"/api/v1/wallboard/conversations/{floor.size.pk}/take-over")
    assert r.status_code == 200, r.content
    assert r.json()["assignee_id"] == floor.lead_a.pk
    conversation = Conversation.objects.get(pk=floor.size.pk)
    assert conversation.assignee_id == floor.lead_a.pk and conversation.queued_at is None
    note = Message.objects.filter(conversation=conversation, meta__handover=True).get()
    assert note.is_private and "主管看板接管" in note.text


def test_a_lead_cannot_act_on_another_teams_conversation(client, floor):
    client.force_login(floor.lead_a)
    for action, body in (
        ("take-over", {}),
        ("reassign", {"to_user_id": floor.xiaomei.pk}),
        ("whisper", {"text": "注意语气"}),
    ):
        r = post(client, f"/api/v1/wallboard/conversations/{floor.angry.pk}/{action}", body)
        assert r.status_code == 403, (action, r.content)
    assert client.get(f"/api/v1/wallboard/conversations/{floor.angry.pk}/observe").status_code == 403
    assert Conversation.objects.get(pk=floor.angry.pk).assignee_id == floor.laozhou.pk
    assert not Whisper.objects.exists()


def test_a_lead_reassigns_only_to_their_teams_agents(client, floor):
    client.force_login(floor.lead_b)
    r = post(
        client,
        f"/api/v1/wallboard/conversations/{floor.refund.pk}/reassign",
        {"to_user_id": floor.xiaomei.pk},
    )
    assert r.status_code == 400 and "to_user_id" in r.json()["fields"]
    r = post(
        client,
        f"/api/v1/wallboard/conversations/{floor.refund.pk}/reassign",
        {"to_user_id": floor.laozhou.pk},
    )
    assert r.status_code == 200 and r.json()["assignee_id"] == floor.laozhou.pk
    r = post(
        client,
        f"/api/v1/wallboard/conversations/{floor.refund.pk}/reassign",
        {"to_user_id": floor.laozhou.pk},
    )
    assert r.status_code == 409


def test_a_supervisor_reassigns_across_teams(client, floor):
    client.force_login(floor.supervisor)
    r = post(
        client, f"/api/v1/wallboard/conversations/{floor.angry.pk}/reassign", {"to_user_id": floor.xiaomei.pk}
    )
    assert r.status_code == 200
    assert r.json()["assignee_id"] == floor.xiaomei.pk and r.json()["team_id"] == floor.presale.pk


def test_whisper_is_stored_apart_from_the_conversation(client, floor):
    client.force_login(floor.lead_b)
    before = Message.objects.filter(conversation=floor.angry).count()
    r = post(
        client, f"/api/v1/wallboard/conversations/{floor.angry.pk}/whisper", {"text": "先道歉，再查物流"}
    )
    assert r.status_code == 201
    assert r.json()["agent_id"] == floor.laozhou.pk and r.json()["text"] == "先道歉，再查物流"
    assert Message.objects.filter(conversation=floor.angry).count() == before
    # The agent reads it; a colleague of the team does not.
    client.force_login(floor.laozhou)
    assert client.get(f"/api/v1/wallboard/conversations/{floor.angry.pk}/whispers").json()["count"] == 1
    client.force_login(floor.xiaomei)
    assert client.get(f"/api/v1/wallboard/conversations/{floor.angry.pk}/whispers").json()["count"] == 0


def test_whisper_needs_an_agent_and_text(client, floor):
    client.force_login(floor.lead_a)
    r = post(client, f"/api/v1/wallboard/conversations/{floor.size.pk}/whisper", {"text": "加油"})
    assert r.status_code == 409  # waiting: nobody to whisper to
    client.force_login(floor.lead_b)
    r = post(client, f"/api/v1/wallboard/conversations/{floor.angry.pk}/whisper", {"text": "  "})
    assert r.status_code == 400 and "text" in r.json()["fields"]


def test_observe_returns_the_conversation_and_changes_nothing(client, floor):
    client.force_login(floor.lead_b)
    before = Conversation.objects.filter(pk=floor.angry.pk).values().get()
    r = client.get(f"/api/v1/wallboard/conversations/{floor.angry.pk}/observe")
    assert r.status_code == 200
    data = r.json()
    assert data["conversation"]["customer"] == "赵强"
    assert "12315" in data["messages"][0]["text"]
    assert Conversation.objects.filter(pk=floor.angry.pk).values().get() == before


def test_display_tokens_are_a_supervisors_and_audited(client, floor):
    client.force_login(floor.lead_a)
    assert post(client, "/api/v1/wallboard/displays", {"name": "大厅电视"}).status_code == 403
    client.force_login(floor.supervisor)
    r = post(client, "/api/v1/wallboard/displays", {"name": "售后组投屏", "team_id": floor.aftersale.pk})
    assert r.status_code == 201
    body = r.json()
    assert body["key"].startswith("wb_") and body["url"] == f"/wallboard/display/{body['key']}/"
    token = DisplayToken.objects.get(pk=body["id"])
    assert token.key_hash != body["key"] and body["key"] not in str(DisplayToken.objects.values().get())
    entry = AuditLog.objects.get(action=AuditLog.Action.TOKEN_CREATE, target_type="displaytoken")
    assert entry.actor == floor.supervisor and entry.detail["team_id"] == floor.aftersale.pk
    listed = client.get("/api/v1/wallboard/displays").json()
    assert listed["count"] == 1 and "key" not in listed["items"][0]
    assert client.delete(f"/api/v1/wallboard/displays/{token.pk}").status_code == 204
    assert AuditLog.objects.filter(action=AuditLog.Action.TOKEN_REVOKE, target_id=str(token.pk)).exists()
    assert client.delete("/api/v1/wallboard/displays/999999").status_code == 404


def test_observing_is_in_the_audit_log_that_admins_read(client, floor):
    client.force_login(floor.lead_b)
    assert client.get(f"/api/v1/wallboard/conversations/{floor.angry.pk}/observe").status_code == 200
    entry = AuditLog.objects.get(action=AuditLog.Action.OBSERVE)
    assert entry.actor == floor.lead_b and entry.target_type == "conversation"
    assert entry.target_id == str(floor.angry.pk) and entry.detail["assignee_id"] == floor.laozhou.pk
    # A refused observation is no observation.
    client.force_login(floor.lead_a)
    assert client.get(f"/api/v1/wallboard/conversations/{floor.angry.pk}/observe").status_code == 403
    assert AuditLog.objects.filter(action=AuditLog.Action.OBSERVE).count() == 1
    # The lead cannot read the audit log; a supervisor can, filtered to observations.
    assert client.get("/api/v1/audit?action=observe").status_code == 403
    client.force_login(floor.supervisor)
    items = client.get("/api/v1/audit?action=observe").json()["items"]
    assert [(i["actor_id"], i["target_id"]) for i in items] == [(floor.lead_b.pk, str(floor.angry.pk))]


def _ticket(floor, *, title, team, **timers):
    customer = floor.refund.customer
    ticket = Ticket.objects.create(number=f"TK-T-{title[:4]}", title=title, customer=customer, team=team)
    Ticket.objects.filter(pk=ticket.pk).update(**timers)
    return ticket


def test_ticket_sla_timers_about_to_breach_are_on_the_board(client, floor):
    now = timezone.now()
    near = _ticket(
        floor, title="退款未到账跟进", team=floor.aftersale, first_response_due=now + timedelta(minutes=5)
    )
    breached = _ticket(
        floor,
        title="快递丢件赔付",
        team=floor.aftersale,
        first_response_at=now - timedelta(hours=3),
        due_at=now - timedelta(minutes=20),
        resolution_breached_at=now - timedelta(minutes=20),
    )
    warned = _ticket(  # the policy's warning time has come, the due time is hours away
        floor,
        title="发票重开",
        team=floor.aftersale,
        first_response_at=now,
        due_at=now + timedelta(hours=4),
        due_warn_at=now - timedelta(minutes=1),
    )
    _ticket(  # far from its deadline: not on the board
        floor, title="咨询保修", team=floor.aftersale, first_response_due=now + timedelta(hours=2)
    )
    _ticket(  # waiting for the customer: the resolution clock stands
        floor,
        title="等待客户补充照片",
        team=floor.aftersale,
        first_response_at=now,
        due_at=now + timedelta(minutes=2),
        sla_paused_at=now,
        status=Ticket.Status.WAITING_CUSTOMER,
    )
    _ticket(  # resolved: its timers are over
        floor, title="已解决的工单", team=floor.aftersale, due_at=now - timedelta(hours=1), status="resolved"
    )
    client.force_login(floor.lead_b)
    sla = client.get("/api/v1/wallboard").json()["sla"]
    tickets = [(r["ticket_id"], r["timer"], r["state"]) for r in sla if r["kind"] == "ticket"]
    assert tickets == [
        (breached.pk, "resolution", "breached"),
        (near.pk, "first_response", "near"),
        (warned.pk, "resolution", "near"),
    ]
    # Conversations and tickets in one list, the most overdue first.
    assert [r["seconds_left"] for r in sla] == sorted(r["seconds_left"] for r in sla)
    row = next(r for r in sla if r["kind"] == "ticket")
    assert row["timer_label"] == "工单解决" and row["team"] == "售后服务" and "快递丢件赔付" in row["subject"]
    # Another team's lead sees none of them.
    client.force_login(floor.lead_a)
    assert not [r for r in client.get("/api/v1/wallboard").json()["sla"] if r["kind"] == "ticket"]
