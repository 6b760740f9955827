"""The knowledge-base list: its queries do not grow with the articles, listed or searched."""

from __future__ import annotations

import pytest

from kefu.kb import services
from tests.queries import page_queries

pytestmark = pytest.mark.django_db

TOPICS = ("退换货流程", "发票开具说明", "物流延迟处理", "会员积分规则", "优惠券使用限制")


def _articles(editor, n, start):
    for i in range(start, start + n):
        topic = TOPICS[i % len(TOPICS)]
        services.do_create_article(
            actor=editor,
            data={
                "title": f"{topic}（第{i}版）",
                "body": f"{topic}：客服按以下步骤处理。",
                "status": "published" if i % 2 else "draft",
            },
        )


@pytest.mark.parametrize("url", ["/desk/kb/", "/desk/kb/?q=发票", "/desk/kb/?status=published"])
def test_the_list_queries_do_not_grow_with_the_articles(client, editor, url):
    client.force_login(editor)
    _articles(editor, 2, 0)
    with_two = page_queries(client, url)
    _articles(editor, 8, 2)
    assert page_queries(client, url) == with_two
