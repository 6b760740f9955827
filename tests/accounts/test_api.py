"""Accounts API: me and status, users and teams (admin), the audit log, API tokens."""

from __future__ import annotations

import pytest

from kefu.accounts.models import APIToken, AuditLog, Role, User

pytestmark = pytest.mark.django_db


def post(client, url, data, **kw):
    return client.post(url, data, content_type="application/json", **kw)


def patch(client, url, data):
    return client.patch(url, data, content_type="application/json")


@pytest.fixture
def admin(make_user):
    return make_user("admin1", role=Role.ADMIN, display_name="管理员")


def test_me_needs_credentials(client):
    assert client.get("/api/v1/me").status_code == 401


def test_me_describes_the_signed_in_user(client, desk):
    client.force_login(desk.agent)
    body = client.get("/api/v1/me").json()
    assert body["username"] == "xiaomei"
    assert body["name"] == "小美"
    assert body["role"] == "agent"
    assert body["teams"] == [{"id": desk.team.pk, "name": "售前咨询"}]
    assert body["can_reveal_pii"] is False


def test_set_my_status(client, desk):
    client.force_login(desk.agent)
    r = post(client, "/api/v1/me/status", {"status": "break"})
    assert r.status_code == 200
    assert r.json()["status"] == "break"
    desk.agent.refresh_from_db()
    assert desk.agent.status == "break"


def test_set_unknown_status_names_the_field(client, desk):
    client.force_login(desk.agent)
    r = post(client, "/api/v1/me/status", {"status": "sleeping"})
    assert r.status_code == 400
    assert "status" in r.json()["fields"]


def test_set_status_with_extra_field_is_422(client, desk):
    client.force_login(desk.agent)
    r = post(client, "/api/v1/me/status", {"status": "online", "mood": "good"})
    assert r.status_code == 422
    assert "mood" in r.json()["fields"]


def test_going_online_pulls_a_waiting_conversation(client, desk, django_capture_on_commit_callbacks):
    from kefu.conversations.models import Conversation
    from kefu.conversations.services import do_receive_customer_message

    User.objects.filter(pk=desk.agent.pk).update(status="offline")
    with django_capture_on_commit_callbacks(execute=True):
        msg, _ = do_receive_customer_message(channel=desk.channel, identities=[("web", "w1")], text="有人吗")
    assert Conversation.objects.get(pk=msg.conversation_id).assignee is None
    client.force_login(desk.agent)
    with django_capture_on_commit_callbacks(execute=True):
        post(client, "/api/v1/me/status", {"status": "online"})
    assert Conversation.objects.get(pk=msg.conversation_id).assignee == desk.agent


def test_agents_cannot_list_users(client, desk):
    client.force_login(desk.agent)
    r = client.get("/api/v1/users")
    assert r.status_code == 403
    assert r.json()["error"] == "permission_denied"


def test_team_lead_lists_users(client, desk, make_user):
    client.force_login(make_user("lead", role=Role.TEAM_LEAD))
    body = client.get("/api/v1/users?limit=2").json()
    assert body["count"] == 3
    assert len(body["items"]) == 2


def test_admin_creates_a_user_with_role_and_teams(client, desk, admin):
    client.force_login(admin)
    r = post(
        client,
        "/api/v1/users",
        {
            "username": "newbie",
            "password": "Str0ng-pass-2026",
            "role": "specialist",
            "team_ids": [desk.team.pk],
        },
    )
    assert r.status_code == 201
    body = r.json()
    assert body["role"] == "specialist"
    assert body["teams"][0]["id"] == desk.team.pk
    row = AuditLog.objects.get(action=AuditLog.Action.USER_CREATE, target_id=str(body["id"]))
    assert row.actor == admin


def test_non_admin_cannot_create_users(client, desk):
    client.force_login(desk.supervisor)
    r = post(client, "/api/v1/users", {"username": "x", "password": "Str0ng-pass-2026"})
    assert r.status_code == 403
    assert not User.objects.filter(username="x").exists()


def test_create_user_with_duplicate_username_is_409(client, desk, admin):
    client.force_login(admin)
    r = post(client, "/api/v1/users", {"username": "xiaomei", "password": "Str0ng-pass-2026"})
    assert r.status_code == 409
    assert "username" in r.json()["fields"]


def test_create_user_with_weak_password_names_the_field(client, admin):
    client.force_login(admin)
    r = post(client, "/api/v1/users", {"username": "weak", "password": "123"})
    assert r.status_code == 400
    assert "password" in r.json()["fields"]


def test_create_user_with_unknown_team_is_404(client, admin):
    client.force_login(admin)
    r = post(client, "/api/v1/users", {"username": "nt", "password": "Str0ng-pass-2026", "team_ids": [999]})
    assert r.status_code == 404
    assert not User.objects.filter(username="nt").exists()


def test_admin_changes_role_and_teams_with_audit(client, desk, admin, make_team):
    other = make_team("售后")
    client.force_login(admin)
    r = patch(
        client, f"/api/v1/users/{desk.agent.pk}", {"role": "team_lead", "team_ids": [desk.team.pk, other.pk]}
    )
    assert r.status_code == 200
    assert r.json()["role"] == "team_lead"
    assert {t["id"] for t in r.json()["teams"]} == {desk.team.pk, other.pk}
    role_row = AuditLog.objects.get(action=AuditLog.Action.ROLE_CHANGE)
    assert role_row.detail == {"from": "agent", "to": "team_lead"}
    assert AuditLog.objects.filter(action=AuditLog.Action.TEAM_CHANGE, actor=admin).exists()


def test_admin_raises_an_agents_limit_and_they_take_a_waiting_conversation(
    client, desk, admin, django_capture_on_commit_callbacks
):
    from kefu.conversations.models import Conversation
    from kefu.conversations.services import do_receive_customer_message

    User.objects.filter(pk=desk.agent.pk).update(max_concurrent=1)
    with django_capture_on_commit_callbacks(execute=True):
        serving, _ = do_receive_customer_message(
            channel=desk.channel, identities=[("web", "m1")], text="在吗"
        )
        waiting, _ = do_receive_customer_message(
            channel=desk.channel, identities=[("web", "m2")], text="在吗"
        )
    assert Conversation.objects.get(pk=waiting.conversation_id).assignee is None
    client.force_login(admin)

    with django_capture_on_commit_callbacks(execute=True):
        r = patch(client, f"/api/v1/users/{desk.agent.pk}", {"max_concurrent": 2})

    assert r.status_code == 200
    assert r.json()["max_concurrent"] == 2
    assert Conversation.objects.get(pk=waiting.conversation_id).assignee == desk.agent
    row = AuditLog.objects.get(action=AuditLog.Action.LIMIT_CHANGE)
    assert (row.actor, row.target_id, row.detail) == (admin, str(desk.agent.pk), {"from": 1, "to": 2})


def test_limit_out_of_range_names_the_field(client, desk, admin):
    client.force_login(admin)
    r = patch(client, f"/api/v1/users/{desk.agent.pk}", {"max_concurrent": 0})
    assert r.status_code == 422
    assert "max_concurrent" in r.json()["fields"]


def test_only_admins_change_limits(desk):
    from kefu.accounts.services import do_set_max_concurrent
    from kefu.core.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        do_set_max_concurrent(actor=desk.supervisor, user=desk.agent, max_concurrent=8)
    desk.agent.refresh_from_db()
    assert desk.agent.max_concurrent == 5


def test_patch_unknown_user_is_404(client, admin):
    client.force_login(admin)
    assert patch(client, "/api/v1/users/99999", {"role": "agent"}).status_code == 404


def test_patch_with_wrong_type_names_the_field(client, desk, admin):
    client.force_login(admin)
    r = patch(client, f"/api/v1/users/{desk.agent.pk}", {"team_ids": "all"})
    assert r.status_code == 422
    assert "team_ids" in r.json()["fields"]


def test_supervisor_cannot_change_roles(client, desk):
    client.force_login(desk.supervisor)
    assert patch(client, f"/api/v1/users/{desk.agent.pk}", {"role": "admin"}).status_code == 403
    desk.agent.refresh_from_db()
    assert desk.agent.role == "agent"


def test_teams_list_and_admin_create(client, desk, admin):
    client.force_login(desk.agent)
    assert client.get("/api/v1/teams").json()["items"][0]["name"] == "售前咨询"
    assert post(client, "/api/v1/teams", {"name": "投诉处理"}).status_code == 403
    client.force_login(admin)
    r = post(client, "/api/v1/teams", {"name": "投诉处理", "description": "12315 与升级投诉"})
    assert r.status_code == 201
    assert post(client, "/api/v1/teams", {"name": "投诉处理"}).status_code == 409


def test_audit_log_is_for_supervisors(client, desk):
    client.post("/login/", {"username": "xiaomei", "password": "bad"})
    client.force_login(desk.agent)
    assert client.get("/api/v1/audit").status_code == 403
    client.force_login(desk.supervisor)
    body = client.get("/api/v1/audit?action=login_failed").json()
    assert body["count"] == 1
    assert body["items"][0]["detail"] == {"username": "xiaomei"}


def test_token_lifecycle_over_the_api(client, desk):
    client.force_login(desk.agent)
    r = post(client, "/api/v1/tokens", {"name": "工单系统"})
    assert r.status_code == 201
    key = r.json()["key"]
    assert key.startswith("kefu_")
    listed = client.get("/api/v1/tokens").json()["items"]
    assert "key" not in listed[0]
    client.logout()
    assert (
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"}).json()["username"] == "xiaomei"
    )
    token_id = r.json()["id"]
    assert (
        client.delete(f"/api/v1/tokens/{token_id}", headers={"Authorization": f"Bearer {key}"}).status_code
        == 204
    )
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"}).status_code == 401
    assert APIToken.objects.get(pk=token_id).revoked_at is not None


def test_revoke_unknown_token_is_404(client, desk):
    client.force_login(desk.agent)
    assert client.delete("/api/v1/tokens/4242").status_code == 404


def test_create_token_without_name_is_422(client, desk):
    client.force_login(desk.agent)
    r = post(client, "/api/v1/tokens", {})
    assert r.status_code == 422
    assert "name" in r.json()["fields"]
