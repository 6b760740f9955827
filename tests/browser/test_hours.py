"""Business hours in the browser: a supervisor reaches the page from the settings hub and edits hours."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_a_supervisor_sets_a_teams_hours_and_sees_the_spring_festival(desk_page, live_desk):
    page = desk_page("zhuguan", path="/desk/settings/")
    page.get_by_role("link", name="营业时间与节假日").click()
    page.wait_for_url(f"{live_desk.url}/desk/settings/hours/")
    expect(page.locator("#kefu-hours-default")).to_have_text("周一至周五 09:00–18:00；周六、周日 休息")
    page.get_by_role("link", name="2026", exact=True).click()
    expect(page.locator('tr[data-date="2026-02-14"]')).to_contain_text("春节调休上班")
    expect(page.locator('tr[data-date="2026-02-14"]')).to_contain_text("周六")

    form = page.locator("#kefu-hours-new")
    form.get_by_label("名称").fill("售前 每天")
    form.get_by_label("周六营业时段").fill("09:00-12:00, 11:00-21:00")
    form.get_by_role("button", name="添加").click()
    expect(page.locator("#kefu-hours-error")).to_contain_text("周六的时段 09:00–12:00 与 11:00–21:00 重叠")

    form = page.locator("#kefu-hours-new")
    form.get_by_label("名称").fill("售前 每天")
    for day in ("周一", "周二", "周三", "周四", "周五", "周六", "周日"):
        form.get_by_label(f"{day}营业时段").fill("09:00-21:00")
    form.get_by_role("button", name="添加").click()
    expect(page.get_by_text("营业时间已添加")).to_be_visible()
    expect(page.locator("form.schedule[data-schedule-id]")).to_contain_text("周一至周日 09:00–21:00")
    if shots := os.environ.get("KEFU_SCREENSHOTS"):
        page.screenshot(path=f"{shots}/hours.png", full_page=True)
