"""The script library page: its queries do not grow with the replies."""

from __future__ import annotations

import pytest

from kefu.replies import services
from tests.queries import page_queries

pytestmark = pytest.mark.django_db

SCRIPTS = (
    ("物流停滞安抚", "您好，包裹在{城市}转运中心停留较久，我已为您催促，预计明天更新。"),
    ("退款进度说明", "退款已提交，原路退回，1-3个工作日到账，请您留意。"),
    ("发票重开", "发票抬头可以重开，请提供正确的抬头和税号。"),
)


def _replies(agent, n, start):
    for i in range(start, start + n):
        title, text = SCRIPTS[i % len(SCRIPTS)]
        services.do_create_reply(
            actor=agent,
            data={"title": f"{title}{i}", "shortcut": f"kj{i}", "text": text.replace("{城市}", "杭州")},
        )


def test_the_library_queries_do_not_grow_with_the_replies(client, desk):
    client.force_login(desk.agent)
    _replies(desk.agent, 2, 0)
    with_two = page_queries(client, "/desk/replies/")
    _replies(desk.agent, 8, 2)
    assert page_queries(client, "/desk/replies/") == with_two
