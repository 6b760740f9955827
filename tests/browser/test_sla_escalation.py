"""SLA escalation in the browser: a supervisor edits a chain on /desk/settings/sla/, the
ticket page shows who was notified when, and a notified lead's desk raises a toast."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

# A P1 ticket of the agent's, swept a day after its deadline with the example chain on
# its policy (set up in the server's database; the events of that sweep reach no
# browser, see conftest).
BREACHED_TICKET = """
from datetime import timedelta
from kefu.accounts.models import User
from kefu.customers.models import Customer
from kefu.sla.models import SLAPolicy
from kefu.sla.services import EXAMPLE_CHAIN, do_set_escalation, do_sweep
from kefu.tickets.services import do_create_ticket

agent = User.objects.get(username="xiaomei")
supervisor = User.objects.get(username="zhuguan")
policy = SLAPolicy.objects.get(name="P1 工单解决")
do_set_escalation(actor=supervisor, policy_id=policy.pk, steps=EXAMPLE_CHAIN)
customer = Customer.objects.order_by("id").first()
ticket = do_create_ticket(actor=agent, customer_id=customer.pk, title="保温杯漏水，客户要求加急退款",
                          urgent=True, important=True)
do_sweep(ticket.due_at + timedelta(days=1, minutes=1))
emit({"ticket_id": ticket.pk, "number": ticket.number})
"""


def test_a_supervisor_adds_a_step_to_a_chain_on_the_settings_page(desk_page):
    page = desk_page("zhuguan", path="/desk/settings/")
    page.get_by_role("link", name="SLA 策略与升级").click()
    row = page.locator("tr[data-policy-id]", has_text="P2 工单解决")
    expect(row.locator("td.res")).to_have_text("1 天")
    edit = page.locator("details", has_text="编辑「P2 工单解决」")
    edit.locator("summary").click()
    step = edit.locator("table.sla-steps tbody tr").first
    step.get_by_label("触发点").select_option("breach")
    step.get_by_label("延后").fill("2")
    step.locator('select[name$="_after_unit"]').select_option("hours")
    step.get_by_label("通知对象").select_option("supervisor")
    edit.get_by_role("button", name="保存").click()
    expect(page.locator(".flash")).to_contain_text("已保存 SLA 策略「P2 工单解决」")
    expect(page.locator("tr[data-policy-id]", has_text="P2 工单解决")).to_contain_text(
        "超时后 2 小时 · 通知主管"
    )


def test_the_ticket_page_shows_the_trail_and_the_lead_gets_a_toast(live_desk, desk_page):
    seeded = live_desk.run(BREACHED_TICKET)
    agent = desk_page("xiaomei", path=f"/desk/tickets/{seeded['ticket_id']}/")
    trail = agent.locator("#kefu-escalations li")
    expect(trail).to_have_count(4)
    expect(trail.nth(0)).to_contain_text("预警时 · 通知处理人：小美")
    expect(trail.nth(1)).to_contain_text("超时时 · 通知组长：李组长")
    expect(trail.nth(2)).to_contain_text("超时后 2 小时 · 通知主管：王主管")
    expect(trail.nth(3)).to_contain_text("未找到经理，无人可通知")
    expect(agent.locator("#kefu-ticket-timeline")).to_contain_text(
        "超时升级（解决 · 超时后 2 小时 · 通知主管）"
    )

    # The desk event the sweep publishes, as the lead's socket receives it (the setup
    # process's events reach no browser, so the frame is handed to the page's socket).
    lead = desk_page("zuzhang", path="/desk/")
    listing = lead.request.get(f"{live_desk.url}/api/v1/tickets/{seeded['ticket_id']}/escalations").json()
    notice = next(n for n in listing if n["notify"] == "team_lead")
    lead_id = notice["recipients"][0]["id"]
    frame = {
        "type": "event",
        "id": "esc-test-1",
        "event": "ticket.sla_escalated",
        "data": {
            "ticket": {
                "id": seeded["ticket_id"],
                "number": seeded["number"],
                "title": "保温杯漏水，客户要求加急退款",
            },
            "notice": notice,
            "text": "超时升级（解决 · 超时时 · 通知组长）：已通知组长 李组长",
            "notify_user_ids": [lead_id],
        },
    }
    routes = []

    def through(ws):
        ws.connect_to_server()
        routes.append(ws)

    lead.route_web_socket("**/ws/desk/**", through)
    lead.reload()
    expect(lead.locator("body")).to_have_attribute("data-live", "open")
    routes[-1].send(json.dumps(frame, ensure_ascii=False))
    toast = lead.locator("#kefu-toasts .toast.toast-escalation")
    expect(toast).to_be_visible()
    expect(toast).to_contain_text(seeded["number"])
    expect(toast.get_by_role("link", name="查看工单")).to_have_attribute(
        "href", f"/desk/tickets/{seeded['ticket_id']}/"
    )
    # The same frame for someone else raises nothing on this desk.
    frame["data"]["notify_user_ids"] = [lead_id + 1000]
    frame["data"]["notice"] = {**notice, "id": notice["id"] + 1000}
    routes[-1].send(json.dumps(frame, ensure_ascii=False))
    lead.wait_for_timeout(300)
    expect(lead.locator("#kefu-toasts .toast.toast-escalation")).to_have_count(1)
