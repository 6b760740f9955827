"""Quality pages: the review desk, one conversation's quality, the rule editor, the composer script."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from kefu.quality.models import Review, RuleSetVersion
from kefu.quality.ruleset_store import active_ruleset
from kefu.quality.services import do_draw_samples

pytestmark = pytest.mark.django_db

XSS = "<script>alert('x')</script>"
BAD_REPLY = "这是公司规定，可能是您操作不当。"


def test_pages_need_a_login(client):
    for url in ("/desk/quality/", "/desk/quality/rules/", "/desk/quality/c/1/"):
        r = client.get(url)
        assert r.status_code == 302 and r["Location"].startswith("/login/")


def test_conversation_page_loads_the_composer_checks(client, chat, desk):
    conversation = chat(("customer", "在吗"))
    client.force_login(desk.agent)
    html = client.get(f"/desk/c/{conversation.pk}/").content.decode()
    assert "kefu/quality.js" in html


def test_review_desk_lists_samples_and_escapes_customer_text(client, chat, close, desk):
    conversation = chat(("customer", f"投诉！{XSS}"), ("agent", BAD_REPLY))
    close(conversation)
    do_draw_samples(actor=desk.supervisor, percent=100)
    client.force_login(desk.supervisor)
    r = client.get("/desk/quality/")
    assert r.status_code == 200
    html = r.content.decode()
    assert f'href="/desk/quality/c/{conversation.pk}/"' in html
    assert "发送了高风险回复" in html and "自动评分与人工复核的分歧" in html
    assert "<script>alert" not in html

    page = client.get(f"/desk/quality/c/{conversation.pk}/").content.decode()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "<script>alert" not in page
    assert "推诿指责" in page and 'id="quality-review-form"' in page


def test_supervisor_reviews_and_the_agent_appeals_through_the_page(client, chat, close, desk):
    conversation = chat(("customer", "投诉！"), ("agent", BAD_REPLY))
    close(conversation)
    url = f"/desk/quality/c/{conversation.pk}/"
    client.force_login(desk.supervisor)
    r = client.post(url, {"action": "review", "points_greeting": "20"})
    assert r.status_code == 400 and "items.greeting.points" in r.content.decode()
    r = client.post(
        url,
        {
            "action": "review",
            "points_greeting": "0",
            "comment_greeting": f"没问候{XSS}",
            "points_conduct": "0",
        },
    )
    assert r.status_code == 302
    review = Review.objects.get()
    assert review.total == 0

    client.force_login(desk.agent)
    page = client.get(url).content.decode()
    assert "提交申诉" in page and "<script>alert" not in page
    assert 'id="quality-review-form"' not in page  # agents do not review
    r = client.post(url, {"action": "appeal", "review_id": review.pk, "reason": ""})
    assert r.status_code == 400
    assert (
        client.post(url, {"action": "appeal", "review_id": review.pk, "reason": "有问候"}).status_code == 302
    )
    review.refresh_from_db()
    assert review.status == "appealed"
    home = client.get("/desk/quality/").content.decode()
    assert "申诉中" in home and "我收到的复核" in home

    client.force_login(desk.supervisor)
    assert "待处理申诉" in client.get("/desk/quality/").content.decode()
    r = client.post(
        url, {"action": "resolve", "review_id": review.pk, "decision": "upheld", "comment": "维持"}
    )
    assert r.status_code == 302
    review.refresh_from_db()
    assert review.status == "upheld"


def test_supervisor_draws_samples_from_the_page(client, chat, close, desk):
    close(chat(("customer", "投诉！"), ("agent", BAD_REPLY)))
    client.force_login(desk.supervisor)
    r = client.post("/desk/quality/", {"percent": "0", "triggers": "on"})
    assert r.status_code == 200 and "本次抽取 1 个会话" in r.content.decode()
    r = client.post("/desk/quality/", {"percent": "abc"})
    assert r.status_code == 400 and "percent" in r.content.decode()


def test_agents_see_only_their_own_scores_on_the_desk(client, chat, close, desk):
    close(chat(("customer", "在吗"), ("agent", "您好，在的。还有其他可以帮您的吗？")))
    client.force_login(desk.agent)
    r = client.get("/desk/quality/")
    assert r.status_code == 200
    html = r.content.decode()
    assert "我的质检得分" in html and "小美" in html
    assert "待复核抽样" not in html and "自动评分与人工复核的分歧" not in html
    assert client.post("/desk/quality/", {"percent": "10"}).status_code == 403


def test_rule_editor_is_for_supervisors(client, desk):
    client.force_login(desk.agent)
    assert client.get("/desk/quality/rules/").status_code == 403
    client.force_login(desk.supervisor)
    r = client.get("/desk/quality/rules/")
    assert r.status_code == 200
    html = r.content.decode()
    assert "SKU =&gt; 商品规格" in html and 'name="enabled_slang"' in html


def _form(ruleset, **changes):
    """The editor's form as the page renders it, with ``changes`` applied."""
    from kefu.quality.views import TABLES, _table_text

    data = {}
    for rid, cfg in ruleset.rules.items():
        if cfg.enabled:
            data[f"enabled_{rid}"] = "on"
        data[f"severity_{rid}"] = cfg.severity
    for rid, param, kind in TABLES:
        data[f"table_{rid}"] = _table_text(ruleset, rid, param, kind)
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_saving_the_rule_editor_creates_a_version(client, desk):
    client.force_login(desk.supervisor)
    ruleset = active_ruleset()
    form = _form(
        ruleset,
        enabled_missing_greeting=None,
        severity_slang="high",
        table_slang="亲亲 => 您\n老铁 => 您\n666 =>",
        note=f"收紧网络用语{XSS}",
    )
    r = client.post("/desk/quality/rules/", form)
    assert r.status_code == 302
    row = RuleSetVersion.objects.get()
    assert row.version == 2
    saved = active_ruleset()
    assert not saved.rule("missing_greeting").enabled
    assert saved.rule("slang").severity == "high"
    assert saved.rule("slang").params["terms"] == {"亲亲": "您", "老铁": "您", "666": ""}
    assert saved.rule("internal_jargon").params == ruleset.rule("internal_jargon").params  # untouched
    html = client.get("/desk/quality/rules/").content.decode()
    assert "v2" in html and "<script>alert" not in html


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"table_slang": "老铁 您"}, "第 1 行缺少"),
        ({"table_negative_framing": "(不能 => 可以"}, "正则表达式有误"),
        ({"severity_slang": "fatal"}, "rules.slang.severity"),
        ({"overrides_json": '{"rules": {'}, "不是有效的 JSON"),
        ({"overrides_json": "[1]"}, "应为对象"),
        (
            {"overrides_json": '{"rules": {"slang": {"params": {"terms": "亲亲"}}}}'},
            "rules.slang.params.terms",
        ),
    ],
)
def test_bad_editor_input_is_refused_on_the_page(client, desk, change, message):
    client.force_login(desk.supervisor)
    r = client.post("/desk/quality/rules/", _form(active_ruleset(), **change))
    assert r.status_code == 400
    assert message in r.content.decode()
    assert not RuleSetVersion.objects.exists()


def test_saving_an_unchanged_editor_is_refused(client, desk):
    client.force_login(desk.supervisor)
    r = client.post("/desk/quality/rules/", _form(active_ruleset()))
    assert r.status_code == 400 and "没有任何修改" in r.content.decode()


# --- the composer script in a real browser ------------------------------------------------

CHROMIUM = "/usr/bin/chromium"


def _serial_server_class() -> type:
    from django.core.servers.basehttp import WSGIServer
    from django.test.testcases import LiveServerThread

    class SerialWSGIServer(WSGIServer):
        def __init__(self, *args: Any, connections_override: Any = None, **kwargs: Any) -> None:
            # Requests run on the server thread, which LiveServerThread.run already gave
            # the overridden connections.
            super().__init__(*args, **kwargs)

    class SerialServerThread(LiveServerThread):
        # One request at a time: with in-memory SQLite every request shares the test's
        # one connection, and two threads using it at once fail ("bad parameter or other
        # API misuse") — the page's parallel calls made this test flaky.
        server_class = SerialWSGIServer

    return SerialServerThread


@contextlib.contextmanager
def _live_server() -> Iterator[SimpleNamespace]:
    """A server thread for this test only: it is gone (with its database connections)
    before the test database is dropped, unlike pytest-django's session-wide one."""
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.db import connections

    _SerialServerThread = _serial_server_class()
    before = set(threading.enumerate())
    conn = connections["default"]
    shared = conn.vendor == "sqlite" and conn.is_in_memory_db()
    if shared:
        conn.inc_thread_sharing()
    server = _SerialServerThread(
        "localhost", StaticFilesHandler, connections_override={"default": conn} if shared else None, port=0
    )
    server.daemon = True
    server.start()
    server.is_ready.wait()
    try:
        if server.error:
            raise server.error
        yield SimpleNamespace(url=f"http://localhost:{server.port}")
    finally:
        server.terminate()
        # Request threads still answering the page's last calls close their database
        # connections when they finish; wait for them before the database is dropped.
        for thread in set(threading.enumerate()) - before:
            thread.join(timeout=10)
        if shared:
            conn.dec_thread_sharing()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_composer_shows_hints_rewrites_and_asks_before_a_risky_send(chat, desk, client, monkeypatch):
    import os

    if not os.path.exists(CHROMIUM):
        pytest.skip("no Chromium on this machine")
    playwright = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API keeps an event loop in this thread; the ORM calls below are
    # plain synchronous test code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from django.db import connections

    from kefu.conversations.models import Message

    conversation = chat(("customer", "什么时候发货？"))
    client.force_login(desk.agent)
    session = client.cookies["sessionid"].value
    with _live_server() as live_server, playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            context = browser.new_context()
            context.add_cookies([{"name": "sessionid", "value": session, "url": live_server.url}])
            page = context.new_page()
            page.goto(f"{live_server.url}/desk/c/{conversation.pk}/")
            composer = page.locator("#kefu-composer-text")
            composer.fill("您好，这个SKU明天发。")
            hints = page.locator("#kefu-quality-hints")
            hints.locator("[data-rule=internal_jargon]").wait_for()
            hints.locator("[data-rule=internal_jargon] button.rewrite").click()
            assert composer.input_value() == "您好，这个商品规格明天发。"

            composer.fill(f"这是公司规定{XSS}")
            hints.locator("[data-rule=blame_policy]").wait_for()
            assert hints.locator("script").count() == 0
            composer.press("Enter")
            dialog = page.locator("#kefu-quality-confirm")
            dialog.wait_for()
            dialog.get_by_text("返回修改").click()
            assert composer.input_value().startswith("这是公司规定")
            assert not Message.objects.filter(conversation=conversation, direction="outgoing").exists()

            composer.press("Enter")
            dialog.get_by_text("仍然发送").click()
            page.locator(".msg.dir-outgoing[data-message-id]").wait_for()
            sent = Message.objects.get(conversation=conversation, direction="outgoing")
            assert sent.text.startswith("这是公司规定")
            # The confirmation reached the server, which records the override.
            assert sent.quality.overridden and sent.quality.high_count >= 1
        finally:
            browser.close()
            # Playwright runs this block in a greenlet with its own context, so the ORM
            # calls above opened a connection of their own: close it here.
            connections.close_all()


def test_the_rule_editor_takes_json_for_other_params(client, desk):
    client.force_login(desk.supervisor)
    form = _form(
        active_ruleset(),
        overrides_json='{"rules": {"vague_wording": {"params": {"exclude": ["可能会有色差"]}}}}',
    )
    assert client.post("/desk/quality/rules/", form).status_code == 302
    assert active_ruleset().rule("vague_wording").params["exclude"] == ["可能会有色差"]


def test_review_desk_queries_do_not_grow_with_the_rows(client, chat, close, desk):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from kefu.quality.services import do_create_review

    def add(n):
        for _ in range(n):
            conversation = chat(("customer", "投诉！"), ("agent", BAD_REPLY))
            close(conversation)
            do_create_review(
                actor=desk.supervisor, conversation_id=conversation.pk, items={"greeting": {"points": 10}}
            )
            close(chat(("customer", "在吗"), ("agent", BAD_REPLY)))
        do_draw_samples(actor=desk.supervisor, percent=100)

    client.force_login(desk.supervisor)
    add(1)
    client.get("/desk/quality/")  # the idle lock's first activity write (kefu.accounts.middleware)
    with CaptureQueriesContext(connection) as few:
        assert client.get("/desk/quality/").status_code == 200
    add(3)
    client.get("/desk/quality/")
    with CaptureQueriesContext(connection) as many:
        assert client.get("/desk/quality/").status_code == 200
    assert len(many) == len(few)


def test_team_leads_see_their_teams_report_but_no_sampling(client, chat, close, desk, make_user):
    from kefu.accounts.models import Role

    close(chat(("customer", "投诉！"), ("agent", BAD_REPLY)))
    lead = make_user("lead", role=Role.TEAM_LEAD, teams=(desk.team,))
    client.force_login(lead)
    html = client.get("/desk/quality/").content.decode()
    assert "客服质检得分" in html and "小美" in html and "自动评分与人工复核的分歧" in html
    assert "待复核抽样" not in html and "编辑质检规则" not in html
