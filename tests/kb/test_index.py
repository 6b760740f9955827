"""The search index of the knowledge base (kefu.kb.index): what a search finds after each change."""

from __future__ import annotations

import pytest

from kefu.kb import index, services
from kefu.kb.models import Article, IndexChange

pytestmark = pytest.mark.django_db


def _publish(editor, title, *, body="", similar=(), answer=""):
    return services.do_create_article(
        actor=editor,
        data={
            "title": title,
            "body": body,
            "answer": answer,
            "similar_questions": list(similar),
            "status": "published",
        },
    )


def test_published_article_is_found_by_a_similar_question(editor):
    a = _publish(editor, "退货运费谁承担", similar=["退货要自己出运费吗", "七天无理由退货邮费"])
    _publish(editor, "发票怎么开", similar=["可以开增值税发票吗"])
    results = index.search_articles("七天无理由退货的邮费谁出")
    assert results[0].article.pk == a.pk


def test_traditional_query_finds_simplified_article(editor):
    a = _publish(editor, "物流一直不更新怎么办", similar=["快递三天没动静"])
    results = index.search_articles("快遞三天沒動靜怎麼辦")
    assert results and results[0].article.pk == a.pk


def test_edit_is_visible_to_the_next_search(editor):
    a = _publish(editor, "保温杯漏水怎么办")
    assert index.search_articles("保温杯漏水")[0].article.pk == a.pk
    services.do_update_article(actor=editor, article_id=a.pk, data={"title": "水杯盖子密封圈更换指南"})
    assert index.search_articles("密封圈")[0].article.pk == a.pk
    services.do_update_article(actor=editor, article_id=a.pk, data={"status": "archived"})
    assert index.search_articles("密封圈") == []


def test_edit_made_elsewhere_is_replayed_from_the_change_log(editor):
    a = _publish(editor, "充电宝能带上飞机吗")
    index.search_articles("充电宝")  # builds this process's index
    # Another process edits the row and logs the change; this process has not seen it.
    Article.objects.filter(pk=a.pk).update(title="移动电源登机规定")
    IndexChange.objects.create(article_id=a.pk)
    assert index.search_articles("移动电源登机")[0].article.pk == a.pk


def test_draft_is_hidden_from_the_public_search(editor):
    services.do_create_article(actor=editor, data={"title": "内部草稿：双十一预案", "status": "draft"})
    assert index.search_articles("双十一预案") == []
    assert index.search_articles("双十一预案", statuses=("draft",))


def test_editable_synonyms_widen_the_search(editor):
    a = _publish(editor, "如何申请售后维修")
    assert not index.search_articles("返修")
    services.do_set_synonyms(actor=editor, head="维修", synonyms=["返修", "修理"])
    assert index.search_articles("返修")[0].article.pk == a.pk


def test_votes_change_ranking_without_reindexing_the_text(editor):
    a = _publish(editor, "退款多久到账")
    b = _publish(editor, "退款多久能到账呢")

    def score_of(article):
        return next(r.score for r in index.search_articles("退款多久到账") if r.article.pk == article.pk)

    before = score_of(b)
    for _ in range(5):
        services.do_record_feedback(article_id=b.pk, helpful=True)
    after = score_of(b)
    assert after > before
    assert IndexChange.objects.filter(kind="feedback", article_id=b.pk).count() == 5
    assert a.pk in {r.article.pk for r in index.search_articles("退款多久到账")}
