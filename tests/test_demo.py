from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from kefu.accounts.models import Role, Team, User
from kefu.channels.models import Channel
from kefu.conversations.models import Conversation, Message
from kefu.customers.models import Customer, Order
from kefu.replies.models import CannedReply
from kefu.routing.models import RoutingRule
from kefu.tickets.models import Department, Ticket

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture(autouse=True)
def _demo_settings(settings, tmp_path):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MEDIA_ROOT = tmp_path


def run_demo(*args: str) -> str:
    out = StringIO()
    call_command("demo", *args, stdout=out)
    return out.getvalue()


def test_demo_builds_the_shop_with_one_random_password():
    output = run_demo()
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


def test_running_twice_does_not_duplicate_and_reset_rebuilds(make_user):
    # The operator's own account and channel share names with demo ones.
    own_admin = make_user("admin", role="admin")
    own_channel = Channel.objects.create(name="客服邮箱", kind="email")
    output = run_demo()
    assert "admin_demo" in output
    counts = (
        User.objects.count(),
        Customer.objects.count(),
        Conversation.objects.count(),
        Order.objects.count(),
    )
    assert "已存在" in run_demo()
    assert (
        User.objects.count(),
        Customer.objects.count(),
        Conversation.objects.count(),
        Order.objects.count(),
    ) == counts
    run_demo("--reset")
    assert (
        User.objects.count(),
        Customer.objects.count(),
        Conversation.objects.count(),
        Order.objects.count(),
    ) == counts
    own_admin.refresh_from_db()
    own_channel.refresh_from_db()
    assert Channel.objects.filter(name="客服邮箱（演示）").exists()
