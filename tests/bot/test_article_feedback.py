"""The customers' 「解决了」/「没解决」 to the bot's answers, per knowledge-base article: the overview
(API and page) and the article's page."""

from __future__ import annotations

from typing import Any

import pytest

from kefu.bot import services

from .conftest import chat

pytestmark = pytest.mark.django_db


def answered(bot: Any, visitor: str, question: str, verdict: str | None) -> None:
    chat(bot.channel, visitor, question)
    if verdict:
        chat(bot.channel, visitor, verdict)


@pytest.fixture
def verdicts(bot: Any) -> Any:
    answered(bot, "v-a1", "怎么开发票", "解决了")
    answered(bot, "v-a2", "怎么开发票", "没解决")
    answered(bot, "v-a3", "怎么开发票", "解决了")
    answered(bot, "v-a4", "怎么开发票", None)  # left without a word
    answered(bot, "v-a5", "退货要自己付运费吗", "没解决")
    return bot


def test_each_articles_answers_and_verdicts_are_counted_with_the_helpful_rate(verdicts: Any) -> None:
    bot = verdicts
    rows = {r["title"]: r for r in services.access_overview(bot.supervisor)["articles"]}
    invoice = rows["发票怎么开"]
    assert invoice["article_id"] == bot.faq["发票怎么开"].pk
    assert (invoice["answers"], invoice["helpful"], invoice["rejected"]) == (4, 2, 1)
    assert invoice["helpful_rate"] == round(2 / 3, 3)
    assert rows["退货运费谁承担"]["helpful_rate"] == 0.0
    assert list(rows)[0] == "发票怎么开"  # most used first


def test_an_article_never_used_by_the_bot_has_no_row(verdicts: Any) -> None:
    assert services.article_feedback(article_ids=[verdicts.faq["修改收货地址"].pk]) == []


def test_the_overview_api_and_page_and_the_article_page_show_it(client: Any, verdicts: Any) -> None:
    bot = verdicts
    client.force_login(bot.supervisor)
    api = client.get("/api/v1/bot/overview?days=7").json()
    assert {a["title"]: a["helpful_rate"] for a in api["articles"]}["发票怎么开"] == round(2 / 3, 3)
    page = client.get("/desk/bot/").content.decode()
    assert 'id="kefu-bot-articles"' in page and "67%" in page
    article = client.get(f"/desk/kb/{bot.faq['发票怎么开'].pk}/").content.decode()
    assert 'id="kefu-bot-article-feedback"' in article
    assert '<strong data-role="answers">4</strong>' in article
    assert '<strong data-role="helpful-rate">67%</strong>' in article
    unused = client.get(f"/desk/kb/{bot.faq['修改收货地址'].pk}/").content.decode()
    assert "机器人还没有用这篇文章回答过客户" in unused


def test_a_verdict_said_in_anger_counts_though_the_customer_is_handed_over(bot: Any) -> None:
    from kefu.bot.models import BotSession, BotTurn

    chat(bot.channel, "v-angry", "怎么开发票")
    m = chat(bot.channel, "v-angry", "没解决！你们这什么破机器人，气死我了")
    session = BotSession.objects.get(conversation_id=m.conversation_id)
    assert session.state == BotSession.State.HANDED_OVER
    assert BotTurn.objects.get(session=session, kind=BotTurn.Kind.ANSWER).helpful is False
