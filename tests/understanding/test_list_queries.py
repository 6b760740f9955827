"""The emotion-alerts page: its queries do not grow with the alerts."""

from __future__ import annotations

import pytest

from kefu.conversations.services import do_receive_customer_message
from kefu.understanding.models import EmotionAlert
from tests.queries import page_queries

pytestmark = pytest.mark.django_db


def _alerts(desk, n, start):
    for i in range(start, start + n):
        msg, _ = do_receive_customer_message(
            channel=desk.channel,
            identities=[("web", f"alert-list-{i}")],
            customer_name=f"着急的客户{i}",
            text="等了一个星期还没发货，你们到底管不管？",
        )
        EmotionAlert.objects.create(
            conversation_id=msg.conversation_id,
            score=8.5,
            previous_score=3.0,
            label="angry",
            reason="客户情绪激动",
        )


@pytest.mark.parametrize("url", ["/desk/alerts/", "/desk/alerts/?open=1"])
def test_the_alerts_page_queries_do_not_grow_with_the_alerts(client, desk, url):
    client.force_login(desk.supervisor)
    _alerts(desk, 2, 0)
    with_two = page_queries(client, url)
    _alerts(desk, 6, 2)
    assert page_queries(client, url) == with_two
