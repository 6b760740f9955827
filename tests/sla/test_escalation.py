"""SLA per timer and escalation chains (kefu.sla.services): each timer warns and breaches
once, each step fires once per round at its time (the sweep's ``now`` is the clock),
recipients by role within the ticket's team, emails as database tasks."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.core import mail
from django.test import override_settings

from kefu.accounts.models import Role, User
from kefu.core.errors import InvalidInput, PermissionDenied
from kefu.sla.models import EscalationNotice, SLAPolicy
from kefu.sla.services import (
    do_record_escalation,
    do_send_escalation_email,
    do_set_escalation,
    do_sweep,
    do_update_policy,
)
from kefu.tickets.models import Ticket
from kefu.tickets.services import do_change_status, do_create_ticket

pytestmark = pytest.mark.django_db

LOCMEM = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}

CHAIN = [
    {"anchor": "warning", "notify": "assignee"},
    {"anchor": "breach", "notify": "team_lead"},
    {"anchor": "breach", "after_seconds": 2 * 3600, "notify": "supervisor"},
    {"anchor": "breach", "after_seconds": 24 * 3600, "notify": "manager"},
]


@pytest.fixture
def chain(shop: Any, make_user: Any) -> SimpleNamespace:
    """The P1 policy (4 h to resolve) with a four-tier chain; a lead in the agent's team, a manager."""
    lead = make_user("zuzhang", role=Role.TEAM_LEAD, teams=(shop.desk.team,), display_name="李组长")
    manager = make_user("jingli", role=Role.MANAGER, display_name="赵经理")
    policy = SLAPolicy.objects.get(name="P1 工单解决")
    do_set_escalation(actor=shop.supervisor, policy_id=policy.pk, steps=CHAIN)
    ticket = do_create_ticket(
        actor=shop.agent,
        conversation_id=shop.conversation.pk,
        title="快递显示已签收但客户没收到",
        urgent=True,
        important=True,
    )
    assert ticket.resolution_policy_id == policy.pk
    return SimpleNamespace(policy=policy, ticket=ticket, lead=lead, manager=manager, due=ticket.due_at)


def _notices(ticket: Ticket) -> list[tuple[str, str, list[str]]]:
    return [
        (n.timer, n.notify, [r["name"] for r in n.recipients])
        for n in EscalationNotice.objects.filter(ticket=ticket).order_by("id")
    ]


def test_each_timer_announces_its_own_warning_and_breach(shop, events):
    # Complaint: first response within 24 h, resolution within 72 h.
    ticket = do_create_ticket(
        actor=shop.agent, conversation_id=shop.conversation.pk, category="complaint", title="客服态度差投诉"
    )
    fr_due, res_due = ticket.first_response_due, ticket.due_at
    assert do_sweep(fr_due - timedelta(hours=4)).ticket_warnings == 1
    assert do_sweep(fr_due + timedelta(seconds=1)).ticket_breaches == 1
    # The first response breached: the resolution still gets its own warning and breach.
    assert do_sweep(res_due - timedelta(hours=1)).ticket_warnings == 1
    assert do_sweep(res_due + timedelta(seconds=1)).ticket_breaches == 1
    assert do_sweep(res_due + timedelta(days=2)).total == 0
    sla = [(e["event"], e["data"]["kind"]) for e in events if e["event"].startswith("ticket.sla_")]
    assert sla == [
        ("ticket.sla_warning", "first_response"),
        ("ticket.sla_breached", "first_response"),
        ("ticket.sla_warning", "resolution"),
        ("ticket.sla_breached", "resolution"),
    ]
    ticket.refresh_from_db()
    assert ticket.first_response_breached_at is not None and ticket.resolution_breached_at is not None
    assert ticket.sla_breached_at == ticket.first_response_breached_at
    kinds = list(ticket.events.filter(kind__startswith="sla").values_list("kind", "detail__which"))
    assert kinds == [
        ("sla_warning", "first_response"),
        ("sla_breached", "first_response"),
        ("sla_warning", "resolution"),
        ("sla_breached", "resolution"),
    ]


def test_one_sweep_late_breaches_both_timers(shop):
    ticket = do_create_ticket(actor=shop.agent, conversation_id=shop.conversation.pk, category="complaint")
    result = do_sweep(ticket.due_at + timedelta(minutes=1))
    assert result.ticket_breaches == 2
    assert do_sweep(ticket.due_at + timedelta(minutes=2)).total == 0


def test_the_chain_fires_each_step_at_its_time(chain, shop, events):
    due, ticket = chain.due, chain.ticket
    assert do_sweep(due - timedelta(hours=1)).escalations == 0
    # 80 % of 4 h: the warning, and the assignee is told.
    assert do_sweep(due - timedelta(minutes=47)).escalations == 1
    assert _notices(ticket) == [("resolution", "assignee", ["小美"])]
    breach = do_sweep(due + timedelta(seconds=1))
    assert (breach.ticket_breaches, breach.escalations) == (1, 1)
    assert _notices(ticket)[-1] == ("resolution", "team_lead", ["李组长"])
    assert do_sweep(due + timedelta(hours=1, minutes=59)).escalations == 0
    assert do_sweep(due + timedelta(hours=2)).escalations == 1
    assert _notices(ticket)[-1] == ("resolution", "supervisor", ["王主管"])
    assert do_sweep(due + timedelta(hours=23)).escalations == 0
    assert do_sweep(due + timedelta(days=1, seconds=1)).escalations == 1
    assert _notices(ticket)[-1] == ("resolution", "manager", ["赵经理"])
    assert do_sweep(due + timedelta(days=3)).total == 0
    escalated = [e for e in events if e["event"] == "ticket.sla_escalated"]
    assert [e["data"]["notify_user_ids"] for e in escalated] == [
        [shop.agent.pk],
        [chain.lead.pk],
        [shop.supervisor.pk],
        [chain.manager.pk],
    ]
    assert all(e["webhook"] is False for e in escalated)
    assert chain.lead.pk in escalated[1]["user_ids"]
    trail = list(ticket.events.filter(kind="sla_escalated").values_list("text", flat=True))
    assert trail[2] == "超时升级（解决 · 超时后 2 小时 · 通知主管）：已通知主管 王主管"


def test_a_late_sweep_fires_every_step_due_once(chain):
    result = do_sweep(chain.due + timedelta(days=2))
    assert (result.ticket_breaches, result.escalations) == (1, 4)
    assert do_sweep(chain.due + timedelta(days=2, seconds=5)).total == 0


def test_nobody_with_the_role_is_recorded_not_a_crash(chain):
    User.objects.filter(pk=chain.lead.pk).update(is_active=False)
    do_sweep(chain.due + timedelta(seconds=1))
    notice = EscalationNotice.objects.get(ticket=chain.ticket, notify="team_lead")
    assert notice.recipients == []
    text = chain.ticket.events.get(kind="sla_escalated", detail__notify="team_lead").text
    assert text.endswith("未找到组长，无人可通知")


def test_a_lead_of_another_team_is_not_notified(chain, shop, make_user):
    User.objects.filter(pk=chain.lead.pk).update(is_active=False)
    make_user("other_lead", role=Role.TEAM_LEAD, teams=(shop.warehouse_team,), display_name="仓库组长")
    do_sweep(chain.due + timedelta(seconds=1))
    assert EscalationNotice.objects.get(ticket=chain.ticket, notify="team_lead").recipients == []


def test_the_department_team_lead_is_notified_while_it_holds_the_ticket(chain, shop, make_user):
    from kefu.tickets.services import do_transfer_ticket

    lead = make_user(
        "cangku_lead", role=Role.TEAM_LEAD, teams=(shop.warehouse_team,), display_name="仓库组长"
    )
    do_transfer_ticket(
        actor=shop.agent,
        ticket_id=chain.ticket.pk,
        department_id=shop.warehouse.pk,
        fields={"order_no": "SO-20261120-7", "evidence": "https://img.example.com/box.jpg"},
    )
    due = Ticket.objects.get(pk=chain.ticket.pk).due_at
    do_sweep(due + timedelta(seconds=1))
    notice = EscalationNotice.objects.get(ticket=chain.ticket, notify="team_lead")
    assert [r["id"] for r in notice.recipients] == [lead.pk]


def test_a_rerun_and_a_second_worker_fire_nothing_twice(chain):
    from kefu.sla.policies import RESOLUTION

    now = chain.due + timedelta(seconds=1)
    first = do_sweep(now)
    assert first.escalations == 2  # the assignee (warning) and the lead (breach)
    assert do_sweep(now).total == 0
    # A worker that read the ticket before the first one recorded the step.
    step = chain.policy.escalation_steps.get(notify="team_lead")
    round_ = Ticket.objects.get(pk=chain.ticket.pk).resolution_round
    assert do_record_escalation(chain.ticket.pk, timer=RESOLUTION, step=step, round_=round_, now=now) is None
    assert EscalationNotice.objects.filter(ticket=chain.ticket).count() == 2
    assert chain.ticket.events.filter(kind="sla_escalated").count() == 2


def test_saving_the_same_chain_again_does_not_refire(chain, shop):
    do_sweep(chain.due + timedelta(seconds=1))
    do_set_escalation(actor=shop.supervisor, policy_id=chain.policy.pk, steps=CHAIN)
    assert do_sweep(chain.due + timedelta(seconds=2)).escalations == 0


def test_resolved_ticket_stops_escalating(chain, shop):
    do_sweep(chain.due + timedelta(seconds=1))
    do_change_status(actor=shop.agent, ticket_id=chain.ticket.pk, status="in_progress")
    do_change_status(actor=shop.agent, ticket_id=chain.ticket.pk, status="resolved")
    assert do_sweep(chain.due + timedelta(days=2)).total == 0


def test_a_reopen_starts_a_new_round_of_the_resolution_chain(chain, shop):
    do_sweep(chain.due + timedelta(seconds=1))
    do_change_status(actor=shop.agent, ticket_id=chain.ticket.pk, status="in_progress")
    do_change_status(actor=shop.agent, ticket_id=chain.ticket.pk, status="resolved")
    do_change_status(actor=shop.agent, ticket_id=chain.ticket.pk, status="in_progress")
    ticket = Ticket.objects.get(pk=chain.ticket.pk)
    assert ticket.resolution_round == 2 and ticket.resolution_breached_at is None
    assert ticket.sla_breached_at is None
    result = do_sweep(ticket.due_at + timedelta(seconds=1))
    assert (result.ticket_breaches, result.escalations) == (1, 2)
    assert EscalationNotice.objects.filter(ticket=ticket, round=2).count() == 2


def test_a_paused_ticket_does_not_escalate(chain, shop):
    do_change_status(actor=shop.agent, ticket_id=chain.ticket.pk, status="in_progress")
    do_change_status(actor=shop.agent, ticket_id=chain.ticket.pk, status="waiting_customer")
    assert do_sweep(chain.due + timedelta(days=2)).total == 0


def test_escalation_emails_are_tasks_sent_once(chain, settings):
    settings.KEFU_SLA_EMAIL = True
    settings.KEFU_DESK_URL = "https://kefu.shop.example"
    User.objects.filter(pk=chain.lead.pk).update(email="lizuzhang@shop.example")
    from django_tasks_db.models import DBTaskResult

    do_sweep(chain.due + timedelta(seconds=1))
    notice = EscalationNotice.objects.get(ticket=chain.ticket, notify="team_lead")
    assert notice.recipients[0]["email"] == "queued"
    assert DBTaskResult.objects.filter(args_kwargs__args=[notice.pk]).exists()
    # The agent has no address: recorded as such, no task.
    assignee = EscalationNotice.objects.get(ticket=chain.ticket, notify="assignee")
    assert assignee.recipients[0]["email"] == "no_address"
    with override_settings(MAILERS=LOCMEM):
        assert do_send_escalation_email(notice.pk) == 1
        assert do_send_escalation_email(notice.pk) == 0
    (sent,) = mail.outbox
    assert sent.to == ["lizuzhang@shop.example"]
    assert chain.ticket.number in sent.subject
    assert f"https://kefu.shop.example/desk/tickets/{chain.ticket.pk}/" in sent.body
    notice.refresh_from_db()
    assert notice.recipients[0]["email"] == "sent"


def test_no_email_when_it_is_switched_off(chain, settings):
    settings.KEFU_SLA_EMAIL = False
    User.objects.filter(pk=chain.lead.pk).update(email="lizuzhang@shop.example")
    do_sweep(chain.due + timedelta(seconds=1))
    notice = EscalationNotice.objects.get(ticket=chain.ticket, notify="team_lead")
    assert notice.recipients[0]["email"] == "off"


def test_first_response_steps_follow_the_first_response_timer(shop, make_user):
    policy = SLAPolicy.objects.get(name="投诉受理与解决")
    do_set_escalation(
        actor=shop.supervisor,
        policy_id=policy.pk,
        steps=[{"timer": "first_response", "anchor": "breach", "notify": "supervisor"}],
    )
    ticket = do_create_ticket(actor=shop.agent, conversation_id=shop.conversation.pk, category="complaint")
    do_sweep(ticket.due_at + timedelta(seconds=1))
    assert _notices(ticket) == [("first_response", "supervisor", ["王主管"])]


@pytest.mark.parametrize(
    ("step", "field", "message"),
    [
        (
            {"anchor": "breach", "after_seconds": -3600, "notify": "supervisor"},
            "escalation[0].after_seconds",
            "负",
        ),
        ({"anchor": "breach", "notify": "boss"}, "escalation[0].notify", "未知角色"),
        ({"anchor": "later", "notify": "manager"}, "escalation[0].anchor", "warning"),
        (
            {"timer": "first_response", "anchor": "breach", "notify": "manager"},
            "escalation[0].timer",
            "首次响应",
        ),
        ({"anchor": "breach", "notify": "manager", "color": "red"}, "escalation[0].color", "未知字段"),
    ],
)
def test_bad_steps_name_the_field(shop, step, field, message):
    policy = SLAPolicy.objects.get(name="P1 工单解决")
    with pytest.raises(InvalidInput) as exc:
        do_set_escalation(actor=shop.supervisor, policy_id=policy.pk, steps=[step])
    assert message in exc.value.fields[field]


def test_duplicate_steps_are_refused(shop):
    policy = SLAPolicy.objects.get(name="投诉受理与解决")
    steps = [
        {"anchor": "breach", "notify": "team_lead"},
        {"timer": "resolution", "anchor": "breach", "notify": "team_lead"},
    ]
    with pytest.raises(InvalidInput) as exc:
        do_set_escalation(actor=shop.supervisor, policy_id=policy.pk, steps=steps)
    assert "重复" in exc.value.fields["escalation[1]"]


def test_conversation_policies_take_no_chain(shop):
    policy = SLAPolicy.objects.get(name="在线聊天首次响应")
    with pytest.raises(InvalidInput) as exc:
        do_set_escalation(
            actor=shop.supervisor, policy_id=policy.pk, steps=[{"anchor": "breach", "notify": "team_lead"}]
        )
    assert "escalation" in exc.value.fields


def test_clearing_a_timer_a_step_follows_is_refused(shop):
    policy = SLAPolicy.objects.get(name="投诉受理与解决")
    do_set_escalation(
        actor=shop.supervisor,
        policy_id=policy.pk,
        steps=[{"timer": "first_response", "anchor": "breach", "notify": "manager"}],
    )
    with pytest.raises(InvalidInput) as exc:
        do_update_policy(actor=shop.supervisor, policy_id=policy.pk, data={"first_response_seconds": None})
    assert "escalation[0].timer" in exc.value.fields


def test_agents_may_not_edit_chains(shop):
    policy = SLAPolicy.objects.get(name="P1 工单解决")
    with pytest.raises(PermissionDenied):
        do_set_escalation(actor=shop.agent, policy_id=policy.pk, steps=CHAIN)


def test_the_ticket_page_and_api_show_who_was_notified_when(chain, shop, client, make_user):
    User.objects.filter(pk=chain.manager.pk).update(is_active=False)
    do_sweep(chain.due + timedelta(days=2))
    client.force_login(shop.agent)
    response = client.get(f"/desk/tickets/{chain.ticket.pk}/")
    assert response.status_code == 200, response.content[:300]
    page = response.content.decode()
    trail = page.split('id="kefu-escalations"')[1].split("</section>")[0]
    assert "预警时 · 通知处理人：" in trail and "<strong>小美</strong>" in trail
    assert "超时后 1 天 · 通知经理：" in trail and "未找到经理，无人可通知" in trail
    assert trail.index("通知组长") < trail.index("通知主管") < trail.index("通知经理")
    listed = client.get(f"/api/v1/tickets/{chain.ticket.pk}/escalations").json()
    assert [(n["notify"], [r["name"] for r in n["recipients"]]) for n in listed] == [
        ("assignee", ["小美"]),
        ("team_lead", ["李组长"]),
        ("supervisor", ["王主管"]),
        ("manager", []),
    ]
    client.force_login(make_user("stranger", display_name="别组客服"))
    assert client.get(f"/api/v1/tickets/{chain.ticket.pk}/escalations").status_code == 403


def test_the_notified_team_lead_may_open_the_ticket_a_lead_of_another_team_may_not(
    chain, shop, client, make_user
):
    do_sweep(chain.due + timedelta(seconds=1))
    client.force_login(chain.lead)
    assert client.get(f"/desk/tickets/{chain.ticket.pk}/").status_code == 200
    other = make_user(
        "other_lead", role=Role.TEAM_LEAD, teams=(shop.warehouse_team,), display_name="仓库组长"
    )
    client.force_login(other)
    assert client.get(f"/api/v1/tickets/{chain.ticket.pk}").status_code == 403
