"""chat.js in Chromium against a real server: literal text, read receipts, resend after a restart."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.chromium import chromium

from .cluster import Cluster

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    # One server on SQLite: the page and the agent's HTTP calls meet in one process.
    # ``kefu serve``: stopping it is a graceful restart (reconnect hint, close 1012).
    with Cluster(
        servers=1, redis=None, database_url="", kefu_serve=True, env={"KEFU_DRAIN_SPREAD_MS": "300"}
    ) as c:
        yield c


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser: Any, cluster: Cluster) -> Iterator[Any]:
    context = browser.new_context(locale="zh-CN")
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(f"{cluster.servers[0].http}/chat")
    page.wait_for_selector("[data-role=conn][data-state=online]", state="attached")
    try:
        yield page
    finally:
        context.close()


def _agent(cluster: Cluster) -> httpx.Client:
    return httpx.Client(
        base_url=f"{cluster.servers[0].http}/api/v1",
        headers={"Authorization": f"Bearer {cluster.seed['api_key']}"},
        timeout=15,
    )


def _send(page: Any, text: str) -> None:
    page.fill("[data-role=text]", text)
    page.press("[data-role=text]", "Enter")


def _latest_conversation(agent: httpx.Client) -> int:
    resp = agent.get("/conversations", params={"view": "mine"})
    assert resp.status_code == 200, resp.text
    return resp.json()["items"][0]["id"]


def test_customer_text_is_shown_literally_and_agent_reply_and_read_arrive(
    page: Any, cluster: Cluster
) -> None:
    from playwright.sync_api import expect

    hostile = "<img src=x onerror=\"document.title='pwned'\">你好"
    _send(page, hostile)
    mine = page.locator(".kefu-msg--incoming").last
    expect(mine.locator(".kefu-msg__state")).to_have_text("已送达")
    expect(mine.locator(".kefu-msg__bubble")).to_have_text(hostile)
    assert page.locator("[data-role=messages] img").count() == 0
    assert page.title() != "pwned"

    with _agent(cluster) as agent:
        conversation_id = _latest_conversation(agent)
        resp = agent.post(
            f"/conversations/{conversation_id}/messages", json={"text": "您好，<b>马上</b>为您处理"}
        )
        assert resp.status_code == 201, resp.text
        reply = page.locator(".kefu-msg--outgoing").last
        expect(reply.locator(".kefu-msg__bubble")).to_have_text("您好，<b>马上</b>为您处理")
        expect(reply.locator(".kefu-msg__who")).to_have_text("小美")
        assert agent.post(f"/conversations/{conversation_id}/read", json={}).status_code == 200
    expect(mine.locator(".kefu-msg__state")).to_have_text("已读")


def test_message_typed_during_an_outage_is_sent_once_after_reconnect(page: Any, cluster: Cluster) -> None:
    from playwright.sync_api import expect

    server = cluster.servers[0]
    _send(page, "第一条：在吗")
    expect(page.locator(".kefu-msg--incoming .kefu-msg__state").last).to_have_text("已送达")

    server.stop()
    # Closed with 1012: the page says the server restarts, and keeps saying it while
    # its reconnects are refused (not the plain outage text).
    expect(page.locator("[data-role=conn][data-state=offline]")).to_have_text("服务器维护中，正在重新连接…")
    _send(page, "第二条：断线时发送")
    pending = page.locator(".kefu-msg--pending")
    expect(pending).to_have_count(1)
    expect(pending.locator(".kefu-msg__state")).to_have_text("发送中…")
    # Past the hint (≤ 300 + 250 ms) the first reconnect was refused: still "restarting".
    page.wait_for_timeout(1000)
    expect(page.locator("[data-role=conn][data-state=offline]")).to_have_text("服务器维护中，正在重新连接…")

    cluster.serve_again(server)
    # Backoff is at most a few seconds after one failed attempt.
    expect(page.locator(".kefu-msg--pending")).to_have_count(0, timeout=30_000)
    with _agent(cluster) as agent:
        conversation_id = _latest_conversation(agent)
        items = agent.get(f"/conversations/{conversation_id}/messages").json()["items"]
    texts = [m["text"] for m in items if m["direction"] == "incoming"]
    assert texts.count("第二条：断线时发送") == 1

    # Coming back later: the history is shown once, in order, nothing left to resend.
    page.reload()
    page.wait_for_selector("[data-role=conn][data-state=online]", state="attached")
    bubbles = page.locator(".kefu-msg--incoming .kefu-msg__bubble")
    expect(bubbles).to_have_count(2)
    expect(bubbles).to_have_text(["第一条：在吗", "第二条：断线时发送"])
    assert page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('kefu.chat.pending'))") == []


def test_widget_on_another_site_opens_the_chat_in_an_iframe(browser: Any, cluster: Cluster) -> None:
    from playwright.sync_api import expect

    server = cluster.servers[0]
    context = browser.new_context(locale="zh-CN")
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        # A shop page on another origin (about:blank) embedding the script tag.
        page.set_content(
            "<!doctype html><html><body><h1>悦家生活旗舰店</h1>"
            f'<script src="{server.http}/static/kefu/widget.js" data-channel="{cluster.seed["channel_id"]}">'
            "</script></body></html>"
        )
        button = page.get_by_role("button", name="在线客服")
        expect(button).to_be_visible()
        button.click()
        frame = page.frame_locator(f'iframe[src^="{server.http}/chat?embed=1"]')
        expect(frame.locator("[data-role=conn][data-state=online]")).to_be_attached()
        frame.locator("[data-role=text]").fill("从商城页面来咨询")
        frame.locator("[data-role=text]").press("Enter")
        expect(frame.locator(".kefu-msg--incoming .kefu-msg__state")).to_have_text("已送达")
        frame.locator("[data-role=close]").click()
        expect(page.locator(f'iframe[src^="{server.http}/chat"]')).to_be_hidden()
    finally:
        context.close()


@pytest.fixture(scope="module")
def limited_cluster() -> Iterator[Cluster]:
    with Cluster(servers=1, redis=None, database_url="", env={"KEFU_RATELIMIT_CHAT_MESSAGE": "2/1h"}) as c:
        yield c


def test_a_message_past_the_rate_limit_is_shown_failed_and_never_resent(
    browser: Any, limited_cluster: Cluster
) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(locale="zh-CN")
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        page.goto(f"{limited_cluster.servers[0].http}/chat")
        page.wait_for_selector("[data-role=conn][data-state=online]", state="attached")
        for text in ("第一条", "第二条"):
            _send(page, text)
            expect(page.locator(".kefu-msg--incoming .kefu-msg__state").last).to_have_text("已送达")
        _send(page, "第三条：太快了")
        refused = page.locator(".kefu-msg--failed")
        expect(refused.locator(".kefu-msg__state")).to_have_text("发送失败：发送太频繁，请稍后再试")
        assert page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('kefu.chat.pending'))") == []

        # Reconnecting resends nothing: only the two accepted messages exist.
        page.reload()
        page.wait_for_selector("[data-role=conn][data-state=online]", state="attached")
        bubbles = page.locator(".kefu-msg--incoming .kefu-msg__bubble")
        expect(bubbles).to_have_text(["第一条", "第二条"])
        with _agent(limited_cluster) as agent:
            conversation_id = _latest_conversation(agent)
            items = agent.get(f"/conversations/{conversation_id}/messages").json()["items"]
        assert [m["text"] for m in items if m["direction"] == "incoming"] == ["第一条", "第二条"]
    finally:
        context.close()
