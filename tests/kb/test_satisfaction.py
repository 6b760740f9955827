"""Articles' 会话满意度: uses recorded from the composer (插入), the conversations' ratings joined to them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from kefu.conversations.services import do_rate_conversation, do_receive_customer_message, do_set_status
from kefu.kb import services
from kefu.kb.models import ArticleUse

pytestmark = pytest.mark.django_db


def client_for(user: Any) -> Client:
    c = Client()
    c.force_login(user)
    return c


@pytest.fixture
def cup(editor: Any) -> Any:
    return services.do_create_article(
        actor=editor,
        data={
            "title": "保温杯漏水处理",
            "answer": "非常抱歉给您添麻烦了，请拍一张漏水处的照片发给我们，核实后为您免费换新。",
            "status": "published",
        },
    )


def conversation_of(desk: Any, visitor: str, text: str) -> int:
    message, _ = do_receive_customer_message(channel=desk.channel, identities=[("web", visitor)], text=text)
    return message.conversation_id


def insert(user: Any, article_id: int, conversation_id: Any) -> Any:
    return client_for(user).post(
        f"/api/v1/kb/articles/{article_id}/uses",
        json.dumps({"conversation_id": conversation_id}),
        content_type="application/json",
    )


def rate(desk: Any, conversation_id: int, score: int) -> None:
    conversation = do_set_status(actor=desk.supervisor, conversation_id=conversation_id, status="resolved")
    do_rate_conversation(conversation=conversation, score=score, comment="")


def test_each_rated_conversation_counts_once_for_the_article_it_used(client, desk, cup):
    happy = conversation_of(desk, "v-happy", "保温杯漏水了怎么办")
    unhappy = conversation_of(desk, "v-unhappy", "杯子盖子拧紧了还是漏水")
    unrated = conversation_of(desk, "v-quiet", "保溫杯漏水可以換嗎")  # Traditional
    for conversation_id in (happy, happy, unhappy, unrated):  # inserted twice into one conversation
        r = insert(desk.supervisor, cup.pk, conversation_id)
        assert r.status_code == 201, r.content
        assert r.json()["source"] == "agent"
    rate(desk, happy, 5)
    rate(desk, unhappy, 2)

    body = client_for(desk.supervisor).get(f"/api/v1/kb/articles/{cup.pk}").json()
    assert body["satisfaction"] == {
        "conversations": 3,
        "by_bot": 0,
        "rated": 2,
        "csat": 3.5,
        "satisfied_share": 0.5,
    }
    page = client_for(desk.supervisor).get(f"/desk/kb/{cup.pk}/").content.decode()
    assert "会话满意度" in page and 'data-role="csat">3.5<' in page and 'data-role="satisfied">50%<' in page


def test_an_article_never_used_says_so(client, desk, cup):
    body = client_for(desk.supervisor).get(f"/api/v1/kb/articles/{cup.pk}").json()
    assert body["satisfaction"]["conversations"] == 0 and body["satisfaction"]["csat"] is None
    assert (
        "还没有会话用过这篇文章的答复"
        in client_for(desk.supervisor).get(f"/desk/kb/{cup.pk}/").content.decode()
    )


def test_an_agent_records_only_on_a_conversation_they_may_see(desk, cup, make_team, make_user):
    conversation_id = conversation_of(desk, "v-team1", "保温杯漏水了")
    other = make_user("lisi", teams=(make_team("售后二组"),))
    r = insert(other, cup.pk, conversation_id)
    assert r.status_code in (403, 404)
    assert not ArticleUse.objects.exists()


@pytest.mark.parametrize(
    ("article", "conversation_id", "field"),
    [("missing", "ok", "article_id"), ("draft", "ok", "article_id"), ("cup", "text", "conversation_id")],
)
def test_bad_uses_are_refused_naming_the_field(desk, editor, cup, article, conversation_id, field):
    draft = services.do_create_article(actor=editor, data={"title": "草稿：发票怎么开", "status": "draft"})
    article_id = {"missing": 999_999, "draft": draft.pk, "cup": cup.pk}[article]
    target = conversation_of(desk, "v-bad", "发票怎么开") if conversation_id == "ok" else "第一个会话"
    r = insert(desk.supervisor, article_id, target)
    assert 400 <= r.status_code < 500
    assert field in json.dumps(r.json(), ensure_ascii=False)
    assert not ArticleUse.objects.exists()


def test_the_weekly_review_flags_an_article_whose_conversations_were_rated_low(desk, cup):
    from django.utils import timezone

    for visitor, score in (("v-1", 1), ("v-2", 2), ("v-3", 3)):
        conversation_id = conversation_of(desk, visitor, "保温杯漏水了，你们怎么处理")
        assert insert(desk.supervisor, cup.pk, conversation_id).status_code == 201
        rate(desk, conversation_id, score)
    year, week, _ = timezone.localdate().isocalendar()
    r = client_for(desk.supervisor).get(f"/api/v1/review?team={desk.team.pk}&week={year}-W{week:02d}")
    assert r.status_code == 200, r.content
    articles = r.json()["articles"]
    flagged = {row["article_id"]: row for row in articles["flagged"]}
    assert cup.pk in flagged
    assert "平均满意度 2.0 分" in " ".join(flagged[cup.pk]["reasons"])
    assert cup.pk not in {row["article_id"] for row in articles["unused"]}
