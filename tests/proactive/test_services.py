"""Proactive service: each rule fires once per event, within its limit, on the customer's channel."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from kefu.accounts.models import AgentStatus, User
from kefu.channels.models import OutboundDelivery
from kefu.conversations.models import Conversation, Message
from kefu.conversations.services import do_receive_customer_message
from kefu.core.errors import Conflict, PermissionDenied
from kefu.customers.models import LogisticsEvent
from kefu.customers.orders import do_add_logistics
from kefu.customers.services import customer_timeline
from kefu.proactive import services
from kefu.proactive.models import Kind, Notice, Statement, Trigger

pytestmark = pytest.mark.django_db


def run_worker(now=None) -> list[Notice]:
    """What the worker's tasks do: answer every pending trigger."""
    done = []
    for pk in Trigger.objects.filter(status=Trigger.Status.PENDING).values_list("pk", flat=True):
        done += services.do_process_trigger(pk, now=now)
    return done


def ship(push_order, customer, order_no, tracking="SF1402345678901", carrier="顺丰速运"):
    push_order(customer, order_no)
    return push_order(customer, order_no, shipping_status="shipped", carrier=carrier, tracking_no=tracking)


def test_a_shipped_order_mails_the_carrier_and_tracking_number_once(
    shop, make_rule, make_customer, push_order, django_capture_on_commit_callbacks
):
    make_rule(Kind.ORDER_SHIPPED)
    customer = make_customer("李娜", email="li.na@example.com")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        ship(push_order, customer, "YJ20261201001")
    assert callbacks, "the trigger's task is queued after the commit"
    [notice] = run_worker()
    assert notice.status == Notice.Status.SENT
    assert notice.channel_kind == "email"
    assert notice.text == (
        "李娜您好，您在悦家生活旗舰店的订单YJ20261201001已发货，顺丰速运，运单号SF1402345678901，请留意查收。"
    )
    message = Message.objects.get(pk=notice.message_id)
    assert message.conversation.channel == shop.email
    assert message.conversation.status == Conversation.Status.CLOSED
    assert OutboundDelivery.objects.filter(message=message).count() == 1
    # The store pushes the same order again (a retry), then once more with a new logistics event.
    push_order(
        customer,
        "YJ20261201001",
        shipping_status="shipped",
        carrier="顺丰速运",
        tracking_no="SF1402345678901",
    )
    push_order(
        customer,
        "YJ20261201001",
        shipping_status="in_transit",
        carrier="顺丰速运",
        tracking_no="SF1402345678901",
        logistics=[{"at": timezone.now().isoformat(), "location": "杭州", "description": "快件已揽收"}],
    )
    assert run_worker() == []
    assert Notice.objects.count() == 1
    assert Message.objects.filter(meta__proactive=Kind.ORDER_SHIPPED).count() == 1


def test_the_same_trigger_processed_twice_sends_once(shop, make_rule, make_customer, push_order):
    make_rule(Kind.ORDER_SHIPPED)
    customer = make_customer("王芳", email="wang.fang@example.com")
    ship(push_order, customer, "YJ20261201002")
    trigger = Trigger.objects.get()
    assert len(services.do_process_trigger(trigger.pk)) == 1
    assert services.do_process_trigger(trigger.pk) == []
    assert Message.objects.filter(meta__proactive=Kind.ORDER_SHIPPED).count() == 1


def test_a_trigger_whose_task_was_lost_is_answered_by_the_sweep_once(
    shop, make_rule, make_customer, push_order
):
    make_rule(Kind.ORDER_SHIPPED)
    customer = make_customer("赵磊", email="zhao.lei@example.com")
    ship(push_order, customer, "YJ20261201003")  # on_commit never ran: the process died before enqueueing
    assert Trigger.objects.get().status == Trigger.Status.PENDING
    later = timezone.now() + timedelta(minutes=2)
    assert services.do_sweep(later, scan_stalls=False) == 1
    assert services.do_sweep(later + timedelta(minutes=5), scan_stalls=False) == 0
    assert Notice.objects.filter(status=Notice.Status.SENT).count() == 1


def test_no_rule_no_trigger(shop, make_customer, push_order):
    customer = make_customer("孙悦", email="sun.yue@example.com")
    ship(push_order, customer, "YJ20261201004")
    assert not Trigger.objects.exists()


def test_the_daily_limit_stops_the_next_message_and_says_why(shop, make_rule, make_customer, push_order):
    make_rule(Kind.ORDER_SHIPPED, daily_limit=1)
    customer = make_customer("周敏", email="zhou.min@example.com")
    ship(push_order, customer, "YJ20261201005")
    ship(push_order, customer, "YJ20261201006", tracking="YT7712345678")
    first, second = sorted(run_worker(), key=lambda n: n.pk)
    assert first.status == Notice.Status.SENT
    assert second.status == Notice.Status.SKIPPED
    assert "上限" in second.reason
    # A day later the limit has room again.
    ship(push_order, customer, "YJ20261201007", tracking="ZTO33445566")
    [third] = run_worker(now=timezone.now() + timedelta(hours=25))
    assert third.status == Notice.Status.SENT


def test_a_customer_in_the_chat_gets_the_message_in_the_chat(shop, make_rule, make_customer, push_order):
    make_rule(Kind.REFUND_COMPLETED)
    desk = shop.desk
    message, _ = do_receive_customer_message(
        channel=desk.channel,
        identities=[("web", "v-3f9a0c12e4b1")],
        text="我的退款什么时候到账？",
        customer_name="陈晨",
    )
    customer = message.conversation.customer
    Conversation.objects.filter(pk=message.conversation_id).update(status=Conversation.Status.OPEN)
    services.do_note_chat_seen(channel_id=desk.channel.pk, visitor_id="v-3f9a0c12e4b1")
    push_order(customer, "YJ20261201008", payment_status="refunding")
    push_order(customer, "YJ20261201008", payment_status="refunded")
    [notice] = run_worker()
    assert notice.channel_kind == "web"
    assert notice.conversation_id == message.conversation_id
    assert "订单YJ20261201008的退款128.00元已原路退回" in notice.text
    assert not OutboundDelivery.objects.filter(message_id=notice.message_id).exists()


def test_a_customer_who_left_the_chat_is_mailed(shop, make_rule, make_customer, push_order):
    make_rule(Kind.REFUND_COMPLETED)
    desk = shop.desk
    message, _ = do_receive_customer_message(
        channel=desk.channel, identities=[("web", "v-77aa")], text="退款到哪了", customer_name="陈晨"
    )
    customer = message.conversation.customer
    customer.email = "chen.chen@example.com"
    customer.save(update_fields=["email"])
    services.do_note_chat_seen(
        channel_id=desk.channel.pk, visitor_id="v-77aa", now=timezone.now() - timedelta(minutes=10)
    )
    push_order(customer, "YJ20261201009", payment_status="refunded")
    # Created as refunded: not a completed refund to announce, so nothing fires.
    assert not Trigger.objects.exists()
    push_order(customer, "YJ20261201010", payment_status="refunding")
    push_order(customer, "YJ20261201010", payment_status="refunded")
    [notice] = run_worker()
    assert notice.channel_kind == "email"


def test_a_wechat_customer_gets_the_im_webhook(shop, make_rule, make_customer, push_order):
    make_rule(Kind.ORDER_SHIPPED)
    customer = make_customer("黄磊", identities=(("wechat", "oYJ-7f3a9c2e81"),))
    ship(push_order, customer, "YJ20261201011")
    [notice] = run_worker()
    assert notice.channel_kind == "im"
    delivery = OutboundDelivery.objects.get(message_id=notice.message_id)
    assert delivery.message.conversation.channel == shop.im


def test_a_customer_reachable_nowhere_is_logged_not_sent(shop, make_rule, make_customer, push_order):
    make_rule(Kind.ORDER_SHIPPED)
    customer = make_customer("匿名买家")
    ship(push_order, customer, "YJ20261201012")
    [notice] = run_worker()
    assert notice.status == Notice.Status.SKIPPED
    assert "没有可用渠道" in notice.reason
    assert not Message.objects.filter(meta__proactive=Kind.ORDER_SHIPPED).exists()


def test_a_team_rule_leaves_another_teams_customers_untouched(
    shop, make_rule, make_customer, push_order, make_team, make_channel
):
    make_rule(Kind.ORDER_SHIPPED, team=shop.desk.team)
    aftersales = make_team("售后服务")
    other_channel = make_channel(
        "email", team=aftersales, name="售后邮箱", email_address="after@yuejia.example"
    )
    theirs = do_receive_customer_message(
        channel=other_channel,
        identities=[("email", "liu.yang@example.com")],
        text="收到的杯子有划痕",
        customer_name="刘洋",
    )[0].conversation.customer
    ours = do_receive_customer_message(
        channel=shop.email,
        identities=[("email", "he.jing@example.com")],
        text="什么时候发货",
        customer_name="何静",
    )[0].conversation.customer
    ship(push_order, theirs, "YJ20261201013")
    ship(push_order, ours, "YJ20261201014", tracking="SF1402345678999")
    notices = run_worker()
    assert [n.customer_id for n in notices] == [ours.pk]
    assert not Notice.objects.filter(customer=theirs).exists()


def test_stalled_logistics_apologise_with_a_new_estimate_once_per_stall(
    shop, make_rule, make_customer, push_order
):
    make_rule(Kind.LOGISTICS_STALLED, stall_hours=48, estimate_days=2)
    customer = make_customer("吴倩", email="wu.qian@example.com")
    long_ago = timezone.now() - timedelta(hours=50)
    order = push_order(
        customer,
        "YJ20261201015",
        shipping_status="in_transit",
        carrier="中通快递",
        tracking_no="ZTO7788990011",
        placed_at=long_ago - timedelta(hours=2),
        logistics=[{"at": long_ago.isoformat(), "location": "郑州", "description": "快件已到达郑州转运中心"}],
    )
    fresh = push_order(
        customer,
        "YJ20261201016",
        shipping_status="in_transit",
        logistics=[{"at": timezone.now().isoformat(), "location": "上海", "description": "运输中"}],
    )
    now = timezone.now()
    assert services.do_scan_stalled(now) == 1
    assert services.do_scan_stalled(now) == 0
    [notice] = run_worker(now=now)
    estimate = timezone.localtime(now).date() + timedelta(days=2)
    assert notice.order_id == order.pk
    assert f"预计{estimate.month}月{estimate.day}日送达" in notice.text
    assert "中通快递" in notice.text
    assert not Trigger.objects.filter(order=fresh).exists()
    # The parcel moves, then stalls again: a second stall is a second apology.
    do_add_logistics(
        actor=None,
        order=order,
        events=[{"at": (now - timedelta(hours=49)).isoformat(), "description": "快件已发往杭州"}],
    )
    assert services.do_scan_stalled(now) == 1
    assert len(run_worker(now=now + timedelta(days=1))) == 1
    assert LogisticsEvent.objects.filter(order=order).count() == 2


def test_missing_data_is_never_sent_as_a_bare_placeholder(shop, make_rule, make_customer, push_order):
    shop.replies[Kind.ORDER_SHIPPED].text = "您的订单{订单号}已发货，预计{预计送达}送达"
    shop.replies[Kind.ORDER_SHIPPED].save()
    make_rule(Kind.ORDER_SHIPPED)
    customer = make_customer("郑爽", email="zheng.shuang@example.com")
    ship(push_order, customer, "YJ20261201017")
    [notice] = run_worker()
    assert notice.status == Notice.Status.SKIPPED
    assert "{预计送达}" in notice.reason


def test_a_delay_statement_goes_once_to_each_affected_customer_after_one_approval(
    shop, make_customer, push_order
):
    a = make_customer("李娜", email="li.na@example.com")
    b = make_customer("王芳", email="wang.fang@example.com")
    bystander = make_customer("张伟", email="zhang.wei@example.com")
    for customer, no in ((a, "YJ20261201021"), (a, "YJ20261201022"), (b, "YJ20261201023")):
        push_order(customer, no, shipping_status="in_transit", carrier="韵达快递", tracking_no=f"YD{no[-6:]}")
    push_order(
        bystander, "YJ20261201024", shipping_status="in_transit", carrier="顺丰速运", tracking_no="SF1"
    )
    statement = services.do_create_statement(
        actor=shop.lead,
        data={
            "title": "华东暴雪配送延误",
            "reason": "weather",
            "text": "{客户姓名}您好，受华东暴雪影响，您的订单{订单号}预计{预计送达}送达，给您添麻烦了，非常抱歉。",
            "team_id": shop.desk.team.pk,
            "carrier": "韵达快递",
            "new_estimate": "2026-12-08",
        },
    )
    with pytest.raises(PermissionDenied):
        services.do_approve_statement(actor=shop.lead, statement_id=statement.pk)
    # Only customers the lead's team serves are in scope: make both of them ours.
    for customer in (a, b):
        Conversation.objects.create(channel=shop.email, customer=customer, team=shop.desk.team)
    approved = services.do_approve_statement(actor=shop.desk.supervisor, statement_id=statement.pk)
    assert approved.recipient_count == 2
    with pytest.raises(Conflict):
        services.do_approve_statement(actor=shop.desk.supervisor, statement_id=statement.pk)
    assert services.do_send_statement(statement.pk) == 2
    assert services.do_send_statement(statement.pk) == 0
    sent = {n.customer_id: n for n in Notice.objects.filter(statement=statement)}
    assert set(sent) == {a.pk, b.pk}
    assert "预计12月8日送达" in sent[b.pk].text
    assert all(n.status == Notice.Status.SENT for n in sent.values())
    statement.refresh_from_db()
    assert statement.status == Statement.Status.SENT and statement.approved_by == shop.desk.supervisor


def test_a_statement_worker_stopped_half_way_sends_only_the_rest(shop, make_customer, push_order):
    customers = [make_customer(f"客户{i}", email=f"c{i}@example.com") for i in range(3)]
    for i, c in enumerate(customers):
        push_order(
            c, f"YJ2026120103{i}", shipping_status="in_transit", carrier="极兔速递", tracking_no=f"JT{i}"
        )
    statement = services.do_create_statement(
        actor=shop.desk.supervisor,
        data={
            "title": "双12高峰延误",
            "reason": "peak",
            "text": "您好，双12高峰，订单{订单号}会晚一两天到。",
            "carrier": "极兔速递",
        },
    )
    services.do_approve_statement(actor=shop.desk.supervisor, statement_id=statement.pk)
    first = Notice.objects.filter(statement=statement).order_by("id").first()
    services._send(
        first, "您好，双12高峰。", team=None, limit=None, now=timezone.now()
    )  # sent before the crash
    later = timezone.now() + timedelta(minutes=2)
    assert services.do_sweep(later, scan_stalls=False) == 2
    assert Message.objects.filter(meta__proactive="statement").count() == 3


def test_a_visitor_lingering_on_a_product_page_is_invited_once(shop, make_rule, open_all_week):
    make_rule(Kind.PAGE_LINGER, linger_seconds=30)
    channel = shop.desk.channel
    now = timezone.now()
    first = services.do_report_page(
        channel=channel, visitor_id="v-linger1", url="/item/BWB-500", page_kind="product", now=now
    )
    assert first.invite is None and first.next_report <= 10
    almost = services.do_report_page(
        channel=channel,
        visitor_id="v-linger1",
        url="/item/BWB-500",
        page_kind="product",
        now=now + timedelta(seconds=25),
    )
    assert almost.invite is None and almost.next_report == 6
    answer = services.do_report_page(
        channel=channel,
        visitor_id="v-linger1",
        url="/item/BWB-500",
        page_kind="product",
        now=now + timedelta(seconds=31),
    )
    assert answer.invite is not None
    assert answer.invite["text"] == "您好，欢迎光临悦家生活旗舰店！这款商品有什么想了解的吗？点我咨询客服～"
    again = services.do_report_page(
        channel=channel,
        visitor_id="v-linger1",
        url="/item/BWB-500",
        page_kind="product",
        now=now + timedelta(seconds=45),
    )
    assert again.invite is None
    # Moving to another page starts the clock again.
    moved = services.do_report_page(
        channel=channel,
        visitor_id="v-linger1",
        url="/checkout",
        page_kind="checkout",
        now=now + timedelta(seconds=50),
    )
    assert moved.invite is None


def test_nobody_online_no_invitation(shop, make_rule, open_all_week):
    make_rule(Kind.PAGE_LINGER, linger_seconds=10)
    User.objects.filter(pk=shop.desk.agent.pk).update(status=AgentStatus.OFFLINE)
    channel = shop.desk.channel
    now = timezone.now()
    services.do_report_page(
        channel=channel, visitor_id="v-late", url="/item/1", page_kind="checkout", now=now
    )
    answer = services.do_report_page(
        channel=channel,
        visitor_id="v-late",
        url="/item/1",
        page_kind="checkout",
        now=now + timedelta(seconds=20),
    )
    assert answer.invite is None
    assert not Notice.objects.exists()


def test_a_plain_page_never_invites(shop, make_rule, open_all_week):
    make_rule(Kind.PAGE_LINGER, linger_seconds=5, page_kinds=["checkout"])
    now = timezone.now()
    for seconds in (0, 30):
        answer = services.do_report_page(
            channel=shop.desk.channel,
            visitor_id="v-x",
            url="/item/9",
            page_kind="product",
            now=now + timedelta(seconds=seconds),
        )
    assert answer.invite is None


def test_the_customers_timeline_shows_what_was_sent(shop, make_rule, make_customer, push_order):
    make_rule(Kind.ORDER_SHIPPED)
    customer = make_customer("李娜", email="li.na@example.com")
    ship(push_order, customer, "YJ20261201041")
    run_worker()
    entries = customer_timeline(customer, user=shop.desk.supervisor)
    [entry] = [e for e in entries if e["type"] == "proactive"]
    assert entry["title"].startswith("主动服务·发货通知：李娜您好")
    assert entry["status"] == "sent"
