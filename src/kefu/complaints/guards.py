"""Complaints, ground floor: what the send path and the reply check ask of complaints.

Each role's authority to grant compensation alone (``authority_limit``, the table an
admin edits over ``DEFAULT_LIMITS``), what has been approved for a conversation, the
refusal of a reply that claims a pending compensation is granted, and the registration
of the promises an agent makes in a reply. The conversation pipelines and the
reply-quality check call these directly.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import Q
from django.utils import timezone

from kefu.accounts.models import ROLE_RANK, Role, User
from kefu.conversations.models import Conversation
from kefu.conversations.timeline import add_activity
from kefu.core.errors import Conflict
from kefu.core.transactions import best_effort
from kefu.nlp.grant_claims import find_grant_claim

from .models import (
    AuthorityLimit,
    CompensationRequest,
    Complaint,
    Promise,
)
from .promise_text import find_promises

DEFAULT_LIMITS: dict[str, Decimal | None] = {
    Role.AGENT: Decimal("20"),
    Role.SPECIALIST: Decimal("50"),
    Role.TEAM_LEAD: Decimal("100"),
    Role.SUPERVISOR: Decimal("500"),
    Role.MANAGER: None,  # no limit: the manager approves what is beyond everyone else
    Role.ADMIN: None,
}


def limits() -> dict[str, Decimal | None]:
    table = dict(DEFAULT_LIMITS)
    for row in AuthorityLimit.objects.all():
        table[row.role] = row.max_amount
    return table


def authority_limit(user: User) -> Decimal | None:
    """How much this user may grant alone (None: no limit)."""
    return limits().get(user.role, Decimal("0"))


def approver_role_for(amount: Decimal) -> str:
    """The lowest role whose limit covers ``amount``."""
    table = limits()
    for role in sorted(table, key=lambda r: ROLE_RANK[Role(r)]):
        cap = table[role]
        if cap is None or cap >= amount:
            return role
    return Role.MANAGER


def approved_compensation(conversation: Conversation) -> Decimal:
    """What has been granted or approved for this conversation (directly or via its complaint)."""
    rows = CompensationRequest.objects.filter(
        Q(conversation=conversation) | Q(complaint__ticket__conversations=conversation),
        status__in=(CompensationRequest.Status.GRANTED, CompensationRequest.Status.APPROVED),
    ).values_list("amount", flat=True)
    return sum(rows, Decimal("0"))


def check_no_premature_grant(text: str, conversation: Conversation) -> None:
    """Refuse a reply telling the customer compensation is granted while it still awaits approval.

    What counts as telling them (Traditional, rewordings) is :mod:`kefu.nlp.grant_claims`.
    """
    claim = find_grant_claim(text)
    if claim is None:
        return
    pending = CompensationRequest.objects.filter(
        Q(conversation=conversation) | Q(complaint__ticket__conversations=conversation),
        status=CompensationRequest.Status.PENDING,
    ).first()
    if pending is not None:
        raise Conflict(
            f"补偿申请（{pending.get_kind_display()} {pending.amount} 元）尚在审批中，批准前不能告诉客户已发放。"
            "可以说明“已为您提交申请，审批结果会在……前告知您”。",
            fields={"text": "补偿尚未批准"},
            extra={"pending_compensation_id": pending.pk, "claim": claim.sentence},
        )


def do_register_promises_from_reply(message: Any, conversation: Conversation) -> list[Promise]:
    """Register the commitments an agent just made in a reply (run in the send transaction).

    "今天18:00前给您回复" becomes a promise due today at 18:00 on the agent's list; the
    sweep escalates it if it is missed. Registration never blocks the reply (``best_effort``).
    """
    if message.sender_id is None or not message.text:
        return []
    return best_effort(
        f"registering the promises of reply {message.pk}", [], _register_promises, message, conversation
    )


def _register_promises(message: Any, conversation: Conversation) -> list[Promise]:
    created: list[Promise] = []
    for found in find_promises(message.text, timezone.localtime()):
        if Promise.objects.filter(
            conversation=conversation, status=Promise.Status.OPEN, description=found.description
        ).exists():
            continue
        complaint = Complaint.objects.filter(ticket__conversations=conversation).order_by("-id").first()
        promise = Promise.objects.create(
            owner_id=message.sender_id,
            conversation=conversation,
            complaint=complaint,
            description=found.description,
            due_at=found.due_at,
        )
        created.append(promise)
        add_activity(
            conversation,
            f"已登记承诺：{found.description}（截止 {timezone.localtime(found.due_at):%m-%d %H:%M}）",
            meta={"promise_id": promise.pk},
        )
    return created
