"""Builds the demo shop from ``shop`` and ``scenarios`` through the real services.

The fixed parts (teams, people, channels, rules, customers, orders, the knowledge
base) are written in one transaction; each conversation is then played message by
message through ``kefu.conversations.services`` exactly as the channels would, so
routing, SLA, text understanding, tickets and complaints behave as in production. Only
the clock is faked: after a conversation is played, its timestamps are moved into the
past with queryset updates. What happened since (progress updates, compensation,
promises, follow-up visits) is then done now, through ``kefu.complaints.services``.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from kefu.accounts.access import audit
from kefu.accounts.models import AuditLog, Team, User
from kefu.bot.services import do_save_setting as do_save_bot_setting
from kefu.channels.models import Channel
from kefu.complaints.models import CompensationRequest, Promise
from kefu.conversations.models import Conversation
from kefu.customers import identities
from kefu.customers import services as customers
from kefu.customers.models import Customer, Identity
from kefu.hours import services as hours_services
from kefu.hours.calendar import scope_key
from kefu.hours.models import Schedule
from kefu.kb import services as kb_services
from kefu.kb.models import Article, Category, SynonymGroup
from kefu.replies.library import LIBRARY
from kefu.replies.models import ShopProfile
from kefu.replies.services import do_install_library
from kefu.routing.models import RoutingRule
from kefu.sla.models import SLAPolicy
from kefu.sla.services import EXAMPLE_CHAIN, do_install_default_policies, do_set_escalation
from kefu.tickets.models import Department, Ticket
from kefu.training import engine as training_engine
from kefu.training.models import TrainingCase, TrainingSession
from kefu.training.services import do_start_session, do_training_reply, script_of
from kefu.understanding.services import do_add_shop_words, do_install_default_intents

from . import kb, shop
from .people import _bank_card, _history_orders, _id_card, _order, _OrderNumbers, _Seed, _seeds
from .playback import _backdate, _Play, _play, _Played, _since
from .scenarios import SCENARIOS, Scenario

SHOP_WORDS = [
    "保温杯",
    "充电宝",
    "四件套",
    "护颈枕",
    "收纳盒",
    "空气炸锅",
    "炒锅",
    "加湿器",
    "体脂秤",
    "降噪耳机",
    "电动牙刷",
]
NOTES = [
    "喜欢电话沟通",
    "周末不方便接电话",
    "对价格比较敏感",
    "企业客户，常需要开专票",
    "上次投诉已妥善处理",
    "偏好顺丰配送",
]
PREFERENCES = [{"联系方式": "微信"}, {"联系方式": "电话"}, {"配送": "顺丰"}, {"联系时间": "晚上 7 点后"}]


@dataclass
class DemoResult:
    password: str
    users: list[User]
    customers: int
    orders: int
    conversations: int
    tickets: int


# --- is it there? ------------------------------------------------------------------


# What the demo made is recognised by markers, never by names alone: an operator's own
# "admin" account or "客服邮箱" channel must survive ``--reset``.
DEMO_SOURCE = "kefu demo"


def _demo_users() -> Any:
    ids = AuditLog.objects.filter(
        action=AuditLog.Action.USER_CREATE, target_type="user", detail__source=DEMO_SOURCE
    ).values_list("target_id", flat=True)
    return User.objects.filter(pk__in=[int(i) for i in ids if i.isdigit()])


def _demo_channels() -> Any:
    return Channel.objects.filter(config__demo=True)


def demo_exists() -> bool:
    return (
        _demo_channels().exists()
        or Identity.objects.filter(kind=Identity.Kind.EXTERNAL, value__startswith=shop.MEMBER_PREFIX).exists()
        or _demo_users().exists()
    )


def remove_demo() -> dict[str, int]:
    """Delete the demo's customers, conversations, tickets, channels and accounts.

    Teams, routing rules, departments and SLA policies stay: they are matched by name
    and may be the operator's own; installing again reuses them.
    """
    with transaction.atomic():
        customer_ids = list(
            Customer.objects.filter(
                identities__kind=Identity.Kind.EXTERNAL, identities__value__startswith=shop.MEMBER_PREFIX
            ).values_list("pk", flat=True)
        )
        customer_ids += list(
            Customer.objects.filter(merged_into_id__in=customer_ids).values_list("pk", flat=True)
        )
        channels = _demo_channels()
        conversation_ids = set(
            Conversation.objects.filter(
                Q(customer_id__in=customer_ids) | Q(channel__in=channels)
            ).values_list("pk", flat=True)
        )
        ticket_ids = set(
            Ticket.objects.filter(
                Q(customer_id__in=customer_ids) | Q(conversations__in=conversation_ids)
            ).values_list("pk", flat=True)
        )
        users = _demo_users()
        # Both refuse to let their user go (PROTECT): they are the demo's own records.
        Promise.objects.filter(owner__in=users).delete()
        CompensationRequest.objects.filter(requested_by__in=users).delete()
        counts = {
            "tickets": len(ticket_ids),
            "conversations": len(conversation_ids),
            "customers": len(customer_ids),
            "users": users.count(),
        }
        Ticket.objects.filter(pk__in=ticket_ids).delete()
        Conversation.objects.filter(pk__in=conversation_ids).delete()
        Customer.objects.filter(pk__in=customer_ids).delete()
        channels.delete()
        users.delete()
    return counts


# --- fake but valid-looking personal data --------------------------------------------


# --- orders and logistics ---------------------------------------------------------------


# --- the fixed parts ----------------------------------------------------------------------


def _teams() -> dict[str, Team]:
    teams = {}
    for name, description, is_general in shop.TEAMS:
        team, _ = Team.objects.get_or_create(
            name=name, defaults={"description": description, "is_general": is_general}
        )
        teams[name] = team
    return teams


def _users(teams: dict[str, Team], password: str) -> dict[str, User]:
    validate_password(password)
    # One hash for everyone: password hashing is slow on purpose, and all demo
    # accounts share the one password printed at the end anyway.
    hashed = make_password(password)
    users = {}
    taken = set(User.objects.values_list("username", flat=True))
    for username, display_name, employee_no, role, team_names, senior in shop.USERS:
        user = User.objects.create(
            # Someone's own account of that name stays theirs; the demo one gets a suffix.
            username=username if username not in taken else f"{username}_demo",
            password=hashed,
            role=role,
            display_name=display_name,
            employee_no=employee_no,
            is_senior=senior,
            is_staff=role == "admin",
            is_superuser=role == "admin",
        )
        user.teams.set([teams[n] for n in team_names])
        audit(
            AuditLog.Action.USER_CREATE, actor=None, target=user, detail={"role": role, "source": DEMO_SOURCE}
        )
        users[username] = user
    return users


def _escalation_chains(admin: User) -> None:
    """The example chain on the P1 and complaint policies, unless someone already set one."""
    for policy in SLAPolicy.objects.filter(name__in=("P1 工单解决", "投诉受理与解决")):
        if not policy.escalation_steps.exists():
            do_set_escalation(actor=admin, policy_id=policy.pk, steps=EXAMPLE_CHAIN)


def _channels(teams: dict[str, Team]) -> dict[str, Channel]:
    channels = {}
    taken = set(Channel.objects.values_list("name", flat=True))
    for key, name, kind, team_name, extra in shop.CHANNELS:
        channels[key] = Channel.objects.create(
            name=name if name not in taken else f"{name}（演示）",
            kind=kind,
            team=teams[team_name],
            config={"demo": True},
            **extra,
        )
    return channels


def _rules_and_departments(teams: dict[str, Team]) -> None:
    for order, (name, keywords, team_name, priority) in enumerate(shop.ROUTING_RULES):
        RoutingRule.objects.get_or_create(
            name=name,
            team=teams[team_name],
            defaults={"keywords": keywords, "priority": priority, "order": (order + 1) * 10},
        )
    for department, department_team, required, hours in shop.DEPARTMENTS:
        Department.objects.get_or_create(
            name=department,
            defaults={
                "team": teams[department_team] if department_team else None,
                "required_fields": required,
                "deadline_hours": hours,
            },
        )


def _business_hours(admin: User, teams: dict[str, Team], channels: dict[str, Channel]) -> None:
    """The shop's opening hours; a scope that already has a schedule keeps it."""
    for name, team_name, channel_key, week, observe in shop.BUSINESS_HOURS:
        team = teams[team_name] if team_name else None
        channel = channels[channel_key] if channel_key else None
        key = scope_key(team.pk if team else None, channel.pk if channel else None)
        if Schedule.objects.filter(scope_key=key).exists():
            continue
        hours_services.do_create_schedule(
            actor=admin,
            data={
                "name": name,
                "team_id": team.pk if team else None,
                "channel_id": channel.pk if channel else None,
                "week": [{"weekday": d, "start": start, "end": end} for d, start, end in week],
                "observe_holidays": observe,
            },
        )


def _script_library(admin: User) -> None:
    """The shop's 话术库 (kept on --reset: it is matched by title, like the teams)."""

    do_install_library(LIBRARY, actor=admin)


def _knowledge_base(admin: User, today: date) -> None:
    """The shop's FAQ, categories and synonyms (kept on --reset and matched by name, like
    the script library: an editor may have improved them)."""

    categories: dict[str, int] = {}

    def category(name: str, parent_id: int | None) -> int:
        found = Category.objects.filter(name=name, parent_id=parent_id).values_list("pk", flat=True).first()
        return found or kb_services.do_create_category(actor=admin, name=name, parent_id=parent_id).pk

    for name, children in kb.CATEGORIES:
        categories[name] = category(name, None)
        for child in children:
            categories[child] = category(child, categories[name])
    entries = [(a, Article.Status.PUBLISHED) for a in kb.ARTICLES] + [
        (a, Article.Status.DRAFT) for a in kb.DRAFTS
    ]
    existing = set(
        Article.objects.filter(title__in=[a["title"] for a, _ in entries]).values_list("title", flat=True)
    )
    for spec, status in entries:
        if spec["title"] in existing:
            continue
        review_days = spec.get("review_days")
        kb_services.do_create_article(
            actor=admin,
            data={
                "kind": Article.Kind.FAQ,
                "title": spec["title"],
                "body": spec["body"],
                "answer": spec["answer"],
                "similar_questions": spec["similar"],
                "tags": spec["tags"],
                "category_id": categories[spec["category"]],
                "status": status,
                "review_by": today + timedelta(days=review_days) if review_days is not None else None,
            },
        )
    taken = set(SynonymGroup.objects.values_list("head", flat=True))
    for head, words in kb.SYNONYMS:
        if head not in taken:
            kb_services.do_set_synonyms(actor=admin, head=head, synonyms=words)


def _shop_profile() -> None:
    """The facts replies quote; an operator's own values are left alone."""

    profile = ShopProfile.objects.order_by("id").first() or ShopProfile()
    for field_name, value in (
        ("shop_name", shop.SHOP_NAME),
        ("return_address", shop.RETURN_ADDRESS),
        ("service_hours", shop.SERVICE_HOURS),
    ):
        if not getattr(profile, field_name):
            setattr(profile, field_name, value)
    profile.save()


def _understanding(admin: User) -> None:
    """Intents linked to the demo teams and the shop's product words, when that app is there."""

    do_install_default_intents()
    do_add_shop_words(actor=admin, words=SHOP_WORDS)


def _customers(rng: random.Random, seeds: list[_Seed], admin: User, now: datetime) -> None:
    for seed in seeds:
        customer = identities.do_resolve_customer(seed.identities, name=seed.name)
        changes: dict[str, Any] = {"vip_level": seed.vip_level}
        if not customer.phone and rng.random() < 0.8:
            changes["phone"] = seed.phone
        if rng.random() < 0.35:
            changes["id_card"] = _id_card(rng, seed.region[0])
        if rng.random() < 0.15:
            changes["bank_card"] = _bank_card(rng)
        tags = rng.sample(shop.TAGS, rng.choice((0, 0, 1, 1, 2)))
        if seed.vip_level and "高价值" not in tags:
            tags.append("高价值")
        changes["tags"] = tags
        if rng.random() < 0.2:
            changes["notes"] = rng.choice(NOTES)
        if rng.random() < 0.25:
            changes["preferences"] = rng.choice(PREFERENCES)
        seed.customer = customers.do_update_customer(actor=admin, customer=customer, changes=changes)
        # Members joined long before their recent orders.
        joined = now - timedelta(days=rng.randint(60, 900), hours=rng.randint(0, 23))
        Customer.objects.filter(pk=customer.pk).update(created_at=joined)
        Identity.objects.filter(customer=customer).update(created_at=joined)


# --- conversations ------------------------------------------------------------------------


# --- the whole shop -------------------------------------------------------------------------


def _assign_scenarios(rng: random.Random, seeds: list[_Seed]) -> dict[str, _Seed]:
    """One customer per story (or the earlier story's, when they write again); VIP stories
    get VIP customers."""
    pool = seeds[:]
    rng.shuffle(pool)
    assigned: dict[str, _Seed] = {}
    for sc in SCENARIOS:
        if sc.get("same_customer_as"):
            assigned[sc["key"]] = assigned[sc["same_customer_as"]]
            continue
        wants_vip = bool(sc.get("vip"))
        seed = next(s for s in pool if (s.vip_level > 0) == wants_vip)
        pool.remove(seed)
        # Older history only, so the story's order is the customer's latest.
        seed.min_history_days = int(sc.get("order", {}).get("days_ago", 0)) + 3
        assigned[sc["key"]] = seed
    return assigned


# Two new agents' first days of training (模拟训练), so the lead's page shows progress and
# weak spots: one answers like the cases' model answers, the other talks policy and blames.
POOR_PRACTICE = (
    "这是公司规定，没办法，您再耐心等待吧。",
    "我们也没办法，您自己看页面吧。",
    "这个不归我们管。",
)
TRAINING_PRACTICE: tuple[tuple[str, str, tuple[str, ...] | None], ...] = (
    ("linmeiling", "late_order", None),
    ("linmeiling", "leaking_cup", None),
    ("heyutong", "late_order", POOR_PRACTICE),
    ("heyutong", "rude_service", POOR_PRACTICE),
)


def _training(users: dict[str, User]) -> None:
    for username, key, replies in TRAINING_PRACTICE:
        case = TrainingCase.objects.filter(key=key, is_active=True).first()
        if case is None or username not in users:  # a case a supervisor switched off
            continue
        trainee = users[username]
        script = script_of(case)
        session = do_start_session(trainee=trainee, case_id=case.pk, seed=2026)
        for turn in range(script.max_turns):
            if session.status != TrainingSession.Status.ACTIVE:
                break
            text = (
                replies[min(turn, len(replies) - 1)]
                if replies
                else training_engine.model_answer(script, turn)
            )
            session = do_training_reply(trainee=trainee, session_id=session.pk, text=text)


def install_demo(*, seed: int = 2026, password: str | None = None) -> DemoResult:
    """Create the demo shop; the caller checks ``demo_exists()`` first."""
    rng = random.Random(seed)
    now = timezone.now()
    password = password or secrets.token_urlsafe(12)
    seeds = _seeds(rng)
    assigned = _assign_scenarios(rng, seeds)
    numbers = _OrderNumbers()
    with transaction.atomic():
        teams = _teams()
        users = _users(teams, password)
        channels = _channels(teams)
        _rules_and_departments(teams)
        departments = {
            d.name: d for d in Department.objects.filter(name__in=[d[0] for d in shop.DEPARTMENTS])
        }
        do_install_default_policies()
        _escalation_chains(users["admin"])
        _business_hours(users["admin"], teams, channels)
        _understanding(users["admin"])
        _script_library(users["admin"])
        _knowledge_base(users["admin"], timezone.localdate(now))
        _shop_profile()
        _customers(rng, seeds, users["admin"], now)
        orders = sum(_history_orders(rng, numbers, s, now) for s in seeds)
        for sc in SCENARIOS:
            spec = sc.get("order")
            if not spec:
                continue
            story_seed = assigned[sc["key"]]
            start = now - timedelta(hours=sc["hours_ago"])
            placed = min(now - timedelta(days=spec["days_ago"], hours=2), start - timedelta(minutes=25))
            story_seed.story_order = _order(
                rng,
                numbers,
                story_seed,
                now=now,
                placed=placed,
                items=spec["items"],
                shipping=spec["shipping"],
                payment=spec.get("payment", "paid"),
                stuck=spec.get("stuck", False),
            )
            orders += 1
    play = _Play(rng=rng, now=now, users=users, teams=teams, channels=channels, departments=departments)
    played = 0
    results: list[tuple[Scenario, _Played]] = []
    for sc in SCENARIOS:
        result = _play(play, sc, assigned[sc["key"]])
        if result.conversation_id is not None:
            with transaction.atomic():
                _backdate(
                    rng, result.conversation_id, now - timedelta(hours=sc["hours_ago"]), now, result.waits
                )
            played += 1
            results.append((sc, result))
    _since(play, [(sc, r, assigned[sc["key"]]) for sc, r in results if sc.get("after")])
    _training(users)
    # Switched on after the stories are played, so they stay the agents' conversations they tell.
    do_save_bot_setting(
        actor=users["admin"], channel_id=channels["web"].pk, team_id=None, data={"enabled": True}
    )
    return DemoResult(
        password=password,
        users=list(users.values()),
        customers=len(seeds),
        orders=orders,
        conversations=played,
        tickets=Ticket.objects.filter(customer__in=[s.customer for s in seeds if s.customer]).count(),
    )
