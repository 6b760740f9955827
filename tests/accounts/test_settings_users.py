"""Settings pages for users and teams, through the pages: forms, Chinese errors, permissions, audit."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from kefu.accounts.models import AgentStatus, APIToken, AuditLog, Role, Team, User
from kefu.accounts.services import do_create_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(make_user):
    return make_user("guanliyuan", role=Role.ADMIN, display_name="赵管理")


@pytest.fixture
def admin_client(client, admin):
    client.force_login(admin)
    return client


def _flashes(page: str) -> list[str]:
    return re.findall(r'<li class="flash-[a-z]+">(.*?)</li>', page)


def test_admin_creates_an_agent_and_sees_the_first_password_once(admin_client, desk, admin):
    after_sales = Team.objects.create(name="售后服务")
    r = admin_client.post(
        "/desk/settings/users/new/",
        {
            "username": "xiaoli",
            "display_name": "小李",
            "employee_no": "KF-0231",
            "role": Role.AGENT,
            "teams": [desk.team.pk, after_sales.pk],
            "max_concurrent": "8",
            "is_senior": "on",
        },
    )
    assert r.status_code == 200
    page = r.content.decode()
    password = re.search(r'id="kefu-new-password">([^<]+)<', page).group(1)
    assert r["Cache-Control"].startswith("max-age=0") or "no-cache" in r["Cache-Control"]
    user = User.objects.get(username="xiaoli")
    assert user.check_password(password)
    assert (user.display_name, user.employee_no, user.max_concurrent, user.is_senior) == (
        "小李",
        "KF-0231",
        8,
        True,
    )
    assert sorted(user.teams.values_list("name", flat=True)) == ["售前咨询", "售后服务"]
    assert AuditLog.objects.filter(
        action=AuditLog.Action.USER_CREATE, actor=admin, target_id=str(user.pk)
    ).exists()
    # The list afterwards does not show the password again.
    assert password not in admin_client.get("/desk/settings/users/").content.decode()


def test_create_form_errors_are_chinese_and_keep_the_input(admin_client, desk):
    r = admin_client.post(
        "/desk/settings/users/new/",
        {"username": "", "display_name": "小李", "role": "boss", "max_concurrent": "80"},
    )
    assert r.status_code == 400
    page = r.content.decode()
    assert "这个字段是必填项。" in page
    assert "选择一个有效的选项" in page
    assert "确保该值小于或等于50" in page
    assert 'value="小李"' in page
    assert not User.objects.filter(display_name="小李").exists()


def test_duplicate_username_is_shown_under_the_field(admin_client, desk):
    r = admin_client.post(
        "/desk/settings/users/new/", {"username": "xiaomei", "role": Role.AGENT, "max_concurrent": "5"}
    )
    assert r.status_code == 400
    assert re.search(r'has-error">\s*<label for="id_username">用户名</label>', r.content.decode())
    assert "已存在" in r.content.decode()


def test_nul_character_in_a_name_is_refused_not_a_500(admin_client, desk):
    r = admin_client.post(
        "/desk/settings/users/new/", {"username": "bad\x00name", "role": Role.AGENT, "max_concurrent": "5"}
    )
    assert r.status_code == 400
    assert not User.objects.filter(username__startswith="bad").exists()


def test_edit_changes_role_teams_limit_and_senior_with_one_success_message(admin_client, desk, admin):
    second = Team.objects.create(name="投诉处理")
    r = admin_client.post(
        f"/desk/settings/users/{desk.agent.pk}/",
        {
            "display_name": "小美",
            "employee_no": "",
            "role": Role.SPECIALIST,
            "teams": [second.pk],
            "max_concurrent": "3",
            "is_senior": "on",
        },
        follow=True,
    )
    assert r.status_code == 200
    assert _flashes(r.content.decode()) == ["已保存 小美 的设置。"]
    agent = User.objects.get(pk=desk.agent.pk)
    assert (agent.role, agent.max_concurrent, agent.is_senior) == (Role.SPECIALIST, 3, True)
    assert list(agent.teams.values_list("name", flat=True)) == ["投诉处理"]
    actions = set(
        AuditLog.objects.filter(actor=admin, target_id=str(agent.pk)).values_list("action", flat=True)
    )
    assert {"role_change", "team_change", "limit_change", "user_update"} <= actions
    # Shown once: the next page has no message.
    assert _flashes(admin_client.get("/desk/settings/users/").content.decode()) == []


def test_edit_form_marks_current_teams_and_renders_checkboxes_beside_their_labels(admin_client, desk):
    page = admin_client.get(f"/desk/settings/users/{desk.agent.pk}/").content.decode()
    assert re.search(
        rf'<label class="choice" for="id_teams_0"><input type="checkbox" name="teams" value="{desk.team.pk}"[^>]*checked',
        page,
    )
    assert '<label for="id_is_senior"><input type="checkbox" name="is_senior"' in page


def test_disabled_agent_cannot_sign_in_goes_offline_and_her_token_stops_working(admin_client, desk, admin):
    _token, key = do_create_token(user=desk.agent, name="工单系统")
    r = admin_client.post(f"/desk/settings/users/{desk.agent.pk}/active/", {"is_active": "0"}, follow=True)
    assert _flashes(r.content.decode()) == ["已停用账号 小美。"]
    agent = User.objects.get(pk=desk.agent.pk)
    assert not agent.is_active and agent.status == AgentStatus.OFFLINE
    assert AuditLog.objects.filter(action=AuditLog.Action.USER_DISABLE, target_id=str(agent.pk)).exists()
    other = Client()
    assert (
        other.post("/login/", {"username": "xiaomei", "password": "kefu-test-pass-2026"}).status_code == 200
    )
    assert other.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 401
    assert APIToken.objects.filter(user=agent).exists()
    admin_client.post(f"/desk/settings/users/{desk.agent.pk}/active/", {"is_active": "1"})
    assert User.objects.get(pk=desk.agent.pk).is_active


def test_admin_cannot_disable_herself(admin_client, admin):
    r = admin_client.post(f"/desk/settings/users/{admin.pk}/active/", {"is_active": "0"})
    assert r.status_code == 400
    assert "不能停用自己的账号" in r.content.decode()
    assert User.objects.get(pk=admin.pk).is_active


def test_reset_password_shows_a_new_one_and_ends_the_agents_session(admin_client, desk):
    agent_client = Client()
    agent_client.force_login(desk.agent)
    assert agent_client.get("/desk/").status_code == 200
    r = admin_client.post(f"/desk/settings/users/{desk.agent.pk}/password/")
    password = re.search(r'id="kefu-new-password">([^<]+)<', r.content.decode()).group(1)
    assert User.objects.get(pk=desk.agent.pk).check_password(password)
    assert agent_client.get("/desk/").status_code == 302  # the old session is gone
    assert AuditLog.objects.filter(
        action=AuditLog.Action.PASSWORD_RESET, target_id=str(desk.agent.pk)
    ).exists()


def test_reset_password_is_post_only(admin_client, desk):
    assert admin_client.get(f"/desk/settings/users/{desk.agent.pk}/password/").status_code == 405


@pytest.mark.parametrize(
    "url",
    [
        "/desk/settings/users/",
        "/desk/settings/users/new/",
        "/desk/settings/users/{agent}/",
        "/desk/settings/teams/",
        "/desk/settings/teams/{team}/",
    ],
)
def test_supervisor_gets_403_on_admin_pages(client, desk, url):
    client.force_login(desk.supervisor)
    r = client.get(url.format(agent=desk.agent.pk, team=desk.team.pk))
    assert r.status_code == 403
    assert "需要管理员及以上权限" in r.content.decode()


@pytest.mark.parametrize("action", ["active", "password"])
def test_supervisor_cannot_post_account_actions(client, desk, action):
    client.force_login(desk.supervisor)
    assert (
        client.post(f"/desk/settings/users/{desk.agent.pk}/{action}/", {"is_active": "0"}).status_code == 403
    )
    agent = User.objects.get(pk=desk.agent.pk)
    assert agent.is_active and agent.check_password("kefu-test-pass-2026")


def test_unknown_user_is_a_chinese_404(admin_client):
    r = admin_client.get("/desk/settings/users/99999/")
    assert r.status_code == 404
    assert "用户 99999 不存在" in r.content.decode()


def test_admin_creates_and_renames_a_team(admin_client, admin):
    r = admin_client.post(
        "/desk/settings/teams/", {"name": "退款专席", "description": "退款与发票"}, follow=True
    )
    assert _flashes(r.content.decode()) == ["已创建团队「退款专席」。"]
    team = Team.objects.get(name="退款专席")
    r = admin_client.post(
        f"/desk/settings/teams/{team.pk}/", {"name": "退款与发票", "is_general": "on"}, follow=True
    )
    assert _flashes(r.content.decode()) == ["已保存团队「退款与发票」。"]
    team.refresh_from_db()
    assert (team.name, team.description, team.is_general) == ("退款与发票", "", True)
    assert AuditLog.objects.filter(action=AuditLog.Action.TEAM_UPDATE, target_id=str(team.pk)).exists()


def test_duplicate_team_name_is_refused_under_the_field(admin_client, desk):
    r = admin_client.post("/desk/settings/teams/", {"name": "售前咨询"})
    assert r.status_code == 400
    assert "已有同名团队" in r.content.decode()
    assert Team.objects.filter(name="售前咨询").count() == 1
