"""The complaint list, the promises page and the approvals page: their queries do not grow with the rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from kefu.complaints import services
from kefu.complaints.models import Promise
from kefu.conversations.services import do_receive_customer_message
from tests.queries import page_queries

pytestmark = pytest.mark.django_db

GRIEVANCES = (
    "快递员态度恶劣",
    "保温杯收到就是碎的",
    "退款拖了两周还没到账",
    "客服挂我电话",
    "发错颜色还不给换",
)


def _complaints(desk, n, start):
    for i in range(start, start + n):
        msg, _ = do_receive_customer_message(
            channel=desk.channel,
            identities=[("web", f"complaint-list-{i}")],
            customer_name=f"投诉客户{i}",
            text=f"{GRIEVANCES[i % len(GRIEVANCES)]}，我要投诉！",
        )
        c = services.do_open_complaint(
            actor=desk.agent,
            conversation_id=msg.conversation_id,
            data={"what_happened": GRIEVANCES[i % len(GRIEVANCES)], "customer_request": "道歉并补偿"},
        )
        Promise.objects.create(
            owner=desk.agent,
            conversation_id=msg.conversation_id,
            complaint=c,
            description="明天18点前回电告知处理结果",
            due_at=timezone.now() + timedelta(hours=i + 1),
        )


@pytest.mark.parametrize("url", ["/desk/complaints/", "/desk/promises/", "/desk/approvals/"])
def test_the_list_queries_do_not_grow_with_the_rows(client, desk, url):
    client.force_login(desk.supervisor if url == "/desk/approvals/" else desk.agent)
    _complaints(desk, 2, 0)
    with_two = page_queries(client, url)
    _complaints(desk, 6, 2)
    assert page_queries(client, url) == with_two
