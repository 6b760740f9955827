"""Customers: identity resolution, profiles, merging, orders and personal-data masking.

Personal data (phone, ID card, bank card, a full shipping address) leaves this module
masked; the clear value only comes out of ``do_reveal_pii``, which checks the role and
writes an audit row. Orders arrive from a store (API push or CSV import); both go
through ``do_upsert_order``, which is idempotent on the order number.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.db.models import BooleanField, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from kefu.accounts.access import audit, can_reveal_pii, check_admin, client_ip
from kefu.accounts.models import AuditLog, User
from kefu.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from kefu.core.masking import mask

from .models import Customer, Identity, LogisticsEvent, Order, OrderItem

PII_FIELDS = ("phone", "id_card", "bank_card")
# What the reveal action accepts: the profile fields, and an order's shipping address.
REVEALABLE_FIELDS = (*PII_FIELDS, "address")
MAX_TAGS = 20
MAX_TAG_CHARS = 32
MAX_VIP_LEVEL = 10
MAX_PREFERENCES_CHARS = 4000
MAX_ORDER_ITEMS = 200
MAX_LOGISTICS_EVENTS = 200


def check_no_nul(value: str, field: str) -> str:
    # PostgreSQL stores no NUL in text (nor \u0000 in jsonb): bad input, never a 500.
    if "\x00" in value:
        raise InvalidInput(f"{field} 含有无效字符", fields={field: "不能包含空字符"})
    return value


def _clean_identities(identities: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    cleaned = []
    for kind, value in identities:
        if kind not in Identity.Kind.values:
            raise InvalidInput(
                f"未知身份类型：{kind}", fields={"identities": f"类型应为 {', '.join(Identity.Kind.values)}"}
            )
        value = (value or "").strip() if isinstance(value, str) else ""
        if kind == Identity.Kind.EMAIL:
            value = value.lower()
        if not value or len(value) > 255:
            raise InvalidInput("身份标识无效", fields={"identities": "值必填，最多255个字符"})
        cleaned.append((kind, check_no_nul(value, "identities")))
    if not cleaned:
        raise InvalidInput("至少需要一个客户身份标识", fields={"identities": "必填"})
    return cleaned


def _follow_merges(customer: Customer) -> Customer:
    while customer.merged_into_id:
        customer = customer.merged_into  # type: ignore[assignment]
    return customer


def _identities_found(identities: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Identity]:
    return {
        (i.kind, i.value): i
        for i in Identity.objects.select_related("customer").filter(
            kind__in=[k for k, _ in identities], value__in=[v for _, v in identities]
        )
    }


def _create_customer(identities: Sequence[tuple[str, str]], *, name: str) -> Customer:
    """A new profile owning all ``identities``; raises ``IntegrityError`` if one is taken."""
    customer = Customer.objects.create(
        name=name[:128],
        email=next((v for k, v in identities if k == Identity.Kind.EMAIL), ""),
        phone=next((v for k, v in identities if k == Identity.Kind.PHONE), ""),
    )
    # One insert order for everybody: two requests racing with the same identities
    # listed differently then wait on each other instead of deadlocking.
    Identity.objects.bulk_create(
        [Identity(customer=customer, kind=k, value=v) for k, v in sorted(set(identities))]
    )
    return customer


def do_resolve_customer(identities: Sequence[tuple[str, str]], *, name: str = "") -> Customer:
    """Find the customer behind any of these identities; attach the others; create if new.

    Must run inside a transaction. If identities point to two different customers
    the first found wins and the others are left to an admin merge.
    """
    identities = _clean_identities(identities)
    existing = _identities_found(identities)
    if not existing:
        try:
            with transaction.atomic():
                return _create_customer(identities, name=name)
        except IntegrityError:
            # Two first messages of one new visitor (or two mails of one new sender)
            # raced: both found nothing, and the other request inserted the identity
            # first. PostgreSQL held our insert until theirs committed, so their row
            # is visible now; the savepoint took our empty profile away again.
            existing = _identities_found(identities)
            if not existing:
                raise
    found = [existing[key].customer for key in identities if key in existing]
    customer = _follow_merges(found[0])
    if name and not customer.name:
        customer.name = name[:128]
        customer.save(update_fields=["name", "updated_at"])
    for kind, value in identities:
        if (kind, value) in existing:
            continue
        try:
            with transaction.atomic():
                Identity.objects.create(customer=customer, kind=kind, value=value)
        except IntegrityError:
            # Another request attached it at the same moment, perhaps to another
            # profile: the first one wins, the rest is left to an admin merge.
            continue
        if kind == Identity.Kind.EMAIL and not customer.email:
            customer.email = value
            customer.save(update_fields=["email", "updated_at"])
        if kind == Identity.Kind.PHONE and not customer.phone:
            customer.phone = value
            customer.save(update_fields=["phone", "updated_at"])
    return customer


# --- reading ------------------------------------------------------------------------


def _check_desk_user(user: User) -> None:
    if not user.is_authenticated or not user.is_active:
        raise PermissionDenied("请先登录")


def access_customer(user: User, customer_id: int) -> Customer:
    """Any desk user may open a customer profile; personal data stays masked."""
    _check_desk_user(user)
    try:
        return Customer.objects.prefetch_related("identities").get(pk=customer_id)
    except Customer.DoesNotExist as exc:
        raise NotFound(f"客户 {customer_id} 不存在") from exc


def masked_pii(customer: Customer) -> dict[str, str]:
    return {
        "phone": mask("phone", customer.phone),
        "id_card": mask("id_card", customer.id_card),
        "bank_card": mask("bank_card", customer.bank_card),
    }


def masked_identity_value(identity: Identity) -> str:
    """Phone numbers used as identities are personal data too."""
    if identity.kind == Identity.Kind.PHONE:
        return mask("phone", identity.value)
    return identity.value


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


def search_customers(
    *,
    q: str = "",
    tag: str = "",
    vip: bool | None = None,
    identity: str = "",
    identity_kind: str = "",
) -> QuerySet[Customer]:
    """Profiles (merged ones left out) by name, tag, VIP and identity value.

    ``q`` matches part of the name, or a whole identity value or phone number: agents
    paste what the customer gave them.
    """
    for name, value in (("q", q), ("tag", tag), ("identity", identity)):
        check_no_nul(value or "", name)
    qs = list_customers()
    q = (q or "").strip()
    if q:
        qs = qs.filter(
            Q(name__icontains=q)
            | Q(phone=q)
            | Q(email__iexact=q)
            | Q(pk__in=Identity.objects.filter(value__in={q, q.lower()}).values("customer_id"))
        )
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


def customer_timeline(customer: Customer, *, limit: int = 200) -> list[dict[str, Any]]:
    """Every conversation (any channel), ticket and phone call of a customer, newest first."""
    from kefu.conversations.models import CallLog, Conversation
    from kefu.tickets.models import Ticket

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
    entries: list[dict[str, Any]] = []
    for c in conversations:
        entries.append(
            {
                "type": "conversation",
                "id": c.pk,
                "at": c.last_message_at or c.created_at,
                "started_at": c.created_at,
                "title": c.subject or f"会话#{c.pk}",
                "status": c.status,
                "status_label": c.get_status_display(),
                "channel": c.channel.name,
                "channel_kind": c.channel.kind,
                "who": c.assignee.name if c.assignee else "",
                "url": f"/desk/c/{c.pk}/",
            }
        )
    for t in tickets:
        entries.append(
            {
                "type": "ticket",
                "id": t.pk,
                "at": t.created_at,
                "started_at": t.created_at,
                "title": f"{t.number} {t.title}",
                "status": t.status,
                "status_label": t.get_status_display(),
                "channel": t.department.name if t.department else t.get_category_display(),
                "channel_kind": "",
                "who": t.owner.name if t.owner else "",
                "url": f"/desk/tickets/{t.pk}/",
            }
        )
    for call in calls:
        minutes, seconds = divmod(call.duration_seconds, 60)
        entries.append(
            {
                "type": "call",
                "id": call.pk,
                "at": call.created_at,
                "started_at": call.created_at,
                "title": f"{call.get_direction_display()} {minutes}分{seconds}秒：{call.summary}",
                "status": call.outcome,
                "status_label": call.get_outcome_display(),
                "channel": "电话",
                "channel_kind": "phone",
                "who": call.agent.name if call.agent else "",
                "url": f"/desk/c/{call.conversation_id}/",
            }
        )
    entries.sort(key=lambda e: (e["at"], e["id"]), reverse=True)
    return entries[:limit]


# --- profile changes ----------------------------------------------------------------

_PHONE = re.compile(r"^\+?[0-9][0-9 \-]{4,19}$")
_ID_CARD = re.compile(r"^(\d{15}|\d{17}[0-9Xx])$")
_BANK_CARD = re.compile(r"^\d{12,19}$")


def _text(value: Any, field: str, *, max_len: int, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput(f"{field} 必须是文字", fields={field: "必须是字符串"})
    value = check_no_nul(value.strip(), field)
    if required and not value:
        raise InvalidInput(f"{field} 不能为空", fields={field: "必填"})
    if len(value) > max_len:
        raise InvalidInput(f"{field} 过长", fields={field: f"最多 {max_len} 个字符"})
    return value


def check_tags(tags: Any) -> list[str]:
    if not isinstance(tags, list | tuple):
        raise InvalidInput("标签必须是列表", fields={"tags": "必须是字符串列表"})
    cleaned: list[str] = []
    for tag in tags:
        if not isinstance(tag, str) or not tag.strip() or len(tag.strip()) > MAX_TAG_CHARS:
            raise InvalidInput("标签无效", fields={"tags": f"每个标签 1 到 {MAX_TAG_CHARS} 个字符"})
        check_no_nul(tag, "tags")
        if tag.strip() not in cleaned:
            cleaned.append(tag.strip())
    if len(cleaned) > MAX_TAGS:
        raise InvalidInput("标签过多", fields={"tags": f"最多 {MAX_TAGS} 个"})
    return cleaned


def check_vip_level(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_VIP_LEVEL:
        raise InvalidInput("VIP 等级无效", fields={"vip_level": f"0 到 {MAX_VIP_LEVEL} 之间的整数"})
    return value


def check_preferences(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise InvalidInput("偏好必须是对象", fields={"preferences": "必须是键为字符串的对象"})
    if "\\u0000" in json.dumps(value):
        raise InvalidInput("偏好含有无效字符", fields={"preferences": "不能包含空字符"})
    if len(json.dumps(value, ensure_ascii=False)) > MAX_PREFERENCES_CHARS:
        raise InvalidInput("偏好内容过多", fields={"preferences": f"最多 {MAX_PREFERENCES_CHARS} 个字符"})
    return value


def check_pii(field: str, value: Any) -> str:
    """Validate a personal-data field; empty clears it."""
    value = _text(value, field, max_len=32)
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
    value = _text(value, "email", max_len=254).lower()
    if value:
        try:
            validate_email(value)
        except ValidationError as exc:
            raise InvalidInput("邮箱格式不正确", fields={"email": "格式不正确"}) from exc
    return value


_PROFILE_CHECKS: dict[str, Any] = {
    "name": lambda v: _text(v, "name", max_len=128),
    "tags": check_tags,
    "vip_level": check_vip_level,
    "notes": lambda v: _text(v, "notes", max_len=5000),
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
    _check_desk_user(actor)
    values = check_profile_changes(fields)
    with transaction.atomic():
        customer = Customer.objects.create(**values)
        for kind, value in identities:
            _attach_identity(customer, kind, value)
    return customer


def do_update_customer(*, actor: User, customer: Customer, changes: Mapping[str, Any]) -> Customer:
    _check_desk_user(actor)
    if customer.merged_into_id:
        raise Conflict(
            "该客户已被合并，请修改合并后的客户", extra={"merged_into_id": customer.merged_into_id}
        )
    values = check_profile_changes(changes)
    if not values:
        return customer
    for key, value in values.items():
        setattr(customer, key, value)
    customer.save(update_fields=[*values, "updated_at"])
    return customer


def do_add_identity(*, actor: User, customer: Customer, kind: str, value: str) -> Identity:
    _check_desk_user(actor)
    if kind not in Identity.Kind.values:
        raise InvalidInput(
            f"未知身份类型：{kind}", fields={"kind": f"应为 {', '.join(Identity.Kind.values)} 之一"}
        )
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > 255:
        raise InvalidInput("身份标识无效", fields={"value": "必填，最多255个字符"})
    check_no_nul(value, "value")
    if customer.merged_into_id:
        raise Conflict("该客户已被合并", extra={"merged_into_id": customer.merged_into_id})
    with transaction.atomic():
        return _attach_identity(customer, kind, value)


def do_delete_identity(*, actor: User, identity_id: int) -> None:
    _check_desk_user(actor)
    deleted, _ = Identity.objects.filter(pk=identity_id).delete()
    if not deleted:
        raise NotFound(f"身份 {identity_id} 不存在")


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
    detail: dict[str, Any] = {"field": field}
    if order is not None and field == "address":
        detail["order_no"] = order.order_no
    audit(AuditLog.Action.REVEAL_PII, actor=user, target=customer, detail=detail, ip=client_ip(request))
    return order.address if field == "address" and order is not None else getattr(customer, field)


def do_merge_customers(*, actor: User, source: Customer, target: Customer, request: Any = None) -> Customer:
    """Move everything of ``source`` onto ``target``; ``source`` remains as a pointer."""
    check_admin(actor)
    if source.pk == target.pk:
        raise InvalidInput("不能合并同一个客户", fields={"source_id": "与目标相同"})
    with transaction.atomic():
        # Lock both rows so two admins merging at once cannot make a cycle.
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
        audit(
            AuditLog.Action.CUSTOMER_MERGE,
            actor=actor,
            target=target,
            detail={"source_id": source.pk, "target_id": target.pk},
            ip=client_ip(request),
        )
    return target


# --- orders -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Item:
    sku: str
    name: str
    quantity: int
    price: Decimal


@dataclass(frozen=True)
class _Event:
    at: datetime
    location: str
    description: str


def _decimal(value: Any, field: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
        raise InvalidInput(f"{field} 必须是数字", fields={field: "必须是数字"})
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise InvalidInput(f"{field} 必须是数字", fields={field: "必须是数字"}) from exc
    if not number.is_finite():
        raise InvalidInput(f"{field} 必须是数字", fields={field: "必须是有限数字"})
    if number < 0:
        raise InvalidInput(f"{field} 不能为负数", fields={field: "不能为负数"})
    if number != number.quantize(Decimal("0.01")) or number >= Decimal("1e10"):
        raise InvalidInput(f"{field} 格式不正确", fields={field: "最多两位小数，小于 100 亿"})
    return number.quantize(Decimal("0.01"))


def _datetime(value: Any, field: str) -> datetime:
    if isinstance(value, str):
        text = value.strip()
        try:
            parsed = parse_datetime(text.replace("/", "-"))
        except ValueError:
            parsed = None
        if parsed is None:
            raise InvalidInput(
                f"{field} 时间格式不正确", fields={field: "应为 ISO 时间，如 2026-11-20T14:30:00+08:00"}
            )
        value = parsed
    if not isinstance(value, datetime):
        raise InvalidInput(f"{field} 必须是时间", fields={field: "必须是时间"})
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value


def _choice(value: Any, field: str, choices: type[Order.Payment] | type[Order.Shipping]) -> str:
    if value not in choices.values:
        raise InvalidInput(f"{field} 无效：{value}", fields={field: f"应为 {', '.join(choices.values)} 之一"})
    return str(value)


def _clean_items(items: Any) -> list[_Item]:
    if not isinstance(items, list | tuple):
        raise InvalidInput("商品明细必须是列表", fields={"items": "必须是列表"})
    if len(items) > MAX_ORDER_ITEMS:
        raise InvalidInput("商品明细过多", fields={"items": f"最多 {MAX_ORDER_ITEMS} 项"})
    cleaned = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise InvalidInput("商品明细无效", fields={f"items.{i}": "必须是对象"})
        quantity = item.get("quantity", 1)
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= 100000:
            raise InvalidInput("商品数量无效", fields={f"items.{i}.quantity": "1 到 100000 之间的整数"})
        if "price" not in item:
            raise InvalidInput("缺少商品单价", fields={f"items.{i}.price": "必填"})
        cleaned.append(
            _Item(
                sku=_text(item.get("sku", ""), f"items.{i}.sku", max_len=64),
                name=_text(item.get("name"), f"items.{i}.name", max_len=128, required=True),
                quantity=quantity,
                price=_decimal(item["price"], f"items.{i}.price"),
            )
        )
    return cleaned


def _clean_events(events: Any, field: str = "logistics") -> list[_Event]:
    if not isinstance(events, list | tuple):
        raise InvalidInput("物流记录必须是列表", fields={field: "必须是列表"})
    if len(events) > MAX_LOGISTICS_EVENTS:
        raise InvalidInput("物流记录过多", fields={field: f"最多 {MAX_LOGISTICS_EVENTS} 条"})
    cleaned = []
    for i, event in enumerate(events):
        if not isinstance(event, Mapping):
            raise InvalidInput("物流记录无效", fields={f"{field}.{i}": "必须是对象"})
        if "at" not in event:
            raise InvalidInput("物流记录缺少时间", fields={f"{field}.{i}.at": "必填"})
        cleaned.append(
            _Event(
                at=_datetime(event["at"], f"{field}.{i}.at"),
                location=_text(event.get("location", ""), f"{field}.{i}.location", max_len=128),
                description=_text(
                    event.get("description"), f"{field}.{i}.description", max_len=255, required=True
                ),
            )
        )
    return cleaned


def _order_customer(customer_id: Any, identity: Any, customer_name: str) -> Customer:
    """Inside the order's transaction: by id, else by identity (created if new)."""
    if customer_id is not None:
        if isinstance(customer_id, bool) or not isinstance(customer_id, int):
            raise InvalidInput("customer_id 必须是整数", fields={"customer_id": "必须是整数"})
        customer = Customer.objects.filter(pk=customer_id).first()
        if customer is None:
            raise InvalidInput(f"客户 {customer_id} 不存在", fields={"customer_id": "客户不存在"})
        return _follow_merges(customer)
    if not isinstance(identity, Mapping) or not identity.get("kind") or not identity.get("value"):
        raise InvalidInput(
            "请指定客户：customer_id 或身份 {kind, value}",
            fields={"customer": "customer_id 与 customer{kind, value} 至少填一个"},
        )
    kind, value = identity["kind"], identity["value"]
    if kind not in Identity.Kind.values:
        raise InvalidInput(
            f"未知身份类型：{kind}", fields={"customer.kind": f"应为 {', '.join(Identity.Kind.values)} 之一"}
        )
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > 255:
        raise InvalidInput("身份标识无效", fields={"customer.value": "必填，最多255个字符"})
    return do_resolve_customer([(kind, value)], name=customer_name)


def _add_events(order: Order, events: Sequence[_Event]) -> int:
    """Append events not stored yet; the same (time, description) twice is one event."""
    if not events:
        return 0
    seen = set(order.logistics.values_list("at", "description"))
    new = []
    for e in events:
        if (e.at, e.description) in seen:
            continue
        seen.add((e.at, e.description))
        new.append(LogisticsEvent(order=order, at=e.at, location=e.location, description=e.description))
    LogisticsEvent.objects.bulk_create(new)
    return len(new)


def do_upsert_order(
    *,
    order_no: Any,
    amount: Any,
    placed_at: Any,
    customer_id: Any = None,
    customer: Any = None,
    customer_name: Any = "",
    payment_status: Any = Order.Payment.PAID,
    shipping_status: Any = Order.Shipping.PENDING,
    carrier: Any = "",
    tracking_no: Any = "",
    address: Any = "",
    currency: Any = "CNY",
    items: Any = (),
    logistics: Any = (),
) -> tuple[Order, bool]:
    """Create or update an order pushed by the store; returns ``(order, created)``.

    Idempotent on ``order_no``: a resend updates the fields, replaces the items with
    the ones sent and adds only logistics events not stored yet. The customer is
    ``customer_id`` or the owner of identity ``customer={"kind", "value"}`` (created
    if new). Inputs may be strings (CSV) or typed values (API); all are checked here.
    """
    order_no = _text(order_no, "order_no", max_len=64, required=True)
    currency = _text(currency, "currency", max_len=3).upper() or "CNY"
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise InvalidInput("币种无效", fields={"currency": "三位字母代码，如 CNY"})
    values: dict[str, Any] = {
        "amount": _decimal(amount, "amount"),
        "placed_at": _datetime(placed_at, "placed_at"),
        "payment_status": _choice(payment_status, "payment_status", Order.Payment),
        "shipping_status": _choice(shipping_status, "shipping_status", Order.Shipping),
        "carrier": _text(carrier, "carrier", max_len=32),
        "tracking_no": _text(tracking_no, "tracking_no", max_len=64),
        "address": _text(address, "address", max_len=255),
        "currency": currency,
    }
    name = _text(customer_name, "customer_name", max_len=128)
    clean_items = _clean_items(items)
    clean_events = _clean_events(logistics)
    with transaction.atomic():
        owner = _order_customer(customer_id, customer, name)
        order = Order.objects.select_for_update().filter(order_no=order_no).first()
        created = order is None
        if order is None:
            try:
                with transaction.atomic():
                    order = Order.objects.create(order_no=order_no, customer=owner, **values)
            except IntegrityError:
                # The same order pushed twice at once: the other push created it.
                order = Order.objects.select_for_update().get(order_no=order_no)
                created = False
        if not created:
            order.customer = owner
            for key, value in values.items():
                setattr(order, key, value)
            order.save()
            order.items.all().delete()
        OrderItem.objects.bulk_create(
            [
                OrderItem(order=order, sku=i.sku, name=i.name, quantity=i.quantity, price=i.price)
                for i in clean_items
            ]
        )
        _add_events(order, clean_events)
    return order, created


def access_order(user: User, order_no: str) -> Order:
    _check_desk_user(user)
    if "\x00" in order_no:
        raise NotFound("订单不存在")
    order = (
        Order.objects.select_related("customer")
        .prefetch_related("items", "logistics")
        .filter(order_no=order_no)
        .first()
    )
    if order is None:
        raise NotFound(f"订单 {order_no} 不存在")
    return order


def list_orders(
    *, customer_id: int | None = None, payment_status: str = "", shipping_status: str = "", q: str = ""
) -> QuerySet[Order]:
    qs = Order.objects.select_related("customer").prefetch_related("items", "logistics")
    if customer_id is not None:
        qs = qs.filter(customer_id=customer_id)
    if payment_status:
        qs = qs.filter(payment_status=_choice(payment_status, "payment_status", Order.Payment))
    if shipping_status:
        qs = qs.filter(shipping_status=_choice(shipping_status, "shipping_status", Order.Shipping))
    if q:
        q = check_no_nul(q.strip(), "q")
        qs = qs.filter(Q(order_no=q) | Q(tracking_no=q))
    return qs


def do_add_logistics(*, order: Order, events: Any, shipping_status: Any = None) -> tuple[Order, int]:
    """Append logistics events (duplicates skipped) and optionally move the shipping status."""
    clean = _clean_events(events, "events")
    status = _choice(shipping_status, "shipping_status", Order.Shipping) if shipping_status else None
    if not clean and status is None:
        raise InvalidInput(
            "没有要更新的物流信息", fields={"events": "至少一条物流记录或新的 shipping_status"}
        )
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        added = _add_events(order, clean)
        if status is not None and status != order.shipping_status:
            order.shipping_status = status
            order.save(update_fields=["shipping_status", "updated_at"])
        elif added:
            order.save(update_fields=["updated_at"])
    return order, added
