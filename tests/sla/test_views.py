"""The SLA settings page (/desk/settings/sla/): durations from the fields, chains edited in
Chinese forms, readable errors, supervisors and admins only."""

from __future__ import annotations

import pytest

from kefu.sla.models import SLAPolicy

pytestmark = pytest.mark.django_db

URL = "/desk/settings/sla/"


def _form(policy: SLAPolicy, **changes: str) -> dict[str, str]:
    """The edit form as the page fills it for ``policy`` (no steps), with ``changes``."""
    data = {
        "name": policy.name,
        "applies_to": policy.applies_to,
        "channel_kind": policy.channel_kind,
        "ticket_category": policy.ticket_category,
        "priority": policy.priority,
        "first_response": str(policy.first_response_seconds or ""),
        "first_response_unit": "seconds",
        "resolution": str(policy.resolution_seconds or ""),
        "resolution_unit": "seconds",
        "warn_percent": str(round(policy.warn_ratio * 100)),
        "is_active": "on",
        "step_count": "3",
    }
    data.update(changes)
    return data


def _flash(response) -> str:
    return response.content.decode().split('class="flash"')[1].split("</ul>")[0]


def test_agents_and_team_leads_get_a_readable_403(client, make_user):
    client.force_login(make_user("xiaomei"))
    response = client.get(URL)
    assert response.status_code == 403
    assert "主管" in response.content.decode()
    client.force_login(make_user("zuzhang", role="team_lead"))
    assert client.get(URL).status_code == 403


def test_the_page_shows_durations_computed_from_the_fields(client, make_user):
    client.force_login(make_user("zhuguan", role="supervisor"))
    SLAPolicy.objects.filter(name="在线聊天首次响应").update(first_response_seconds=90)
    page = client.get(URL).content.decode()
    chat = SLAPolicy.objects.get(name="在线聊天首次响应")
    row = page.split(f'id="policy-{chat.pk}"')[1].split("</tr>")[0]
    assert '<td class="fr">1 分钟 30 秒</td>' in row
    assert "60 秒" not in row
    email = SLAPolicy.objects.get(name="邮件回复")
    assert '<td class="fr">4 工作小时</td>' in page.split(f'id="policy-{email.pk}"')[1].split("</tr>")[0]


def test_a_supervisor_builds_a_chain_in_the_form(client, make_user):
    client.force_login(make_user("zhuguan", role="supervisor"))
    policy = SLAPolicy.objects.get(name="P1 工单解决")
    form = _form(
        policy,
        resolution="4",
        resolution_unit="hours",
        step0_timer="",
        step0_anchor="warning",
        step0_after="0",
        step0_after_unit="hours",
        step0_notify="assignee",
        step0_email="on",
        step1_timer="resolution",
        step1_anchor="breach",
        step1_after="2",
        step1_after_unit="hours",
        step1_notify="supervisor",
        step2_anchor="breach",
        step2_after="1",
        step2_after_unit="days",
        step2_notify="",  # a blank row adds nothing
    )
    response = client.post(f"{URL}{policy.pk}/", form, follow=True)
    assert "已保存 SLA 策略「P1 工单解决」" in _flash(response)
    steps = list(
        policy.escalation_steps.order_by("anchor").values_list("anchor", "after_seconds", "notify", "email")
    )
    assert steps == [("breach", 7200, "supervisor", False), ("warning", 0, "assignee", True)]
    assert SLAPolicy.objects.get(pk=policy.pk).resolution_seconds == 4 * 3600
    page = response.content.decode()
    row = page.split(f'id="policy-{policy.pk}"')[1].split("</tr>")[0]
    assert "<li>预警时 · 通知处理人</li><li>超时后 2 小时 · 通知主管</li>" in row


def test_bad_steps_come_back_as_chinese_lines_naming_the_step(client, make_user):
    client.force_login(make_user("root", role="admin"))
    policy = SLAPolicy.objects.get(name="P1 工单解决")
    form = _form(
        policy,
        step0_anchor="breach",
        step0_after="-2",
        step0_after_unit="hours",
        step0_notify="supervisor",
        step1_anchor="breach",
        step1_after="0",
        step1_after_unit="hours",
        step1_notify="manager",
        step2_anchor="breach",
        step2_after="0",
        step2_after_unit="hours",
        step2_notify="manager",
    )
    response = client.post(f"{URL}{policy.pk}/", form, follow=True)
    assert response.status_code == 200
    flash = _flash(response)
    assert "升级链第 1 步 · 延后时间：" in flash and "不能为负" in flash
    assert "升级链第 3 步：与前面的步骤重复" in flash
    assert "escalation[" not in flash
    assert not policy.escalation_steps.exists()


def test_a_new_policy_from_the_page(client, make_user):
    client.force_login(make_user("root", role="admin"))
    data = {
        "name": "售后工单解决",
        "applies_to": "ticket",
        "ticket_category": "after_sales",
        "resolution": "2",
        "resolution_unit": "days",
        "warn_percent": "75",
        "is_active": "on",
        "step_count": "1",
        "step0_anchor": "breach",
        "step0_after": "0",
        "step0_after_unit": "hours",
        "step0_notify": "team_lead",
        "step0_email": "on",
    }
    response = client.post(f"{URL}new/", data, follow=True)
    assert "已保存" in _flash(response)
    policy = SLAPolicy.objects.get(name="售后工单解决")
    assert (policy.resolution_seconds, policy.warn_ratio) == (2 * 86400, 0.75)
    assert policy.escalation_steps.get().notify == "team_lead"


def test_bad_values_are_refused_in_chinese(client, make_user):
    client.force_login(make_user("root", role="admin"))
    response = client.post(
        f"{URL}new/", {"name": "投诉", "first_response": "abc", "step_count": "0"}, follow=True
    )
    assert "首次响应时限：应为整数" in _flash(response)
    response = client.post(
        f"{URL}new/", {"name": "", "first_response": "2", "first_response_unit": "hours"}, follow=True
    )
    assert "名称：" in _flash(response)
    assert not SLAPolicy.objects.filter(name__in=("", "投诉")).exists()
