"""/api/v1/bot/… and the conversation's bot endpoints: settings, overview, drafts, suggestions, summaries."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from kefu.bot.models import BotSetting, SuggestionUse
from kefu.kb.models import Article

from .conftest import chat

pytestmark = pytest.mark.django_db


def client_for(user: Any) -> Client:
    c = Client()
    c.force_login(user)
    return c


def test_an_admin_switches_the_bot_on_for_a_channel_and_team(bot: Any) -> None:
    c = client_for(bot.admin)
    r = c.put(
        "/api/v1/bot/settings",
        {
            "channel_id": bot.channel.pk,
            "team_id": bot.team.pk,
            "enabled": True,
            "start_time": "08:00",
            "end_time": "23:00",
            "greeting": "您好，我是小悦～",
            "intents": ["发票", "物流查询"],
            "vip_skip": False,
        },
        content_type="application/json",
    )
    assert r.status_code == 200, r.content
    body = r.json()
    assert (
        body["team_id"] == bot.team.pk
        and body["start_time"] == "08:00"
        and body["intents"] == ["发票", "物流查询"]
    )
    assert BotSetting.objects.filter(channel=bot.channel).count() == 2  # every team + this team
    listed = c.get("/api/v1/bot/settings").json()
    assert listed["count"] == 3
    r = c.delete(f"/api/v1/bot/settings/{body['id']}")
    assert r.status_code == 204


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"threshold": 1.5}, "threshold"),
        ({"vip_level": 0}, "vip_level"),
        ({"start_time": "08:00"}, "end_time"),
        ({"greeting": "您好\x00"}, "greeting"),
    ],
)
def test_bad_settings_are_400_naming_the_field(bot: Any, patch: dict[str, Any], field: str) -> None:
    r = client_for(bot.admin).put(
        "/api/v1/bot/settings", {"channel_id": bot.channel.pk, **patch}, content_type="application/json"
    )
    assert r.status_code in (400, 422), r.content
    assert field in r.content.decode()


def test_only_admins_change_settings(bot: Any) -> None:
    r = client_for(bot.supervisor).put(
        "/api/v1/bot/settings",
        {"channel_id": bot.channel.pk, "enabled": False},
        content_type="application/json",
    )
    assert r.status_code == 403
    assert client_for(bot.agent).get("/api/v1/bot/settings").status_code == 403


def test_unknown_channel_is_404(bot: Any) -> None:
    r = client_for(bot.admin).put(
        "/api/v1/bot/settings", {"channel_id": 999999, "enabled": True}, content_type="application/json"
    )
    assert r.status_code == 404 and "channel_id" in r.json().get("fields", {})


def test_the_overview_and_one_click_draft(bot: Any) -> None:
    chat(bot.channel, "v-api1", "你们仓库在哪个城市发货")
    c = client_for(bot.supervisor)
    o = c.get("/api/v1/bot/overview?days=7").json()
    assert o["served"] == 1 and o["unanswered"][0]["question"] == "你们仓库在哪个城市发货"
    r = c.post(f"/api/v1/bot/unanswered/{o['unanswered'][0]['id']}/draft")
    assert r.status_code == 201
    assert Article.objects.get(pk=r.json()["article_id"]).status == Article.Status.DRAFT
    assert c.get("/api/v1/bot/overview?days=0").status_code in (400, 422)
    assert client_for(bot.agent).get("/api/v1/bot/overview").status_code == 403


def test_the_agent_reads_and_records_the_suggestion_and_the_summary(bot: Any) -> None:
    m = chat(bot.channel, "v-api2", "退货运费谁出呀，我要人工")
    c = client_for(bot.agent)
    s = c.get(f"/api/v1/conversations/{m.conversation_id}/bot-suggestion").json()
    assert s["suggestion"]["title"] == "退货运费谁承担"
    r = c.post(
        f"/api/v1/conversations/{m.conversation_id}/bot-suggestion",
        {"message_id": s["message_id"], "article_id": s["suggestion"]["article_id"], "action": "edit"},
        content_type="application/json",
    )
    assert r.status_code == 201 and SuggestionUse.objects.get().action == "edit"
    r = c.post(
        f"/api/v1/conversations/{m.conversation_id}/bot-suggestion",
        {"message_id": s["message_id"], "article_id": s["suggestion"]["article_id"], "action": "love"},
        content_type="application/json",
    )
    assert r.status_code in (400, 422)
    summary = c.get(f"/api/v1/conversations/{m.conversation_id}/bot-summary").json()["summary"]
    assert summary["reason"] == "explicit" and summary["question"] == "退货运费谁出呀，我要人工"


def test_pages_render_for_their_roles(bot: Any) -> None:
    chat(bot.channel, "v-page", "转人工")
    assert client_for(bot.admin).get("/desk/settings/bot/").status_code == 200
    assert client_for(bot.supervisor).get("/desk/settings/bot/").status_code == 403
    page = client_for(bot.supervisor).get("/desk/bot/")
    assert page.status_code == 200 and "客户要求人工" in page.content.decode()
    assert client_for(bot.agent).get("/desk/bot/").status_code == 403


def test_the_settings_form_saves(bot: Any) -> None:
    r = client_for(bot.admin).post(
        "/desk/settings/bot/",
        {
            "channel": bot.im.pk,
            "team": "",
            "enabled": "",
            "greeting": "您好",
            "vip_level": 2,
            "threshold": 0.7,
        },
    )
    assert r.status_code == 302
    setting = BotSetting.objects.get(channel=bot.im, team=None)
    assert not setting.enabled and setting.vip_level == 2 and setting.threshold == 0.7


def test_the_bots_answers_and_accepted_suggestions_count_for_the_articles_satisfaction(bot: Any) -> None:
    from kefu.conversations.services import do_rate_conversation, do_set_status

    answered = chat(bot.channel, "v-sat1", "退货要自己付运费吗")  # the bot answers with the article
    article = bot.faq["退货运费谁承担"]
    handed = chat(bot.channel, "v-sat2", "转人工，退货运费谁出")
    c = client_for(bot.agent)
    s = c.get(f"/api/v1/conversations/{handed.conversation_id}/bot-suggestion").json()
    assert s["suggestion"]["article_id"] == article.pk
    for action in ("accept", "edit"):  # changing accept to edit records the use once
        r = c.post(
            f"/api/v1/conversations/{handed.conversation_id}/bot-suggestion",
            {"message_id": s["message_id"], "article_id": article.pk, "action": action},
            content_type="application/json",
        )
        assert r.status_code == 201
    for message, score in ((answered, 5), (handed, 4)):
        conversation = do_set_status(
            actor=bot.supervisor, conversation_id=message.conversation_id, status="resolved"
        )
        do_rate_conversation(conversation=conversation, score=score)
    got = client_for(bot.supervisor).get(f"/api/v1/kb/articles/{article.pk}").json()["satisfaction"]
    assert got == {"conversations": 2, "by_bot": 1, "rated": 2, "csat": 4.5, "satisfied_share": 1.0}
