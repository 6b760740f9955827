"""Complaints, top floor: compensation within each role's authority, and approvals.

A grant within the actor's limit (:mod:`kefu.complaints.guards`) is recorded at once;
above it, a request waits for the lowest role whose limit covers it, and until then no
reply may tell the customer it is granted (``guards.check_no_premature_grant``).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from kefu.accounts.access import check_role, team_ids_of
from kefu.accounts.models import ROLE_RANK, Role, User
from kefu.complaints.access import access_complaint
from kefu.complaints.guards import approver_role_for, authority_limit
from kefu.complaints.models import (
    AuthorityLimit,
    CompensationKind,
    CompensationRequest,
    Complaint,
)
from kefu.conversations.models import Conversation
from kefu.conversations.timeline import access_conversation
from kefu.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from kefu.core.events import publish
from kefu.core.fields import check_text
from kefu.tickets.records import team_id_of


def do_set_limit(*, actor: User, role: str, max_amount: Any) -> AuthorityLimit:
    check_role(actor, Role.ADMIN)
    if role not in Role.values:
        raise InvalidInput("角色无效", fields={"role": "未知角色"})
    amount = _amount(max_amount, field="max_amount")
    row, _ = AuthorityLimit.objects.update_or_create(role=role, defaults={"max_amount": amount})
    return row


def _amount(value: Any, *, field: str = "amount") -> Decimal:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise InvalidInput("金额无效", fields={field: "应为数字"}) from exc
    if not amount.is_finite() or amount < 0 or amount > Decimal("1000000"):
        raise InvalidInput("金额无效", fields={field: "0 到 1000000 之间"})
    return amount.quantize(Decimal("0.01"))


def do_request_compensation(
    *,
    actor: User,
    kind: str,
    amount: Any,
    reason: str,
    complaint_id: int | None = None,
    conversation_id: int | None = None,
) -> CompensationRequest:
    """Grant within the actor's limit; above it, create an approval request."""

    if kind not in CompensationKind.values:
        raise InvalidInput("补偿方式无效", fields={"kind": "应为：" + "/".join(CompensationKind.values)})
    amount = _amount(amount)
    reason = check_text(reason, field="reason", label="补偿原因", max_len=500)
    if complaint_id is None and conversation_id is None:
        raise InvalidInput("请指定投诉或会话", fields={"complaint_id": "与 conversation_id 至少填一个"})
    with transaction.atomic():
        complaint = access_complaint(actor, complaint_id) if complaint_id is not None else None
        conversation = access_conversation(actor, conversation_id) if conversation_id is not None else None
        cap = authority_limit(actor)
        within = cap is None or amount <= cap
        request = CompensationRequest.objects.create(
            team_id=case_team_id(complaint, conversation),
            complaint=complaint,
            conversation=conversation,
            kind=kind,
            amount=amount,
            reason=reason,
            requested_by=actor,
            status=CompensationRequest.Status.GRANTED if within else CompensationRequest.Status.PENDING,
            approver_role="" if within else approver_role_for(amount),
            decided_by=actor if within else None,
            decided_at=timezone.now() if within else None,
        )
        if not within:
            approvers = eligible_approvers(request).values_list("id", flat=True)
            publish(
                "compensation.approval_requested",
                {
                    "request_id": request.pk,
                    "kind": kind,
                    "amount": str(amount),
                    "reason": reason,
                    "requested_by": actor.name,
                    "approver_role": request.approver_role,
                },
                user_ids=list(approvers),
                webhook=False,
            )
    return request


def case_team_id(complaint: Complaint | None, conversation: Conversation | None) -> int | None:
    """The team a compensation case belongs to: its conversation's, else its ticket's."""
    if conversation is not None and conversation.team_id:
        return conversation.team_id
    if complaint is None:
        return None
    linked = complaint.ticket.conversations.exclude(team=None).order_by("-id").first()
    return linked.team_id if linked is not None else team_id_of(complaint.ticket)


def _roles_from(role: str) -> list[str]:
    return [r for r in Role.values if ROLE_RANK[Role(r)] >= ROLE_RANK[Role(role)]]


def eligible_approvers(request: CompensationRequest) -> QuerySet[User]:
    """Who may decide a request: the approver role or above, in the case's team (or seeing
    every team), and not the requester. A specialist of another team is never asked."""
    in_team = Q(role__in=_roles_from(Role.SUPERVISOR))
    if request.team_id is not None:
        in_team |= Q(teams__id=request.team_id)
    return (
        User.objects.filter(is_active=True, role__in=_roles_from(request.approver_role))
        .filter(in_team)
        .exclude(pk=request.requested_by_id)
        .distinct()
    )


def check_may_decide(user: User, request: CompensationRequest) -> None:
    if request.requested_by_id == user.pk:
        raise PermissionDenied("不能审批自己提交的申请")
    cap = authority_limit(user)
    if not (cap is None or request.amount <= cap) or not user.has_role_at_least(request.approver_role):
        raise PermissionDenied(f"需要{Role(request.approver_role).label}或以上审批")
    if not user.sees_all and request.team_id not in team_ids_of(user):
        raise PermissionDenied("该申请属于其他团队，您无权审批")


def pending_approvals(user: User) -> QuerySet[CompensationRequest]:
    """The pending requests ``user`` may decide: their role suffices and the case is their team's."""
    roles = [r for r in Role.values if ROLE_RANK[Role(r)] <= user.rank]
    qs = CompensationRequest.objects.filter(
        status=CompensationRequest.Status.PENDING, approver_role__in=roles
    )
    if not user.sees_all:
        qs = qs.filter(team_id__in=team_ids_of(user))
    return qs.exclude(requested_by=user).select_related(
        "requested_by", "complaint__ticket", "conversation", "team"
    )


def do_decide_compensation(
    *, actor: User, request_id: int, approve: bool, note: str = ""
) -> CompensationRequest:
    if not isinstance(approve, bool):
        raise InvalidInput("请选择批准或驳回", fields={"approve": "必须是 true/false"})
    with transaction.atomic():
        request = CompensationRequest.objects.select_for_update().filter(pk=request_id).first()
        if request is None:
            raise NotFound("补偿申请不存在")
        if request.status != CompensationRequest.Status.PENDING:
            raise Conflict("该申请已处理", fields={"status": request.status})
        check_may_decide(actor, request)
        request.status = (
            CompensationRequest.Status.APPROVED if approve else CompensationRequest.Status.REJECTED
        )
        request.decided_by = actor
        request.decided_at = timezone.now()
        request.decision_note = check_text(note, field="note", max_len=500, required=False)
        request.save()
        publish(
            "compensation.decided",
            {
                "request_id": request.pk,
                "status": request.status,
                "amount": str(request.amount),
                "kind": request.kind,
                "note": request.decision_note,
                "decided_by": actor.name,
            },
            user_ids=[request.requested_by_id],
            webhook=False,
        )
    return request
