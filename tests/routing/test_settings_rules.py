"""The routing rules settings page: add, switch off and delete rules; Chinese errors; admins only."""

from __future__ import annotations

import re

import pytest

from kefu.accounts.models import AuditLog, Role
from kefu.routing.models import RoutingRule

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, make_user):
    client.force_login(make_user("guanliyuan", role=Role.ADMIN))
    return client


def _flashes(response) -> list[str]:
    return re.findall(r'<li class="flash-[a-z]+">(.*?)</li>', response.content.decode())


def test_admin_adds_a_keyword_rule_with_chinese_separators(admin_client, make_team):
    refunds = make_team("退款专席")
    r = admin_client.post(
        "/desk/settings/routing/",
        {
            "name": "退款发票",
            "keywords": "退款，发票、开票",
            "team": refunds.pk,
            "priority": "P2",
            "order": "10",
        },
        follow=True,
    )
    assert _flashes(r) == ["已添加路由规则「退款发票」。"]
    rule = RoutingRule.objects.get(name="退款发票")
    assert (rule.keywords, rule.team_id, rule.priority, rule.order) == (
        ["退款", "发票", "开票"],
        refunds.pk,
        "P2",
        10,
    )
    assert "开票" in r.content.decode()
    assert AuditLog.objects.filter(action=AuditLog.Action.SETTINGS_CHANGE, target_type="routingrule").exists()


def test_rule_without_keywords_or_channel_is_refused_in_chinese(admin_client, desk):
    r = admin_client.post(
        "/desk/settings/routing/", {"name": "空规则", "keywords": " ，", "team": desk.team.pk, "order": "1"}
    )
    assert r.status_code == 400
    assert "请填写关键词，或选择一个渠道" in r.content.decode()
    assert not RoutingRule.objects.exists()


def test_channel_rule_needs_no_keywords(admin_client, desk):
    admin_client.post(
        "/desk/settings/routing/",
        {"name": "官网全部", "channel": desk.channel.pk, "team": desk.team.pk, "order": "100"},
    )
    assert RoutingRule.objects.get(name="官网全部").channel_id == desk.channel.pk


def test_switch_off_on_and_delete(admin_client, desk):
    rule = RoutingRule.objects.create(name="尺码", keywords=["尺码"], team=desk.team)
    r = admin_client.post(f"/desk/settings/routing/{rule.pk}/disable/", follow=True)
    assert _flashes(r) == ["已停用路由规则「尺码」。"]
    rule.refresh_from_db()
    assert not rule.is_active
    assert _flashes(admin_client.post(f"/desk/settings/routing/{rule.pk}/enable/", follow=True)) == [
        "已启用路由规则「尺码」。"
    ]
    rule.refresh_from_db()
    assert rule.is_active
    r = admin_client.post(f"/desk/settings/routing/{rule.pk}/delete/", follow=True)
    assert _flashes(r) == ["已删除路由规则。"]
    assert not RoutingRule.objects.exists()
    assert admin_client.post(f"/desk/settings/routing/{rule.pk}/delete/").status_code == 404
    assert admin_client.post(f"/desk/settings/routing/{rule.pk}/explode/").status_code == 404


def test_supervisor_cannot_change_rules(client, desk):
    rule = RoutingRule.objects.create(name="尺码", keywords=["尺码"], team=desk.team)
    client.force_login(desk.supervisor)
    assert client.get("/desk/settings/routing/").status_code == 403
    assert client.post(f"/desk/settings/routing/{rule.pk}/delete/").status_code == 403
    assert RoutingRule.objects.filter(pk=rule.pk).exists()
