"""Channel settings pages: the embed code, email addresses, a platform secret shown once and rotated."""

from __future__ import annotations

import re

import pytest

from kefu.accounts.models import AuditLog, Role
from kefu.channels.models import Channel

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, make_user):
    client.force_login(make_user("guanliyuan", role=Role.ADMIN))
    return client


def _secret(response) -> str:
    return re.search(r'id="kefu-channel-secret">([^<]+)<', response.content.decode()).group(1)


def test_web_channel_list_shows_its_embed_code(admin_client, desk):
    page = admin_client.get("/desk/settings/channels/").content.decode()
    assert (
        f"&lt;script src=&quot;http://testserver/static/kefu/widget.js&quot; data-channel=&quot;{desk.channel.pk}&quot; async&gt;&lt;/script&gt;"
        in page
    )
    assert desk.channel.secret not in page


def test_platform_channel_secret_is_shown_once_then_never(admin_client, desk):
    r = admin_client.post(
        "/desk/settings/channels/new/",
        {
            "name": "抖音直播间",
            "kind": "live",
            "team": desk.team.pk,
            "outbound_url": "https://open.example.com/push",
            "is_active": "on",
        },
    )
    assert r.status_code == 200
    secret = _secret(r)
    channel = Channel.objects.get(name="抖音直播间")
    assert channel.secret == secret
    assert f"http://testserver/api/v1/channels/{channel.pk}/inbound" in r.content.decode()
    assert "no-cache" in r["Cache-Control"] or "max-age=0" in r["Cache-Control"]
    for url in ("/desk/settings/channels/", f"/desk/settings/channels/{channel.pk}/"):
        assert secret not in admin_client.get(url).content.decode()


def test_rotating_the_secret_shows_a_new_one_and_the_old_one_stops_working(admin_client, make_channel):
    channel = make_channel("im", name="企业微信")
    old = channel.secret
    r = admin_client.post(f"/desk/settings/channels/{channel.pk}/secret/")
    new = _secret(r)
    channel.refresh_from_db()
    assert new != old and channel.secret == new
    assert AuditLog.objects.filter(
        action=AuditLog.Action.SETTINGS_CHANGE, detail={"secret": "rotated"}
    ).exists()
    assert admin_client.get(f"/desk/settings/channels/{channel.pk}/secret/").status_code == 405


def test_email_channel_needs_an_unused_address(admin_client, make_channel):
    r = admin_client.post(
        "/desk/settings/channels/new/", {"name": "售后邮箱", "kind": "email", "is_active": "on"}
    )
    assert r.status_code == 400
    assert "请填写收件地址" in r.content.decode()
    make_channel("email", name="客服邮箱", email_address="service@yuejia.example")
    r = admin_client.post(
        "/desk/settings/channels/new/",
        {"name": "售后邮箱", "kind": "email", "email_address": "Service@YueJia.example", "is_active": "on"},
    )
    assert r.status_code == 400 and "已被其他渠道使用" in r.content.decode()
    r = admin_client.post(
        "/desk/settings/channels/new/",
        {"name": "售后邮箱", "kind": "email", "email_address": "shouhou@yuejia.example", "is_active": "on"},
    )
    assert r.status_code == 200
    assert Channel.objects.get(name="售后邮箱").email_address == "shouhou@yuejia.example"


def test_bad_values_get_chinese_errors(admin_client, desk):
    r = admin_client.post(
        "/desk/settings/channels/new/",
        {"name": "官网在线客服", "kind": "web", "outbound_url": "ftp://x", "email_address": "不是邮箱"},
    )
    assert r.status_code == 400
    page = r.content.decode()
    assert "请输入有效的网址，以 http:// 或 https:// 开头" in page
    assert "请输入有效的邮箱地址" in page
    assert "已有同名渠道" not in page  # the service is asked only once the form is valid


def test_edit_renames_switches_off_and_keeps_the_kind(admin_client, desk):
    r = admin_client.post(
        f"/desk/settings/channels/{desk.channel.pk}/",
        {"name": "官网客服（旧）", "kind": "email", "team": desk.team.pk},
        follow=True,
    )
    assert re.findall(r'<li class="flash-success">(.*?)</li>', r.content.decode()) == [
        "已保存渠道「官网客服（旧）」。"
    ]
    channel = Channel.objects.get(pk=desk.channel.pk)
    assert (channel.name, channel.kind, channel.is_active) == ("官网客服（旧）", "web", False)


def test_supervisor_can_neither_see_nor_rotate(client, desk):
    client.force_login(desk.supervisor)
    assert client.get("/desk/settings/channels/").status_code == 403
    old = desk.channel.secret
    assert client.post(f"/desk/settings/channels/{desk.channel.pk}/secret/").status_code == 403
    desk.channel.refresh_from_db()
    assert desk.channel.secret == old
