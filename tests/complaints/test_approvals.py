"""Compensation approvals go to approvers who can access the case's team, and they can
open the case: tested with a second team whose specialist must never be asked."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from kefu.accounts.models import Role
from kefu.complaints import compensation
from kefu.complaints.models import CompensationRequest
from kefu.complaints.services import do_open_complaint

pytestmark = pytest.mark.django_db


@pytest.fixture
def teams(desk, make_user, make_team, complaint_conv):
    """The conversation is 售前咨询's; 售后组 has its own specialist and lead."""
    after_sales = make_team("售后组")
    return SimpleNamespace(
        own_specialist=make_user(
            "zhuanyuan-a", role=Role.SPECIALIST, teams=(desk.team,), display_name="李专员"
        ),
        other_specialist=make_user(
            "zhuanyuan-b", role=Role.SPECIALIST, teams=(after_sales,), display_name="赵专员"
        ),
        other_lead=make_user("zuzhang-b", role=Role.TEAM_LEAD, teams=(after_sales,), display_name="钱组长"),
        complaint=do_open_complaint(
            actor=desk.agent, conversation_id=complaint_conv.pk, data={"what_happened": "杯子摔坏"}
        ),
    )


@pytest.fixture
def notified(monkeypatch):
    sent = []
    monkeypatch.setattr(
        compensation, "publish", lambda event, data, **kw: sent.append((event, set(kw.get("user_ids") or ())))
    )
    return sent


def request_30(desk, teams):
    return compensation.do_request_compensation(
        actor=desk.agent, complaint_id=teams.complaint.pk, kind="coupon", amount="30", reason="快递摔坏杯子"
    )


def test_the_approval_goes_to_the_cases_team_and_supervisors_not_another_teams_specialist(
    desk, teams, notified
):
    request = request_30(desk, teams)
    assert request.status == "pending" and request.approver_role == Role.SPECIALIST
    assert request.team_id == desk.team.pk
    [(event, recipients)] = notified
    assert event == "compensation.approval_requested"
    assert teams.own_specialist.pk in recipients and desk.supervisor.pk in recipients
    assert teams.other_specialist.pk not in recipients and teams.other_lead.pk not in recipients
    assert desk.agent.pk not in recipients


def test_another_teams_specialist_neither_sees_nor_decides_it(client, desk, teams):
    request = request_30(desk, teams)
    client.force_login(teams.other_specialist)
    assert client.get("/api/v1/compensations/pending").json() == []
    assert "没有待审批的申请" in client.get("/desk/approvals/").content.decode()
    r = client.post(
        f"/api/v1/compensations/{request.pk}/decision",
        data=json.dumps({"approve": True}),
        content_type="application/json",
    )
    assert r.status_code == 403
    assert CompensationRequest.objects.get(pk=request.pk).status == "pending"
    assert client.get(f"/desk/complaints/{teams.complaint.pk}/").status_code == 403


def test_the_approver_opens_the_complaint_and_its_ticket_from_the_approvals_list(client, desk, teams):
    request = request_30(desk, teams)
    client.force_login(teams.own_specialist)
    [row] = client.get("/api/v1/compensations/pending").json()
    assert row["id"] == request.pk
    page = client.get("/desk/approvals/").content.decode()
    complaint_url = f"/desk/complaints/{teams.complaint.pk}/"
    ticket_url = f"/desk/tickets/{teams.complaint.ticket_id}/"
    assert complaint_url in page and ticket_url in page and "售前咨询" in page
    assert client.get(complaint_url).status_code == 200
    assert client.get(ticket_url).status_code == 200
    assert client.get(f"/api/v1/complaints/{teams.complaint.pk}").status_code == 200
    r = client.post("/desk/approvals/", {"request_id": request.pk, "decision": "approve", "note": "同意补偿"})
    assert r.status_code == 302
    assert CompensationRequest.objects.get(pk=request.pk).status == "approved"
    # Having decided it, she can still open the case.
    assert client.get(complaint_url).status_code == 200


def test_a_supervisor_of_no_team_approves_any_team(client, desk, teams):
    request = compensation.do_request_compensation(
        actor=desk.agent, complaint_id=teams.complaint.pk, kind="refund", amount="300", reason="整单退款"
    )
    assert request.approver_role == Role.SUPERVISOR
    client.force_login(teams.own_specialist)
    assert client.get("/api/v1/compensations/pending").json() == []
    client.force_login(desk.supervisor)
    assert [r["id"] for r in client.get("/api/v1/compensations/pending").json()] == [request.pk]


def test_nobody_approves_their_own_request(client, desk, teams, make_user):
    request = compensation.do_request_compensation(
        actor=desk.supervisor,
        complaint_id=teams.complaint.pk,
        kind="refund",
        amount="600",
        reason="整单退款加运费",
    )
    assert request.approver_role == Role.MANAGER
    client.force_login(desk.supervisor)
    assert client.get("/api/v1/compensations/pending").json() == []
    url = f"/api/v1/compensations/{request.pk}/decision"
    r = client.post(url, data=json.dumps({"approve": True}), content_type="application/json")
    assert r.status_code == 403
    manager = make_user("jingli", role=Role.MANAGER)
    client.force_login(manager)
    r = client.post(url, data=json.dumps({"approve": True}), content_type="application/json")
    assert r.status_code == 200 and r.json()["status"] == "approved"
