from __future__ import annotations

import pytest

from kefu.sla.models import SLAPolicy

pytestmark = pytest.mark.django_db


def send(client, method, url, data=None):
    return getattr(client, method)(url, data or {}, content_type="application/json")


def test_staff_read_admins_change(client, make_user):
    client.force_login(make_user("a1"))
    listed = client.get("/api/v1/sla-policies").json()
    assert len(listed) == SLAPolicy.objects.count() == 12
    assert (
        send(client, "post", "/api/v1/sla-policies", {"name": "x", "first_response_seconds": 5}).status_code
        == 403
    )
    client.force_login(make_user("root", role="admin"))
    created = send(
        client,
        "post",
        "/api/v1/sla-policies",
        {"name": "VIP 聊天", "channel_kind": "web", "priority": "P1", "first_response_seconds": 20},
    )
    assert created.status_code == 201, created.json()
    pid = created.json()["id"]
    updated = send(client, "patch", f"/api/v1/sla-policies/{pid}", {"warn_ratio": 0.5})
    assert updated.json()["warn_ratio"] == 0.5
    assert send(client, "patch", f"/api/v1/sla-policies/{pid}", {"warn_ratio": 5}).status_code == 400
    assert send(client, "patch", f"/api/v1/sla-policies/{pid}", {"unknown": 1}).status_code == 422
    assert send(client, "delete", f"/api/v1/sla-policies/{pid}").status_code == 204
    assert send(client, "delete", f"/api/v1/sla-policies/{pid}").status_code == 404


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "x", "first_response_seconds": -1}, "first_response_seconds"),
        ({"name": "x", "first_response_seconds": 10, "priority": "P9"}, "priority"),
        ({"name": "", "first_response_seconds": 10}, "name"),
        ({"name": "x"}, "first_response_seconds"),
        ({"name": "x", "first_response_seconds": "10"}, "first_response_seconds"),
    ],
)
def test_bad_policy_is_4xx_naming_the_field(client, make_user, payload, field):
    client.force_login(make_user("root", role="admin"))
    response = send(client, "post", "/api/v1/sla-policies", payload)
    assert response.status_code in (400, 422)
    assert field in response.json()["fields"]


def test_policies_show_durations_computed_from_their_fields(client, make_user):
    client.force_login(make_user("root", role="admin"))
    chat = SLAPolicy.objects.get(name="在线聊天首次响应")
    send(client, "patch", f"/api/v1/sla-policies/{chat.pk}", {"first_response_seconds": 90})
    shown = client.get(f"/api/v1/sla-policies/{chat.pk}").json()
    # The name no longer carries a duration that could go stale.
    assert (shown["name"], shown["first_response_text"], shown["resolution_text"]) == (
        "在线聊天首次响应",
        "1 分钟 30 秒",
        "—",
    )
    email = next(p for p in client.get("/api/v1/sla-policies").json() if p["channel_kind"] == "email")
    assert email["first_response_text"] == "4 工作小时"


def test_supervisor_sets_a_chain_through_the_api(client, make_user):
    client.force_login(make_user("zhuguan", role="supervisor"))
    policy = SLAPolicy.objects.get(name="P1 工单解决")
    steps = [
        {"anchor": "warning", "notify": "assignee"},
        {"anchor": "breach", "after_seconds": 7200, "notify": "supervisor", "email": False},
    ]
    response = send(client, "put", f"/api/v1/sla-policies/{policy.pk}/escalation", {"steps": steps})
    assert response.status_code == 200, response.json()
    shown = [
        (s["anchor"], s["after_seconds"], s["notify"], s["email"], s["text"])
        for s in response.json()["escalation"]
    ]
    assert shown == [
        ("warning", 0, "assignee", True, "预警时 · 通知处理人"),
        ("breach", 7200, "supervisor", False, "超时后 2 小时 · 通知主管"),
    ]
    listed = next(p for p in client.get("/api/v1/sla-policies").json() if p["id"] == policy.pk)
    assert len(listed["escalation"]) == 2


@pytest.mark.parametrize(
    ("steps", "field"),
    [
        ([{"anchor": "breach", "after_seconds": -60, "notify": "manager"}], "escalation[0].after_seconds"),
        ([{"anchor": "breach", "notify": "ceo"}], "escalation[0].notify"),
        (
            [{"anchor": "breach", "notify": "manager"}, {"anchor": "breach", "notify": "manager"}],
            "escalation[1]",
        ),
    ],
)
def test_bad_chain_is_400_naming_the_step(client, make_user, steps, field):
    client.force_login(make_user("root", role="admin"))
    policy = SLAPolicy.objects.get(name="P1 工单解决")
    response = send(client, "put", f"/api/v1/sla-policies/{policy.pk}/escalation", {"steps": steps})
    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert not policy.escalation_steps.exists()


def test_agents_cannot_set_chains(client, make_user):
    client.force_login(make_user("a1"))
    policy = SLAPolicy.objects.get(name="P1 工单解决")
    response = send(client, "put", f"/api/v1/sla-policies/{policy.pk}/escalation", {"steps": []})
    assert response.status_code == 403
