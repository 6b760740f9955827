"""The supervisor page: forbidden to agents, scoped for team leads, complete for supervisors."""

from __future__ import annotations

import pytest

from kefu.accounts.models import Role

pytestmark = pytest.mark.django_db


def test_supervisor_page_requires_login(client):
    r = client.get("/desk/supervisor/")
    assert r.status_code == 302 and r["Location"].startswith("/login/")


def test_supervisor_page_is_forbidden_for_agents(client, desk):
    client.force_login(desk.agent)
    r = client.get("/desk/supervisor/")
    assert r.status_code == 403
    assert "没有权限" in r.content.decode()


def test_supervisor_sees_queues_and_agents(client, desk):
    client.force_login(desk.supervisor)
    r = client.get("/desk/supervisor/")
    assert r.status_code == 200
    html = r.content.decode()
    assert "售前咨询" in html and "小美" in html and "在线" in html
    assert 'data-refresh-seconds="5"' in html


def test_team_lead_sees_only_own_teams(client, desk, make_team, make_user):
    other = make_team("海外售后")
    make_user("haiwai", teams=(other,), display_name="海外客服")
    lead = make_user("lead", role=Role.TEAM_LEAD, teams=(desk.team,))
    client.force_login(lead)
    html = client.get("/desk/supervisor/").content.decode()
    assert "小美" in html
    assert "海外售后" not in html and "海外客服" not in html
