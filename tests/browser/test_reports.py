"""Reports in the browser: ECharts draws on a canvas from kefu's own static files, offline; without it the tables stay."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

HISTORY = """
from datetime import timedelta
from django.utils import timezone
from kefu.accounts.models import Team, User
from kefu.channels.models import Channel
from kefu.conversations.models import Conversation
from kefu.customers.models import Customer

team, channel = Team.objects.get(name="售前咨询"), Channel.objects.get(name="官网在线客服")
agent = User.objects.get(username="xiaomei")
for i, name in enumerate(["周女士", "吴先生", "郑女士"]):
    c = Conversation.objects.create(channel=channel, customer=Customer.objects.create(name=name), team=team,
                                    assignee=agent, first_responder=agent, status="resolved", intent="物流查询")
    at = timezone.now() - timedelta(days=1 + i, hours=2)
    Conversation.objects.filter(pk=c.pk).update(created_at=at, queued_at=at, first_response_at=at + timedelta(seconds=40),
                                                resolved_at=at + timedelta(minutes=15))
emit({"ok": True})
"""


def _offline(context, live_desk):
    """Every request that leaves the test server fails, as on a desk with no internet."""
    outside: list[str] = []

    def route(r):
        if r.request.url.startswith(live_desk.url):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    return outside


def test_the_report_charts_render_offline_and_the_tables_remain_without_them(desk_page, live_desk):
    live_desk.run(HISTORY)
    page = desk_page("zhuguan", path="/desk/reports/")
    outside = _offline(page.context, live_desk)
    page.reload()
    expect(page.locator('.chart[data-chart="trend"] canvas').first).to_be_visible()
    expect(page.locator('.chart[data-chart="heatmap"][data-ready="1"] canvas').first).to_be_visible()
    expect(page.locator('.kpi-tile[data-metric="volume"] .kpi-value')).to_have_text("3")
    expect(page.locator('.chart[data-chart="histogram"][data-ready="1"] canvas').first).to_be_visible()
    # Each customer waited 40 s, whether or not the calendar was open: an agent was serving.
    expect(page.locator('.kpi-tile[data-metric="first_response_p50"] .kpi-value')).to_have_text("40 秒")
    assert outside == []
    if shots := os.environ.get("KEFU_SCREENSHOTS"):
        page.screenshot(path=f"{shots}/reports.png", full_page=True)

    # Without the chart library (blocked, or JavaScript off) the same figures are tables.
    page.context.route("**/vendor/echarts.min.js", lambda r: r.abort())
    page.reload()
    expect(page.locator("#kefu-trend")).to_be_visible()
    expect(page.locator("#kefu-by-channel")).to_contain_text("官网在线客服")
    expect(page.locator('#kefu-histogram tr[data-bucket="30-60"]')).to_contain_text("3")
    expect(page.locator(".chart canvas")).to_have_count(0)
