"""The departments settings page: Chinese labels of required information, validation, permissions."""

from __future__ import annotations

import re

import pytest

from kefu.accounts.models import AuditLog, Role
from kefu.tickets.models import Department

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, make_user):
    client.force_login(make_user("guanliyuan", role=Role.ADMIN))
    return client


def test_list_names_required_information_in_chinese(admin_client):
    Department.objects.create(name="财务部", required_fields=["order_no", "refund_amount"], deadline_hours=48)
    page = admin_client.get("/desk/settings/departments/").content.decode()
    assert "订单号" in page and "退款金额" in page
    assert "refund_amount</" not in page and ">refund_amount" not in page
    # The form offers the keys by their labels too.
    assert re.search(r'value="refund_amount"[^>]*>\s*<span>退款金额</span>', page)


def test_admin_creates_a_department_with_required_information(admin_client, desk):
    r = admin_client.post(
        "/desk/settings/departments/",
        {
            "name": "仓储物流部",
            "team": desk.team.pk,
            "required_fields": ["order_no", "tracking_no"],
            "deadline_hours": "24",
        },
        follow=True,
    )
    assert re.findall(r'<li class="flash-success">(.*?)</li>', r.content.decode()) == [
        "已创建部门「仓储物流部」。"
    ]
    d = Department.objects.get(name="仓储物流部")
    assert (d.team_id, d.required_fields, d.deadline_hours) == (desk.team.pk, ["order_no", "tracking_no"], 24)
    assert AuditLog.objects.filter(action=AuditLog.Action.SETTINGS_CHANGE, target_type="department").exists()


def test_edit_keeps_a_key_set_through_the_api_and_changes_the_deadline(admin_client):
    d = Department.objects.create(name="技术部", required_fields=["device", "app_version"], deadline_hours=24)
    page = admin_client.get(f"/desk/settings/departments/{d.pk}/").content.decode()
    assert re.search(r'value="app_version"[^>]*checked', page)
    admin_client.post(
        f"/desk/settings/departments/{d.pk}/",
        {"name": "技术部", "required_fields": ["device", "app_version"], "deadline_hours": "8"},
    )
    d.refresh_from_db()
    assert (d.required_fields, d.deadline_hours) == (["device", "app_version"], 8)


def test_bad_input_gets_chinese_errors_and_nothing_is_saved(admin_client):
    Department.objects.create(name="财务部")
    r = admin_client.post(
        "/desk/settings/departments/",
        {"name": "财务部", "required_fields": ["password"], "deadline_hours": "0"},
    )
    assert r.status_code == 400
    page = r.content.decode()
    assert "选择一个有效的选项" in page
    assert "确保该值大于或等于1" in page
    r = admin_client.post("/desk/settings/departments/", {"name": "财务部", "deadline_hours": "24"})
    assert r.status_code == 400 and "已有同名部门" in r.content.decode()
    assert Department.objects.count() == 1


def test_supervisor_and_agent_cannot_open_or_post(client, desk):
    for user in (desk.supervisor, desk.agent):
        client.force_login(user)
        assert client.get("/desk/settings/departments/").status_code == 403
        assert (
            client.post(
                "/desk/settings/departments/", {"name": "偷建部门", "deadline_hours": "1"}
            ).status_code
            == 403
        )
    assert not Department.objects.filter(name="偷建部门").exists()
