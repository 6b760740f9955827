"""Sign-in pages: login and failed-login audit, logout, password change, idle lock, tokens."""

from __future__ import annotations

import time

import pytest

from kefu.accounts.middleware import SESSION_KEY
from kefu.accounts.models import APIToken, AuditLog
from kefu.core.ratelimit import wait_text

pytestmark = pytest.mark.django_db

PASSWORD = "kefu-test-pass-2026"


def test_login_page_renders_with_csrf(client):
    r = client.get("/login/")
    assert r.status_code == 200
    assert "csrfmiddlewaretoken" in r.content.decode()


def test_login_writes_an_audit_row_and_redirects_to_desk(client, desk):
    r = client.post("/login/", {"username": "xiaomei", "password": PASSWORD})
    assert r.status_code == 302
    assert r["Location"] == "/desk/"
    row = AuditLog.objects.get(action=AuditLog.Action.LOGIN)
    assert row.actor == desk.agent
    assert row.ip == "127.0.0.1"


def test_failed_login_is_audited_without_an_actor(client, desk):
    r = client.post("/login/", {"username": "xiaomei", "password": "wrong-password"})
    assert r.status_code == 200
    assert 'class="form-errors"' in r.content.decode()
    row = AuditLog.objects.get(action=AuditLog.Action.LOGIN_FAILED)
    assert row.actor is None
    assert row.detail == {"username": "xiaomei"}
    assert "_auth_user_id" not in client.session


def _login(client, username="xiaomei", password="wrong-password", **extra):
    return client.post("/login/", {"username": username, "password": password}, **extra)


def test_failed_logins_past_the_limit_get_a_waiting_message_and_are_audited(
    client, desk, rate_clock, rate_limits
):
    rate_limits(login="3/1m")
    assert [_login(client).status_code for _ in range(3)] == [200, 200, 200]
    refused = _login(client)
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    page = refused.content.decode()
    assert f"登录失败次数过多，请 {wait_text(int(refused['Retry-After']))}后再试。" in page
    assert 'value="xiaomei"' in page
    row = AuditLog.objects.filter(action=AuditLog.Action.LOGIN_FAILED).first()
    assert row.actor is None and row.ip == "127.0.0.1"
    assert row.detail == {"username": "xiaomei", "rate_limit": "login"}
    # Guessing stops: the right password is not even tried until the wait is over.
    assert _login(client, password=PASSWORD).status_code == 429
    assert "_auth_user_id" not in client.session
    rate_clock.now += int(refused["Retry-After"])
    assert _login(client, password=PASSWORD).status_code == 302


def test_the_limit_counts_per_username_and_address(client, desk, rate_clock, rate_limits):
    rate_limits(login="2/1m")
    for _ in range(2):
        _login(client, username="Xiaomei ")
    assert _login(client).status_code == 429  # the same account, however it is typed
    assert _login(client, username="zhuguan").status_code == 200
    assert _login(client, REMOTE_ADDR="198.51.100.20").status_code == 200


def test_failures_on_many_accounts_from_one_address_hit_the_address_limit(
    client, desk, rate_clock, rate_limits
):
    rate_limits(login_ip="3/1m")
    assert [_login(client, username=f"guess{n}").status_code for n in range(3)] == [200, 200, 200]
    assert _login(client, username="xiaomei", password=PASSWORD).status_code == 429
    assert _login(client, username="xiaomei", REMOTE_ADDR="198.51.100.20").status_code == 200


def test_failures_on_one_account_from_many_addresses_hit_the_account_limit(
    client, desk, rate_clock, rate_limits
):
    rate_limits(login_user="3/1h")
    for n in range(3):
        assert _login(client, REMOTE_ADDR=f"198.51.100.{n + 1}").status_code == 200
    refused = _login(client, password=PASSWORD, REMOTE_ADDR="203.0.113.9")
    assert refused.status_code == 429
    assert "登录失败次数过多" in refused.content.decode()


def test_successful_logins_do_not_count(client, desk, rate_clock, rate_limits):
    rate_limits(login="2/1m", login_ip="2/1m")
    for _ in range(4):
        assert _login(client, password=PASSWORD).status_code == 302
        client.post("/logout/")
    assert _login(client).status_code == 200


def test_the_admin_signs_in_through_the_rate_limited_login_page(client, desk):
    r = client.post("/admin/login/?next=/admin/", {"username": "xiaomei", "password": "guess"})
    assert r.status_code == 302 and r["Location"] == "/login/?next=/admin/"
    assert not AuditLog.objects.filter(action__startswith="login").exists()  # no password was tried


def test_logout_requires_post(client, desk):
    client.force_login(desk.agent)
    assert client.get("/logout/").status_code == 405


def test_logout_ends_the_session_and_is_audited(client, desk):
    client.force_login(desk.agent)
    r = client.post("/logout/")
    assert r.status_code == 302
    assert r["Location"] == "/login/"
    assert AuditLog.objects.filter(action=AuditLog.Action.LOGOUT, actor=desk.agent).exists()
    assert client.get("/desk/").status_code == 302


def test_idle_logout_from_the_desk_countdown_is_recorded_as_a_lock(client, desk):
    client.force_login(desk.agent)
    client.post("/logout/", {"reason": "idle"})
    assert AuditLog.objects.filter(action=AuditLog.Action.IDLE_LOCK, actor=desk.agent).exists()
    assert "工作台已自动锁屏" in client.get("/login/").content.decode()


def test_idle_session_is_locked_by_the_server_and_the_login_page_says_why(client, desk, settings):
    settings.KEFU_IDLE_TIMEOUT = 1
    client.force_login(desk.agent)
    assert client.get("/desk/").status_code == 200
    session = client.session
    session[SESSION_KEY] = time.time() - 5
    session.save()
    r = client.get("/desk/")
    assert r.status_code == 302
    assert r["Location"].startswith("/login/")
    assert AuditLog.objects.filter(action=AuditLog.Action.IDLE_LOCK, actor=desk.agent).exists()
    page = client.get(r["Location"]).content.decode()
    assert "工作台已自动锁屏" in page
    # The notice is shown once.
    assert "工作台已自动锁屏" not in client.get("/login/").content.decode()


def test_login_page_shows_lock_notice_for_the_desk_redirect(client):
    assert "工作台已自动锁屏" in client.get("/login/?locked=1").content.decode()


def test_password_change_is_audited_and_keeps_the_session(client, desk):
    client.force_login(desk.agent)
    r = client.post(
        "/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "Changed-pass-2027!",
            "new_password2": "Changed-pass-2027!",
        },
    )
    assert r.status_code == 302
    assert AuditLog.objects.filter(action=AuditLog.Action.PASSWORD_CHANGE, actor=desk.agent).exists()
    desk.agent.refresh_from_db()
    assert desk.agent.check_password("Changed-pass-2027!")
    assert client.get("/desk/").status_code == 200


def test_password_change_with_wrong_old_password_changes_nothing(client, desk):
    client.force_login(desk.agent)
    r = client.post(
        "/password/",
        {
            "old_password": "nope-nope",
            "new_password1": "Changed-pass-2027!",
            "new_password2": "Changed-pass-2027!",
        },
    )
    assert r.status_code == 200
    assert not AuditLog.objects.filter(action=AuditLog.Action.PASSWORD_CHANGE).exists()


def test_password_page_requires_login(client):
    r = client.get("/password/")
    assert r.status_code == 302 and r["Location"].startswith("/login/")


def test_token_page_shows_the_new_key_once(client, desk):
    client.force_login(desk.agent)
    r = client.post("/tokens/", {"name": "CRM 对接"})
    assert r.status_code == 200
    assert "no-cache" in r["Cache-Control"] or "no-store" in r["Cache-Control"]
    token = APIToken.objects.get(user=desk.agent)
    html = r.content.decode()
    assert f'id="kefu-new-key">{token.prefix}' in html
    again = client.get("/tokens/").content.decode()
    assert "CRM 对接" in again
    assert 'id="kefu-new-key"' not in again


def test_token_revoke_from_the_page(client, desk):
    from kefu.accounts.services import do_create_token

    token, _ = do_create_token(user=desk.agent, name="old")
    client.force_login(desk.agent)
    r = client.post(f"/tokens/{token.pk}/revoke/")
    assert r.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert AuditLog.objects.filter(action=AuditLog.Action.TOKEN_REVOKE).exists()


def test_revoking_someone_elses_token_is_404(client, desk):
    from kefu.accounts.services import do_create_token

    token, _ = do_create_token(user=desk.supervisor, name="theirs")
    client.force_login(desk.agent)
    assert client.post(f"/tokens/{token.pk}/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_top_bar_shows_name_status_and_nav(client, desk):
    client.force_login(desk.agent)
    html = client.get("/desk/").content.decode()
    assert "小美" in html
    for label in (
        "在线",
        "忙碌",
        "小休",
        "用餐",
        "培训",
        "离线",
        "工作台",
        "工单",
        "修改密码",
        "API令牌",
        "退出",
    ):
        assert label in html
    assert "主管看板" not in html


def test_top_bar_offers_the_supervisor_board_to_supervisors(client, desk):
    client.force_login(desk.supervisor)
    assert "主管看板" in client.get("/desk/").content.decode()


def test_password_page_is_chinese_even_for_an_english_browser(client, desk):
    client.force_login(desk.agent)
    page = client.get("/password/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert "旧密码" in page and "新密码" in page
    assert "Old password" not in page and "Your password" not in page
    r = client.post(
        "/password/",
        {"old_password": "wrong-one", "new_password1": "abc", "new_password2": "abd"},
        HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9",
    )
    errors = r.content.decode()
    assert "旧密码不正确" in errors or "您的旧密码不正确" in errors
    assert "输入的两个密码不一致" in errors
    assert "didn" not in errors
