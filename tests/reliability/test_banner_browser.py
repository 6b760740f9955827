"""The banner 「实时连接中断，正在重连…」 in Chromium while our own Redis is down, gone when it is back.

The customer's chat page and the agent's desk page are open on one server; Redis is
stopped: both show the banner, the customer's message is still acknowledged, and the
agent's reply sent meanwhile reaches the chat after Redis is started again (the page
resumes by itself), with the banners gone.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.chromium import chromium
from tests.realtime.cluster import Cluster

from .instances import PrivateRedis

pytestmark = [pytest.mark.browser, pytest.mark.slow]

BANNER = "实时连接中断，正在重连…"


@pytest.fixture(scope="module")
def cluster(redis: PrivateRedis) -> Iterator[Cluster]:
    env = {"KEFU_REALTIME_CHECK_SECONDS": "0.5"}
    with Cluster(servers=1, redis=redis.url, database_url="", env=env) as c:
        yield c


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


def test_chat_and_desk_show_the_banner_while_redis_is_down_and_catch_up(
    browser: Any, cluster: Cluster, redis: PrivateRedis
) -> None:
    from playwright.sync_api import expect

    server = cluster.servers[0]
    chat_context = browser.new_context(locale="zh-CN")
    desk_context = browser.new_context(locale="zh-CN")
    try:
        for context in (chat_context, desk_context):
            context.set_default_timeout(20_000)
        desk_context.add_cookies(
            [{"name": "sessionid", "value": cluster.seed["session_key"], "url": server.http}]
        )
        chat = chat_context.new_page()
        chat.goto(f"{server.http}/chat")
        chat.wait_for_selector("[data-role=conn][data-state=online]", state="attached")
        chat.fill("[data-role=text]", "你好，我想改一下收货地址")
        chat.press("[data-role=text]", "Enter")
        expect(chat.locator(".kefu-msg--pending")).to_have_count(0)
        desk = desk_context.new_page()
        desk.goto(f"{server.http}/desk/")
        desk.wait_for_function("document.body.dataset.live === 'open'")
        banner = desk.locator("#kefu-realtime-banner")
        expect(banner).to_be_hidden()

        redis.stop()
        expect(banner).to_be_visible()
        expect(banner).to_contain_text(BANNER)
        expect(chat.locator("[data-role=conn][data-state=degraded]")).to_have_text(BANNER)
        # Still stored and acknowledged without Redis.
        chat.fill("[data-role=text]", "改成上海市浦东新区世纪大道100号")
        chat.press("[data-role=text]", "Enter")
        expect(chat.get_by_text("改成上海市浦东新区世纪大道100号")).to_be_visible()
        expect(chat.locator(".kefu-msg--pending")).to_have_count(0)
        with httpx.Client(
            base_url=f"{server.http}/api/v1",
            headers={"Authorization": f"Bearer {cluster.seed['api_key']}"},
            timeout=15,
        ) as agent:
            conversation = agent.get("/conversations", params={"view": "mine"}).json()["items"][0]["id"]
            reply = agent.post(
                f"/conversations/{conversation}/messages",
                json={"text": "好的，地址已为您修改", "client_msg_id": "banner-r-1"},
            )
            assert reply.status_code == 201, reply.text

        redis.start()
        expect(banner).to_be_hidden()
        expect(chat.locator("[data-role=conn][data-state=online]")).to_be_attached()
        expect(chat.get_by_text("好的，地址已为您修改")).to_be_visible()
    finally:
        chat_context.close()
        desk_context.close()
