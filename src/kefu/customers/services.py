"""Customers: identity resolution, profiles, merging, orders and personal-data masking."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from kefu.accounts.models import AuditLog, User
from kefu.accounts.services import audit, can_reveal_pii, check_admin, client_ip
from kefu.core.errors import InvalidInput, NotFound, PermissionDenied
from kefu.core.masking import mask

from .models import Customer, Identity

PII_FIELDS = ("phone", "id_card", "bank_card")


def _clean_identities(identities: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    cleaned = []
    for kind, value in identities:
        if kind not in Identity.Kind.values:
            raise InvalidInput(f"未知身份类型：{kind}", fields={"identities": f"类型应为 {', '.join(Identity.Kind.values)}"})
        value = (value or "").strip()
        if kind == Identity.Kind.EMAIL:
            value = value.lower()
        if not value or len(value) > 255:
            raise InvalidInput("身份标识无效", fields={"identities": "值必填，最多255个字符"})
        cleaned.append((kind, value))
    if not cleaned:
        raise InvalidInput("至少需要一个客户身份标识", fields={"identities": "必填"})
    return cleaned


def do_resolve_customer(identities: Sequence[tuple[str, str]], *, name: str = "") -> Customer:
    """Find the customer behind any of these identities; attach the others; create if new.

    Must run inside a transaction. If identities point to two different customers
    the first found wins and the others are left to an admin merge.
    """
    identities = _clean_identities(identities)
    existing = {
        (i.kind, i.value): i
        for i in Identity.objects.select_related("customer").filter(
            kind__in=[k for k, _ in identities], value__in=[v for _, v in identities]
        )
    }
    found = [existing[key].customer for key in identities if key in existing]
    customer = found[0] if found else None
    while customer is not None and customer.merged_into_id:
        customer = customer.merged_into
    if customer is None:
        customer = Customer.objects.create(name=name[:128])
    elif name and not customer.name:
        customer.name = name[:128]
        customer.save(update_fields=["name", "updated_at"])
    for kind, value in identities:
        if (kind, value) in existing:
            continue
        try:
            with transaction.atomic():
                Identity.objects.create(customer=customer, kind=kind, value=value)
        except IntegrityError:
            # Another request attached it at the same moment: that is fine.
            pass
        if kind == Identity.Kind.EMAIL and not customer.email:
            customer.email = value
            customer.save(update_fields=["email", "updated_at"])
        if kind == Identity.Kind.PHONE and not customer.phone:
            customer.phone = value
            customer.save(update_fields=["phone", "updated_at"])
    return customer


def access_customer(user: User, customer_id: int) -> Customer:
    """Any desk user may open a customer profile; personal data stays masked."""
    if not user.is_authenticated:
        raise PermissionDenied("请先登录")
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


def do_reveal_pii(*, user: User, customer: Customer, field: str, request: Any = None) -> str:
    """Reveal one personal-data field in clear; allowed to some roles, always audited."""
    if field not in PII_FIELDS:
        raise InvalidInput(f"无法查看字段：{field}", fields={"field": f"应为 {', '.join(PII_FIELDS)} 之一"})
    if not can_reveal_pii(user):
        raise PermissionDenied("您的角色无权查看明文个人信息")
    audit(
        AuditLog.Action.REVEAL_PII,
        actor=user,
        target=customer,
        detail={"field": field},
        ip=client_ip(request),
    )
    return getattr(customer, field)


def do_merge_customers(*, actor: User, source: Customer, target: Customer, request: Any = None) -> Customer:
    """Move everything of ``source`` onto ``target``; ``source`` remains as a pointer."""
    check_admin(actor)
    if source.pk == target.pk:
        raise InvalidInput("不能合并同一个客户", fields={"source_id": "与目标相同"})
    if source.merged_into_id:
        raise InvalidInput("该客户已被合并", fields={"source_id": "已合并"})
    with transaction.atomic():
        Identity.objects.filter(customer=source).update(customer=target)
        source.conversations.update(customer=target)
        source.orders.update(customer=target)
        source.tickets.update(customer=target)
        for field in ("name", "email", *PII_FIELDS):
            if not getattr(target, field) and getattr(source, field):
                setattr(target, field, getattr(source, field))
        target.tags = sorted(set(target.tags) | set(source.tags))
        target.vip_level = max(target.vip_level, source.vip_level)
        if source.notes:
            target.notes = (target.notes + "\n" + source.notes).strip()
        target.save()
        source.merged_into = target
        source.save(update_fields=["merged_into", "updated_at"])
        audit(
            AuditLog.Action.CUSTOMER_MERGE,
            actor=actor,
            target=target,
            detail={"source_id": source.pk},
            ip=client_ip(request),
        )
    return target


def list_customers() -> QuerySet[Customer]:
    return Customer.objects.filter(merged_into__isnull=True).prefetch_related("identities")
