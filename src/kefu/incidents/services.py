"""Incidents, top floor: detecting surges, the supervisor's decisions, the follow-up, the review.

``do_detect_incidents`` runs from the worker's timers. A run is claimed with a
conditional UPDATE of the one ``DetectionState`` row, so two workers (or a worker
restarted mid-tick) never run it twice in the same interval and nothing depends on a
process staying alive: the contacts are read from the database each time. One run

1. tags conversations that started since the last run to the active incidents they
   match (same SKU, route, keyword, or the same intent with similar text), and
2. proposes an incident for each surge (:mod:`kefu.incidents.detection`) that no
   active incident covers and no supervisor dismissed in the last hours.

Leads manage the incidents of their teams; supervisors and above all of them;
agents read the incidents of their teams (the composer shows the approved wording).
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from kefu.accounts.access import check_desk_user, team_ids_of
from kefu.accounts.models import Role, Team, User
from kefu.complaints.compensation import do_request_compensation
from kefu.complaints.guards import authority_limit
from kefu.complaints.models import CompensationRequest
from kefu.conversations.models import Conversation, Message
from kefu.conversations.timeline import access_conversation, add_activity, do_send_auto_reply
from kefu.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from kefu.core.events import publish
from kefu.core.fields import check_text
from kefu.customers.models import LogisticsEvent, Order, OrderItem
from kefu.proactive.services import do_queue_incident_notices
from kefu.sla.policies import DEFAULT_WARN_RATIO

from .detection import (
    Contact,
    DetectionSettings,
    IncidentSpec,
    Surge,
    find_surges,
    match_reason,
    names_term,
)
from .facts import PinnedStatement, pinned_statements
from .models import DetectionState, Incident, IncidentEvent, IncidentLink, PublicPost
from .public_posts import post_event

MANAGE_ROLE = Role.TEAM_LEAD
RUN_EVERY = timedelta(seconds=30)
HISTORY_DAYS = 7
# A dismissed proposal is not proposed again for the same key for this long.
DISMISS_QUIET = timedelta(hours=6)
SETTINGS = DetectionSettings()
MAX_FOLLOW_UPS = 5000

EVENT_LABELS = {
    "proposed": "系统提出事件",
    "opened": "手动创建事件",
    "confirmed": "确认事件",
    "statement": "更新对外口径",
    "note": "更新内部说明",
    "owner": "指定负责人",
    "merged": "合并",
    "dismissed": "忽略",
    "resolved": "已解决",
    "follow_up": "发送回访消息",
    "compensation": "批量补偿",
    "tagged": "手动关联会话",
    "notice": "主动通知受影响客户",
}
# Orders of a SKU placed this recently are affected by an incident about that SKU.
SKU_ORDER_DAYS = 30
MAX_NOTICE_ORDERS = 5000
IN_FLIGHT = (Order.Shipping.SHIPPED, Order.Shipping.IN_TRANSIT, Order.Shipping.DELIVERING)


# ---------------------------------------------------------------- access


def visible_incidents(user: User) -> QuerySet[Incident]:
    """Supervisors and above see all; others the incidents of their teams."""
    check_desk_user(user)
    qs = Incident.objects.select_related("team", "owner")
    if user.sees_all:
        return qs
    return qs.filter(team_id__in=team_ids_of(user))


def access_incident(
    user: User, incident_id: int, *, manage: bool = False, for_update: bool = False
) -> Incident:
    if manage:
        check_manager_role(user)
    qs = visible_incidents(user)
    if for_update:
        qs = qs.select_for_update(of=("self",))
    try:
        incident = qs.get(pk=incident_id)
    except Incident.DoesNotExist as exc:
        if Incident.objects.filter(pk=incident_id).exists():
            raise PermissionDenied("您无权查看该事件") from exc
        raise NotFound(f"事件 {incident_id} 不存在") from exc
    if manage:
        check_may_manage(user, incident.team_id)
    return incident


def check_manager_role(user: User) -> None:
    check_desk_user(user)
    if not user.has_role_at_least(MANAGE_ROLE):
        raise PermissionDenied("只有组长及以上可以处理事件")


def possible_owners(incident: Incident) -> QuerySet[User]:
    """Who may own an incident: the active members of its team, and supervisors and up
    (an incident of no team: every active user)."""
    owners = User.objects.filter(is_active=True)
    if incident.team_id is not None:
        owners = owners.filter(
            Q(teams__id=incident.team_id) | Q(role__in=(Role.SUPERVISOR, Role.MANAGER, Role.ADMIN))
        )
    return owners.distinct().order_by("id")


def check_may_manage(user: User, team_id: int | None) -> None:
    check_manager_role(user)
    if user.sees_all:
        return
    if team_id is None or team_id not in team_ids_of(user):
        raise PermissionDenied("只能处理本团队的事件")


def list_incidents(user: User, *, status: str | None = None) -> list[Incident]:
    qs = visible_incidents(user)
    if status:
        if status == "active":
            qs = qs.filter(status__in=(Incident.Status.PROPOSED, Incident.Status.OPEN))
        elif status in Incident.Status.values:
            qs = qs.filter(status=status)
        else:
            raise InvalidInput("状态无效", fields={"status": "active/" + "/".join(Incident.Status.values)})
    return list(qs[:200])


def link_counts(incident_ids: Sequence[int]) -> dict[int, int]:
    rows = Counter(
        IncidentLink.objects.filter(incident_id__in=incident_ids).values_list("incident_id", flat=True)
    )
    return dict(rows)


# ---------------------------------------------------------------- contacts


def _contacts(qs: QuerySet[Conversation]) -> list[Contact]:
    """Conversations as the detector sees them: first words, intent, SKUs and route of the order."""
    convs = list(
        qs.values_list("pk", "created_at", "team_id", "intent", "customer_id", "order_id", "order__order_no")
    )
    if not convs:
        return []
    ids = [c[0] for c in convs]
    order_ids = {c[5] for c in convs if c[5]}
    texts: dict[int, list[str]] = defaultdict(list)
    for conv_id, text in (
        Message.objects.filter(
            conversation_id__in=ids, direction=Message.Direction.INCOMING, is_private=False
        )
        .order_by("id")
        .values_list("conversation_id", "text")
    ):
        if len(texts[conv_id]) < 2:
            texts[conv_id].append(text[:300])
    skus: dict[int, set[str]] = defaultdict(set)
    for order_id, sku in (
        OrderItem.objects.filter(order_id__in=order_ids).exclude(sku="").values_list("order_id", "sku")
    ):
        skus[order_id].add(sku)
    routes: dict[int, set[str]] = defaultdict(set)
    for order_id, location in (
        LogisticsEvent.objects.filter(order_id__in=order_ids)
        .exclude(location="")
        .values_list("order_id", "location")
    ):
        routes[order_id].add(location)
    tz = timezone.get_current_timezone()
    return [
        Contact(
            id=pk,
            at=timezone.localtime(created, tz),
            text=" ".join(texts.get(pk, [])),
            team_id=team_id,
            intent=intent or "",
            skus=tuple(sorted(skus.get(order_id, ()))),
            routes=tuple(sorted(routes.get(order_id, ()))),
            customer_id=customer_id,
            order_no=order_no or "",
        )
        for pk, created, team_id, intent, customer_id, order_id, order_no in convs
    ]


def _history(now: datetime) -> list[Contact]:
    """The previous days' conversations in the hours the window touches."""
    start = now - timedelta(minutes=SETTINGS.window_minutes)
    hours = sorted({start.hour, now.hour})
    q = Q()
    for day in range(1, HISTORY_DAYS + 1):
        for hour in hours:
            begin = (now - timedelta(days=day)).replace(hour=hour, minute=0, second=0, microsecond=0)
            q |= Q(created_at__gte=begin, created_at__lt=begin + timedelta(hours=1))
    return _contacts(Conversation.objects.filter(q))


def _spec(incident: Incident) -> IncidentSpec:
    s = incident.spec or {}
    return IncidentSpec(
        intent=str(s.get("intent", "")),
        skus=tuple(s.get("skus", ())),
        routes=tuple(s.get("routes", ())),
        samples=tuple(s.get("samples", ())),
        keywords=tuple(s.get("keywords", ())),
    )


# ---------------------------------------------------------------- detection


def _claim_run(now: datetime, force: bool) -> DetectionState | None:
    state, _ = DetectionState.objects.get_or_create(pk=1)
    if force:
        return state
    due = Q(last_run_at__isnull=True) | Q(last_run_at__lte=now - RUN_EVERY)
    if DetectionState.objects.filter(due, pk=1).update(last_run_at=now) != 1:
        return None
    state.refresh_from_db()
    return state


def do_detect_incidents(now: datetime | None = None, *, force: bool = False) -> int:
    """One detection run (tag, then propose); returns conversations tagged plus incidents proposed."""
    now = timezone.localtime(now or timezone.now())
    state = _claim_run(now, force)
    if state is None:
        return 0
    with transaction.atomic():
        tagged = _tag_new_conversations(state)
        window_start = now - timedelta(minutes=SETTINGS.window_minutes)
        recent = _contacts(Conversation.objects.filter(created_at__gt=window_start, created_at__lte=now))
        if len(recent) < SETTINGS.min_count:
            return tagged
        surges = find_surges(recent, _history(now), history_days=HISTORY_DAYS, now=now, settings=SETTINGS)
        proposed = sum(1 for surge in surges if _propose(surge, now) is not None)
        DetectionState.objects.filter(pk=1).update(last_run_at=now)
    return tagged + proposed


def _tag_new_conversations(state: DetectionState) -> int:
    active = list(Incident.objects.filter(status__in=(Incident.Status.PROPOSED, Incident.Status.OPEN)))
    newest = Conversation.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    if not active or newest <= state.last_tagged_conversation_id:
        DetectionState.objects.filter(pk=1).update(last_tagged_conversation_id=newest)
        return 0
    contacts = _contacts(
        Conversation.objects.filter(pk__gt=state.last_tagged_conversation_id, pk__lte=newest)
    )
    specs = [(i, _spec(i)) for i in active]
    rows = []
    for contact in contacts:
        for incident, spec in specs:
            if incident.team_id is not None and contact.team_id != incident.team_id:
                continue
            reason = match_reason(spec, contact, similarity=SETTINGS.similarity)
            if reason is not None:
                rows.append(IncidentLink(incident=incident, conversation_id=contact.id, reason=reason))
    IncidentLink.objects.bulk_create(rows, ignore_conflicts=True)
    DetectionState.objects.filter(pk=1).update(last_tagged_conversation_id=newest)
    return len(rows)


def _covered(surge: Surge, now: datetime) -> bool:
    ids = [c.id for c in surge.contacts]
    same_team = Q(team__isnull=True) if surge.team_id is None else Q(team_id=surge.team_id)
    active_or_quiet = Incident.objects.filter(same_team).filter(
        Q(status__in=(Incident.Status.PROPOSED, Incident.Status.OPEN))
        | Q(status=Incident.Status.DISMISSED, closed_at__gte=now - DISMISS_QUIET)
    )
    if active_or_quiet.filter(key=surge.key).exists():
        return True
    if surge.term and any(names_term(_spec(i), surge) for i in active_or_quiet.filter(kind=surge.kind)):
        return True
    linked = IncidentLink.objects.filter(
        conversation_id__in=ids,
        incident__in=active_or_quiet.filter(status__in=(Incident.Status.PROPOSED, Incident.Status.OPEN)),
    ).count()
    return linked * 2 >= len(ids)


def _title(surge: Surge) -> str:
    if surge.kind == "sku":
        return f"商品 {surge.label} 集中咨询"
    if surge.kind == "route":
        return f"物流 {surge.label} 集中咨询"
    if surge.term:
        return f"同类问题激增：「{surge.label[:40]}」"
    return f"同类问题激增：{surge.label[:40]}"


def _evidence(surge: Surge) -> dict[str, Any]:
    contacts = sorted(surge.contacts, key=lambda c: c.at)
    return {
        "count": surge.count,
        "window_minutes": surge.window_minutes,
        "rate_per_hour": round(surge.rate_per_hour, 1),
        "normal_per_hour": round(surge.normal_per_hour, 2),
        "samples": [{"conversation_id": c.id, "text": c.text[:200]} for c in surge.samples(5)],
        "customers": len({c.customer_id for c in contacts}),
        "orders": sorted({c.order_no for c in contacts if c.order_no})[:50],
        "first_at": contacts[0].at.isoformat(),
        # The unusual term several wordings share (normal_per_hour is then the term's).
        **({"term": surge.term} if surge.term else {}),
    }


def _propose(surge: Surge, now: datetime) -> Incident | None:
    if _covered(surge, now):
        return None
    contacts = sorted(surge.contacts, key=lambda c: c.at)
    spec = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(surge.spec()).items() if v}
    incident = Incident.objects.create(
        team_id=surge.team_id,
        title=_title(surge),
        kind=surge.kind,
        key=surge.key,
        spec=spec,
        evidence=_evidence(surge),
        first_message_at=contacts[0].at,
    )
    IncidentLink.objects.bulk_create(
        [IncidentLink(incident=incident, conversation_id=c.id, reason="surge") for c in contacts],
        ignore_conflicts=True,
    )
    ev = incident.evidence
    _event(
        incident,
        "proposed",
        None,
        f"{ev['window_minutes']} 分钟内 {ev['count']} 个会话（每小时 {ev['rate_per_hour']} 个，平时 {ev['normal_per_hour']} 个）",
        at=now,
    )
    _announce(incident, "incident.proposed")
    return incident


def _event(
    incident: Incident, kind: str, actor: User | None, text: str = "", *, at: datetime | None = None
) -> None:
    IncidentEvent.objects.create(
        incident=incident, kind=kind, actor=actor, text=text, at=at or timezone.now()
    )


def _announce(incident: Incident, event: str) -> None:
    """Desk event to the leads of the incident's team (and supervisors), after commit."""
    leads = User.objects.filter(is_active=True).filter(
        Q(role__in=(Role.SUPERVISOR, Role.MANAGER, Role.ADMIN))
        | Q(role=Role.TEAM_LEAD, teams__id=incident.team_id)
    )
    user_ids = sorted(set(leads.values_list("pk", flat=True)))
    payload = {"incident_id": incident.pk, "title": incident.title, "status": incident.status}
    transaction.on_commit(lambda: publish(event, payload, user_ids=user_ids, webhook=False))


# ---------------------------------------------------------------- decisions


def _clean_list(value: Any, field: str, *, max_items: int = 20, max_len: int = 100) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [v for v in value.replace("，", ",").replace("\n", ",").split(",")]
    if not isinstance(value, list | tuple):
        raise InvalidInput("应为文字列表", fields={field: "应为文字列表"})
    out = []
    for v in value:
        if not isinstance(v, str):
            raise InvalidInput("应为文字列表", fields={field: "应为文字列表"})
        v = check_text(v, field=field, max_len=max_len, required=False)
        if v:
            out.append(v)
    if len(out) > max_items:
        raise InvalidInput("条目过多", fields={field: f"最多 {max_items} 条"})
    return out


def _owner(owner_id: Any, team_id: int | None) -> User | None:
    if owner_id is None:
        return None
    if not isinstance(owner_id, int) or isinstance(owner_id, bool):
        raise InvalidInput("负责人无效", fields={"owner_id": "应为用户 id"})
    owner = User.objects.filter(pk=owner_id, is_active=True).first()
    if owner is None:
        raise InvalidInput("负责人不存在", fields={"owner_id": "用户不存在"})
    if team_id is not None and not owner.sees_all and team_id not in team_ids_of(owner):
        raise InvalidInput("负责人不属于该团队", fields={"owner_id": "不属于该团队"})
    return owner


def do_open_incident(
    *,
    actor: User,
    team_id: Any,
    title: Any,
    statement: Any = "",
    internal_note: Any = "",
    intent: Any = "",
    skus: Any = None,
    routes: Any = None,
    keywords: Any = None,
    conversation_ids: Any = None,
    notify_customers: Any = True,
) -> Incident:
    """A supervisor opens an incident by hand (it starts confirmed, with the actor as owner)."""
    check_manager_role(actor)
    if team_id is None and not actor.sees_all:
        raise InvalidInput("请选择团队", fields={"team_id": "组长只能为本团队创建事件"})
    if team_id is not None and (not isinstance(team_id, int) or isinstance(team_id, bool)):
        raise InvalidInput("团队无效", fields={"team_id": "应为团队 id"})
    check_may_manage(actor, team_id)
    if team_id is not None and not Team.objects.filter(pk=team_id).exists():
        raise InvalidInput("团队不存在", fields={"team_id": "团队不存在"})
    title = check_text(title, field="title", label="标题", max_len=128)
    statement = check_text(statement, field="statement", label="对外口径", max_len=2000, required=False)
    internal_note = check_text(
        internal_note, field="internal_note", label="内部说明", max_len=5000, required=False
    )
    intent = check_text(intent, field="intent", label="意图", max_len=32, required=False)
    spec = {
        "intent": intent,
        "skus": _clean_list(skus, "skus"),
        "routes": _clean_list(routes, "routes"),
        "keywords": _clean_list(keywords, "keywords"),
    }
    if not (spec["skus"] or spec["routes"] or spec["keywords"]):
        raise InvalidInput(
            "请至少填写商品、物流线路或关键词之一", fields={"keywords": "商品、线路、关键词至少填一项"}
        )
    ids = _clean_ids(conversation_ids)
    now = timezone.now()
    with transaction.atomic():
        incident = Incident.objects.create(
            team_id=team_id,
            title=title,
            kind=Incident.Kind.MANUAL,
            status=Incident.Status.OPEN,
            spec=spec,
            owner=actor,
            statement=statement,
            statement_at=now if statement else None,
            internal_note=internal_note,
            notify_customers=_check_bool(notify_customers, "notify_customers"),
            created_by=actor,
            confirmed_at=now,
        )
        _event(incident, "opened", actor, title)
        if statement:
            _event(incident, "statement", actor, statement)
        for conv_id in ids:
            _tag(actor, incident, conv_id)
        _link_recent_matches(incident, now)
        _notify_affected(incident, actor)
        if incident.notices_queued:
            incident.save(update_fields=["notices_queued"])
    return incident


def _clean_ids(value: Any) -> list[int]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise InvalidInput("会话列表无效", fields={"conversation_ids": "应为会话 id 列表"})
    if len(value) > 500:
        raise InvalidInput("会话过多", fields={"conversation_ids": "最多 500 个"})
    return list(dict.fromkeys(value))


def _link_recent_matches(incident: Incident, now: datetime) -> None:
    """Conversations of the last day that match a new incident are tagged at once."""
    qs = Conversation.objects.filter(created_at__gte=now - timedelta(days=1))
    if incident.team_id is not None:
        qs = qs.filter(team_id=incident.team_id)
    spec = _spec(incident)
    rows = [
        IncidentLink(incident=incident, conversation_id=c.id, reason=reason)
        for c in _contacts(qs[:5000])
        if (reason := match_reason(spec, c, similarity=SETTINGS.similarity)) is not None
    ]
    IncidentLink.objects.bulk_create(rows, ignore_conflicts=True)


def _tag(actor: User, incident: Incident, conversation_id: int) -> None:
    conversation = access_conversation(actor, conversation_id)
    if incident.team_id is not None and conversation.team_id != incident.team_id:
        raise InvalidInput(
            "会话不属于该事件的团队", fields={"conversation_ids": f"会话 {conversation_id} 属于其他团队"}
        )
    IncidentLink.objects.get_or_create(
        incident=incident, conversation=conversation, defaults={"reason": "manual"}
    )


def do_tag_conversation(*, actor: User, incident_id: int, conversation_id: Any) -> Incident:
    check_manager_role(actor)
    ids = _clean_ids([conversation_id] if not isinstance(conversation_id, list) else conversation_id)
    with transaction.atomic():
        incident = access_incident(actor, incident_id, manage=True, for_update=True)
        if not incident.is_active:
            raise Conflict("事件已结束，不能再关联会话")
        for conv_id in ids:
            _tag(actor, incident, conv_id)
        _event(incident, "tagged", actor, "、".join(str(i) for i in ids))
    return incident


def do_confirm_incident(
    *, actor: User, incident_id: int, owner_id: Any = None, statement: Any = None, title: Any = None
) -> Incident:
    """A proposal becomes an incident being handled; the owner defaults to whoever confirms."""
    with transaction.atomic():
        incident = access_incident(actor, incident_id, manage=True, for_update=True)
        if incident.status != Incident.Status.PROPOSED:
            raise Conflict("只有待确认的事件可以确认")
        incident.status = Incident.Status.OPEN
        incident.confirmed_at = timezone.now()
        incident.owner = _owner(owner_id, incident.team_id) or actor
        if title is not None:
            incident.title = check_text(title, field="title", label="标题", max_len=128)
        _event(incident, "confirmed", actor, f"负责人：{incident.owner.name}")
        if statement is not None:
            _set_statement(incident, actor, statement)
        _notify_affected(incident, actor)
        incident.save()
        _announce(incident, "incident.updated")
    return incident


def _set_statement(incident: Incident, actor: User, statement: Any) -> None:
    text = check_text(statement, field="statement", label="对外口径", max_len=2000, required=False)
    if text != incident.statement:
        incident.statement = text
        incident.statement_at = timezone.now()
        _event(incident, "statement", actor, text)


def do_update_incident(
    *,
    actor: User,
    incident_id: int,
    title: Any = None,
    statement: Any = None,
    internal_note: Any = None,
    owner_id: Any = None,
    notice: Any = None,
    lessons: Any = None,
    notify_customers: Any = None,
) -> Incident:
    with transaction.atomic():
        incident = access_incident(actor, incident_id, manage=True, for_update=True)
        if incident.status in (Incident.Status.DISMISSED, Incident.Status.MERGED):
            raise Conflict("事件已忽略或已合并")
        if title is not None:
            incident.title = check_text(title, field="title", label="标题", max_len=128)
        if statement is not None:
            _set_statement(incident, actor, statement)
        if internal_note is not None:
            note = check_text(
                internal_note, field="internal_note", label="内部说明", max_len=5000, required=False
            )
            if note != incident.internal_note:
                incident.internal_note = note
                _event(incident, "note", actor)
        if owner_id is not None:
            incident.owner = _owner(owner_id, incident.team_id)
            _event(incident, "owner", actor, incident.owner.name if incident.owner else "")
        if notice is not None:
            if not isinstance(notice, bool):
                raise InvalidInput("公告开关无效", fields={"notice": "应为 true/false"})
            incident.notice = notice
        if lessons is not None:
            incident.lessons = check_text(
                lessons, field="lessons", label="改进事项", max_len=5000, required=False
            )
        if notify_customers is not None:
            incident.notify_customers = _check_bool(notify_customers, "notify_customers")
        _notify_affected(incident, actor)
        incident.save()
    return incident


def _check_bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput("开关无效", fields={field: "应为 true/false"})
    return value


def affected_orders(incident: Incident, now: datetime | None = None) -> list[Order]:
    """The orders an incident names: recent orders of its SKUs, and parcels on its routes still on the way."""
    spec = _spec(incident)
    match = Q(pk__in=[])
    if spec.skus:
        since = (now or timezone.now()) - timedelta(days=SKU_ORDER_DAYS)
        match |= Q(items__sku__in=spec.skus, placed_at__gte=since)
    if spec.routes:
        match |= Q(logistics__location__in=spec.routes, shipping_status__in=IN_FLIGHT)
    ids = Order.objects.filter(match).values("pk").distinct()
    return list(
        Order.objects.filter(pk__in=ids)
        .select_related("customer")
        .order_by("placed_at", "id")[:MAX_NOTICE_ORDERS]
    )


def _notify_affected(incident: Incident, actor: User) -> int:
    """Once the statement of an open incident is published, a proactive notice to the customers of the
    orders it names who are not already talking to the desk about it (kefu.proactive: its daily limit,
    its channel choice, its log and the customer's timeline)."""
    if incident.status != Incident.Status.OPEN or not incident.statement or not incident.notify_customers:
        return 0
    orders = affected_orders(incident)
    if not orders:
        return 0
    talking = set(incident.links.values_list("conversation__customer_id", flat=True))
    queued = do_queue_incident_notices(
        incident_id=incident.pk,
        text=incident.statement,
        orders=orders,
        skip_customer_ids=talking,
    )
    if queued:
        incident.notices_queued += queued
        _event(incident, "notice", actor, f"已向 {queued} 位受影响客户发送事件通知")
    return queued


def do_dismiss_incident(*, actor: User, incident_id: int, reason: Any = "") -> Incident:
    check_manager_role(actor)
    reason = check_text(reason, field="reason", label="原因", max_len=500, required=False)
    with transaction.atomic():
        incident = access_incident(actor, incident_id, manage=True, for_update=True)
        if incident.status != Incident.Status.PROPOSED:
            raise Conflict("只有待确认的事件可以忽略")
        incident.status = Incident.Status.DISMISSED
        incident.closed_at = timezone.now()
        incident.save()
        _event(incident, "dismissed", actor, reason)
    return incident


def do_merge_incident(*, actor: User, incident_id: int, into_id: Any) -> Incident:
    """The proposal's conversations join another active incident of the same team."""
    check_manager_role(actor)
    if not isinstance(into_id, int) or isinstance(into_id, bool) or into_id == incident_id:
        raise InvalidInput("合并目标无效", fields={"into_id": "应为另一个事件的 id"})
    with transaction.atomic():
        incident = access_incident(actor, incident_id, manage=True, for_update=True)
        target = access_incident(actor, into_id, manage=True, for_update=True)
        if not incident.is_active or not target.is_active:
            raise Conflict("只能合并进行中的事件")
        if incident.team_id != target.team_id:
            raise InvalidInput("只能合并同一团队的事件", fields={"into_id": "属于其他团队"})
        conv_ids = list(incident.links.values_list("conversation_id", flat=True))
        IncidentLink.objects.bulk_create(
            [IncidentLink(incident=target, conversation_id=c, reason="merged") for c in conv_ids],
            ignore_conflicts=True,
        )
        spec = dict(target.spec)
        for key in ("skus", "routes", "samples", "keywords"):
            extra = [v for v in incident.spec.get(key, []) if v not in spec.get(key, [])]
            if extra:
                spec[key] = list(spec.get(key, [])) + extra
        target.spec = spec
        target.save(update_fields=["spec", "updated_at"])
        incident.status = Incident.Status.MERGED
        incident.merged_into = target
        incident.closed_at = timezone.now()
        incident.save()
        _event(incident, "merged", actor, f"并入事件 #{target.pk}")
        _event(target, "merged", actor, f"并入事件 #{incident.pk}（{len(conv_ids)} 个会话）")
    return target


def do_resolve_incident(*, actor: User, incident_id: int, follow_up_text: Any = "") -> Incident:
    """Resolved: the notice comes down and each tagged customer gets the follow-up once."""
    check_manager_role(actor)
    text = check_text(follow_up_text, field="follow_up_text", label="回访内容", max_len=1000, required=False)
    with transaction.atomic():
        incident = access_incident(actor, incident_id, manage=True, for_update=True)
        if incident.status != Incident.Status.OPEN:
            raise Conflict("只有处理中的事件可以标记为已解决")
        incident.status = Incident.Status.RESOLVED
        incident.resolved_at = timezone.now()
        incident.follow_up_text = text
        sent = _send_follow_ups(incident, text) if text else 0
        incident.follow_ups_sent = sent
        incident.save()
        _event(incident, "resolved", actor)
        if text:
            _event(incident, "follow_up", actor, f"已向 {sent} 位客户发送：{text}")
        _announce(incident, "incident.updated")
    return incident


def _send_follow_ups(incident: Incident, text: str) -> int:
    """One message per tagged customer, on their latest tagged conversation's channel."""
    links = (
        incident.links.filter(followed_up_at__isnull=True)
        .select_related("conversation__channel", "conversation__customer")
        .order_by("-conversation__created_at")[:MAX_FOLLOW_UPS]
    )
    seen: set[int] = set()
    now = timezone.now()
    sent_ids = []
    for link in links:
        conversation = link.conversation
        if conversation.customer_id in seen:
            continue
        seen.add(conversation.customer_id)
        do_send_auto_reply(conversation, text, meta={"incident_id": incident.pk, "follow_up": True})
        sent_ids.append(link.pk)
    IncidentLink.objects.filter(pk__in=sent_ids).update(followed_up_at=now)
    return len(sent_ids)


@dataclass(frozen=True)
class BulkCompensation:
    granted: int
    amount: Decimal
    recipients: list[dict[str, Any]]


def do_compensate_incident(
    *, actor: User, incident_id: int, kind: Any, amount: Any, reason: Any
) -> BulkCompensation:
    """One decision for every tagged customer: each grant within the actor's authority, or none.

    The amount per customer must be within the actor's own limit (a larger amount goes
    through the usual approval, one customer at a time); the recipients are recorded on
    the incident's timeline and each grant is an ordinary compensation record.
    """
    with transaction.atomic():
        incident = access_incident(actor, incident_id, manage=True, for_update=True)
        if incident.status not in (Incident.Status.OPEN, Incident.Status.RESOLVED):
            raise Conflict("只能为处理中或已解决的事件补偿")
        cap = authority_limit(actor)
        try:
            value = Decimal(str(amount))
        except ArithmeticError as exc:
            raise InvalidInput("金额无效", fields={"amount": "应为数字"}) from exc
        if cap is not None and value > cap:
            raise PermissionDenied(f"每位客户 {value} 元超出您的补偿权限（{cap} 元），请按单走审批")
        done_customers = set(
            CompensationRequest.objects.filter(
                conversation__incident_links__incident=incident,
                reason__startswith=f"[事件#{incident.pk}]",
            ).values_list("conversation__customer_id", flat=True)
        )
        reason_text = check_text(reason, field="reason", label="补偿原因", max_len=400)
        recipients: list[dict[str, Any]] = []
        seen: set[int] = set(done_customers)
        for link in incident.links.select_related("conversation__customer").order_by("conversation_id"):
            conv = link.conversation
            if conv.customer_id in seen:
                continue
            seen.add(conv.customer_id)
            grant = do_request_compensation(
                actor=actor,
                kind=kind,
                amount=amount,
                reason=f"[事件#{incident.pk}] {reason_text}",
                conversation_id=conv.pk,
            )
            recipients.append(
                {
                    "customer_id": conv.customer_id,
                    "customer": conv.customer.name,
                    "conversation_id": conv.pk,
                    "compensation_id": grant.pk,
                }
            )
        if not recipients:
            raise Conflict("没有尚未补偿的客户")
        total = value * len(recipients)
        _event(
            incident,
            "compensation",
            actor,
            f"{len(recipients)} 位客户各 {value} 元（{kind}），合计 {total} 元；名单："
            + "、".join(f"{r['customer'] or '客户'}#{r['customer_id']}" for r in recipients),
        )
    return BulkCompensation(len(recipients), total, recipients)


# ---------------------------------------------------------------- review


@dataclass(frozen=True)
class Review:
    incident: Incident
    events: list[IncidentEvent]
    per_hour: list[tuple[str, int]]
    conversations: int
    customers: int
    median_first_response_seconds: float | None
    mean_first_response_seconds: float | None
    emotion_before: float | None
    emotion_after: float | None
    compensations: list[CompensationRequest]
    compensation_total: Decimal


def incident_review(user: User, incident_id: int) -> Review:
    incident = access_incident(user, incident_id)
    rows = list(
        Conversation.objects.filter(incident_links__incident=incident).values_list(
            "created_at", "first_response_at", "emotion_score", "customer_id"
        )
    )
    hours: Counter[str] = Counter()
    waits: list[float] = []
    before: list[float] = []
    after: list[float] = []
    for created, first_response, emotion, _ in rows:
        hours[timezone.localtime(created).strftime("%Y-%m-%d %H:00")] += 1
        if first_response is not None:
            waits.append((first_response - created).total_seconds())
        if incident.statement_at is not None:
            (before if created < incident.statement_at else after).append(emotion)
    compensations = list(
        CompensationRequest.objects.filter(
            conversation__incident_links__incident=incident, reason__startswith=f"[事件#{incident.pk}]"
        ).select_related("conversation__customer")
    )
    return Review(
        incident=incident,
        events=list(incident.events.select_related("actor")),
        per_hour=sorted(hours.items()),
        conversations=len(rows),
        customers=len({r[3] for r in rows}),
        median_first_response_seconds=statistics.median(waits) if waits else None,
        mean_first_response_seconds=statistics.fmean(waits) if waits else None,
        emotion_before=round(statistics.fmean(before), 2) if before else None,
        emotion_after=round(statistics.fmean(after), 2) if after else None,
        compensations=compensations,
        compensation_total=sum((c.amount for c in compensations if c.status == "granted"), Decimal(0)),
    )


def review_csv(review: Review) -> str:
    """The review as CSV for the weekly meeting: summary, hours, timeline."""
    out = io.StringIO()
    w = csv.writer(out)
    i = review.incident
    w.writerow(["事件", i.pk, _safe(i.title)])
    w.writerow(["状态", i.get_status_display()])
    w.writerow(["负责人", _safe(i.owner.name if i.owner else "")])
    w.writerow(["对外口径", _safe(i.statement)])
    w.writerow(["会话数", review.conversations])
    w.writerow(["客户数", review.customers])
    w.writerow(["首次响应中位数(秒)", _num(review.median_first_response_seconds)])
    w.writerow(["口径发布前平均情绪", _num(review.emotion_before)])
    w.writerow(["口径发布后平均情绪", _num(review.emotion_after)])
    w.writerow(["补偿合计(元)", review.compensation_total])
    w.writerow(["改进事项", _safe(i.lessons)])
    w.writerow([])
    w.writerow(["小时", "会话数"])
    for hour, n in review.per_hour:
        w.writerow([hour, n])
    w.writerow([])
    w.writerow(["时间", "事项", "操作人", "说明"])
    for e in review.events:
        w.writerow(
            [
                timezone.localtime(e.at).strftime("%Y-%m-%d %H:%M"),
                EVENT_LABELS.get(e.kind, e.kind),
                _safe(e.actor.name if e.actor else "系统"),
                _safe(e.text),
            ]
        )
    return out.getvalue()


def _num(v: float | None) -> str:
    return "" if v is None else f"{v:.1f}"


def _safe(text: str) -> str:
    """A cell a spreadsheet will not run as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def incident_team_choices(user: User) -> Iterable[Team]:
    if user.sees_all:
        return Team.objects.order_by("id")
    return Team.objects.filter(pk__in=team_ids_of(user)).order_by("id")


# ---------------------------------------------------------------- public posts

PUBLIC_POST_STATUSES = ("open", "answered", "late", "all")


def list_public_posts(user: User, *, status: str = "open", limit: int = 200) -> list[PublicPost]:
    """Flagged public posts for team leads (their teams) and supervisors and up (all), most urgent first.

    ``status``: open (waiting for a public reply), answered, late (breached, answered or not), all.
    """
    check_manager_role(user)
    if status not in PUBLIC_POST_STATUSES:
        raise InvalidInput("状态无效", fields={"status": "/".join(PUBLIC_POST_STATUSES)})
    qs = PublicPost.objects.select_related(
        "conversation__customer", "conversation__assignee", "message", "team", "answered_by"
    )
    if not user.sees_all:
        qs = qs.filter(team_id__in=team_ids_of(user))
    if status == "open":
        qs = qs.filter(status=PublicPost.Status.OPEN).order_by("due_at", "id")
    elif status == "answered":
        qs = qs.filter(status=PublicPost.Status.ANSWERED).order_by("-answered_at", "-id")
    elif status == "late":
        qs = qs.filter(breached_at__isnull=False).order_by("-due_at", "-id")
    else:
        qs = qs.order_by("-created_at", "-id")
    return list(qs[:limit])


def open_public_post_count(user: User) -> int:
    qs = PublicPost.objects.filter(status=PublicPost.Status.OPEN)
    if not user.sees_all:
        qs = qs.filter(team_id__in=team_ids_of(user))
    return qs.count()


def _breach_recipients(team_id: int | None) -> list[User]:
    """The team's leads at a breach; supervisors when the team has none (as the SLA chain's default)."""
    active = User.objects.filter(is_active=True).order_by("id")
    leads = list(active.filter(role=Role.TEAM_LEAD, teams__id=team_id)) if team_id else []
    return leads or list(active.filter(role=Role.SUPERVISOR))


def do_sweep_public_posts(now: datetime | None = None) -> int:
    """Warn at 80 % of the time and escalate at the due time, once each; safe to run concurrently."""
    now = now or timezone.now()
    done = 0
    due = list(
        PublicPost.objects.filter(status=PublicPost.Status.OPEN, breached_at__isnull=True, due_at__lte=now)
        .select_related("conversation")
        .order_by("due_at", "id")[:500]
    )
    for post in due:
        people = _breach_recipients(post.team_id)
        escalated = [{"id": u.pk, "name": u.name, "role": u.role} for u in people]
        with transaction.atomic():
            if not PublicPost.objects.filter(pk=post.pk, breached_at__isnull=True).update(
                breached_at=now, escalated_to=escalated
            ):
                continue
            names = "、".join(u.name for u in people) or "无人可通知"
            add_activity(
                post.conversation,
                f"公开负面帖子回复超时（应于 {timezone.localtime(post.due_at):%m-%d %H:%M} 前公开回复），已升级：{names}",
                meta={"public_post": post.pk, "sla": "breached"},
            )
            publish(
                "public_post.breached",
                {**post_event(post), "escalated_to": escalated},
                team_id=post.team_id,
                user_ids=[post.conversation.assignee_id, *(u.pk for u in people)],
                conversation_id=post.conversation_id,
                webhook=False,
            )
            done += 1
    warn = PublicPost.objects.filter(
        status=PublicPost.Status.OPEN, warned_at__isnull=True, breached_at__isnull=True, due_at__gt=now
    ).select_related("conversation")
    for post in warn.order_by("due_at", "id")[:500]:
        if post.created_at + (post.due_at - post.created_at) * DEFAULT_WARN_RATIO > now:
            continue
        with transaction.atomic():
            if not PublicPost.objects.filter(pk=post.pk, warned_at__isnull=True).update(warned_at=now):
                continue
            publish(
                "public_post.warning",
                post_event(post),
                team_id=post.team_id,
                user_ids=[post.conversation.assignee_id],
                conversation_id=post.conversation_id,
                webhook=False,
            )
            done += 1
    return done


# ---------------------------------------------------------------- the bot's answer


def do_statement_for_bot(conversation: Conversation) -> PinnedStatement | None:
    """The approved statement the bot answers with: an open incident this conversation is tagged
    to, or one it matches now (then it is tagged at once, not at the next detection run)."""
    pinned = pinned_statements(conversation.pk)
    if pinned:
        return pinned[0]
    same_team = Q(team__isnull=True) | Q(team_id=conversation.team_id)
    candidates = list(
        Incident.objects.filter(same_team, status=Incident.Status.OPEN)
        .exclude(statement="")
        .select_related("owner")
        .order_by("-statement_at", "-id")
    )
    if not candidates:
        return None
    contacts = _contacts(Conversation.objects.filter(pk=conversation.pk))
    if not contacts:
        return None
    for incident in candidates:
        reason = match_reason(_spec(incident), contacts[0], similarity=SETTINGS.similarity)
        if reason is None:
            continue
        IncidentLink.objects.get_or_create(
            incident=incident, conversation_id=conversation.pk, defaults={"reason": reason}
        )
        return PinnedStatement(
            incident.pk, incident.title, incident.statement, incident.owner.name if incident.owner else ""
        )
    return None
