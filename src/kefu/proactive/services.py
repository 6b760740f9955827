"""Proactive service (主动服务), top floor: speaking to the customer first.

Order events (shipped, refunded) are recorded as ``Trigger`` rows inside the order's own
transaction (``record_order_change``, registered with ``customers.orders``) and answered
by the worker after the commit; stalled logistics are found by a sweep; a delay
statement goes out once a supervisor approves it; a visitor lingering on a product or
checkout page is invited to chat by the answer to the widget's page report.

Every message is a ``Notice`` whose ``dedupe_key`` is unique, so an event delivered
twice or a worker restarted half way never sends twice; each rule's daily limit is
counted under the customer's row lock. Messages leave through the customer's channel:
the web chat when they are in it, else the email or IM conversation they last wrote
from, else email, else an IM platform (``conversations.timeline.do_send_auto_reply``
and ``channels.outbound`` do the sending).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.tasks import task
from django.utils import timezone

from kefu.accounts.access import audit, check_role, team_ids_of
from kefu.accounts.models import Role, Team, User
from kefu.accounts.presence import is_anyone_online
from kefu.channels.models import Channel
from kefu.channels.outbound import identity_kind_for
from kefu.channels.visitor import issue_visitor_token, read_visitor_token, web_chat_channel
from kefu.conversations.models import Conversation
from kefu.conversations.timeline import do_send_auto_reply
from kefu.core import ratelimit
from kefu.core.errors import Conflict, InvalidInput, NotFound, Unauthorized
from kefu.core.fields import check_characters, check_message, check_text
from kefu.customers.models import Customer, Identity, LogisticsEvent, Order
from kefu.customers.orders import OrderChange
from kefu.replies.compose import render_for_customer
from kefu.replies.models import VARIABLE_RE, CannedReply

from .models import Kind, Notice, PageKind, PageVisit, Rule, Statement, Trigger

log = logging.getLogger(__name__)

IN_FLIGHT = (Order.Shipping.SHIPPED, Order.Shipping.IN_TRANSIT, Order.Shipping.DELIVERING)
LIMIT_WINDOW = timedelta(hours=24)
# A trigger whose task was lost (the process died between commit and enqueue) is picked
# up by the sweep once it is this old.
LOST_TASK_AFTER = timedelta(minutes=1)
# Orders placed longer ago than this are not watched for stalls.
STALL_HORIZON = timedelta(days=60)
MAX_STATEMENT_ORDERS = 5000
STATEMENT_VARIABLES = (
    "客户姓名",
    "订单号",
    "商品",
    "快递公司",
    "运单号",
    "物流状态",
    "预计送达",
    "店铺名称",
    "客服时间",
)

RANGES = {
    "daily_limit": (1, 20),
    "stall_hours": (1, 720),
    "estimate_days": (1, 30),
    "linger_seconds": (5, 3600),
}
KIND_TITLES = {
    Kind.ORDER_SHIPPED: "发货通知",
    Kind.LOGISTICS_STALLED: "物流延误致歉",
    Kind.REFUND_COMPLETED: "退款到账通知",
    Kind.PAGE_LINGER: "咨询邀请",
    "statement": "配送延误说明",
    "incident": "事件通知",
}


def online_window() -> timedelta:
    return timedelta(seconds=settings.KEFU_PROACTIVE_ONLINE_SECONDS)


# --- rules ------------------------------------------------------------------------------


def check_rule_editor(user: User) -> None:
    check_role(user, Role.SUPERVISOR)


def access_rules(user: User) -> QuerySet[Rule]:
    check_rule_editor(user)
    return Rule.objects.select_related("team", "reply").order_by("kind", "id")


def access_rule(user: User, rule_id: int) -> Rule:
    rule = access_rules(user).filter(pk=rule_id).first()
    if rule is None:
        raise NotFound(f"规则 {rule_id} 不存在")
    return rule


def _int_in_range(value: Any, field: str) -> int:
    low, high = RANGES[field]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"{field} 超出范围", fields={field: f"{low} 到 {high} 之间的整数"})
    return value


def _team(team_id: Any) -> Team | None:
    if team_id is None:
        return None
    if isinstance(team_id, bool) or not isinstance(team_id, int):
        raise InvalidInput("team_id 必须是整数", fields={"team_id": "必须是整数"})
    team = Team.objects.filter(pk=team_id).first()
    if team is None:
        raise InvalidInput(f"团队 {team_id} 不存在", fields={"team_id": "团队不存在"})
    return team


def _reply(reply_id: Any, team: Team | None) -> CannedReply:
    if isinstance(reply_id, bool) or not isinstance(reply_id, int):
        raise InvalidInput("请选择话术", fields={"reply_id": "必填，话术库中的话术 id"})
    reply = CannedReply.objects.filter(pk=reply_id, is_active=True).first()
    if reply is None:
        raise InvalidInput(f"话术 {reply_id} 不存在或已停用", fields={"reply_id": "话术不存在或已停用"})
    if reply.scope == CannedReply.Scope.PERSONAL or (
        reply.scope == CannedReply.Scope.TEAM and (team is None or reply.team_id != team.pk)
    ):
        raise InvalidInput(
            "主动消息只能使用全员话术或本团队话术", fields={"reply_id": "应为全员话术或规则所属团队的话术"}
        )
    return reply


def _page_kinds(value: Any) -> list[str]:
    if not isinstance(value, list | tuple) or not value:
        raise InvalidInput("请选择页面类型", fields={"page_kinds": "至少选一个：product、checkout"})
    kinds = []
    for v in value:
        if v not in PageKind.values:
            raise InvalidInput(f"页面类型无效：{v}", fields={"page_kinds": "应为 product、checkout"})
        if v not in kinds:
            kinds.append(v)
    return kinds


def check_rule_data(data: dict[str, Any], *, rule: Rule | None = None) -> dict[str, Any]:
    """The checked values of a new rule (``rule=None``) or of a change to ``rule``."""
    allowed = {"name", "kind", "team_id", "reply_id", "is_enabled", "page_kinds", *RANGES}
    for key in data:
        if key not in allowed:
            raise InvalidInput(f"未知字段：{key}", fields={key: "未知字段"})
    values: dict[str, Any] = {}
    if rule is None or "name" in data:
        values["name"] = check_text(data.get("name"), field="name", max_len=64)
    kind = rule.kind if rule is not None else data.get("kind")
    if rule is None and kind not in Kind.values:
        raise InvalidInput(f"规则类型无效：{kind}", fields={"kind": f"应为 {', '.join(Kind.values)} 之一"})
    if rule is not None and "kind" in data and data["kind"] != rule.kind:
        raise InvalidInput("规则类型不能修改", fields={"kind": "不能修改，请新建规则"})
    values["kind"] = kind
    team = rule.team if rule is not None else None
    if rule is None or "team_id" in data:
        team = _team(data.get("team_id"))
        values["team"] = team
    if rule is None or "reply_id" in data or "team_id" in data:
        values["reply"] = _reply(data.get("reply_id", rule.reply_id if rule else None), team)
    if "is_enabled" in data:
        if not isinstance(data["is_enabled"], bool):
            raise InvalidInput("is_enabled 必须是布尔值", fields={"is_enabled": "true 或 false"})
        values["is_enabled"] = data["is_enabled"]
    for field in RANGES:
        if field in data:
            values[field] = _int_in_range(data[field], field)
    if kind == Kind.PAGE_LINGER and (rule is None or "page_kinds" in data):
        values["page_kinds"] = _page_kinds(data.get("page_kinds"))
    return values


def do_create_rule(*, actor: User, data: dict[str, Any]) -> Rule:
    check_rule_editor(actor)
    values = check_rule_data(data)
    with transaction.atomic():
        rule = Rule.objects.create(created_by=actor, **values)
        audit(
            "proactive_rule_create", actor=actor, target=rule, detail={"kind": rule.kind, "name": rule.name}
        )
    return rule


def do_update_rule(*, actor: User, rule_id: int, data: dict[str, Any]) -> Rule:
    with transaction.atomic():
        rule = access_rule(actor, rule_id)
        values = check_rule_data(data, rule=rule)
        values.pop("kind", None)
        for key, value in values.items():
            setattr(rule, key, value)
        rule.save()
        audit("proactive_rule_update", actor=actor, target=rule, detail={"fields": sorted(values)})
    return rule


def do_delete_rule(*, actor: User, rule_id: int) -> None:
    with transaction.atomic():
        rule = access_rule(actor, rule_id)
        audit(
            "proactive_rule_delete", actor=actor, target=rule, detail={"kind": rule.kind, "name": rule.name}
        )
        rule.delete()


def access_notices(
    user: User,
    *,
    customer_id: int | None = None,
    rule_id: int | None = None,
    statement_id: int | None = None,
    status: str = "",
) -> QuerySet[Notice]:
    """The proactive log: supervisors see all of it; a statement's recipients also whoever may see the statement."""
    qs = Notice.objects.select_related("rule", "customer", "order", "statement").order_by("-id")
    if statement_id is not None:
        qs = qs.filter(statement=access_statement(user, statement_id))
    else:
        check_rule_editor(user)
    if customer_id is not None:
        qs = qs.filter(customer_id=customer_id)
    if rule_id is not None:
        qs = qs.filter(rule_id=rule_id)
    if status:
        if status not in Notice.Status.values:
            raise InvalidInput(
                f"status 无效：{status}", fields={"status": "应为 pending、sent、skipped 之一"}
            )
        qs = qs.filter(status=status)
    return qs


# --- order events -----------------------------------------------------------------------


def record_order_change(change: OrderChange) -> None:
    """Inside the order's transaction: note the events a rule answers; the worker answers after commit."""
    order = change.order
    found: list[tuple[str, str]] = []
    if (
        order.shipping_status in IN_FLIGHT
        and change.old_shipping_status not in IN_FLIGHT
        and order.tracking_no
    ):
        # Keyed by tracking number: re-shipped under a new number is news, a resend is not.
        found.append((Kind.ORDER_SHIPPED, f"shipped:{order.pk}:{order.tracking_no}"))
    # An order first seen already refunded is history (an import), not news.
    if (
        not change.created
        and order.payment_status == Order.Payment.REFUNDED
        and change.old_payment_status != Order.Payment.REFUNDED
    ):
        found.append((Kind.REFUND_COMPLETED, f"refunded:{order.pk}"))
    if not found:
        return
    enabled = set(
        Rule.objects.filter(is_enabled=True, kind__in=[k for k, _ in found]).values_list("kind", flat=True)
    )
    new = [Trigger(kind=k, key=key, order=order) for k, key in found if k in enabled]
    if not new:
        return
    Trigger.objects.bulk_create(new, ignore_conflicts=True)
    _process_after_commit([t.key for t in new])


def _process_after_commit(keys: list[str]) -> None:
    def _enqueue() -> None:
        for pk in Trigger.objects.filter(key__in=keys, status=Trigger.Status.PENDING).values_list(
            "pk", flat=True
        ):
            process_trigger.enqueue(pk)

    transaction.on_commit(_enqueue)


def do_scan_stalled(now: datetime) -> int:
    """Record a trigger per enabled stall rule and in-flight order whose last logistics event is too old."""
    created = 0
    for rule in Rule.objects.filter(kind=Kind.LOGISTICS_STALLED, is_enabled=True):
        cutoff = now - timedelta(hours=rule.stall_hours)
        latest = LogisticsEvent.objects.filter(order=OuterRef("pk")).order_by("-at", "-id")
        orders = (
            Order.objects.filter(shipping_status__in=IN_FLIGHT, placed_at__gte=now - STALL_HORIZON)
            .annotate(last_at=Subquery(latest.values("at")[:1]), last_id=Subquery(latest.values("id")[:1]))
            .filter(Q(last_at__lt=cutoff) | Q(last_at__isnull=True, updated_at__lt=cutoff))
            .exclude(Exists(Trigger.objects.filter(order=OuterRef("pk"), rule=rule, ref=OuterRef("last_id"))))
            .exclude(
                Exists(Trigger.objects.filter(order=OuterRef("pk"), rule=rule, ref=0)), last_id__isnull=True
            )
            .values_list("pk", "last_id", "last_at")[:500]
        )
        rows = [
            Trigger(
                kind=Kind.LOGISTICS_STALLED,
                key=f"stalled:{rule.pk}:{pk}:{last_id or 0}",
                order_id=pk,
                rule=rule,
                ref=last_id or 0,
                data={"since": last_at.isoformat() if last_at else None},
            )
            for pk, last_id, last_at in orders
        ]
        with transaction.atomic():
            Trigger.objects.bulk_create(rows, ignore_conflicts=True)
            _process_after_commit([r.key for r in rows])
        created += len(rows)
    return created


def do_process_trigger(trigger_id: int, *, now: datetime | None = None) -> list[Notice]:
    """Answer one trigger with every enabled rule of its kind; a trigger already answered does nothing.

    The trigger's row is locked and marked done in the same transaction that writes
    the notices and queues the messages, so a duplicate task or a restart after a crash
    finds it either untouched or done.
    """
    now = now or timezone.now()
    notices: list[Notice] = []
    with transaction.atomic():
        trigger = (
            Trigger.objects.select_for_update().filter(pk=trigger_id, status=Trigger.Status.PENDING).first()
        )
        if trigger is None:
            return notices
        order = (
            Order.objects.select_related("customer")
            .prefetch_related("items", "logistics")
            .get(pk=trigger.order_id)
        )
        rules = Rule.objects.filter(kind=trigger.kind, is_enabled=True).select_related("reply").order_by("id")
        if trigger.rule_id is not None:
            rules = rules.filter(pk=trigger.rule_id)
        for rule in rules:
            notice = _notify_for_rule(rule, trigger=trigger, order=order, now=now)
            if notice is not None:
                notices.append(notice)
        trigger.status = Trigger.Status.DONE
        trigger.processed_at = now
        trigger.save(update_fields=["status", "processed_at"])
    return notices


def _estimate(days: int, now: datetime) -> str:
    day = timezone.localtime(now).date() + timedelta(days=days)
    return _date_text(day)


def _date_text(day: date) -> str:
    return f"{day.month}月{day.day}日"


def _customer_of(order: Order) -> Customer:
    customer = order.customer
    while customer.merged_into_id is not None:
        customer = Customer.objects.get(pk=customer.merged_into_id)
    return customer


def _served_by(customer: Customer, team_id: int) -> bool:
    """A team's rule speaks only to customers that team serves: their latest conversation is the team's."""
    latest = (
        Conversation.objects.filter(customer=customer)
        .order_by("-created_at", "-id")
        .values("team_id")
        .first()
    )
    return latest is not None and latest["team_id"] == team_id


def _notify_for_rule(rule: Rule, *, trigger: Trigger, order: Order, now: datetime) -> Notice | None:
    customer = _customer_of(order)
    if rule.team_id is not None and not _served_by(customer, rule.team_id):
        return None  # another team's customer: not even a line in the log
    notice = _claim(
        f"rule:{rule.pk}:trigger:{trigger.pk}",
        kind=rule.kind,
        rule=rule,
        trigger=trigger,
        customer=customer,
        order=order,
    )
    if notice is None:
        return None
    extra = {"预计送达": _estimate(rule.estimate_days, now)} if rule.kind == Kind.LOGISTICS_STALLED else {}
    rendered = render_for_customer(rule.reply.text, customer_name=customer.name, order=order, extra=extra)
    if rendered.missing:
        return _skip(notice, "缺少模板数据：" + "、".join(f"{{{m}}}" for m in rendered.missing))
    return _send(notice, rendered.text, team=rule.team, limit=rule.daily_limit, now=now)


def _claim(key: str, **fields: Any) -> Notice | None:
    """The notice for ``key``, new; None when it exists (this event was answered already)."""
    try:
        with transaction.atomic():
            return Notice.objects.create(dedupe_key=key[:160], **fields)
    except IntegrityError:
        return None


def _skip(notice: Notice, reason: str) -> Notice:
    notice.status = Notice.Status.SKIPPED
    notice.reason = reason[:255]
    notice.save(update_fields=["status", "reason"])
    return notice


def sent_in_window(*, customer_id: int | None = None, visitor_id: str = "", now: datetime) -> int:
    """Rule messages (not approved statements) sent to a customer or visitor in the last 24 hours."""
    qs = Notice.objects.filter(
        status=Notice.Status.SENT, statement__isnull=True, sent_at__gte=now - LIMIT_WINDOW
    )
    if customer_id is not None:
        return qs.filter(customer_id=customer_id).count()
    return qs.filter(visitor_id=visitor_id, customer__isnull=True).count()


@dataclass(frozen=True)
class Route:
    kind: str  # the channel kind the message leaves on
    conversation: Conversation | None  # None: a new conversation on ``channel``
    channel: Channel


def chat_online_conversation(customer: Customer, *, now: datetime) -> Conversation | None:
    """The web conversation the customer has open in a chat window right now, if any."""
    visitors = Identity.objects.filter(customer=customer, kind=Identity.Kind.WEB).values("value")
    channels = PageVisit.objects.filter(
        visitor_id__in=visitors, chat_seen_at__gte=now - online_window()
    ).values("channel_id")
    return (
        Conversation.objects.filter(
            customer=customer,
            channel_id__in=channels,
            channel__kind=Channel.Kind.WEB,
            channel__is_active=True,
        )
        .exclude(status=Conversation.Status.CLOSED)
        .select_related("channel")
        .order_by("-id")
        .first()
    )


def _platform_reachable(channel: Channel, customer: Customer) -> bool:
    if channel.kind == Channel.Kind.EMAIL:
        return bool(customer.email)
    return (
        bool(channel.outbound_url)
        and Identity.objects.filter(customer=customer, kind=identity_kind_for(channel)).exists()
    )


def choose_route(customer: Customer, *, team: Team | None, now: datetime) -> Route | None:
    """Where a message to ``customer`` goes: chat if they are in it, else email or IM; None when nowhere."""
    chat = chat_online_conversation(customer, now=now)
    if chat is not None:
        return Route(Channel.Kind.WEB, chat, chat.channel)
    push = (Channel.Kind.EMAIL, Channel.Kind.IM, Channel.Kind.SOCIAL, Channel.Kind.LIVE)
    last = (
        Conversation.objects.filter(customer=customer, channel__kind__in=push, channel__is_active=True)
        .select_related("channel")
        .order_by("-last_customer_message_at", "-id")
        .first()
    )
    if last is not None and (
        last.last_customer_message_at is not None or _platform_reachable(last.channel, customer)
    ):
        if last.channel.kind == Channel.Kind.EMAIL or last.channel.outbound_url:
            # The thread the customer last wrote in: their mail client or IM shows the
            # notice with what they asked, and the address they wrote from is used.
            return Route(last.channel.kind, last, last.channel)
    candidates = Channel.objects.filter(is_active=True, kind__in=push)
    ordered = sorted(
        candidates,
        key=lambda c: (c.kind != Channel.Kind.EMAIL, team is not None and c.team_id != team.pk, c.pk),
    )
    for channel in ordered:
        if _platform_reachable(channel, customer):
            return Route(channel.kind, None, channel)
    return None


def _send(notice: Notice, text: str, *, team: Team | None, limit: int | None, now: datetime) -> Notice:
    """Under the customer's row lock: check the daily limit, choose the channel, queue the message."""
    assert notice.customer_id is not None  # rule and statement notices always name a customer
    customer = Customer.objects.select_for_update().get(pk=notice.customer_id)
    if limit is not None and sent_in_window(customer_id=customer.pk, now=now) >= limit:
        return _skip(notice, f"已达每客户每天 {limit} 条上限")
    route = choose_route(customer, team=team, now=now)
    if route is None:
        return _skip(notice, "没有可用渠道（不在线、无邮箱、无可推送的平台账号）")
    conversation = route.conversation
    if conversation is None:
        # Carries the message so that the customer's answer threads back; closed, so it
        # waits in nobody's queue until they do answer.
        conversation = Conversation.objects.create(
            channel=route.channel,
            customer=customer,
            team=route.channel.team,
            status=Conversation.Status.CLOSED,
            subject=KIND_TITLES.get(notice.kind, "主动服务"),
        )
    message = do_send_auto_reply(conversation, text, meta={"proactive": notice.kind, "notice_id": notice.pk})
    notice.status = Notice.Status.SENT
    notice.channel_kind = route.kind
    notice.conversation = conversation
    notice.message = message
    notice.text = text
    notice.sent_at = now
    notice.save(update_fields=["status", "channel_kind", "conversation", "message", "text", "sent_at"])
    return notice


@task()
def process_trigger(trigger_id: int) -> int:
    """Answer one order event (shipped, refunded, stalled) with the rules of its kind."""
    return len(do_process_trigger(trigger_id))


# --- delay statements -------------------------------------------------------------------


def visible_statements(user: User) -> QuerySet[Statement]:
    check_role(user, Role.TEAM_LEAD)
    qs = Statement.objects.select_related("team", "created_by", "approved_by").order_by("-id")
    if not user.has_role_at_least(Role.SUPERVISOR):
        qs = qs.filter(Q(team_id__in=team_ids_of(user)) | Q(created_by=user))
    return qs


def access_statement(user: User, statement_id: int, *, for_update: bool = False) -> Statement:
    qs = visible_statements(user)
    if for_update:
        qs = qs.select_for_update(of=("self",))
    statement = qs.filter(pk=statement_id).first()
    if statement is None:
        raise NotFound(f"声明 {statement_id} 不存在")
    return statement


def _order_nos(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [v for v in value.replace("，", ",").replace("\n", ",").split(",")]
    if not isinstance(value, list | tuple):
        raise InvalidInput("order_nos 必须是列表", fields={"order_nos": "订单号列表"})
    if len(value) > MAX_STATEMENT_ORDERS:
        raise InvalidInput("订单过多", fields={"order_nos": f"最多 {MAX_STATEMENT_ORDERS} 个"})
    nos: list[str] = []
    for i, v in enumerate(value):
        if not isinstance(v, str):
            raise InvalidInput("订单号必须是文字", fields={f"order_nos.{i}": "必须是文字"})
        v = check_characters(v, field=f"order_nos.{i}").strip()
        if v and v not in nos:
            if len(v) > 64:
                raise InvalidInput("订单号过长", fields={f"order_nos.{i}": "最多64个字符"})
            nos.append(v)
    return nos


def _new_estimate(value: Any) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError as exc:
        raise InvalidInput("日期格式不正确", fields={"new_estimate": "应为 2026-12-08 这样的日期"}) from exc


def check_statement_data(actor: User, data: dict[str, Any]) -> dict[str, Any]:
    allowed = {"title", "reason", "text", "team_id", "order_nos", "carrier", "new_estimate"}
    for key in data:
        if key not in allowed:
            raise InvalidInput(f"未知字段：{key}", fields={key: "未知字段"})
    title = check_text(data.get("title"), field="title", max_len=64)
    reason = data.get("reason")
    if reason not in Statement.Reason.values:
        raise InvalidInput(
            f"原因无效：{reason}", fields={"reason": f"应为 {', '.join(Statement.Reason.values)} 之一"}
        )
    text = check_message(data.get("text"), field="text")
    if len(text) > 1000:
        raise InvalidInput("内容过长", fields={"text": "最多1000个字符"})
    unknown = [v for v in VARIABLE_RE.findall(text) if v not in STATEMENT_VARIABLES]
    if unknown:
        raise InvalidInput(
            "内容中有不支持的变量：" + "、".join(f"{{{v}}}" for v in unknown),
            fields={"text": "可用变量：" + "、".join(f"{{{v}}}" for v in STATEMENT_VARIABLES)},
        )
    team = _team(data.get("team_id"))
    if not actor.has_role_at_least(Role.SUPERVISOR):
        if team is None or team.pk not in team_ids_of(actor):
            raise InvalidInput("组长只能为自己的团队发起声明", fields={"team_id": "请选择您所在的团队"})
    order_nos = _order_nos(data.get("order_nos"))
    carrier = check_text(data.get("carrier", ""), field="carrier", max_len=32, required=False)
    if not order_nos and not carrier:
        raise InvalidInput("请指定受影响的订单", fields={"order_nos": "订单号与承运商（carrier）至少填一个"})
    if order_nos:
        known = set(Order.objects.filter(order_no__in=order_nos).values_list("order_no", flat=True))
        missing = [n for n in order_nos if n not in known]
        if missing:
            raise InvalidInput(
                "以下订单不存在：" + "、".join(missing[:10]) + ("…" if len(missing) > 10 else ""),
                fields={"order_nos": f"{len(missing)} 个订单号不存在"},
            )
    new_estimate = _new_estimate(data.get("new_estimate"))
    if "{预计送达}" in text and new_estimate is None:
        raise InvalidInput("内容用到了预计送达", fields={"new_estimate": "内容含 {预计送达} 时必填"})
    return {
        "title": title,
        "reason": reason,
        "text": text,
        "team": team,
        "order_nos": order_nos,
        "carrier": carrier,
        "new_estimate": new_estimate,
    }


def do_create_statement(*, actor: User, data: dict[str, Any]) -> Statement:
    """A draft statement (team leads for their teams, supervisors for any); it waits for approval."""
    check_role(actor, Role.TEAM_LEAD)
    values = check_statement_data(actor, data)
    with transaction.atomic():
        statement = Statement.objects.create(created_by=actor, **values)
        audit("proactive_statement_create", actor=actor, target=statement, detail={"title": statement.title})
    return statement


def affected_orders(statement: Statement) -> list[Order]:
    """The orders a statement speaks of: those listed, and the carrier's orders still on the way."""
    match = Q(order_no__in=statement.order_nos) if statement.order_nos else Q(pk__in=[])
    if statement.carrier:
        match |= Q(carrier=statement.carrier, shipping_status__in=IN_FLIGHT)
    return list(
        Order.objects.filter(match)
        .select_related("customer")
        .order_by("placed_at", "id")[:MAX_STATEMENT_ORDERS]
    )


def do_approve_statement(*, actor: User, statement_id: int) -> Statement:
    """A supervisor's one approval: the recipients are fixed now (one notice per customer) and sent by the worker."""
    check_role(actor, Role.SUPERVISOR)
    now = timezone.now()
    with transaction.atomic():
        statement = access_statement(actor, statement_id, for_update=True)
        if statement.status != Statement.Status.DRAFT:
            raise Conflict(
                f"该声明{statement.get_status_display()}，不能再次审批", fields={"status": statement.status}
            )
        seen: set[int] = set()
        notices = []
        for order in affected_orders(statement):
            customer = _customer_of(order)
            if customer.pk in seen:
                continue
            if statement.team_id is not None and not _served_by(customer, statement.team_id):
                continue
            seen.add(customer.pk)
            notices.append(
                Notice(
                    dedupe_key=f"statement:{statement.pk}:customer:{customer.pk}",
                    kind="statement",
                    statement=statement,
                    customer=customer,
                    order=order,
                )
            )
        Notice.objects.bulk_create(notices, ignore_conflicts=True)
        statement.status = Statement.Status.APPROVED
        statement.approved_by = actor
        statement.approved_at = now
        statement.recipient_count = len(notices)
        statement.save(update_fields=["status", "approved_by", "approved_at", "recipient_count"])
        audit(
            "proactive_statement_approve",
            actor=actor,
            target=statement,
            detail={"title": statement.title, "recipients": len(notices)},
        )
        pk = statement.pk
        transaction.on_commit(lambda: send_statement.enqueue(pk))
    return statement


def do_cancel_statement(*, actor: User, statement_id: int) -> Statement:
    with transaction.atomic():
        statement = access_statement(actor, statement_id, for_update=True)
        if statement.status != Statement.Status.DRAFT:
            raise Conflict("只能撤销待审批的声明", fields={"status": statement.status})
        statement.status = Statement.Status.CANCELLED
        statement.save(update_fields=["status"])
        audit("proactive_statement_cancel", actor=actor, target=statement, detail={"title": statement.title})
    return statement


def do_send_statement(statement_id: int, *, now: datetime | None = None, batch: int = 200) -> int:
    """Send an approved statement's pending notices, each in its own transaction; returns how many were handled.

    A worker stopped half way leaves the rest pending, and the next run (task or sweep)
    sends only those: a notice already sent is never pending again.
    """
    now = now or timezone.now()
    handled = 0
    statement = Statement.objects.filter(pk=statement_id, status=Statement.Status.APPROVED).first()
    if statement is None:
        return 0
    while True:
        ids = list(
            Notice.objects.filter(statement=statement, status=Notice.Status.PENDING)
            .order_by("id")
            .values_list("pk", flat=True)[:batch]
        )
        if not ids:
            break
        for notice_id in ids:
            with transaction.atomic():
                notice = (
                    Notice.objects.select_for_update()
                    .filter(pk=notice_id, status=Notice.Status.PENDING)
                    .first()
                )
                if notice is None:
                    continue
                order = (
                    Order.objects.prefetch_related("items", "logistics").get(pk=notice.order_id)
                    if notice.order_id
                    else None
                )
                extra = {"预计送达": _date_text(statement.new_estimate)} if statement.new_estimate else {}
                customer = Customer.objects.get(pk=notice.customer_id or 0)
                rendered = render_for_customer(
                    statement.text, customer_name=customer.name, order=order, extra=extra
                )
                if rendered.missing:
                    _skip(notice, "缺少模板数据：" + "、".join(f"{{{m}}}" for m in rendered.missing))
                else:
                    _send(notice, rendered.text, team=statement.team, limit=None, now=now)
                handled += 1
    Statement.objects.filter(pk=statement.pk, status=Statement.Status.APPROVED).update(
        status=Statement.Status.SENT, sent_at=timezone.now()
    )
    return handled


@task()
def send_statement(statement_id: int) -> int:
    """Send an approved delay statement to every recipient still pending."""
    return do_send_statement(statement_id)


# --- incident notices ---------------------------------------------------------------------

INCIDENT_KIND = "incident"


def _incident_key(incident_id: int, customer_id: int) -> str:
    return f"incident:{incident_id}:customer:{customer_id}"


def do_queue_incident_notices(
    *,
    incident_id: int,
    text: str,
    orders: list[Order],
    skip_customer_ids: set[int] | frozenset[int] = frozenset(),
) -> int:
    """One notice per affected customer of an incident's published statement; in the caller's transaction.

    The customers of ``orders`` (merged profiles followed; whichever team served them: the
    order makes them affected), without those in ``skip_customer_ids`` (already talking to the desk about it),
    each once per incident (a statement edited later reaches only new customers). They are
    sent after the commit (task ``send_incident_notices``; the sweep finishes a lost one),
    each within the daily limit of proactive messages.
    """
    seen: set[int] = set()
    notices = []
    for order in orders:
        customer = _customer_of(order)
        if customer.pk in seen or customer.pk in skip_customer_ids:
            continue
        seen.add(customer.pk)
        notices.append(
            Notice(
                dedupe_key=_incident_key(incident_id, customer.pk),
                kind=INCIDENT_KIND,
                customer=customer,
                order=order,
                text=text,
            )
        )
    known = set(
        Notice.objects.filter(dedupe_key__in=[n.dedupe_key for n in notices]).values_list(
            "dedupe_key", flat=True
        )
    )
    fresh = [n for n in notices if n.dedupe_key not in known]
    Notice.objects.bulk_create(fresh, ignore_conflicts=True)
    if fresh:
        transaction.on_commit(lambda: send_incident_notices.enqueue(incident_id))
    return len(fresh)


def incident_daily_limit() -> int:
    return settings.KEFU_PROACTIVE_INCIDENT_DAILY_LIMIT


def _send_incident_notice(notice_id: int, now: datetime) -> bool:
    with transaction.atomic():
        notice = (
            Notice.objects.select_for_update()
            .filter(pk=notice_id, kind=INCIDENT_KIND, status=Notice.Status.PENDING)
            .first()
        )
        if notice is None:
            return False
        _send(notice, notice.text, team=None, limit=incident_daily_limit(), now=now)
    return True


def do_send_incident_notices(incident_id: int, *, now: datetime | None = None) -> int:
    """Send an incident's pending notices, each in its own transaction; returns how many were handled."""
    now = now or timezone.now()
    ids = list(
        Notice.objects.filter(
            kind=INCIDENT_KIND,
            status=Notice.Status.PENDING,
            dedupe_key__startswith=f"incident:{incident_id}:",
        )
        .order_by("id")
        .values_list("pk", flat=True)
    )
    return sum(1 for pk in ids if _send_incident_notice(pk, now))


@task()
def send_incident_notices(incident_id: int) -> int:
    """Send the notices of an incident's published statement still pending."""
    return do_send_incident_notices(incident_id)


# --- the widget: page reports and chat invitations ---------------------------------------


def do_note_chat_seen(*, channel_id: int, visitor_id: str, now: datetime | None = None) -> None:
    """The visitor's chat window is open on ``channel_id`` (the chat socket says so every minute)."""
    now = now or timezone.now()
    if PageVisit.objects.filter(channel_id=channel_id, visitor_id=visitor_id).update(chat_seen_at=now):
        return
    try:
        with transaction.atomic():
            PageVisit.objects.create(channel_id=channel_id, visitor_id=visitor_id, chat_seen_at=now)
    except IntegrityError:
        PageVisit.objects.filter(channel_id=channel_id, visitor_id=visitor_id).update(chat_seen_at=now)


def _check_page(url: Any, page_kind: Any) -> tuple[str, str]:
    url = check_text(url if url is not None else "", field="url", max_len=512, required=False)
    if page_kind in (None, ""):
        return url, ""
    if page_kind not in PageKind.values:
        raise InvalidInput(
            f"页面类型无效：{page_kind}", fields={"page_kind": "应为 product、checkout 或留空"}
        )
    return url, str(page_kind)


REPORT_EVERY_SECONDS = 10


@dataclass(frozen=True)
class PageAnswer:
    invite: dict[str, Any] | None
    # When the widget should report again: sooner when a linger rule is about to be due.
    next_report: int


def do_report_page(
    *, channel: Channel, visitor_id: str, url: Any, page_kind: Any, now: datetime | None = None
) -> PageAnswer:
    """Record where the visitor is; invite them when a linger rule says so.

    The server measures the stay (since the first report of this page), so a widget
    cannot earn an invitation by claiming it waited.
    """
    now = now or timezone.now()
    url, page_kind = _check_page(url, page_kind)
    with transaction.atomic():
        visit = PageVisit.objects.select_for_update().filter(channel=channel, visitor_id=visitor_id).first()
        if visit is None:
            try:
                with transaction.atomic():
                    visit = PageVisit.objects.create(channel=channel, visitor_id=visitor_id)
            except IntegrityError:
                visit = PageVisit.objects.select_for_update().get(channel=channel, visitor_id=visitor_id)
        if visit.url != url or visit.page_kind != page_kind or visit.page_since is None:
            visit.url, visit.page_kind, visit.page_since = url, page_kind, now
        visit.seen_at = now
        visit.save(update_fields=["url", "page_kind", "page_since", "seen_at"])
        if not page_kind:
            return PageAnswer(None, REPORT_EVERY_SECONDS)
        return _linger_invitation(visit, channel, now)


def _linger_invitation(visit: PageVisit, channel: Channel, now: datetime) -> PageAnswer:
    assert visit.page_since is not None
    stayed = (now - visit.page_since).total_seconds()
    matching = [
        r
        for r in Rule.objects.filter(kind=Kind.PAGE_LINGER, is_enabled=True)
        .select_related("reply")
        .order_by("id")
        if (r.team_id is None or r.team_id == channel.team_id) and visit.page_kind in (r.page_kinds or [])
    ]
    waits = [r.linger_seconds - stayed for r in matching if stayed < r.linger_seconds]
    next_report = max(1, min([REPORT_EVERY_SECONDS, *(int(w) + 1 for w in waits)]))
    rules = [r for r in matching if stayed >= r.linger_seconds]
    # An invitation nobody can answer is worse than none.
    if not rules or not is_anyone_online(channel.team_id):
        return PageAnswer(None, next_report)
    identity = (
        Identity.objects.filter(kind=Identity.Kind.WEB, value=visit.visitor_id)
        .select_related("customer")
        .first()
    )
    customer = _follow(identity.customer) if identity is not None else None
    if customer is not None:
        Customer.objects.select_for_update().filter(pk=customer.pk).first()
    page = hashlib.sha256(visit.url.encode()).hexdigest()[:16]
    today = timezone.localtime(now).date().isoformat()
    for rule in rules:
        sent = (
            sent_in_window(customer_id=customer.pk, now=now)
            if customer is not None
            else sent_in_window(visitor_id=visit.visitor_id, now=now)
        )
        if sent >= rule.daily_limit:
            continue
        notice = _claim(
            f"rule:{rule.pk}:linger:{channel.pk}:{visit.visitor_id}:{page}:{today}",
            kind=rule.kind,
            rule=rule,
            customer=customer,
            visitor_id=visit.visitor_id,
        )
        if notice is None:
            continue  # invited on this page today already
        rendered = render_for_customer(
            rule.reply.text, customer_name=customer.name if customer else "", order=None
        )
        if rendered.missing:
            _skip(notice, "缺少模板数据：" + "、".join(f"{{{m}}}" for m in rendered.missing))
            continue
        notice.status, notice.channel_kind, notice.text, notice.sent_at = (
            Notice.Status.SENT,
            "widget",
            rendered.text,
            now,
        )
        notice.save(update_fields=["status", "channel_kind", "text", "sent_at"])
        return PageAnswer({"id": notice.pk, "text": rendered.text}, REPORT_EVERY_SECONDS)
    return PageAnswer(None, REPORT_EVERY_SECONDS)


def do_widget_report(
    *, ip: str | None, token: Any, channel_id: Any, url: Any, page_kind: Any, now: datetime | None = None
) -> dict[str, Any]:
    """The widget's page report: ``{"token", "invite", "next_report"}``; a visitor without a valid token gets one.

    The token is the chat's own visitor token, so the chat the widget opens is the same
    visitor (and, once they write, the same customer).
    """
    ratelimit.take_for_address("chat_page_ip", ip)
    if channel_id is not None and (isinstance(channel_id, bool) or not isinstance(channel_id, int)):
        raise InvalidInput("渠道编号无效", fields={"channel": "必须是整数"})
    channel = web_chat_channel(channel_id)
    if channel is None:
        raise NotFound("该在线客服渠道不存在或已停用")
    try:
        visitor = read_visitor_token(token)
        if visitor.channel_id != channel.pk:
            raise Unauthorized("访客凭证不属于该渠道")
        visitor_id = visitor.visitor_id
    except Unauthorized:
        token = issue_visitor_token(channel.pk)
        visitor_id = read_visitor_token(token).visitor_id
    answer = do_report_page(channel=channel, visitor_id=visitor_id, url=url, page_kind=page_kind, now=now)
    return {"token": token, "invite": answer.invite, "next_report": answer.next_report}


def _follow(customer: Customer) -> Customer:
    while customer.merged_into_id is not None:
        customer = Customer.objects.get(pk=customer.merged_into_id)
    return customer


# --- the worker's sweep -----------------------------------------------------------------


def do_sweep(now: datetime, *, scan_stalls: bool = True) -> int:
    """Stalls found, lost trigger tasks re-run, approved statements finished; returns the work done."""
    done = do_scan_stalled(now) if scan_stalls else 0
    lost = Trigger.objects.filter(status=Trigger.Status.PENDING, created_at__lt=now - LOST_TASK_AFTER)
    for pk in list(lost.values_list("pk", flat=True)[:200]):
        done += len(do_process_trigger(pk, now=now))
    stuck = Statement.objects.filter(status=Statement.Status.APPROVED, approved_at__lt=now - LOST_TASK_AFTER)
    for pk in list(stuck.values_list("pk", flat=True)[:20]):
        done += do_send_statement(pk, now=now)
    lost_notices = Notice.objects.filter(
        kind=INCIDENT_KIND, status=Notice.Status.PENDING, created_at__lt=now - LOST_TASK_AFTER
    )
    for pk in list(lost_notices.order_by("id").values_list("pk", flat=True)[:500]):
        done += _send_incident_notice(pk, now)
    return done
