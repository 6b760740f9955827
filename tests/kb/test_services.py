"""Knowledge-base articles (kefu.kb.services): versions, editors only, validation, feedback."""

from __future__ import annotations

import pytest

from kefu.core.errors import InvalidInput, PermissionDenied
from kefu.kb import services

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


def test_every_save_keeps_a_version_with_its_editor(editor):
    a = _publish(editor, "发货时间说明")
    services.do_update_article(
        actor=editor, article_id=a.pk, data={"body": "下单后48小时内发货"}, note="补充时效"
    )
    versions = list(a.versions.all())
    assert [v.version for v in versions] == [2, 1]
    assert versions[0].editor == editor and versions[0].note == "补充时效"


def test_agents_cannot_edit_the_knowledge_base(make_user):
    agent = make_user("plain-agent")
    with pytest.raises(PermissionDenied):
        services.do_create_article(actor=agent, data={"title": "x"})


def test_missing_title_is_refused_naming_the_field(editor):
    with pytest.raises(InvalidInput) as exc:
        services.do_create_article(actor=editor, data={"title": "  "})
    assert "title" in exc.value.fields


def test_helpful_feedback_is_counted(editor):
    a = _publish(editor, "怎么修改收货地址")
    services.do_record_feedback(article_id=a.pk, helpful=True)
    services.do_record_feedback(article_id=a.pk, helpful=False, comment="没说清楚已发货的情况")
    a.refresh_from_db()
    assert (a.helpful_yes, a.helpful_no) == (1, 1)
