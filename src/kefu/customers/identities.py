"""Customers, ground floor: who is writing — one customer behind many identities.

``do_resolve_customer`` finds the customer of a message by its identities (web visitor,
email, phone, WeChat …), following merges, and creates one when none is known: the
conversation pipelines call it, so the customer never repeats the story.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import IntegrityError, transaction

from kefu.core.errors import InvalidInput
from kefu.core.fields import check_text

from .models import Customer, Identity


def _clean_identities(identities: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    cleaned = []
    for kind, value in identities:
        if kind not in Identity.Kind.values:
            raise InvalidInput(
                f"未知身份类型：{kind}", fields={"identities": f"类型应为 {', '.join(Identity.Kind.values)}"}
            )
        value = check_text(value, field="identities", label="身份标识", max_len=255)
        cleaned.append((kind, value.lower() if kind == Identity.Kind.EMAIL else value))
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


def do_record_contact(customer: Customer, *, phone: str = "", email: str = "", name: str = "") -> Customer:
    """How a customer asked to be reached (a message left, 留言): the profile keeps the latest.

    Only the profile fields change, never identities: a number typed into a form proves
    nothing, so it must not join this visitor to another customer's profile. ``phone``
    and ``email`` are checked by the caller (``core.fields.check_phone`` / ``check_email``).
    """
    customer = _follow_merges(customer)
    changed = []
    if phone and customer.phone != phone:
        customer.phone = phone
        changed.append("phone")
    if email and customer.email != email:
        customer.email = email
        changed.append("email")
    if name and not customer.name:
        customer.name = name[:128]
        changed.append("name")
    if changed:
        customer.save(update_fields=[*changed, "updated_at"])
    return customer
