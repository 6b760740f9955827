"""Customers, top floor: profiles, search, the timeline, merging and personal-data reveal.

Personal data (phone, ID card, bank card, a full shipping address) leaves this module
masked; the clear value only comes out of ``do_reveal_pii``, which checks the role and
writes an audit row. Resolving who wrote is the ground floor (:mod:`kefu.customers.identities`);
orders are :mod:`kefu.customers.orders`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.db.models import BooleanField, Q, QuerySet
from django.db.models.expressions import RawSQL

from kefu.accounts.access import audit, can_reveal_pii, check_admin, check_desk_user, check_role, client_ip
from kefu.accounts.models import AuditLog, Role, User
from kefu.conversations.models import CallLog, Conversation
from kefu.conversations.timeline import visible_conversations
from kefu.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from kefu.core.fields import check_characters, check_data, check_text, check_text_list
from kefu.customers.identities import _clean_identities
from kefu.proactive.models import Notice
from kefu.tickets.models import Ticket
from kefu.tickets.records import visible_tickets

from .models import Customer, Identity, Order

PII_FIELDS = ("phone", "id_card", "bank_card")
# What the reveal action accepts: the profile fields, and an order's shipping address.
REVEALABLE_FIELDS = (*PII_FIELDS, "address")
MAX_TAGS = 20
MAX_TAG_CHARS = 32
MAX_VIP_LEVEL = 10
MAX_PREFERENCES_CHARS = 4000


# --- reading ------------------------------------------------------------------------


def access_customer(user: User, customer_id: int) -> Customer:
    """Any desk user may open a customer profile; personal data stays masked.

    Reading is open because one customer writes to several teams and the agent must not make
    them repeat their story; changing the profile, its identities, or revealing its personal
    data is for those who serve the customer (``check_serves_customer``).
    """
    check_desk_user(user)
    try:
        return Customer.objects.prefetch_related("identities").get(pk=customer_id)
    except Customer.DoesNotExist as exc:
        raise NotFound(f"客户 {customer_id} 不存在") from exc


def serves_customer(user: User, customer: Customer) -> bool:
    """Whether ``user`` serves ``customer``: supervisors and above serve everyone; others serve
    customers with a conversation or ticket they may open, and profiles nobody serves yet."""
    if user.sees_all:
        return True
    conversations = Conversation.objects.filter(customer=customer)
    tickets = Ticket.objects.filter(customer=customer)
    if not conversations.exists() and not tickets.exists():
        return True
    return (
        visible_conversations(user).filter(customer=customer).exists()
        or visible_tickets(user).filter(customer=customer).exists()
    )


def check_serves_customer(user: User, customer: Customer) -> None:
    if not serves_customer(user, customer):
        raise PermissionDenied("该客户由其他团队服务，您无权修改或查看其明文信息")


def list_customers() -> QuerySet[Customer]:
    return Customer.objects.filter(merged_into__isnull=True).prefetch_related("identities")


def _has_tag(tag: str) -> Q:
    # JSON containment is spelled differently per database; SQLite has no ``contains``.
    if connection.vendor == "postgresql":
        return Q(tags__contains=[tag])
    table = Customer._meta.db_table
    return Q(
        RawSQL(
            f'EXISTS (SELECT 1 FROM json_each("{table}"."tags") WHERE json_each.value = %s)',
            (tag,),
            output_field=BooleanField(),
        )
    )


def _phone_spellings(q: str) -> set[str]:
    """How a phone number the agent pasted may be stored: as typed, digits only, with +86."""
    digits = re.sub(r"[\s()-]", "", q)
    if not re.fullmatch(r"\+?\d{5,20}", digits):
        return {q}
    bare = digits.removeprefix("+86") if digits.startswith("+86") else digits
    return {q, digits, bare, f"+86{bare}", f"+86 {bare}"}


def search_customers(
    *,
    q: str = "",
    tag: str = "",
    vip: bool | None = None,
    identity: str = "",
    identity_kind: str = "",
) -> QuerySet[Customer]:
    """Profiles (merged ones left out) by name, tag, VIP and identity value.

    ``q`` matches part of the name, or a whole identity value, phone number (with or
    without spaces and +86) or order number: agents paste what the customer gave them.
    """
    q, tag, identity = (
        check_characters(v or "", field=name).strip()
        for name, v in (("q", q), ("tag", tag), ("identity", identity))
    )
    qs = list_customers()
    if q:
        phones = _phone_spellings(q)
        # Every branch but the name is an indexed equality (phone, identity value, order
        # number); a part of a name can only be found by reading every name, so a query that
        # is a phone number (five digits or more) does not look there, nor one without "@"
        # at the e-mail addresses: at 330,000 customers that scan was most of a search.
        # The identities and orders are looked up first (one query, both indexed): as
        # subqueries inside the OR they made the database read every customer.
        known = list(
            Identity.objects.filter(value__in={q, q.lower(), *phones})
            .order_by()
            .values_list("customer_id", flat=True)
            .union(
                Order.objects.filter(order_no__in={q, q.upper()})
                .order_by()
                .values_list("customer_id", flat=True)
            )
        )
        found = Q(phone__in=phones) | Q(pk__in=known)
        if len(phones) == 1:
            found |= Q(name__icontains=q)
        if "@" in q:
            found |= Q(email__iexact=q)
        qs = qs.filter(found)
    if tag:
        qs = qs.filter(_has_tag(tag.strip()))
    if vip is True:
        qs = qs.filter(vip_level__gt=0)
    elif vip is False:
        qs = qs.filter(vip_level=0)
    if identity_kind and identity_kind not in Identity.Kind.values:
        raise InvalidInput(f"未知身份类型：{identity_kind}", fields={"identity_kind": "无效"})
    if identity:
        value = identity.strip()
        match = Identity.objects.filter(value__in={value, value.lower()})
        if identity_kind:
            match = match.filter(kind=identity_kind)
        qs = qs.filter(pk__in=match.values("customer_id"))
    return qs


RESTRICTED_CONVERSATION = "其他团队的会话"
RESTRICTED_TICKET = "其他团队的工单"


def customer_timeline(customer: Customer, *, user: User, limit: int = 200) -> list[dict[str, Any]]:
    """Every conversation (any channel), ticket, phone call and proactive message of a customer, newest first.

    What ``user`` may not open is still listed, so that they know the customer has been
    served elsewhere and when, but without its subject, title, summary, handler or link
    (``restricted``).
    """
    conversations = list(
        Conversation.objects.filter(customer=customer)
        .select_related("channel", "assignee")
        .order_by("-created_at", "-id")[:limit]
    )
    tickets = list(
        Ticket.objects.filter(customer=customer)
        .select_related("owner", "department")
        .order_by("-created_at", "-id")[:limit]
    )
    calls = list(
        CallLog.objects.filter(conversation__customer=customer)
        .select_related("agent")
        .order_by("-created_at", "-id")[:limit]
    )
    notices = list(
        Notice.objects.filter(customer=customer)
        .exclude(status=Notice.Status.PENDING)
        .order_by("-created_at", "-id")[:limit]
    )
    seen_conversations = set(
        visible_conversations(user).filter(customer=customer).values_list("id", flat=True)
    )
    seen_tickets = set(visible_tickets(user).filter(customer=customer).values_list("id", flat=True))
    entries = [_conversation_entry(c, c.pk in seen_conversations) for c in conversations]
    entries += [_ticket_entry(t, t.pk in seen_tickets) for t in tickets]
    entries += [_call_entry(call, call.conversation_id in seen_conversations) for call in calls]
    entries += [
        _notice_entry(n, n.conversation_id is None or n.conversation_id in seen_conversations)
        for n in notices
    ]
    entries.sort(key=lambda e: (e["at"], e["id"]), reverse=True)
    return entries[:limit]


def _conversation_entry(c: Conversation, seen: bool) -> dict[str, Any]:
    return {
        "type": "conversation",
        "id": c.pk,
        "at": c.last_message_at or c.created_at,
        "started_at": c.created_at,
        "title": (c.subject or f"会话#{c.pk}") if seen else RESTRICTED_CONVERSATION,
        "status": c.status,
        "status_label": c.get_status_display(),
        "channel": c.channel.name,
        "channel_kind": c.channel.kind,
        "who": (c.assignee.name if c.assignee else "") if seen else "",
        "url": f"/desk/c/{c.pk}/" if seen else "",
        "restricted": not seen,
    }


def _ticket_entry(t: Ticket, seen: bool) -> dict[str, Any]:
    return {
        "type": "ticket",
        "id": t.pk,
        "at": t.created_at,
        "started_at": t.created_at,
        "title": f"{t.number} {t.title}" if seen else f"{t.number} {RESTRICTED_TICKET}",
        "status": t.status,
        "status_label": t.get_status_display(),
        "channel": t.department.name if t.department else t.get_category_display(),
        "channel_kind": "",
        "who": (t.owner.name if t.owner else "") if seen else "",
        "url": f"/desk/tickets/{t.pk}/" if seen else "",
        "restricted": not seen,
    }


def _call_entry(call: CallLog, seen: bool) -> dict[str, Any]:
    minutes, seconds = divmod(call.duration_seconds, 60)
    title = f"{call.get_direction_display()} {minutes}分{seconds}秒"
    return {
        "type": "call",
        "id": call.pk,
        "at": call.created_at,
        "started_at": call.created_at,
        "title": f"{title}：{call.summary}" if seen else title,
        "status": call.outcome,
        "status_label": call.get_outcome_display(),
        "channel": "电话",
        "channel_kind": "phone",
        "who": (call.agent.name if call.agent else "") if seen else "",
        "url": f"/desk/c/{call.conversation_id}/" if seen else "",
        "restricted": not seen,
    }


PROACTIVE_LABELS = {
    "order_shipped": "发货通知",
    "logistics_stalled": "物流延误致歉",
    "refund_completed": "退款到账通知",
    "page_linger": "咨询邀请",
    "statement": "配送延误说明",
    "incident": "事件通知",
}


def _notice_entry(n: Notice, seen: bool) -> dict[str, Any]:
    label = PROACTIVE_LABELS.get(n.kind, "主动消息")
    if n.status == Notice.Status.SENT:
        title = f"主动服务·{label}：{n.text}" if seen else f"主动服务·{label}"
    else:
        title = f"主动服务·{label}未发送：{n.reason}"
    return {
        "type": "proactive",
        "id": n.pk,
        "at": n.sent_at or n.created_at,
        "started_at": n.created_at,
        "title": title,
        "status": n.status,
        "status_label": n.get_status_display(),
        "channel": n.channel_kind,
        "channel_kind": n.channel_kind,
        "who": "",
        "url": f"/desk/c/{n.conversation_id}/" if seen and n.conversation_id else "",
        "restricted": not seen,
    }


# --- profile changes ----------------------------------------------------------------

_PHONE = re.compile(r"^\+?[0-9][0-9 \-]{4,19}$")
_ID_CARD = re.compile(r"^(\d{15}|\d{17}[0-9Xx])$")
_BANK_CARD = re.compile(r"^\d{12,19}$")


def check_tags(tags: Any) -> list[str]:
    return check_text_list(tags, field="tags", max_items=MAX_TAGS, max_len=MAX_TAG_CHARS)


def check_vip_level(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_VIP_LEVEL:
        raise InvalidInput("VIP 等级无效", fields={"vip_level": f"0 到 {MAX_VIP_LEVEL} 之间的整数"})
    return value


def check_preferences(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise InvalidInput("偏好必须是对象", fields={"preferences": "必须是键为字符串的对象"})
    check_data(value, field="preferences")
    if len(json.dumps(value, ensure_ascii=False)) > MAX_PREFERENCES_CHARS:
        raise InvalidInput("偏好内容过多", fields={"preferences": f"最多 {MAX_PREFERENCES_CHARS} 个字符"})
    return value


def check_pii(field: str, value: Any) -> str:
    """Validate a personal-data field; empty clears it."""
    value = check_text(value, field=field, max_len=32, required=False)
    if not value:
        return ""
    if field == "phone" and not _PHONE.match(value):
        raise InvalidInput("手机号格式不正确", fields={"phone": "应为 5 到 20 位数字（可含 +、-、空格）"})
    if field == "id_card" and not _ID_CARD.match(value):
        raise InvalidInput("身份证号格式不正确", fields={"id_card": "应为 15 或 18 位"})
    if field == "id_card":
        value = value.upper()
    if field == "bank_card":
        value = re.sub(r"[\s-]", "", value)
        if not _BANK_CARD.match(value):
            raise InvalidInput("银行卡号格式不正确", fields={"bank_card": "应为 12 到 19 位数字"})
    return value


def check_email(value: Any) -> str:
    value = check_text(value, field="email", max_len=254, required=False).lower()
    if value:
        try:
            validate_email(value)
        except ValidationError as exc:
            raise InvalidInput("邮箱格式不正确", fields={"email": "格式不正确"}) from exc
    return value


_PROFILE_CHECKS: dict[str, Any] = {
    "name": lambda v: check_text(v, field="name", max_len=128, required=False),
    "tags": check_tags,
    "vip_level": check_vip_level,
    "notes": lambda v: check_text(v, field="notes", max_len=5000, required=False),
    "preferences": check_preferences,
    "email": check_email,
    **{f: (lambda v, f=f: check_pii(f, v)) for f in PII_FIELDS},
}
PROFILE_FIELDS = tuple(_PROFILE_CHECKS)


def check_profile_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(changes) - set(PROFILE_FIELDS)
    if unknown:
        raise InvalidInput("包含无法修改的字段", fields={k: "不可修改" for k in sorted(unknown)})
    return {k: _PROFILE_CHECKS[k](v) for k, v in changes.items()}


def _attach_identity(customer: Customer, kind: str, value: str) -> Identity:
    ((kind, value),) = _clean_identities([(kind, value)])
    owner = Identity.objects.filter(kind=kind, value=value).select_related("customer").first()
    if owner is not None:
        if owner.customer_id == customer.pk:
            return owner
        raise Conflict(
            f"该身份已属于客户 {owner.customer_id}，如为同一人请合并客户",
            fields={"value": "已被其他客户使用"},
            extra={"customer_id": owner.customer_id},
        )
    try:
        with transaction.atomic():
            return Identity.objects.create(customer=customer, kind=kind, value=value)
    except IntegrityError as exc:
        raise Conflict("该身份刚被其他客户使用", fields={"value": "已被其他客户使用"}) from exc


def do_create_customer(*, actor: User, identities: Sequence[tuple[str, str]] = (), **fields: Any) -> Customer:
    """A new profile with its identities; an identity already in use is a conflict."""
    check_desk_user(actor)
    values = check_profile_changes(fields)
    if values.get("vip_level"):
        check_role(actor, Role.TEAM_LEAD)
    with transaction.atomic():
        customer = Customer.objects.create(**values)
        for kind, value in identities:
            _attach_identity(customer, kind, value)
    return customer


def do_update_customer(*, actor: User, customer: Customer, changes: Mapping[str, Any]) -> Customer:
    """Change a profile the actor serves; the VIP level (which moves the customer up the queues)
    is for team leads and above."""
    check_desk_user(actor)
    check_serves_customer(actor, customer)
    if customer.merged_into_id:
        raise Conflict(
            "该客户已被合并，请修改合并后的客户", extra={"merged_into_id": customer.merged_into_id}
        )
    values = check_profile_changes(changes)
    if values.get("vip_level", customer.vip_level) != customer.vip_level:
        check_role(actor, Role.TEAM_LEAD)
    if not values:
        return customer
    for key, value in values.items():
        setattr(customer, key, value)
    customer.save(update_fields=[*values, "updated_at"])
    return customer


def do_add_identity(*, actor: User, customer: Customer, kind: str, value: str) -> Identity:
    check_desk_user(actor)
    check_serves_customer(actor, customer)
    if kind not in Identity.Kind.values:
        raise InvalidInput(
            f"未知身份类型：{kind}", fields={"kind": f"应为 {', '.join(Identity.Kind.values)} 之一"}
        )
    value = check_text(value, field="value", label="身份标识", max_len=255)
    if customer.merged_into_id:
        raise Conflict("该客户已被合并", extra={"merged_into_id": customer.merged_into_id})
    with transaction.atomic():
        return _attach_identity(customer, kind, value)


def do_delete_identity(*, actor: User, identity_id: int) -> None:
    check_desk_user(actor)
    identity = Identity.objects.select_related("customer").filter(pk=identity_id).first()
    if identity is None:
        raise NotFound(f"身份 {identity_id} 不存在")
    check_serves_customer(actor, identity.customer)
    identity.delete()


# --- reveal and merge ---------------------------------------------------------------


def do_reveal_pii(
    *, user: User, customer: Customer, field: str, request: Any = None, order: Order | None = None
) -> str:
    """Reveal one personal-data field in clear; allowed to some roles, always audited.

    ``field="address"`` reveals the shipping address of ``order`` (one of the customer's).
    """
    if field not in REVEALABLE_FIELDS:
        raise InvalidInput(
            f"无法查看字段：{field}", fields={"field": f"应为 {', '.join(REVEALABLE_FIELDS)} 之一"}
        )
    if field == "address" and (order is None or order.customer_id != customer.pk):
        raise InvalidInput("查看地址需要指定该客户的订单", fields={"order_no": "必填，且须属于该客户"})
    if not can_reveal_pii(user):
        raise PermissionDenied("您的角色无权查看明文个人信息")
    check_serves_customer(user, customer)
    detail: dict[str, Any] = {"field": field}
    if order is not None and field == "address":
        detail["order_no"] = order.order_no
    audit(AuditLog.Action.REVEAL_PII, actor=user, target=customer, detail=detail, ip=client_ip(request))
    return order.address if field == "address" and order is not None else getattr(customer, field)


def check_may_merge_customers(actor: User) -> None:
    """Merging is for admins; checked before either customer is looked up (403 before 404)."""
    check_admin(actor)


def do_merge_customers(*, actor: User, source: Customer, target: Customer, request: Any = None) -> Customer:
    """Move everything of ``source`` onto ``target``; ``source`` remains as a pointer."""
    check_may_merge_customers(actor)
    with transaction.atomic():
        source, target = _merge(source, target)
        audit(
            AuditLog.Action.CUSTOMER_MERGE,
            actor=actor,
            target=target,
            detail={"source_id": source.pk, "target_id": target.pk},
            ip=client_ip(request),
        )
    return target


def do_link_visitor(
    *,
    actor: User,
    source: Customer,
    target: Customer,
    conversation_id: int | None = None,
    request: Any = None,
) -> Customer:
    """Any agent may say that an anonymous web visitor is a known customer.

    ``source`` must be known only by web-visitor ids (merging two known customers stays
    an admin's ``do_merge_customers``), and the agent must be able to open one of its
    conversations: the customer they are talking to, not any profile. Audited.
    """
    check_desk_user(actor)
    kinds = set(source.identities.values_list("kind", flat=True))
    if not kinds or kinds - {Identity.Kind.WEB}:
        raise InvalidInput(
            "只能把网页访客关联到已知客户；合并两个已知客户请联系管理员", fields={"source_id": "不是网页访客"}
        )
    mine = visible_conversations(actor).filter(customer=source)
    if conversation_id is not None:
        mine = mine.filter(pk=conversation_id)
    if not mine.exists():
        raise PermissionDenied("只能关联您能查看的会话中的访客")
    with transaction.atomic():
        source, target = _merge(source, target)
        audit(
            AuditLog.Action.CUSTOMER_LINK,
            actor=actor,
            target=target,
            detail={"source_id": source.pk, "target_id": target.pk, "conversation_id": conversation_id},
            ip=client_ip(request),
        )
    return target


def _merge(source: Customer, target: Customer) -> tuple[Customer, Customer]:
    """Move ``source``'s identities, conversations, orders and tickets onto ``target``.

    Precondition: inside a transaction (the rows stay locked until it ends).
    """
    if source.pk == target.pk:
        raise InvalidInput("不能合并同一个客户", fields={"source_id": "与目标相同"})
    # Lock both rows so two people merging at once cannot make a cycle.
    locked = {c.pk: c for c in Customer.objects.select_for_update().filter(pk__in=[source.pk, target.pk])}
    source, target = locked[source.pk], locked[target.pk]
    if source.merged_into_id:
        raise InvalidInput("该客户已被合并", fields={"source_id": "已合并"})
    if target.merged_into_id:
        raise InvalidInput("目标客户已被合并到其他客户", fields={"target_id": "已合并"})
    Identity.objects.filter(customer=source).update(customer=target)
    source.conversations.update(customer=target)  # type: ignore[attr-defined]
    source.orders.update(customer=target)
    source.tickets.update(customer=target)  # type: ignore[attr-defined]
    for field in ("name", "email", *PII_FIELDS):
        if not getattr(target, field) and getattr(source, field):
            setattr(target, field, getattr(source, field))
    target.tags = sorted(set(target.tags) | set(source.tags))
    target.vip_level = max(target.vip_level, source.vip_level)
    if source.notes:
        target.notes = (target.notes + "\n" + source.notes).strip()
    target.preferences = {**source.preferences, **target.preferences}
    target.save()
    source.merged_into = target
    source.save(update_fields=["merged_into", "updated_at"])
    return source, target
