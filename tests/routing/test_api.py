"""Routing API: queues, agents' load, routing rules (admin)."""

from __future__ import annotations

import pytest

from kefu.accounts.models import AgentStatus, Role
from kefu.conversations.services import do_receive_customer_message
from kefu.routing.models import RoutingRule

pytestmark = pytest.mark.django_db


def post(client, url, data):
    return client.post(url, data, content_type="application/json")


@pytest.fixture
def admin(make_user):
    return make_user("root", role=Role.ADMIN)


def test_queues_need_credentials(client):
    assert client.get("/api/v1/queues").status_code == 401


def test_queues_count_waiting_conversations_per_team(client, desk, django_capture_on_commit_callbacks):
    from kefu.accounts.models import User

    User.objects.filter(pk=desk.agent.pk).update(status=AgentStatus.OFFLINE)
    with django_capture_on_commit_callbacks(execute=True):
        do_receive_customer_message(channel=desk.channel, identities=[("web", "q1")], text="在吗")
        do_receive_customer_message(channel=desk.channel, identities=[("web", "q2")], text="人呢")
    client.force_login(desk.supervisor)
    rows = client.get("/api/v1/queues").json()["items"]
    row = next(r for r in rows if r["team_id"] == desk.team.pk)
    assert row["waiting"] == 2
    assert row["longest_wait_seconds"] >= 0


def test_agent_sees_only_own_team_queues(client, desk, make_team):
    make_team("售后")
    client.force_login(desk.agent)
    rows = client.get("/api/v1/queues").json()["items"]
    assert [r["team_id"] for r in rows] == [desk.team.pk]


def test_agents_overview_is_for_team_leads_and_up(client, desk):
    client.force_login(desk.agent)
    assert client.get("/api/v1/agents").status_code == 403


def test_team_lead_sees_own_team_members_only(client, desk, make_team, make_user):
    other = make_team("售后")
    make_user("outsider", teams=(other,))
    lead = make_user("lead", role=Role.TEAM_LEAD, teams=(desk.team,))
    client.force_login(lead)
    names = {a["user_id"] for a in client.get("/api/v1/agents").json()["items"]}
    assert names == {desk.agent.pk, lead.pk}


def test_supervisor_sees_every_agent_with_load(client, desk):
    client.force_login(desk.supervisor)
    rows = client.get("/api/v1/agents").json()["items"]
    me = next(r for r in rows if r["user_id"] == desk.agent.pk)
    assert me["status"] == "online"
    assert me["load"] == 0 and me["max_concurrent"] == 5


def test_routing_rules_are_admin_only(client, desk):
    client.force_login(desk.supervisor)
    assert client.get("/api/v1/routing-rules").status_code == 403
    assert post(client, "/api/v1/routing-rules", {"name": "x", "team_id": desk.team.pk}).status_code == 403


def test_admin_creates_lists_and_deletes_a_rule(client, desk, admin):
    client.force_login(admin)
    r = post(
        client,
        "/api/v1/routing-rules",
        {
            "name": "投诉关键词",
            "team_id": desk.team.pk,
            "keywords": ["投诉", " 12315 ", ""],
            "priority": "P1",
        },
    )
    assert r.status_code == 201
    rule = r.json()
    assert rule["keywords"] == ["投诉", "12315"]
    assert client.get("/api/v1/routing-rules").json()["count"] == 1
    assert client.delete(f"/api/v1/routing-rules/{rule['id']}").status_code == 204
    assert not RoutingRule.objects.exists()


def test_rule_with_unknown_team_is_404(client, admin):
    client.force_login(admin)
    assert post(client, "/api/v1/routing-rules", {"name": "x", "team_id": 777}).status_code == 404


def test_rule_with_unknown_channel_is_404(client, desk, admin):
    client.force_login(admin)
    r = post(client, "/api/v1/routing-rules", {"name": "x", "team_id": desk.team.pk, "channel_id": 777})
    assert r.status_code == 404


def test_rule_with_bad_priority_names_the_field(client, desk, admin):
    client.force_login(admin)
    r = post(client, "/api/v1/routing-rules", {"name": "x", "team_id": desk.team.pk, "priority": "P9"})
    assert r.status_code == 400
    assert "priority" in r.json()["fields"]


def test_rule_with_unknown_field_is_422(client, desk, admin):
    client.force_login(admin)
    r = post(client, "/api/v1/routing-rules", {"name": "x", "team_id": desk.team.pk, "weight": 3})
    assert r.status_code == 422
    assert "weight" in r.json()["fields"]


def test_delete_unknown_rule_is_404(client, admin):
    client.force_login(admin)
    assert client.delete("/api/v1/routing-rules/5050").status_code == 404
