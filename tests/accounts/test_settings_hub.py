"""The settings hub: who sees the link and the page, and which entries each role gets."""

from __future__ import annotations

import pytest

from kefu.accounts.hub import PAGES, SettingsPage, pages_for
from kefu.accounts.models import Role

pytestmark = pytest.mark.django_db


def test_agent_and_team_lead_get_no_settings_link_and_a_403(client, make_user, desk):
    for role in (Role.AGENT, Role.TEAM_LEAD):
        user = make_user(role=role, teams=(desk.team,))
        client.force_login(user)
        assert 'href="/desk/settings/"' not in client.get("/desk/tickets/").content.decode()
        r = client.get("/desk/settings/")
        assert r.status_code == 403
        assert "需要主管及以上权限" in r.content.decode()


def test_logged_out_visitor_is_sent_to_login(client, db):
    r = client.get("/desk/settings/")
    assert r.status_code == 302 and r["Location"].startswith("/login/")


def test_supervisor_sees_link_and_only_the_entries_of_her_role(client, desk):
    client.force_login(desk.supervisor)
    assert 'href="/desk/settings/"' in client.get("/desk/tickets/").content.decode()
    page = client.get("/desk/settings/").content.decode()
    for entry in PAGES:
        shown = f'href="{entry.url}"' in page
        assert shown == desk.supervisor.has_role_at_least(entry.role), entry.url


def test_admin_sees_every_entry(client, make_user):
    admin = make_user(role=Role.ADMIN)
    client.force_login(admin)
    page = client.get("/desk/settings/").content.decode()
    assert all(f'href="{entry.url}"' in page and entry.title in page for entry in PAGES)


def test_every_entry_opens_for_an_admin(client, make_user):
    client.force_login(make_user(role=Role.ADMIN))
    for entry in PAGES:
        assert client.get(entry.url).status_code == 200, entry.url


def test_pages_for_filters_by_role(make_user, monkeypatch):
    from kefu.accounts import hub

    monkeypatch.setattr(
        hub,
        "PAGES",
        (
            SettingsPage("/desk/settings/a/", "甲", "", "一", Role.SUPERVISOR),
            SettingsPage("/desk/settings/b/", "乙", "", "一", Role.ADMIN),
        ),
    )
    assert [p.title for p in pages_for(make_user(role=Role.SUPERVISOR))] == ["甲"]
    assert [p.title for p in pages_for(make_user(role=Role.ADMIN))] == ["甲", "乙"]


def test_desk_pages_carry_the_field_labels_for_desk_js_and_no_admin_link(client, make_user):
    import json
    import re

    client.force_login(make_user(role=Role.ADMIN))
    page = client.get("/desk/settings/").content.decode()
    labels = json.loads(
        re.search(r'<script id="kefu-field-labels" type="application/json">(.*?)</script>', page).group(1)
    )
    assert labels["text"] == "消息内容" and labels["refund_amount"] == "退款金额"
    assert 'href="/admin/' not in page


def test_hub_lists_the_core_settings_pages():
    urls = {p.url for p in PAGES}
    for url in ("users", "teams", "channels", "routing", "departments"):
        assert f"/desk/settings/{url}/" in urls
    assert "/api/v1/docs" in urls
