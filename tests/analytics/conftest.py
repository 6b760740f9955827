"""A week of the desk built by hand, every timestamp known, so that every figure is known.

The period is the week of Monday 2 November 2026 (Asia/Shanghai), ``[11-02 00:00, 11-09 00:00)``;
the default business hours (Mon–Fri 09:00–18:00) apply. The figures each conversation adds
are written beside it; tests/analytics/test_metrics_api.py checks them through the API.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest

TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 2, tzinfo=TZ)
END = datetime(2026, 11, 9, tzinfo=TZ)


def at(day: int, hh: int, mm: int = 0, ss: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hh, mm, ss, tzinfo=TZ)


class History:
    """Writes rows with explicit times (auto_now_add fields are set afterwards by update)."""

    def __init__(self) -> None:
        from kefu.conversations.models import Message

        self.Message = Message

    def conversation(self, *, channel: Any, team: Any, customer: Any, created: datetime, **kw: Any) -> Any:
        from kefu.conversations.models import Conversation

        c = Conversation.objects.create(channel=channel, team=team, customer=customer, **kw)
        Conversation.objects.filter(pk=c.pk).update(created_at=created)
        c.refresh_from_db()
        return c

    def message(
        self,
        conversation: Any,
        direction: str,
        when: datetime,
        *,
        sender: Any = None,
        text: str = "",
        **kw: Any,
    ) -> Any:
        m = self.Message.objects.create(
            conversation=conversation, direction=direction, sender=sender, text=text or "好的", **kw
        )
        self.Message.objects.filter(pk=m.pk).update(created_at=when)
        return m

    def customer_says(self, c: Any, when: datetime, text: str = "您好，请问我的快递到哪了？") -> Any:
        return self.message(c, "incoming", when, text=text)

    def agent_says(self, c: Any, when: datetime, agent: Any, text: str = "您好，我来帮您查一下") -> Any:
        return self.message(c, "outgoing", when, sender=agent, text=text)

    def status(self, c: Any, when: datetime, old: str, new: str, actor: Any = None) -> Any:
        return self.message(
            c, "activity", when, sender=actor, kind="event", is_private=True, meta={"from": old, "to": new}
        )


@pytest.fixture
def week(
    db: Any, make_team: Callable[..., Any], make_user: Callable[..., Any], make_channel: Callable[..., Any]
):
    from kefu.accounts.models import Role, StatusChange
    from kefu.complaints.models import CompensationRequest, Complaint, Promise
    from kefu.conversations.models import Conversation
    from kefu.customers.models import Customer
    from kefu.quality.models import QualityScore, ReplyFindings
    from kefu.tickets.models import Ticket
    from kefu.understanding.models import EmotionAlert

    h = History()
    after_sales = make_team("售后服务")
    pre_sales = make_team("售前咨询")
    wang = make_user("wangfang", display_name="王芳", teams=(after_sales,))
    li = make_user("lilei", display_name="李雷", teams=(after_sales,))
    chen = make_user("chenjing", display_name="陈静", teams=(pre_sales,))
    lead = make_user("zhaolead", display_name="赵组长", role=Role.TEAM_LEAD, teams=(after_sales,))
    boss = make_user("sunboss", display_name="孙主管", role=Role.SUPERVISOR)
    admin = make_user("admin1", display_name="管理员", role=Role.ADMIN)
    web = make_channel("web", team=after_sales, name="官网在线客服")
    app = make_channel("app", team=after_sales, name="悦家生活 App")
    people = [
        Customer.objects.create(name=n) for n in ("张伟", "李娜", "王强", "刘洋", "陈晨", "杨帆", "赵敏")
    ]
    zhang, lina, wangq, liu, chenc, yang, zhao = people
    # 陈晨's second profile (her phone) was merged into her first.
    chen2 = Customer.objects.create(name="陈晨（手机）", merged_into=chenc)

    S = Conversation.Status
    # C1 Mon 10:00, web, 王芳: FRT 30 s, a second turn answered in 60 s, resolved 10:10 (AHT 570 s), CSAT 5.
    c1 = h.conversation(
        channel=web, team=after_sales, customer=zhang, created=at(2, 10), intent="物流查询",
        assignee=wang, first_responder=wang, first_response_at=at(2, 10, 0, 30), status=S.RESOLVED,
        resolved_at=at(2, 10, 10), csat_score=5, csat_comment="王芳很耐心，谢谢", csat_at=at(2, 10, 11),
        first_response_due=at(2, 10, 1), emotion_label="calm",
    )  # fmt: skip
    h.customer_says(c1, at(2, 10))
    h.agent_says(c1, at(2, 10, 0, 30), wang)
    h.customer_says(c1, at(2, 10, 1), "单号是 YJ20261102001")
    h.agent_says(c1, at(2, 10, 2), wang, "已经到北京转运中心了，明天送达")
    h.status(c1, at(2, 10, 10), "open", "resolved", wang)
    # C2 Mon 17:59, web, 王芳 answers Tue 09:01: 120 business seconds (wall: 15 h 2 min), resolved
    # 09:11 (AHT 600 s), CSAT 3; the SLA due 09:00 was missed; upset and stayed dissatisfied; a complaint.
    c2 = h.conversation(
        channel=web, team=after_sales, customer=lina, created=at(2, 17, 59), intent="退货退款",
        assignee=wang, first_responder=wang, first_response_at=at(3, 9, 1), status=S.CLOSED,
        resolved_at=at(3, 9, 11), csat_score=3, csat_comment="回复太慢了", first_response_due=at(3, 9),
        emotion_label="dissatisfied",
    )  # fmt: skip
    h.customer_says(c2, at(2, 17, 59), "退款怎么还没到账？")
    h.agent_says(c2, at(3, 9, 1), wang)
    h.status(c2, at(3, 9, 11), "open", "closed", wang)
    alert = EmotionAlert.objects.create(
        conversation=c2, score=7.5, previous_score=2, label="dissatisfied", reason="情绪分达到 7.5"
    )
    # C3 Tue 11:00, app, 李雷 answers in 20 s, transfers to 售前咨询 / 陈静; resolved 11:20:20
    # (AHT 1200 s), CSAT 4.
    c3 = h.conversation(
        channel=app, team=pre_sales, customer=wangq, created=at(3, 11), intent="商品咨询",
        assignee=chen, first_responder=li, first_response_at=at(3, 11, 0, 20), status=S.RESOLVED,
        resolved_at=at(3, 11, 20, 20), csat_score=4, emotion_label="calm",
    )  # fmt: skip
    h.customer_says(c3, at(3, 11), "这款空气炸锅有几种颜色？")
    h.agent_says(c3, at(3, 11, 0, 20), li)
    h.message(
        c3, "activity", at(3, 11, 5), sender=li, kind="event", is_private=True,
        meta={"from_user": li.pk, "to_user": chen.pk, "to_team": pre_sales.pk},
    )  # fmt: skip
    h.agent_says(c3, at(3, 11, 6), chen, "您好，我是售前陈静，有白色和黑色两种")
    h.status(c3, at(3, 11, 20, 20), "open", "resolved", chen)
    # C4 Wed 14:00, web, 王芳: FRT 60 s, resolved 14:05, the customer writes again 14:30 (reopened),
    # answered in 120 s, resolved again 14:40 (AHT 2340 s). Angry at first, calm at the end.
    c4 = h.conversation(
        channel=web, team=after_sales, customer=liu, created=at(4, 14), intent="退货退款",
        assignee=wang, first_responder=wang, first_response_at=at(4, 14, 1), status=S.RESOLVED,
        resolved_at=at(4, 14, 40), emotion_label="calm",
    )  # fmt: skip
    h.customer_says(c4, at(4, 14), "你们到底还退不退款！")
    h.agent_says(c4, at(4, 14, 1), wang)
    h.status(c4, at(4, 14, 5), "open", "resolved", wang)
    h.customer_says(c4, at(4, 14, 30), "还有运费险的钱呢？")
    h.agent_says(c4, at(4, 14, 32), wang, "运费险会在 24 小时内退回")
    h.status(c4, at(4, 14, 40), "open", "resolved", wang)
    EmotionAlert.objects.create(
        conversation=c4, score=8.6, previous_score=0, label="angry", reason="情绪分达到 8.6"
    )
    # C5 Thu 10:00, web, 李雷: FRT 10 s, resolved 10:05 (AHT 290 s); the same customer (her merged
    # profile) comes back Friday, so it is not a first-contact resolution.
    c5 = h.conversation(
        channel=web, team=after_sales, customer=chenc, created=at(5, 10), intent="物流查询",
        assignee=li, first_responder=li, first_response_at=at(5, 10, 0, 10), status=S.RESOLVED,
        resolved_at=at(5, 10, 5),
    )  # fmt: skip
    h.customer_says(c5, at(5, 10))
    h.agent_says(c5, at(5, 10, 0, 10), li)
    h.status(c5, at(5, 10, 5), "open", "resolved", li)
    # C6 Fri 10:00, app, her merged profile: only the automatic reply answers, resolved by the bot.
    c6 = h.conversation(
        channel=app, team=after_sales, customer=chen2, created=at(6, 10), intent="物流查询",
        status=S.RESOLVED, resolved_at=at(6, 10, 3),
    )  # fmt: skip
    h.customer_says(c6, at(6, 10), "快递到哪了")
    h.message(c6, "outgoing", at(6, 10, 0, 1), kind="auto", text="您的包裹正在派送中")
    h.status(c6, at(6, 10, 3), "open", "resolved")
    # C7 Sat 12:00, app, 售前咨询: never answered (the SLA due 12:01 is missed; FRT late).
    c7 = h.conversation(
        channel=app, team=pre_sales, customer=yang, created=at(7, 12), intent="商品咨询",
        first_response_due=at(7, 12, 1),
    )  # fmt: skip
    h.customer_says(c7, at(7, 12), "在吗？")
    # C8 Sun 23:59, web: spans the period's end; answered Mon 09:00:45 (45 business seconds), open.
    c8 = h.conversation(
        channel=web, team=after_sales, customer=zhao, created=at(8, 23, 59), intent="物流查询",
        assignee=li, first_responder=li, first_response_at=at(9, 9, 0, 45),
    )  # fmt: skip
    h.customer_says(c8, at(8, 23, 59))
    h.agent_says(c8, at(9, 9, 0, 45), li)
    # Outside the period: the previous week (FRT 120 s, resolved) and the first instant after it.
    p1 = h.conversation(
        channel=web, team=after_sales, customer=zhang, created=at(27, 10, month=10), intent="物流查询",
        assignee=wang, first_responder=wang, first_response_at=at(27, 10, 2, month=10), status=S.RESOLVED,
        resolved_at=at(27, 10, 30, month=10), csat_score=5,
    )  # fmt: skip
    h.customer_says(p1, at(27, 10, month=10))
    h.agent_says(p1, at(27, 10, 2, month=10), wang)
    late = h.conversation(channel=web, team=after_sales, customer=liu, created=END)
    h.customer_says(late, END)

    # A complaint about C2, opened Tue 10:00, resolved two days later; compensation given.
    ticket = Ticket.objects.create(number="GD20261103001", title="退款未到账投诉", customer=lina, category="complaint",
                                   team=after_sales, owner=wang, assignee=wang)  # fmt: skip
    ticket.conversations.add(c2)
    complaint = Complaint.objects.create(ticket=ticket, what_happened="退款七天未到账", resolved_at=at(5, 10))
    Complaint.objects.filter(pk=complaint.pk).update(created_at=at(3, 10))
    Ticket.objects.filter(pk=ticket.pk).update(created_at=at(3, 10))
    for status, amount in (("granted", "50"), ("approved", "30"), ("pending", "200")):
        req = CompensationRequest.objects.create(
            complaint=complaint, conversation=c2, kind="coupon", amount=Decimal(amount), reason="退款延迟致歉",
            requested_by=wang, status=status, team=after_sales,
        )  # fmt: skip
        CompensationRequest.objects.filter(pk=req.pk).update(created_at=at(3, 10, 30))
    # Promises due in the week: one kept, one broken, one cancelled.
    for status, due in (("kept", at(4, 15)), ("broken", at(5, 12)), ("cancelled", at(5, 16))):
        Promise.objects.create(
            owner=wang, conversation=c4, description="下午三点前回电", due_at=due, status=status
        )
    # Quality: two scored conversations, two checked replies (one with a high finding).
    QualityScore.objects.create(
        conversation=c1, agent=wang, total=90, rubric_version=1, closed_at=at(2, 10, 10)
    )
    QualityScore.objects.create(
        conversation=c3, agent=chen, total=80, rubric_version=1, closed_at=at(3, 11, 21)
    )
    replies = list(h.Message.objects.filter(conversation=c1, direction="outgoing").order_by("id"))
    for message, findings, high in (
        (replies[0], [{"rule": "absolute_guarantee", "severity": "high"}], 1),
        (replies[1], [], 0),
    ):
        row = ReplyFindings.objects.create(
            message=message,
            conversation=c1,
            agent=wang,
            ruleset_version=1,
            findings=findings,
            high_count=high,
        )
        ReplyFindings.objects.filter(pk=row.pk).update(created_at=message.created_at)
    # 王芳's Monday: online 09:00–12:00, lunch break, online 13:00–18:00 (8 hours).
    for when, old, new in (
        (at(2, 9), "offline", "online"),
        (at(2, 12), "online", "break"),
        (at(2, 13), "break", "online"),
        (at(2, 18), "online", "offline"),
    ):
        StatusChange.objects.create(user=wang, from_status=old, to_status=new, at=when)

    return SimpleNamespace(
        after_sales=after_sales, pre_sales=pre_sales, wang=wang, li=li, chen=chen, lead=lead, boss=boss,
        admin=admin, web=web, app=app, c=[c1, c2, c3, c4, c5, c6, c7, c8], p1=p1, late=late, alert=alert,
    )  # fmt: skip
