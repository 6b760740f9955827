"""Workspace pages through the browser's surface: inbox, filters, conversation page."""

from __future__ import annotations

import pytest

from kefu.accounts.models import AgentStatus
from kefu.conversations.models import Conversation
from kefu.conversations.services import (
    do_add_note,
    do_receive_customer_message,
    do_send_agent_message,
)

pytestmark = pytest.mark.django_db


def receive(desk, visitor, text, **kw):
    msg, _ = do_receive_customer_message(channel=desk.channel, identities=[("web", visitor)], text=text, **kw)
    return Conversation.objects.get(pk=msg.conversation_id)


@pytest.fixture
def agent_client(client, desk):
    client.force_login(desk.agent)
    return client


def test_inbox_requires_login(client, desk):
    r = client.get("/desk/")
    assert r.status_code == 302
    assert r["Location"].startswith("/login/")


def test_inbox_lists_unassigned_conversation_with_escaped_preview(agent_client, desk):
    receive(desk, "v1", "<script>alert(1)</script>快递到哪了", customer_name="李四")
    r = agent_client.get("/desk/?view=unassigned")
    assert r.status_code == 200
    html = r.content.decode()
    assert "李四" in html
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_inbox_mine_shows_only_my_conversations(agent_client, desk):
    mine = receive(desk, "v1", "我的问题", customer_name="甲")
    receive(desk, "v2", "别人的问题", customer_name="乙")
    do_send_agent_message(agent=desk.agent, conversation_id=mine.pk, text="您好")
    html = agent_client.get("/desk/").content.decode()
    assert "甲" in html and "乙" not in html


def test_inbox_status_filter(agent_client, desk):
    receive(desk, "v1", "一", customer_name="处理中客户")
    done = receive(desk, "v2", "二", customer_name="已解决客户")
    Conversation.objects.filter(pk=done.pk).update(status="resolved")
    html = agent_client.get("/desk/?view=team&status=resolved").content.decode()
    assert "已解决客户" in html and "处理中客户" not in html


def test_inbox_channel_filter(agent_client, desk, make_channel):
    receive(desk, "v1", "网页来的", customer_name="网页客户")
    email = make_channel("email", team=desk.team)
    do_receive_customer_message(
        channel=email, identities=[("email", "a@b.cn")], text="邮件来的", customer_name="邮件客户"
    )
    html = agent_client.get("/desk/?view=team&channel=email").content.decode()
    assert "邮件客户" in html and "网页客户" not in html


def test_inbox_priority_filter(agent_client, desk):
    urgent = receive(desk, "v1", "急", customer_name="加急客户")
    receive(desk, "v2", "不急", customer_name="普通客户")
    Conversation.objects.filter(pk=urgent.pk).update(priority="P1")
    html = agent_client.get("/desk/?view=team&priority=P1").content.decode()
    assert "加急客户" in html and "普通客户" not in html


def test_inbox_shows_vip_sla_and_emotion_badges(agent_client, desk):
    from django.utils import timezone

    c = receive(desk, "v1", "太慢了", customer_name="王五")
    c.customer.vip_level = 2
    c.customer.save()
    Conversation.objects.filter(pk=c.pk).update(
        sla_breached_at=timezone.now(), emotion_label="angry", emotion_score=8.5
    )
    html = agent_client.get("/desk/?view=team").content.decode()
    assert "VIP2" in html
    assert "已超时" in html
    assert "愤怒" in html


def test_inbox_shows_no_emotion_badge_when_empty(agent_client, desk):
    c = receive(desk, "v1", "你好")
    Conversation.objects.filter(pk=c.pk).update(emotion_label="", emotion_score=0)
    html = agent_client.get("/desk/?view=team").content.decode()
    assert "badge emotion" not in html


def test_inbox_partial_renders_only_the_list(agent_client, desk):
    receive(desk, "v1", "你好", customer_name="局部")
    html = agent_client.get("/desk/?view=team&partial=1").content.decode()
    assert 'id="kefu-inbox-list"' in html
    assert "<html" not in html and "局部" in html


def test_inbox_with_unknown_view_is_a_readable_400(agent_client, desk):
    r = agent_client.get("/desk/?view=bogus")
    assert r.status_code == 400
    assert "未知视图" in r.content.decode()


def count_queries(client, url):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    # The idle lock stores the session's activity time at most once per interval
    # (kefu.accounts.middleware): a request just before leaves the counted one without it.
    assert client.get(url).status_code == 200
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_inbox_query_count_does_not_grow_with_conversations(
    agent_client, desk, django_assert_max_num_queries
):
    def add(n, start):
        for i in range(start, start + n):
            c = receive(desk, f"q{i}", f"问题{i}", customer_name=f"客户{i}")
            do_send_agent_message(agent=desk.agent, conversation_id=c.pk, text="收到")

    add(2, 0)
    with_two = count_queries(agent_client, "/desk/?view=mine")
    add(6, 2)
    # 8, and one for the navigation's counts (unread, queued, open alerts) on every desk page.
    with django_assert_max_num_queries(9):
        r = agent_client.get("/desk/?view=mine")
    assert r.content.decode().count('class="conv-row') == 8
    assert count_queries(agent_client, "/desk/?view=mine") == with_two


def test_conversation_page_query_count_does_not_grow_with_history(agent_client, desk):
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from kefu.customers.models import LogisticsEvent, Order, OrderItem

    def add_order(i):
        order = Order.objects.create(
            customer=c.customer,
            order_no=f"SO{i}",
            amount=Decimal("10"),
            placed_at=timezone.now() - timedelta(days=i),
        )
        OrderItem.objects.create(order=order, name=f"商品{i}", price=Decimal("10"))
        LogisticsEvent.objects.create(order=order, at=timezone.now(), description="已发货")

    c = receive(desk, "v1", "第一条")
    do_send_agent_message(agent=desk.agent, conversation_id=c.pk, text="您好")
    add_order(0)
    url = f"/desk/c/{c.pk}/"
    few = count_queries(agent_client, url)
    for i in range(1, 7):
        receive(desk, "v1", f"追问{i}")
        do_send_agent_message(agent=desk.agent, conversation_id=c.pk, text=f"回复{i}")
        do_add_note(agent=desk.agent, conversation_id=c.pk, text=f"备注{i}")
        add_order(i)
    assert count_queries(agent_client, url) == few


def test_conversation_page_escapes_customer_text(agent_client, desk):
    c = receive(desk, "v1", '<script>alert("x")</script>', customer_name="<b>坏人</b>")
    r = agent_client.get(f"/desk/c/{c.pk}/")
    assert r.status_code == 200
    html = r.content.decode()
    assert '<script>alert("x")</script>' not in html
    assert "&lt;script&gt;" in html
    assert "<b>坏人</b>" not in html


def test_conversation_page_does_not_show_chat_messages_as_flash_messages(agent_client, desk):
    c = receive(desk, "v1", "你好")
    html = agent_client.get(f"/desk/c/{c.pk}/").content.decode()
    assert 'class="flash"' not in html
    assert "Message object" not in html


def test_conversation_page_marks_notes_as_internal(agent_client, desk):
    c = receive(desk, "v1", "你好")
    do_add_note(agent=desk.agent, conversation_id=c.pk, text="老客户，语气要温和")
    html = agent_client.get(f"/desk/c/{c.pk}/").content.decode()
    assert "内部备注" in html
    assert "kind-note private" in html
    assert "老客户，语气要温和" in html


def test_conversation_page_masks_phone_and_offers_reveal_to_team_lead(client, desk, make_user):
    from kefu.accounts.models import Role

    c = receive(desk, "v1", "你好")
    c.customer.phone = "13812345678"
    c.customer.save()
    lead = make_user("zuzhang", role=Role.TEAM_LEAD, teams=(desk.team,))
    client.force_login(lead)
    html = client.get(f"/desk/c/{c.pk}/").content.decode()
    assert "13812345678" not in html
    assert "138****5678" in html
    assert 'data-reveal="phone"' in html


def test_conversation_page_hides_reveal_from_agents(agent_client, desk):
    c = receive(desk, "v1", "你好")
    c.customer.phone = "13812345678"
    c.customer.save()
    html = agent_client.get(f"/desk/c/{c.pk}/").content.decode()
    assert "138****5678" in html
    assert 'data-reveal="phone"' not in html


def test_conversation_page_shows_orders_with_items_and_logistics(agent_client, desk):
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from kefu.customers.models import LogisticsEvent, Order, OrderItem

    c = receive(desk, "v1", "我的快递呢")
    now = timezone.now()
    order = Order.objects.create(
        customer=c.customer,
        order_no="SO20261123001",
        amount=Decimal("199.00"),
        placed_at=now - timedelta(days=2),
        shipping_status="in_transit",
        carrier="顺丰",
        tracking_no="SF123",
        address="浙江省杭州市西湖区文三路 100 号",
    )
    OrderItem.objects.create(order=order, name="保温杯", quantity=2, price=Decimal("99.50"))
    LogisticsEvent.objects.create(
        order=order, at=now - timedelta(days=1), location="杭州", description="已揽收"
    )
    html = agent_client.get(f"/desk/c/{c.pk}/").content.decode()
    assert "SO20261123001" in html and "保温杯" in html and "已揽收" in html
    assert "文三路 100 号" not in html


def test_conversation_page_lists_past_conversations_across_channels(agent_client, desk, make_channel):
    first = receive(desk, "v1", "上次的问题")
    Conversation.objects.filter(pk=first.pk).update(status="closed")
    second = receive(desk, "v1", "这次的问题")
    assert second.pk != first.pk
    html = agent_client.get(f"/desk/c/{second.pk}/panels/").content.decode()
    assert f"/desk/c/{first.pk}/" in html


def test_conversation_of_another_team_is_forbidden(client, desk, make_team, make_user):
    c = receive(desk, "v1", "你好")
    outsider = make_user("wairen", teams=(make_team("售后"),), status=AgentStatus.ONLINE)
    client.force_login(outsider)
    r = client.get(f"/desk/c/{c.pk}/")
    assert r.status_code == 403


def test_unknown_conversation_page_is_404(agent_client):
    assert agent_client.get("/desk/c/99999/").status_code == 404


def test_conversation_page_has_the_composer_and_actions(agent_client, desk):
    c = receive(desk, "v1", "你好")
    html = agent_client.get(f"/desk/c/{c.pk}/").content.decode()
    for marker in (
        'id="kefu-composer"',
        'id="kefu-note-toggle"',
        'id="kefu-transfer-form"',
        'id="kefu-call-form"',
        "转接说明",
    ):
        assert marker in html
    assert "暂缓" in html and "已解决" in html and "关闭" in html and "待客户" in html


def test_desk_pages_carry_the_idle_timeout_for_the_lock_countdown(agent_client, desk, settings):
    settings.KEFU_IDLE_TIMEOUT = 123
    html = agent_client.get("/desk/").content.decode()
    assert 'data-idle-timeout="123"' in html
    assert "kefu/desk.js" in html


# --- not working blind: my other conversations, the navigation's counts ----------------


def _mine(desk, visitor, *texts, name=""):
    for text in texts:
        c = receive(desk, visitor, text, customer_name=name)
    Conversation.objects.filter(pk=c.pk).update(assignee=desk.agent)
    return c


def test_conversation_page_lists_my_other_open_conversations_with_unread_counts(agent_client, desk):
    here = _mine(desk, "here", "你好", name="张女士")
    waiting = _mine(desk, "w", "空气炸锅什么时候发货", "还没发吗？", name="刘先生")
    quiet = _mine(desk, "q", "好的谢谢", name="<b>陈女士</b>")
    Conversation.objects.filter(pk=quiet.pk).update(agent_last_read_id=quiet.messages.last().pk)
    page = agent_client.get(f"/desk/c/{here.pk}/").content.decode()
    assert f'data-panels-url="/desk/c/{here.pk}/panels/"' in page and "刘先生" not in page  # after the page
    html = agent_client.get(f"/desk/c/{here.pk}/panels/").content.decode()
    strip = html[html.index('id="kefu-my-open"') : html.index("</nav>", html.index('id="kefu-my-open"'))]
    assert f'data-conversation-id="{waiting.pk}" class="has-unread"' in strip
    assert '<span class="name">刘先生</span><span class="unread">2</span>' in strip
    assert "&lt;b&gt;陈女士&lt;/b&gt;" in strip  # escaped, and no unread badge
    assert f'href="/desk/c/{here.pk}/"' not in strip  # not the one on screen
    assert strip.index("刘先生") < strip.index("陈女士")  # unread first


def test_every_desk_page_renders_the_navigations_counts(agent_client, desk):
    _mine(desk, "a", "在吗", "？？？")
    _mine(desk, "b", "你们什么垃圾服务！！！再不退款我就去12315投诉")
    html = agent_client.get("/desk/tickets/").content.decode()
    assert 'data-count="unread_conversations"' in html
    badge = html[html.index('data-count="unread_conversations"') :]
    assert badge[: badge.index("</span></span>")].endswith('<span class="n">2')
    alerts = html[html.index('data-count="open_alerts"') :]
    assert alerts[: alerts.index("</span></span>")].endswith('<span class="n">1')
    queued = html[html.index('data-count="queued"') :]
    assert queued[: queued.index(">")].endswith(" hidden")  # nobody waits: no badge


def test_desk_counts_and_my_open_conversations_through_the_api(agent_client, desk):
    here = _mine(desk, "x", "你好")
    other = _mine(desk, "y", "还在吗", name="赵先生")
    counts = agent_client.get("/api/v1/desk/counts").json()
    assert counts == {"unread_conversations": 2, "queued": 0, "open_alerts": 0}
    items = agent_client.get(f"/api/v1/desk/my-open-conversations?exclude={here.pk}").json()["items"]
    assert [(i["id"], i["customer_name"], i["unread"]) for i in items] == [(other.pk, "赵先生", 1)]
    agent_client.post(
        f"/api/v1/conversations/{other.pk}/read",
        data={"message_id": other.messages.last().pk},
        content_type="application/json",
    )
    assert agent_client.get("/api/v1/desk/counts").json()["unread_conversations"] == 1
    assert agent_client.get("/api/v1/desk/my-open-conversations?exclude=0").status_code == 422


def test_desk_counts_need_a_signed_in_user(client, desk):
    assert client.get("/api/v1/desk/counts").status_code == 401
    assert client.get("/api/v1/desk/my-open-conversations").status_code == 401


# --- the inbox in pages of 25 (keyset cursor) ---------------------------------------


def _bulk_conversations(desk, n, *, team=None, start=0):
    """``n`` conversations of ``team`` (the desk's), one a minute, the newest last; direct rows, for size."""
    from datetime import timedelta

    from django.utils import timezone

    from kefu.customers.models import Customer

    base = timezone.now() - timedelta(days=1)
    out = []
    for i in range(start, start + n):
        customer = Customer.objects.create(name=f"顾客{i:03d}")
        out.append(
            Conversation.objects.create(
                channel=desk.channel,
                customer=customer,
                team=team or desk.team,
                subject=f"咨询第{i:03d}号订单",
                last_message_at=base + timedelta(minutes=i),
            )
        )
    return out


def test_inbox_shows_25_conversations_a_page_newest_first_and_pages_by_cursor(agent_client, desk):
    convs = _bulk_conversations(desk, 30)
    r = agent_client.get("/desk/?view=team")
    html = r.content.decode()
    assert html.count('class="conv-row') == 25
    # Newest first: the last five created are on page 1, the first five are not.
    assert "顾客029" in html and "顾客005" in html and "顾客004" not in html
    assert html.index("顾客029") < html.index("顾客028")
    assert "每页 25 个会话" in html and "下一页" in html
    nxt = r.context["next_cursor"]
    assert nxt and r.context["prev_cursor"] is None
    page2 = agent_client.get(f"/desk/?view=team&after={nxt}")
    html2 = page2.content.decode()
    assert html2.count('class="conv-row') == 5
    assert all(f"顾客{i:03d}" in html2 for i in range(5)) and "顾客005" not in html2
    assert page2.context["next_cursor"] is None
    # 上一页 goes back to the same 25, and the filters ride along with the cursor.
    prev = agent_client.get(f"/desk/?view=team&before={page2.context['prev_cursor']}")
    assert [c["id"] for c in prev.context["conversations"]] == [c.pk for c in reversed(convs[5:])]
    assert f'href="?view=team&amp;after={nxt}"' in html


def test_inbox_orders_a_conversation_without_messages_by_its_creation(agent_client, desk):
    from datetime import timedelta

    from django.utils import timezone

    _bulk_conversations(desk, 3)
    silent = _bulk_conversations(desk, 1, start=99)[0]
    Conversation.objects.filter(pk=silent.pk).update(
        last_message_at=None, created_at=timezone.now() - timedelta(days=2)
    )
    html = agent_client.get("/desk/?view=team").content.decode()
    assert html.count('class="conv-row') == 4
    assert html.index("顾客002") < html.index("顾客000") < html.index("顾客099")


def test_inbox_with_a_cursor_that_is_not_ours_is_a_400_naming_it(agent_client, desk):
    r = agent_client.get("/desk/?view=team&after=not-a-cursor")
    assert r.status_code == 400
    assert "翻页位置无效" in r.content.decode()


def test_inbox_pages_never_show_another_teams_conversations(client, desk, make_team, make_user):
    other = make_team("售后服务")
    outsider = make_user("laozhang", teams=(other,), display_name="老张")
    _bulk_conversations(desk, 30)
    _bulk_conversations(desk, 3, team=other, start=50)
    client.force_login(outsider)
    r = client.get("/desk/?view=all")
    html = r.content.decode()
    assert html.count('class="conv-row') == 3 and "顾客050" in html and "顾客029" not in html
    assert r.context["next_cursor"] is None
    client.force_login(desk.agent)
    first = client.get("/desk/?view=team")
    second = client.get(f"/desk/?view=team&after={first.context['next_cursor']}").content.decode()
    assert "顾客050" not in first.content.decode() and "顾客050" not in second


def test_inbox_page_queries_do_not_grow_with_the_history(agent_client, desk):
    from tests.queries import page_queries

    _bulk_conversations(desk, 3)
    few = page_queries(agent_client, "/desk/?view=team")
    convs = _bulk_conversations(desk, 60, start=3)
    for c in convs[:10]:
        do_add_note(agent=desk.agent, conversation_id=c.pk, text="客户要求回电")
    assert page_queries(agent_client, "/desk/?view=team") == few
    nxt = agent_client.get("/desk/?view=team").context["next_cursor"]
    assert page_queries(agent_client, f"/desk/?view=team&after={nxt}") == few
    assert page_queries(agent_client, "/desk/?view=team&partial=1") <= few


# --- the navigation's counts, cached until an event says they changed -----------------


def _queued_badge(html):
    import re

    return int(re.search(r'data-count="queued"[^>]*>(?:排队 )?<span class="n">(\d+)</span>', html).group(1))


def test_navigation_counts_are_cached_between_pages_until_an_event_reaches_the_user(
    agent_client, desk, django_capture_on_commit_callbacks
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from kefu.accounts.models import User

    User.objects.filter(pk=desk.agent.pk).update(status="offline")  # nobody takes the chats
    waiting = receive(desk, "v1", "在吗")
    Conversation.objects.filter(pk=waiting.pk).update(queued_at="2026-12-03T10:00:00+08:00")
    assert _queued_badge(agent_client.get("/desk/?view=team").content.decode()) == 1
    # Changed behind kefu's back, without an event: the cached counts stand (10 s at most).
    Conversation.objects.filter(pk=waiting.pk).update(queued_at=None)
    with CaptureQueriesContext(connection) as ctx:
        assert agent_client.get("/api/v1/desk/counts").json()["queued"] == 1
    assert not any("COUNT(" in q["sql"] for q in ctx.captured_queries)
    # A new customer arrives in the agent's team: the event, published after the commit,
    # makes the next page and the next ask count again.
    with django_capture_on_commit_callbacks(execute=True):
        second = receive(desk, "v2", "你好，想咨询一下退货")
    Conversation.objects.filter(pk__in=[waiting.pk, second.pk]).update(queued_at="2026-12-03T10:01:00+08:00")
    assert _queued_badge(agent_client.get("/desk/?view=team").content.decode()) == 2
    assert agent_client.get("/api/v1/desk/counts").json()["queued"] == 2


def test_an_alert_changes_the_alert_count_its_agent_sees_and_not_another_teams(
    client, desk, make_team, make_user, django_capture_on_commit_callbacks
):
    outsider = make_user("laozhang", teams=(make_team("售后服务"),), display_name="老张")
    nothing = {"unread_conversations": 0, "queued": 0, "open_alerts": 0}
    _mine(desk, "a", "你好")
    client.force_login(desk.agent)
    assert client.get("/api/v1/desk/counts").json()["open_alerts"] == 0
    client.force_login(outsider)
    assert client.get("/api/v1/desk/counts").json() == nothing
    with django_capture_on_commit_callbacks(execute=True):
        receive(desk, "a", "你们什么垃圾服务！！！再不处理我就去12315投诉")
    client.force_login(desk.agent)
    assert client.get("/api/v1/desk/counts").json()["open_alerts"] == 1
    client.force_login(outsider)
    assert client.get("/api/v1/desk/counts").json() == nothing


def test_navigation_counts_cost_no_query_of_their_own_while_cached(agent_client, desk):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from kefu.core import deskcache
    from tests.queries import page_queries

    _mine(desk, "a", "你好")
    cached = page_queries(agent_client, "/desk/?view=mine")  # its first GET fills the cache
    deskcache.mark_changed([f"desk.user.{desk.agent.pk}"])
    with CaptureQueriesContext(connection) as ctx:
        agent_client.get("/desk/?view=mine")
    assert len(ctx.captured_queries) == cached + 1  # the counts' one query
    assert page_queries(agent_client, "/desk/?view=mine") == cached


def test_inbox_row_shows_assignee_team_channel_status_and_waiting_time(agent_client, desk):
    from kefu.customers.models import Customer

    mine = _mine(desk, "w", "发货了吗")
    anon = receive(desk, "n", "在吗")
    Conversation.objects.filter(pk=anon.pk).update(assignee=None)
    Customer.objects.filter(pk=anon.customer_id).update(name="")
    html = agent_client.get("/desk/?view=team").content.decode()
    row = html[html.index(f'data-conversation-id="{mine.pk}"') :]
    row = row[: row.index("</li>")]
    assert "小美" in row and "售前咨询" in row and "网页" in row and "处理中" in row and "已等待" in row
    assert f'href="/desk/c/{mine.pk}/"' in row
    other = html[html.index(f'data-conversation-id="{anon.pk}"') :]
    other = other[: other.index("</li>")]
    assert "未分配" in other and f"客户#{anon.customer_id}" in other


# --- the conversation page's side panels, loaded after the page ------------------------


def test_conversation_panels_list_agents_to_transfer_to_and_the_customers_history(
    agent_client, desk, make_user, make_team
):
    make_user("ajie", teams=(desk.team,), display_name="阿杰")
    earlier = receive(desk, "v1", "上次的订单还没到")
    Conversation.objects.filter(pk=earlier.pk).update(status="closed")
    now = receive(desk, "v1", "这次又出问题了，手机号 13812345678")
    other_team = make_team("售后服务")
    elsewhere = Conversation.objects.create(
        channel=desk.channel, customer=now.customer, team=other_team, subject="退款 13812345678"
    )
    html = agent_client.get(f"/desk/c/{now.pk}/panels/").content.decode()
    agents = html[: html.index("</select>")]
    assert "阿杰 · " in agents and "小美" not in agents  # not herself
    history = html[html.index('id="kefu-history"') :]
    history = history[: history.index("</ul>")]
    assert f'href="/desk/c/{earlier.pk}/"' in history and f'href="/desk/c/{now.pk}/"' not in history
    # Another team's conversation is listed without its subject or link.
    assert "无权查看详情" in history and f'href="/desk/c/{elsewhere.pk}/"' not in history
    assert "13812345678" not in html


def test_conversation_panels_are_refused_to_who_may_not_open_the_conversation(
    client, desk, make_team, make_user
):
    c = receive(desk, "v1", "你好")
    client.force_login(make_user("laozhang", teams=(make_team("售后服务"),)))
    assert client.get(f"/desk/c/{c.pk}/panels/").status_code == 403
    client.logout()
    assert client.get(f"/desk/c/{c.pk}/panels/").status_code == 302


def test_conversation_panels_queries_do_not_grow_with_agents_history_or_open_work(
    agent_client, desk, make_user
):
    from tests.queries import page_queries

    here = _mine(desk, "here", "你好", name="张女士")
    _mine(desk, "o0", "在吗")
    make_user("agent0", teams=(desk.team,))
    url = f"/desk/c/{here.pk}/panels/"
    few = page_queries(agent_client, url)
    for i in range(1, 6):
        make_user(f"agent{i}", teams=(desk.team,))
        _mine(desk, f"o{i}", f"问题{i}")
        Conversation.objects.create(
            channel=desk.channel,
            customer=here.customer,
            team=desk.team,
            status="closed",
            subject=f"第{i}次咨询",
        )
    assert page_queries(agent_client, url) == few


def test_moving_an_agent_to_another_team_refreshes_her_queued_count(
    client, desk, make_team, make_user, django_capture_on_commit_callbacks
):
    from kefu.accounts.models import Role, User
    from kefu.accounts.services import do_set_teams

    admin = make_user("guanliyuan", role=Role.ADMIN)
    User.objects.filter(pk=desk.agent.pk).update(status="offline")
    waiting = receive(desk, "v1", "在吗")
    Conversation.objects.filter(pk=waiting.pk).update(queued_at="2026-12-03T10:00:00+08:00")
    client.force_login(desk.agent)
    assert client.get("/api/v1/desk/counts").json()["queued"] == 1
    with django_capture_on_commit_callbacks(execute=True):
        do_set_teams(actor=admin, user=desk.agent, teams=[make_team("售后服务")])
    assert client.get("/api/v1/desk/counts").json()["queued"] == 0
