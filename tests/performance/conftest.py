"""A hand-built fortnight of the 售后服务 team (and a second team, 售前咨询, that must stay apart).

Week under review: 2026-W46 (Mon 9 – Sun 15 November 2026, desk time); the week before, 2026-W45.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.utils import timezone

WEEK = "2026-W46"
MONDAY = datetime(2026, 11, 9, 10, 0)
PREVIOUS_MONDAY = datetime(2026, 11, 2, 10, 0)

# (agent, intent, quality score, CSAT, the customer's comment) for the week under review.
THIS_WEEK = [
    ("xiaomei", "退换货", 98, 5, "客服小美耐心又专业，退货很顺利"),
    ("xiaomei", "物流查询", 95, 5, "物流问题很快解决了，谢谢"),
    ("aqiang", "物流查询", 92, 4, ""),
    ("xiaomei", "退换货", 90, 5, "换货很快"),
    ("aqiang", "质量问题", 88, 4, ""),
    ("xiaomei", "发票", 85, None, ""),
    ("aqiang", "物流查询", 80, 3, "还行吧"),
    ("xiaomei", "退换货", 75, 3, ""),
    ("aqiang", "质量问题", 60, 2, "等了很久才回复"),
    ("aqiang", "物流查询", 52, 1, "客服态度敷衍，问题没解决"),
    ("aqiang", "质量问题", 40, 1, "推来推去，我要投诉到12315"),
    ("xiaomei", "物流查询", None, None, ""),
]
# Conversation numbers (1-based, in THIS_WEEK order) of the best and worst cases, best first / worst first.
BEST = [1, 2, 4, 6, 3]
WORST = [11, 10, 9, 8, 7]
LAST_WEEK = [("xiaomei", "物流查询")] * 5 + [("aqiang", "退换货")] * 3


def aware(naive: datetime) -> datetime:
    return timezone.make_aware(naive)


def build_floor() -> SimpleNamespace:
    from kefu.accounts.models import Role, Team
    from kefu.accounts.services import do_create_user
    from kefu.channels.models import Channel
    from kefu.complaints.models import Complaint, Promise
    from kefu.conversations.models import Conversation
    from kefu.customers.models import Customer
    from kefu.kb.models import Article, Feedback
    from kefu.quality.models import QualityScore
    from kefu.replies.models import CannedReply, ReplyUsage
    from kefu.tickets.models import Ticket

    def make_team(name: str) -> Team:
        return Team.objects.create(name=name)

    def make_user(
        username: str, *, role: str = Role.AGENT, teams: tuple[Any, ...] = (), display_name: str
    ) -> Any:
        return do_create_user(
            username=username,
            password="kefu-test-pass-2026",
            role=role,
            teams=teams,
            display_name=display_name,
        )

    def make_channel(kind: str, *, team: Team, name: str) -> Channel:
        return Channel.objects.create(name=name, kind=kind, team=team)

    after_sales = make_team("售后服务")
    presales = make_team("售前咨询")
    people = {
        "xiaomei": make_user("xiaomei", teams=(after_sales,), display_name="小美"),
        "aqiang": make_user("aqiang", teams=(after_sales,), display_name="阿强"),
        "lead": make_user("lizuzhang", role=Role.TEAM_LEAD, teams=(after_sales,), display_name="李组长"),
        "lead2": make_user("qianzuzhang", role=Role.TEAM_LEAD, teams=(after_sales,), display_name="钱组长"),
        "other_lead": make_user("zhaozuzhang", role=Role.TEAM_LEAD, teams=(presales,), display_name="赵组长"),
        "xiaolin": make_user("xiaolin", teams=(presales,), display_name="小林"),
        "supervisor": make_user("wangzhuguan", role=Role.SUPERVISOR, display_name="王主管"),
        "admin": make_user("guanliyuan", role=Role.ADMIN, display_name="管理员"),
    }
    emails = {
        "xiaomei": "xiaomei@shop.example",
        "lead": "lizuzhang@shop.example",
        "other_lead": "zhaozuzhang@shop.example",
        "supervisor": "wangzhuguan@shop.example",
    }
    for key, email in emails.items():
        people[key].email = email
        people[key].save(update_fields=["email"])
    channel = make_channel("web", team=after_sales, name="官网在线客服")
    customer_names = ["张女士", "刘先生", "陈女士", "王先生", "赵女士", "孙先生"]
    customers = [Customer.objects.create(name=n) for n in customer_names]

    def conversation(
        team: Any,
        agent: Any,
        intent: str,
        at: datetime,
        quality: int | None,
        csat: int | None,
        comment: str = "",
    ) -> Conversation:
        c = Conversation.objects.create(
            channel=channel,
            customer=customers[Conversation.objects.count() % len(customers)],
            team=team,
            assignee=agent,
            first_responder=agent,
            intent=intent,
            subject=f"{intent}咨询",
        )
        closed = aware(at) + timedelta(minutes=20)
        Conversation.objects.filter(pk=c.pk).update(
            created_at=aware(at),
            first_response_at=aware(at) + timedelta(seconds=40),
            resolved_at=closed,
            status=Conversation.Status.RESOLVED,
            csat_score=csat,
            csat_comment=comment,
            csat_at=closed + timedelta(minutes=5) if csat else None,
        )
        if quality is not None:
            QualityScore.objects.create(
                conversation=c, agent=agent, total=quality, items=[], rubric_version=1, closed_at=closed
            )
        c.refresh_from_db()
        return c

    this_week = [
        conversation(after_sales, people[a], intent, MONDAY + timedelta(hours=7 * i), q, s, text)
        for i, (a, intent, q, s, text) in enumerate(THIS_WEEK)
    ]
    last_week = [
        conversation(after_sales, people[a], intent, PREVIOUS_MONDAY + timedelta(hours=9 * i), 80, 4)
        for i, (a, intent) in enumerate(LAST_WEEK)
    ]
    other_team = [
        conversation(
            presales, people["xiaolin"], "售前咨询", MONDAY + timedelta(hours=3 + i), 99, 5, "小林推荐得很准"
        )
        for i in range(3)
    ]

    def complaint(team: Any, conv: Conversation, number: str, title: str, what: str) -> Complaint:
        ticket = Ticket.objects.create(
            number=number, title=title, category="complaint", customer=conv.customer, team=team
        )
        ticket.conversations.add(conv)
        made = Complaint.objects.create(ticket=ticket, what_happened=what, customer_request="退款并道歉")
        Complaint.objects.filter(pk=made.pk).update(created_at=conv.resolved_at)
        return made

    complaints = [
        complaint(
            after_sales,
            this_week[10],
            "TS202611120001",
            "电饭煲内胆掉漆投诉",
            "收到的电饭煲内胆掉漆，客服推诿",
        ),
        complaint(
            after_sales, this_week[9], "TS202611120002", "快递一周未到投诉", "快递停在中转站一周，客服敷衍"
        ),
        complaint(presales, other_team[0], "TS202611120003", "赠品未发投诉", "下单承诺的赠品没有收到"),
    ]
    broken = Promise.objects.create(
        owner=people["aqiang"],
        conversation=this_week[8],
        description="今天18:00前回电告知退款进度",
        due_at=aware(datetime(2026, 11, 11, 18, 0)),
        status=Promise.Status.BROKEN,
        broken_at=aware(datetime(2026, 11, 11, 18, 1)),
    )
    Promise.objects.create(
        owner=people["xiaomei"],
        conversation=this_week[0],
        description="明天中午前寄出换货",
        due_at=aware(datetime(2026, 11, 10, 12, 0)),
        status=Promise.Status.KEPT,
        kept_at=aware(datetime(2026, 11, 10, 11, 0)),
    )
    Promise.objects.create(
        owner=people["xiaolin"],
        conversation=other_team[1],
        description="今天下班前补发赠品",
        due_at=aware(datetime(2026, 11, 12, 18, 0)),
        status=Promise.Status.BROKEN,
    )
    apology = CannedReply.objects.create(
        title="物流延迟致歉",
        shortcut="wlyc",
        text="非常抱歉，您的包裹因天气原因延迟，预计{预计送达}送达。",
        scenario="物流延迟",
    )
    address = CannedReply.objects.create(
        title="退货地址", shortcut="thdz", text="退货地址：{退货地址}", scenario="退换货"
    )
    CannedReply.objects.create(
        title="售前推荐",
        text="这款很适合您",
        scenario="售前咨询",
        scope=CannedReply.Scope.TEAM,
        team=presales,
    )
    for i in range(3):
        for reply, similarity, first in ((apology, 0.5, 6), (address, 1.0, 0)):
            usage = ReplyUsage.objects.create(
                reply=reply,
                agent=people["aqiang"],
                conversation=this_week[first + i],
                inserted_text=reply.text,
                similarity=similarity,
            )
            ReplyUsage.objects.filter(pk=usage.pk).update(created_at=aware(MONDAY + timedelta(hours=30 + i)))
    article = Article.objects.create(
        title="七天无理由退货规则", answer="签收后七天内可申请退货", status="published", views=40
    )
    for helpful in (False, False, False, True):
        vote = Feedback.objects.create(
            article=article, helpful=helpful, comment="" if helpful else "没说清楚运费谁出"
        )
        Feedback.objects.filter(pk=vote.pk).update(created_at=aware(MONDAY + timedelta(days=2)))
    Article.objects.create(title="发票开具说明", answer="下单后在订单页申请", status="published", views=12)
    return SimpleNamespace(
        team=after_sales,
        other_team=presales,
        channel=channel,
        this_week=this_week,
        last_week=last_week,
        other=other_team,
        complaints=complaints,
        broken=broken,
        apology=apology,
        address=address,
        article=article,
        **people,
    )


@pytest.fixture
def floor(db: Any) -> SimpleNamespace:
    return build_floor()


@pytest.fixture(scope="module")
def shared_floor(django_db_setup: Any, django_db_blocker: Any) -> Iterator[SimpleNamespace]:
    """One floor for a module whose tests only read it (each test's own writes are rolled back)."""
    from django.conf import settings
    from django.db import transaction

    hashers = settings.PASSWORD_HASHERS
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    try:
        with django_db_blocker.unblock(), transaction.atomic():
            yield build_floor()
            transaction.set_rollback(True)
    finally:
        settings.PASSWORD_HASHERS = hashers


@pytest.fixture
def client_for() -> Any:
    from django.test import Client

    def make(user: Any) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make
