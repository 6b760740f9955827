"""A training session in a real browser: a good trainee calms the virtual customer, a poor one
makes it escalate, and the same seed replays the same transcript and score."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

SEED = "2026"
GOOD = (
    "您好，非常理解您的心情，让您久等了，真的很抱歉。您的订单物流确实在杭州转运中心停了 3 天，"
    "我已为您登记加急并联系中通核实，今天18:00前给您回复结果；如果明天仍没有更新，我们直接为您免费补发。"
    "请问还有其他可以帮您的吗？"
)
POOR = ["这是公司规定，没办法，您再耐心等待吧。", "我们也没办法，您自己看页面吧。", "这个不归我们管。"]


ARTICLE = """
from kefu.accounts.models import User
from kefu.kb.services import do_create_article
do_create_article(actor=User.objects.get(username="zuzhang"), data={
    "title": "物流几天没更新怎么办", "status": "published",
    "answer": "非常抱歉让您久等了。物流超过 48 小时未更新时，我们会联系快递核实并为您登记加急；仍无进展可为您补发。",
    "similar_questions": ["快递几天不动了", "物流一直没更新", "订单好几天还没到"], "tags": ["物流"],
})
print("null")
"""


def _start(page, base):
    page.goto(f"{base}/desk/training/")
    row = page.locator(".training-module tr", has_text="订单延迟三天未到")
    row.locator("input[name=seed]").fill(SEED)
    row.get_by_role("button", name="开始训练").click()
    expect(page.locator("#kefu-training .training-banner")).to_contain_text("训练模式")
    expect(page.locator("#kefu-messages .training-turn[data-role=customer]")).to_have_count(1)


def _send(page, text, *, confirm):
    composer = page.locator("#kefu-composer-text")
    before = page.locator("#kefu-messages .training-turn").count()
    composer.fill(text)
    composer.press("Enter")
    if confirm:  # a reply with a high-severity finding is held back and asked about, as on the desk
        dialog = page.locator("#kefu-quality-confirm")
        expect(dialog).to_be_visible()
        dialog.get_by_role("button", name="仍然发送").click()
    # Two turns come back (the reply with its feedback, the customer's answer), or the page
    # reloads with the result when the session ended.
    expect(page.locator("#kefu-messages .training-turn")).to_have_count(before + 2)


def _transcript(page):
    return page.locator("#kefu-messages .training-turn .bubble .text").all_inner_texts()


def test_a_good_trainee_calms_the_customer_and_a_poor_one_makes_it_escalate_repeatably(live_desk, desk_page):
    page = desk_page("xiaomei", path="/desk/training/")

    live_desk.run(ARTICLE)
    _start(page, live_desk.url)
    # The assistant as in the workspace: the handbook's steps for the customer's emotion and
    # the knowledge base searched with their words, its answer one click from the composer.
    assist = page.locator("#kefu-training-assist")
    expect(assist.locator("[data-role=guidance] li").first).to_be_visible()
    suggestion = assist.locator(".kb-suggestion", has_text="物流几天没更新怎么办")
    expect(suggestion).to_be_visible(timeout=30_000)  # the server's first search builds its index
    suggestion.get_by_role("button", name="插入").click()
    composer = page.locator("#kefu-composer-text")
    expect(composer).to_have_value(re.compile("登记加急"))
    composer.fill("这是公司规定")
    expect(page.locator("#kefu-quality-hints [data-rule=blame_policy]").first).to_be_visible()
    _send(page, GOOD, confirm=False)
    result = page.locator("#kefu-training-result")
    expect(result).to_have_attribute("data-outcome", "resolved")
    feedback = page.locator(".training-turn[data-role=trainee] .training-feedback").first
    expect(feedback.locator(".tag.ok[data-code=empathy]")).to_be_visible()
    expect(feedback.locator(".tag.ok[data-code=time]")).to_be_visible()
    expect(page.locator(".training-turn[data-role=customer]").last).to_have_attribute("data-kind", "resolved")
    assert int(result.get_attribute("data-score")) >= 80

    _start(page, live_desk.url)
    for text in POOR:
        _send(page, text, confirm=True)
    result = page.locator("#kefu-training-result")
    expect(result).to_have_attribute("data-outcome", "escalated")
    kinds = [t.get_attribute("data-kind") for t in page.locator(".training-turn[data-role=customer]").all()]
    assert kinds[-1] == "threat" and "supervisor" in kinds
    expect(page.locator(".training-turn[data-role=trainee] [data-rule=blame_policy]").first).to_be_visible()
    expect(page.locator(".training-turn[data-role=trainee] .model-answer").first).to_contain_text("参考答案")
    first_run, first_score = _transcript(page), result.get_attribute("data-score")

    result.get_by_role("button", name="用同一种子再练一次").click()
    expect(page.locator("#kefu-training-seed")).to_have_text(SEED)
    for text in POOR:
        _send(page, text, confirm=True)
    result = page.locator("#kefu-training-result")
    expect(result).to_have_attribute("data-outcome", "escalated")
    assert _transcript(page) == first_run
    assert result.get_attribute("data-score") == first_score
