"""Script library, top floor: finding the right canned reply, managing the library, and
learning from how agents use it.

Variables are written ``{客户姓名}``; filling them, refusing a reply that still holds
one and linking a sent message to its script are the ground floor,
:mod:`kefu.replies.compose`.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Avg, Count, Q, QuerySet
from django.utils import timezone
from pypinyin import Style, lazy_pinyin

from kefu.accounts.access import check_role, team_ids_of
from kefu.accounts.models import Role, User
from kefu.conversations.models import Conversation
from kefu.conversations.timeline import access_conversation
from kefu.core.errors import InvalidInput, NotFound, PermissionDenied
from kefu.core.fields import check_text, check_text_list
from kefu.customers.models import Order
from kefu.replies.compose import VARIABLES, Rendered, render_text
from kefu.replies.models import VARIABLE_RE

from .models import CannedReply, ReplyUsage, Scenario

# --- access --------------------------------------------------------------------------


def visible_replies(user: User) -> QuerySet[CannedReply]:
    return CannedReply.objects.filter(is_active=True).filter(
        Q(scope=CannedReply.Scope.GLOBAL)
        | Q(scope=CannedReply.Scope.TEAM, team_id__in=team_ids_of(user))
        | Q(scope=CannedReply.Scope.PERSONAL, owner=user)
    )


def access_reply(user: User, reply_id: int) -> CannedReply:
    reply = visible_replies(user).filter(pk=reply_id).first()
    if reply is None:
        raise NotFound(f"话术 {reply_id} 不存在")
    return reply


def check_can_manage(user: User, reply: CannedReply) -> None:
    """Personal replies: their owner. Team replies: team leads of that team and up. Global: supervisors+."""
    if reply.scope == CannedReply.Scope.PERSONAL:
        if reply.owner_id != user.pk:
            raise PermissionDenied("只能修改自己的个人话术")
    elif reply.scope == CannedReply.Scope.TEAM:
        check_role(user, Role.TEAM_LEAD)
        if not user.sees_all and reply.team_id not in team_ids_of(user):
            raise PermissionDenied("只能修改本团队的话术")
    else:
        check_role(user, Role.SUPERVISOR)


# --- search --------------------------------------------------------------------------


def _pinyin_keys(text: str) -> tuple[str, str]:
    initials = "".join(lazy_pinyin(text, style=Style.FIRST_LETTER, errors="default")).lower()
    full = "".join(lazy_pinyin(text, errors="default")).lower()
    return initials[:255], full[:512]


def _matches(reply: CannedReply, q: str) -> float:
    """How well the typed text matches a reply (0 = not at all)."""
    if not q:
        return 1.0
    ql = q.lower()
    if reply.shortcut and reply.shortcut.lower().startswith(ql):
        return 3.0
    if ql in reply.title.lower():
        return 2.5
    if reply.pinyin_initials.startswith(ql):
        return 2.2
    if ql in reply.text.lower():
        return 1.8
    if ql in reply.pinyin_initials:
        return 1.5
    if len(ql) >= 3 and ql in reply.pinyin_full:
        return 1.2
    return 0.0


def search_replies(
    user: User, q: str = "", *, conversation: Conversation | None = None, limit: int = 20
) -> list[CannedReply]:
    """Replies for the ``/`` picker: Chinese, shortcut or pinyin initials match; ranked by
    how well they fit the conversation (intent, emotion, order state) and how often used."""
    q = check_text(q, field="q", label="搜索内容", max_len=50, required=False)
    replies = list(visible_replies(user).annotate(uses=Count("usages")))
    order_state = ""
    if conversation is not None:
        order = Order.objects.filter(customer_id=conversation.customer_id).order_by("-placed_at").first()
        order_state = order.shipping_status if order else ""
    scored = []
    for r in replies:
        match = _matches(r, q)
        if match <= 0:
            continue
        fit = 0.0
        if conversation is not None:
            if conversation.intent and conversation.intent in r.intents:
                fit += 1.5
            if conversation.emotion_label and conversation.emotion_label in r.emotions:
                fit += 1.0
            if order_state and order_state in r.order_states:
                fit += 0.8
            if r.scenario == Scenario.GREETING and conversation.first_response_at is None:
                fit += 1.2
        scored.append((match + fit + min(r.uses, 50) / 100, r))
    scored.sort(key=lambda t: (-t[0], t[1].pk))
    return [r for _, r in scored[:limit]]


# --- writes --------------------------------------------------------------------------


def _check_fields(data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, limit, required in (("title", 64, True), ("text", 2000, True), ("shortcut", 16, False)):
        if key in data or (required and not partial):
            out[key] = check_text(data.get(key), field=key, max_len=limit, required=required)
    if "scenario" in data:
        if data["scenario"] not in Scenario.values:
            raise InvalidInput("场景无效", fields={"scenario": "应为：" + "、".join(Scenario.values)})
        out["scenario"] = data["scenario"]
    for key in ("intents", "emotions", "order_states"):
        if key in data:
            value = data[key]
            out[key] = check_text_list(value, field=key, max_items=50, max_len=32)
    if "review_by" in data:
        out["review_by"] = data["review_by"]
    if "text" in out:
        unknown = [n for n in VARIABLE_RE.findall(out["text"]) if n not in VARIABLES]
        if unknown:
            raise InvalidInput(
                "未知变量：" + "、".join(unknown),
                fields={"text": "可用变量：" + "、".join("{" + v + "}" for v in VARIABLES)},
            )
    return out


def _refresh_keys(reply: CannedReply) -> None:
    reply.pinyin_initials, reply.pinyin_full = _pinyin_keys(f"{reply.title} {reply.shortcut}")


def do_create_reply(
    *, actor: User, data: dict[str, Any], scope: str = CannedReply.Scope.PERSONAL, team_id: int | None = None
) -> CannedReply:
    fields = _check_fields(data, partial=False)
    if scope not in CannedReply.Scope.values:
        raise InvalidInput("范围无效", fields={"scope": "应为 personal/team/global"})
    if scope == CannedReply.Scope.TEAM and team_id is None:
        raise InvalidInput("团队话术需要指定团队", fields={"team_id": "必填"})
    reply = CannedReply(
        scope=scope,
        team_id=team_id if scope == CannedReply.Scope.TEAM else None,
        owner=actor if scope == CannedReply.Scope.PERSONAL else None,
        created_by=actor,
        **fields,
    )
    check_can_manage(actor, reply)
    _refresh_keys(reply)
    reply.save()
    return reply


def do_update_reply(*, actor: User, reply_id: int, data: dict[str, Any]) -> CannedReply:
    reply = access_reply(actor, reply_id)
    check_can_manage(actor, reply)
    for key, value in _check_fields(data, partial=True).items():
        setattr(reply, key, value)
    _refresh_keys(reply)
    reply.save()
    return reply


def do_delete_reply(*, actor: User, reply_id: int) -> None:
    reply = access_reply(actor, reply_id)
    check_can_manage(actor, reply)
    CannedReply.objects.filter(pk=reply.pk).update(is_active=False)


def do_use_reply(*, agent: User, reply_id: int, conversation_id: int) -> tuple[ReplyUsage, Rendered]:
    """Insert a reply into the composer: fill its variables and remember the use."""

    reply = access_reply(agent, reply_id)
    conversation = access_conversation(agent, conversation_id)
    rendered = render_text(reply.text, conversation=conversation, agent=agent)
    usage = ReplyUsage.objects.create(
        reply=reply, agent=agent, conversation=conversation, inserted_text=rendered.text
    )
    return usage, rendered


def _csat_by_reply(reply_ids: list[int]) -> dict[int, float]:
    """Average customer rating of the conversations each reply was used in.

    A conversation counts once per reply however often the reply was inserted into it,
    so one long conversation does not outweigh the others.
    """
    scores: dict[int, list[int]] = {}
    pairs = (
        ReplyUsage.objects.filter(reply_id__in=reply_ids, conversation__csat_score__isnull=False)
        .order_by()  # the default ordering's column would defeat DISTINCT
        .values_list("reply_id", "conversation_id", "conversation__csat_score")
        .distinct()
    )
    for reply_id, _conversation_id, score in pairs:
        if score is not None:  # filtered out above; narrows the nullable column for mypy
            scores.setdefault(reply_id, []).append(score)
    return {reply_id: round(sum(s) / len(s), 2) for reply_id, s in scores.items()}


def reply_stats(user: User) -> list[dict[str, Any]]:
    """Per reply: uses, sent, share sent unedited, average similarity, CSAT; stale ones flagged."""
    today = timezone.localdate()
    rows = list(
        visible_replies(user)
        .annotate(
            uses=Count("usages"),
            sent=Count("usages", filter=Q(usages__message__isnull=False)),
            unedited=Count("usages", filter=Q(usages__similarity__gte=0.98)),
            avg_similarity=Avg("usages__similarity"),
        )
        .order_by("-uses", "id")
    )
    csat = _csat_by_reply([r.pk for r in rows])
    return [
        {
            "id": r.pk,
            "title": r.title,
            "scenario": r.scenario,
            "uses": r.uses,
            "sent": r.sent,
            "sent_unedited_share": round(r.unedited / r.sent, 3) if r.sent else None,
            "avg_similarity": round(r.avg_similarity, 3) if r.avg_similarity is not None else None,
            "csat": csat.get(r.pk),
            "stale": bool(r.review_by and r.review_by < today),
            "review_by": r.review_by.isoformat() if r.review_by else None,
        }
        for r in rows
    ]


@transaction.atomic
def do_install_library(entries: list[dict[str, Any]], *, actor: User | None = None) -> int:
    """Install replies as global ones (the demo shop's library); idempotent on title."""
    created = 0
    for entry in entries:
        if CannedReply.objects.filter(title=entry["title"], scope=CannedReply.Scope.GLOBAL).exists():
            continue
        reply = CannedReply(scope=CannedReply.Scope.GLOBAL, created_by=actor, **entry)
        _refresh_keys(reply)
        reply.save()
        created += 1
    return created
