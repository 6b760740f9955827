"""Complaints, top floor: the promises agents make, kept, cancelled and counted.

Promises found in a reply are registered by ``guards.do_register_promises_from_reply``;
here an agent records one by hand, marks it kept or cancelled, and the team sees its
promise-kept rate. Missed promises are escalated by the sweep in ``services``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from kefu.accounts.models import Role, User, person_name_of
from kefu.complaints.access import access_complaint
from kefu.complaints.models import (
    Promise,
)
from kefu.conversations.timeline import access_conversation
from kefu.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied


def do_make_promise(
    *,
    actor: User,
    description: str,
    due_at: datetime,
    conversation_id: int | None = None,
    complaint_id: int | None = None,
) -> Promise:

    description = (description or "").strip()
    if not description or len(description) > 255:
        raise InvalidInput("请填写承诺内容", fields={"description": "必填，最多255字"})
    if not isinstance(due_at, datetime) or timezone.is_naive(due_at) or due_at <= timezone.now():
        raise InvalidInput("承诺时间必须是将来的时间", fields={"due_at": "将来的时间（含时区）"})
    conversation = access_conversation(actor, conversation_id) if conversation_id else None
    complaint = access_complaint(actor, complaint_id) if complaint_id else None
    return Promise.objects.create(
        owner=actor, description=description, due_at=due_at, conversation=conversation, complaint=complaint
    )


def _own_promise(actor: User, promise_id: int) -> Promise:
    promise = Promise.objects.select_for_update().filter(pk=promise_id).first()
    if promise is None:
        raise NotFound("承诺不存在")
    if promise.owner_id != actor.pk and not actor.has_role_at_least(Role.TEAM_LEAD):
        raise PermissionDenied("只能处理自己的承诺")
    return promise


def do_keep_promise(*, actor: User, promise_id: int) -> Promise:
    with transaction.atomic():
        promise = _own_promise(actor, promise_id)
        if promise.status not in (Promise.Status.OPEN, Promise.Status.BROKEN):
            raise Conflict("该承诺已处理", fields={"status": promise.status})
        # A promise kept late still counts as broken in the rates; it is marked done.
        if promise.status == Promise.Status.OPEN:
            promise.status = Promise.Status.KEPT
        promise.kept_at = timezone.now()
        promise.save()
    return promise


def do_cancel_promise(*, actor: User, promise_id: int) -> Promise:
    with transaction.atomic():
        promise = _own_promise(actor, promise_id)
        if promise.status != Promise.Status.OPEN:
            raise Conflict("该承诺已处理", fields={"status": promise.status})
        promise.status = Promise.Status.CANCELLED
        promise.save()
    return promise


def promises_for(user: User) -> QuerySet[Promise]:
    return (
        Promise.objects.filter(owner=user)
        .select_related("conversation", "complaint")
        .order_by("status", "due_at")
    )


def promise_rates(*, since: datetime | None = None) -> list[dict[str, Any]]:
    """Kept and broken promises per agent (kept late counts as broken)."""
    qs = Promise.objects.exclude(status__in=(Promise.Status.OPEN, Promise.Status.CANCELLED))
    if since is not None:
        qs = qs.filter(due_at__gte=since)
    rows = qs.values(
        "owner_id", "owner__display_name", "owner__first_name", "owner__last_name", "owner__username"
    ).annotate(
        kept=Count("id", filter=Q(status=Promise.Status.KEPT)),
        broken=Count("id", filter=Q(status=Promise.Status.BROKEN)),
    )
    out = []
    for r in rows:
        total = r["kept"] + r["broken"]
        out.append(
            {
                "user_id": r["owner_id"],
                "name": person_name_of(r, "owner"),
                "kept": r["kept"],
                "broken": r["broken"],
                "kept_rate": round(r["kept"] / total, 3) if total else None,
            }
        )
    return sorted(out, key=lambda r: r["user_id"])
