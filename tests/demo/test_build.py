"""``kefu demo``: the demo shop that ``kefu.demo.build`` installs, and ``--reset``."""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test.utils import override_settings

from kefu.accounts.models import Role, Team, User
from kefu.channels.models import Channel
from kefu.complaints.models import CompensationRequest, Complaint, Promise
from kefu.conversations.models import Conversation, Message
from kefu.customers.models import Customer, Order
from kefu.kb.models import Article, Category, SynonymGroup
from kefu.replies.models import CannedReply, ShopProfile
from kefu.routing.models import RoutingRule
from kefu.tickets.models import Department, Ticket

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture(autouse=True)
def _demo_settings(settings, tmp_path):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture(scope="module")
def built(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[str]:
    """One demo build shared by the tests that only read it (each build costs seconds), in a
    transaction rolled back after the module; returns what ``kefu demo`` printed."""
    from kefu.kb.index import reset_index

    with (
        override_settings(
            PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
            MEDIA_ROOT=tmp_path_factory.mktemp("demo-media"),
        ),
        django_db_blocker.unblock(),
    ):
        reset_index()  # rows of earlier tests rolled back; the in-memory index must not remember them
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            yield run_demo()
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)
            reset_index()


def run_demo(*args: str) -> str:
    out = StringIO()
    call_command("demo", *args, stdout=out)
    return out.getvalue()


def demo_counts() -> tuple[int, ...]:
    return (
        User.objects.count(),
        Customer.objects.count(),
        Conversation.objects.count(),
        Order.objects.count(),
        Article.objects.count(),
        Category.objects.count(),
        SynonymGroup.objects.count(),
        Complaint.objects.count(),
        CompensationRequest.objects.count(),
        Promise.objects.count(),
        ShopProfile.objects.count(),
    )


# First: it builds the demo itself, before the shared build below exists.
def test_running_twice_does_not_duplicate_and_reset_rebuilds(make_user):
    # The operator's own account and channel share names with demo ones.
    own_admin = make_user("admin", role="admin")
    own_channel = Channel.objects.create(name="客服邮箱", kind="email")
    output = run_demo()
    assert "admin_demo" in output
    counts = demo_counts()
    assert "已存在" in run_demo()
    assert demo_counts() == counts
    # The knowledge base is kept and reused; complaints, promises and approvals are rebuilt.
    run_demo("--reset")
    assert demo_counts() == counts
    own_admin.refresh_from_db()
    own_channel.refresh_from_db()
    assert Channel.objects.filter(name="客服邮箱（演示）").exists()


def test_demo_builds_the_shop_with_one_random_password(built):
    output = built
    assert {"售前咨询", "售后服务", "技术支持", "投诉处理"} <= set(
        Team.objects.values_list("name", flat=True)
    )
    assert Team.objects.get(name="售前咨询").is_general
    assert set(User.objects.values_list("role", flat=True)) == set(Role.values)
    assert not User.objects.filter(employee_no="").exists()
    assert Customer.objects.count() >= 150
    assert Customer.objects.filter(vip_level__gt=0).exists()
    assert Order.objects.filter(logistics__isnull=False).exists()
    assert Channel.objects.filter(kind="email").exclude(email_address="").exists()
    assert set(Channel.objects.values_list("kind", flat=True)) == set(Channel.Kind.values)
    assert RoutingRule.objects.get(name="投诉升级").team.name == "投诉处理"
    assert Department.objects.get(name="仓储物流部").required_fields == ["order_no", "tracking_no"]
    assert CannedReply.objects.exists()
    # The shop's hours: chat every day 09–24 through holidays; the after-sales inbox office hours.
    from kefu.hours.calendar import calendar_for

    email = Channel.objects.get(kind="email", config__demo=True)
    after_sales = Team.objects.get(name="售后服务")
    assert calendar_for(after_sales, email).schedule.name == "售后邮箱 工作日 9:00-18:00"
    desk_wide = calendar_for(Team.objects.get(name="售前咨询"), Channel.objects.get(kind="web"))
    assert desk_wide.schedule.name.startswith("全店在线客服") and not desk_wide.observe_holidays
    conversations = Conversation.objects.all()
    assert conversations.count() >= 35
    assert conversations.values("channel__kind").distinct().count() >= 5
    assert {"open", "pending", "resolved", "closed", "snoozed"} <= set(
        conversations.values_list("status", flat=True)
    )
    assert conversations.filter(assignee__isnull=True, status="open").exists()
    assert Ticket.objects.exists()
    assert Message.objects.filter(direction="incoming", text__contains="12315").exists()
    assert Message.objects.filter(kind="image").exists()
    # Timestamps are spread over the last days, not all "now".
    oldest = conversations.order_by("created_at").first()
    newest = conversations.order_by("-created_at").first()
    assert (newest.created_at - oldest.created_at).total_seconds() > 24 * 3600
    # One random password for every account, printed once with the usernames.
    assert "admin" in output and "majun" in output
    line = next(line for line in output.splitlines() if "密码" in line)
    password = line.rsplit("：", 1)[1].strip()
    assert len(password) >= 12
    assert User.objects.get(username="admin").check_password(password)
    assert User.objects.get(username="majun").check_password(password)
    assert output.count(password) == 1
    # The training cases, and two of 售前咨询's agents who practised (模拟训练) for their lead's page.
    from kefu.training.models import TrainingCase, TrainingSession
    from kefu.training.services import team_progress

    assert TrainingCase.objects.exclude(key=None).filter(is_active=True).count() == 7
    outcomes = dict(TrainingSession.objects.values_list("trainee__username", "outcome").order_by("id"))
    assert outcomes == {"linmeiling": "resolved", "heyutong": "escalated"}
    view = team_progress(User.objects.get(username="zhangli"))
    assert {p["trainee"] for p in view["trainees"]} == {"林美玲", "何雨桐"}
    assert view["weak_spots"][0]["replies"] >= 3


def test_demo_has_a_knowledge_base_and_the_shop_profile(built):
    from django.utils import timezone

    from kefu.kb.index import search_articles
    from kefu.kb.services import list_articles

    top = set(Category.objects.filter(parent=None).values_list("name", flat=True))
    assert {"配送与物流", "退换货与退款", "商品与使用", "订单与支付", "发票", "账户与App"} <= top
    assert Category.objects.filter(parent__name="配送与物流").exists()
    published = Article.objects.filter(status="published")
    assert published.count() >= 30
    assert Article.objects.filter(status="draft").count() >= 1
    for article in published:
        assert article.category_id and article.answer and article.tags and article.review_by
        assert 3 <= len(article.similar_questions) <= 6
    stale = list_articles(stale_only=True)
    assert 1 <= stale.count() < published.count() and stale[0].review_by < timezone.localdate()
    assert SynonymGroup.objects.filter(head="充电宝").exists()

    # Customers' own words find the article: a synonym and a similar question.
    def top3(q: str) -> list[str]:
        return [r.article.title for r in search_articles(q, limit=3)]

    assert "充电宝可以带上飞机吗？" in top3("移动电源能带上飞机吗")
    assert "收不到短信验证码怎么办？" in top3("验证码一直收不到")
    profile = ShopProfile.objects.get()
    assert profile.shop_name == "悦家生活旗舰店"
    assert profile.return_address == "浙江省杭州市余杭区仓前街道文一西路 1888 号 悦家生活售后仓"
    assert profile.service_hours == "每天 9:00–22:00"


def test_demo_has_complaints_at_every_stage_with_compensation_and_promises(built):
    from kefu.tickets.models import FollowUp

    stages = set(Complaint.objects.values_list("stage", flat=True))
    assert {"intake", "tracking", "resolution", "closed"} <= stages

    rude = Complaint.objects.get(ticket__title="客服态度投诉 + 炒锅涂层脱落")
    assert rude.stage == "resolution" and rude.customer_confirmed_at is None
    assert Message.objects.filter(
        conversation__tickets=rude.ticket, text__contains="【投诉处理结果】"
    ).exists()

    courier = Complaint.objects.get(stage="tracking", ticket__title__contains="快递员态度恶劣")
    assert courier.ticket.department.name == "仓储物流部"
    assert courier.last_update_at is not None and courier.next_update_due > courier.last_update_at

    repeat = Complaint.objects.get(repeat_of=courier)
    assert repeat.ticket.customer_id == courier.ticket.customer_id
    assert repeat.ticket.assignee.is_senior

    closed = Complaint.objects.get(stage="closed")
    assert closed.ticket.status == "closed" and closed.follow_up_note
    # Backdated with its conversation: confirmed days ago, visited when the visit fell due.
    assert closed.follow_up_due < closed.follow_up_done_at
    assert closed.resolved_at < closed.customer_confirmed_at < closed.follow_up_due
    assert not FollowUp.objects.filter(ticket=closed.ticket, done_at__isnull=True).exists()

    granted = CompensationRequest.objects.filter(status="granted")
    assert granted.filter(requested_by__role=Role.AGENT).exists()
    (pending,) = CompensationRequest.objects.filter(status="pending")
    assert pending.approver_role == Role.SUPERVISOR and pending.complaint == repeat
    assert pending.amount > 100

    statuses = {p.status: p for p in Promise.objects.all()}
    assert set(statuses) == {"open", "kept", "broken"}
    assert statuses["open"].due_at > statuses["open"].created_at
    assert (
        statuses["broken"].broken_at is not None and statuses["broken"].due_at < statuses["broken"].broken_at
    )
    assert statuses["kept"].kept_at <= statuses["kept"].due_at
