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

import io
import random
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from kefu.accounts.access import audit
from kefu.accounts.models import AuditLog, Team, User
from kefu.channels.models import Channel, OutboundDelivery
from kefu.complaints import services as complaints
from kefu.complaints.models import CompensationRequest, Complaint, Promise
from kefu.conversations import services as conversations
from kefu.conversations import timeline
from kefu.conversations.models import CallLog, Conversation, Message
from kefu.core.errors import PermissionDenied
from kefu.customers import identities, orders
from kefu.customers import services as customers
from kefu.customers.models import Customer, Identity, Order
from kefu.kb import services as kb_services
from kefu.kb.models import Article, Category, SynonymGroup
from kefu.replies.library import LIBRARY
from kefu.replies.models import ShopProfile
from kefu.replies.services import do_install_library
from kefu.routing.models import RoutingRule
from kefu.sla.services import do_install_default_policies
from kefu.tickets.models import Department, FollowUp, Ticket, TicketEvent
from kefu.tickets.services import do_create_ticket, do_transfer_ticket
from kefu.understanding.models import EmotionAlert
from kefu.understanding.services import do_add_shop_words, do_install_default_intents

from . import kb, shop
from .scenarios import SCENARIOS, Scenario

CUSTOMER_COUNT = 200
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


@dataclass
class _Seed:
    """A customer before and after creation."""

    index: int
    name: str
    region: tuple[str, str, str]
    identities: list[tuple[str, str]]
    phone: str
    vip_level: int
    customer: Customer | None = None
    min_history_days: int = 0
    story_order: Order | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def member_id(self) -> str:
        return f"{shop.MEMBER_PREFIX}M{100000 + self.index}"

    @property
    def city(self) -> str:
        return self.region[2]

    def identity(self, kind: str) -> str | None:
        return next((v for k, v in self.identities if k == kind), None)


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


def _id_card(rng: random.Random, region_code: str) -> str:
    birth = datetime(1960, 1, 1) + timedelta(days=rng.randint(0, 44 * 365))
    body = f"{region_code}{birth:%Y%m%d}{rng.randint(1, 999):03d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]
    return body + check


def _bank_card(rng: random.Random) -> str:
    body = rng.choice(["622202", "621700", "622848", "623058", "622588"])
    body += "".join(str(rng.randint(0, 9)) for _ in range(rng.choice((9, 12))))
    # Luhn check digit, so the number passes the usual format checks.
    total = 0
    for i, d in enumerate(reversed(body)):
        n = int(d)
        if i % 2 == 0:
            n = n * 2 - 9 if n * 2 > 9 else n * 2
        total += n
    return body + str((10 - total % 10) % 10)


def _phone(rng: random.Random) -> str:
    prefix = rng.choice(
        [
            "133",
            "135",
            "136",
            "137",
            "138",
            "139",
            "150",
            "151",
            "152",
            "158",
            "159",
            "177",
            "186",
            "188",
            "199",
        ]
    )
    return prefix + "".join(str(rng.randint(0, 9)) for _ in range(8))


def _address(rng: random.Random, region: tuple[str, str, str]) -> str:
    return (
        f"{region[1]}{rng.choice(shop.STREETS)}{rng.randint(1, 999)}号"
        f"{rng.choice(shop.COMMUNITIES)}{rng.randint(1, 30)}栋{rng.randint(1, 6)}单元{rng.randint(1, 32)}{rng.randint(1, 4):02d}室"
    )


def _seeds(rng: random.Random) -> list[_Seed]:
    seeds = []
    email_words = [
        "sunny",
        "lucky",
        "xiaoyu",
        "momo",
        "tiantian",
        "coco",
        "mumu",
        "leo",
        "amy",
        "jack",
        "lily",
        "kevin",
    ]
    for i in range(CUSTOMER_COUNT):
        name = rng.choice(shop.SURNAMES) + rng.choice(shop.GIVEN_NAMES)
        phone = _phone(rng)
        identities = [("external", f"{shop.MEMBER_PREFIX}M{100000 + i}")]
        if rng.random() < 0.75:
            identities.append(("phone", phone))
        if rng.random() < 0.4:
            identities.append(("wechat", "o" + secrets.token_urlsafe(20)[:27].replace("-", "x")))
        if rng.random() < 0.4:
            identities.append(("app", f"yj_u_{100200 + i}"))
        if rng.random() < 0.25:
            identities.append(("web", f"v-{rng.getrandbits(48):012x}"))
        if rng.random() < 0.3:
            identities.append(
                (
                    "email",
                    f"{rng.choice(email_words)}{rng.randint(10, 9999)}@{rng.choice(shop.EMAIL_DOMAINS)}",
                )
            )
        if rng.random() < 0.1:
            identities.append(("social", f"weibo:{rng.choice(email_words)}_{rng.randint(100, 99999)}"))
        if rng.random() < 0.12:
            identities.append(("live", f"douyin:{rng.randint(10**9, 10**10 - 1)}"))
        vip = rng.choice((1, 1, 2, 3)) if rng.random() < 0.15 else 0
        seeds.append(_Seed(i, name, rng.choice(shop.REGIONS), identities, phone, vip))
    return seeds


# --- orders and logistics ---------------------------------------------------------------


def _logistics(
    rng: random.Random, *, placed: datetime, status: str, carrier: str, city: str, now: datetime, stuck: bool
) -> list[dict[str, Any]]:
    warehouse, origin = shop.WAREHOUSE
    steps = [
        (6, origin, f"【{warehouse}】{carrier}已揽收"),
        (14, origin, f"快件已从{origin}发出，发往{city}"),
        (30, city, f"快件已到达【{city}转运中心】"),
        (40, city, f"快件正在派送中，{carrier}快递员正在为您派件"),
        (
            46,
            city,
            rng.choice(
                ["已签收，签收人：本人", "已签收，放置于快递柜，取件码已短信发送", "已签收，签收人：门卫"]
            ),
        ),
    ]
    wanted = {
        "shipped": 1,
        "in_transit": 3,
        "delivering": 4,
        "delivered": 5,
        "returning": 5,
        "returned": 5,
    }.get(status, 0)
    if stuck:
        wanted = 2
    events: list[dict[str, Any]] = [
        {"at": placed + timedelta(hours=h, minutes=rng.randint(0, 50)), "location": loc, "description": text}
        for h, loc, text in steps[:wanted]
    ]
    if status in ("returning", "returned"):
        back = placed + timedelta(days=4)
        events.append({"at": back, "location": city, "description": "退货快件已揽收，正在退回"})
        if status == "returned":
            events.append(
                {
                    "at": back + timedelta(days=2),
                    "location": origin,
                    "description": f"退货已签收入库【{warehouse}】",
                }
            )
    return [e for e in events if e["at"] < now]


class _OrderNumbers:
    def __init__(self) -> None:
        self.seq = 0

    def next(self, placed: datetime) -> str:
        self.seq += 1
        return f"YJ{timezone.localtime(placed):%Y%m%d}{self.seq:05d}"


def _order(
    rng: random.Random,
    numbers: _OrderNumbers,
    seed: _Seed,
    *,
    now: datetime,
    placed: datetime,
    items: list[tuple[str, int]],
    shipping: str,
    payment: str,
    stuck: bool = False,
) -> Order:
    carrier, prefix = rng.choice(shop.CARRIERS)
    shipped = shipping != "pending"
    lines = [
        {
            "sku": sku,
            "name": shop.PRODUCT_BY_SKU[sku][0],
            "quantity": qty,
            "price": shop.PRODUCT_BY_SKU[sku][1],
        }
        for sku, qty in items
    ]
    amount = sum((Decimal(shop.PRODUCT_BY_SKU[sku][1]) * qty for sku, qty in items), Decimal("0"))
    order, _ = orders.do_upsert_order(
        order_no=numbers.next(placed),
        customer_id=seed.customer.pk if seed.customer else None,
        amount=amount,
        placed_at=placed,
        payment_status=payment,
        shipping_status=shipping,
        carrier=carrier if shipped else "",
        tracking_no=f"{prefix}{rng.randint(10**11, 10**12 - 1)}" if shipped else "",
        address=_address(rng, seed.region),
        items=lines,
        logistics=_logistics(
            rng, placed=placed, status=shipping, carrier=carrier, city=seed.city, now=now, stuck=stuck
        ),
    )
    return order


def _history_orders(rng: random.Random, numbers: _OrderNumbers, seed: _Seed, now: datetime) -> int:
    if rng.random() < 0.15:
        return 0
    made = 0
    for _ in range(rng.choice((1, 1, 2, 2, 3))):
        days = rng.randint(max(seed.min_history_days, 0), max(seed.min_history_days, 0) + 40)
        placed = now - timedelta(days=days, hours=rng.randint(0, 20), minutes=rng.randint(0, 59))
        if days <= 1:
            shipping, payment = rng.choice((("pending", "paid"), ("shipped", "paid"), ("pending", "unpaid")))
        elif days <= 3:
            shipping, payment = rng.choice(
                (("in_transit", "paid"), ("delivering", "paid"), ("delivered", "paid"))
            )
        else:
            shipping, payment = rng.choice(
                (("delivered", "paid"),) * 8 + (("returned", "refunded"), ("pending", "cancelled"))
            )
        products = rng.sample(shop.PRODUCTS, rng.choice((1, 1, 2, 3)))
        items = [(sku, rng.choice((1, 1, 1, 2))) for sku, _, _ in products]
        _order(rng, numbers, seed, now=now, placed=placed, items=items, shipping=shipping, payment=payment)
        made += 1
    return made


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


def _photo() -> SimpleUploadedFile:
    """A small picture for the 'customer sends a photo' steps."""
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (160, 160), (245, 246, 248))
    draw = ImageDraw.Draw(im)
    draw.rounded_rectangle((52, 30, 108, 140), radius=10, fill=(150, 156, 166))
    draw.rectangle((48, 22, 112, 38), fill=(90, 96, 106))
    for x, y in ((60, 44), (70, 52), (96, 46), (84, 60), (64, 70)):
        draw.ellipse((x, y, x + 7, y + 10), fill=(60, 140, 230))
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return SimpleUploadedFile("photo.png", buf.getvalue(), content_type="image/png")


@dataclass
class _Play:
    rng: random.Random
    now: datetime
    users: dict[str, User]
    teams: dict[str, Team]
    channels: dict[str, Channel]
    departments: dict[str, Department]

    def agent_for(self, conversation_id: int, username: str) -> User:
        """The scenario's agent, or someone of the team the conversation was routed to."""
        preferred = self.users[username]
        try:
            timeline.access_conversation(preferred, conversation_id)
            return preferred
        except PermissionDenied:
            pass
        team_id = Conversation.objects.filter(pk=conversation_id).values_list("team_id", flat=True).first()
        member = (
            User.objects.filter(pk__in=[u.pk for u in self.users.values()], teams__id=team_id or 0)
            .order_by("role", "id")
            .first()
        )
        return member or self.users["wanghaitao"]


def _fill(text: str, seed: _Seed, agent_name: str) -> str:
    order = seed.story_order
    first_item = order.items.first() if order else None
    return text.format(
        order_no=order.order_no if order else "",
        tracking_no=order.tracking_no if order else "",
        carrier=order.carrier if order else "",
        item=first_item.name if first_item else "",
        amount=order.amount if order else "",
        city=seed.city,
        agent=agent_name,
    )


@dataclass
class _Played:
    """What playing a scenario left behind, for backdating and the steps taken since."""

    conversation_id: int | None = None
    agent: User | None = None
    complaint_id: int | None = None
    # Extra seconds of silence after a message id (a "wait" step).
    waits: dict[int, float] = field(default_factory=dict)


def _complaint_step(play: _Play, action: str, arg: Any, *, agent: User, played: _Played, seed: _Seed) -> None:
    """One step of a complaint's workflow, taken by ``agent``."""

    def fill(text: str) -> str:
        return _fill(text, seed, agent.name)

    if action == "complaint":
        complaint = complaints.do_open_complaint(
            actor=agent,
            conversation_id=played.conversation_id,
            title=arg["title"],
            data={
                "what_happened": fill(arg["what_happened"]),
                "customer_request": fill(arg["customer_request"]),
                "evidence": [fill(e) for e in arg["evidence"]],
                "contact_preference": arg["contact_preference"],
            },
        )
        played.complaint_id = complaint.pk
        if arg.get("department"):
            complaints.do_transfer(
                actor=agent,
                complaint_id=complaint.pk,
                department_id=play.departments[arg["department"]].pk,
                fields={k: fill(v) for k, v in arg.get("fields", {}).items()},
                note=fill(arg.get("note", "")),
            )
        return
    if played.complaint_id is None:
        raise ValueError(f"demo: {action} needs a complaint step first")
    complaint_id = played.complaint_id
    if action == "resolve":
        complaints.do_resolve(actor=agent, complaint_id=complaint_id, resolution=fill(arg))
    elif action == "confirm":
        complaints.do_confirm_resolution(actor=agent, complaint_id=complaint_id, confirmed=True, note=arg)
    elif action == "progress":
        complaints.do_send_progress(actor=agent, complaint_id=complaint_id, text=fill(arg))
    elif action == "follow_up":
        complaints.do_record_follow_up(actor=agent, complaint_id=complaint_id, note=arg)
    else:
        raise ValueError(f"demo: unknown complaint step {action}")


def _play(play: _Play, sc: Scenario, seed: _Seed) -> _Played:
    played = _Played()
    channel = play.channels[sc["channel"]]
    kind = shop.CHANNEL_IDENTITY[channel.kind]
    value = seed.identity(kind)
    if value is None:
        value = {
            "web": f"v-{play.rng.getrandbits(48):012x}",
            "app": f"yj_u_{100200 + seed.index}",
            "email": f"member{100000 + seed.index}@example.com",
            "wechat": "o" + secrets.token_urlsafe(20)[:27].replace("-", "x"),
            "social": f"weibo:悦家粉丝{seed.index}",
            "live": f"douyin:{play.rng.randint(10**9, 10**10 - 1)}",
            "phone": seed.phone,
        }[kind]
    # A signed-in member: the channel identity plus the member number finds the profile.
    identities = [(kind, value), ("external", seed.member_id)]
    conversation_id: int | None = None
    agent_name = play.users[sc["agent"]].name if sc.get("agent") else ""
    agent: User | None = None
    for step in sc["steps"]:
        action = step[0]
        if agent is None and conversation_id and sc.get("agent"):
            # Who answers is settled once routing has picked the team.
            agent = play.agent_for(conversation_id, sc["agent"])
        if action in ("c", "c_img"):
            message, _ = conversations.do_receive_customer_message(
                channel=channel,
                identities=identities,
                text=_fill(step[1], seed, agent_name),
                customer_name=seed.name,
                subject=sc.get("subject", ""),
                image=_photo() if action == "c_img" else None,
            )
            conversation_id = message.conversation_id
        elif action == "call":
            spec = step[1]
            call = conversations.do_log_call(
                agent=agent or play.users[sc["agent"]],
                conversation_id=conversation_id,
                customer_id=seed.customer.pk if seed.customer else None,
                direction=spec["direction"],
                duration_seconds=spec["seconds"],
                summary=_fill(spec["summary"], seed, agent_name),
                outcome=spec["outcome"],
            )
            conversation_id = call.conversation_id
        elif conversation_id is None or agent is None:
            raise ValueError(f"demo scenario {sc['key']}: step {action} needs a conversation and an agent")
        elif action == "wait":
            last = (
                Message.objects.filter(conversation_id=conversation_id)
                .order_by("-id")
                .values_list("id", flat=True)
            )
            played.waits[last[0]] = step[1] * 3600
        elif action in ("complaint", "resolve", "confirm"):
            played.conversation_id = conversation_id
            _complaint_step(play, action, step[1], agent=agent, played=played, seed=seed)
        elif action == "a":
            conversations.do_send_agent_message(
                agent=agent, conversation_id=conversation_id, text=_fill(step[1], seed, agent.name)
            )
        elif action == "note":
            conversations.do_add_note(
                agent=agent, conversation_id=conversation_id, text=_fill(step[1], seed, agent.name)
            )
        elif action == "status":
            conversations.do_set_status(actor=agent, conversation_id=conversation_id, status=step[1])
        elif action == "snooze":
            conversations.do_set_status(
                actor=agent,
                conversation_id=conversation_id,
                status=Conversation.Status.SNOOZED,
                snoozed_until=play.now + timedelta(hours=step[1]),
            )
        elif action == "transfer_team":
            conversations.do_transfer(
                actor=agent,
                conversation_id=conversation_id,
                note=_fill(step[2], seed, agent.name),
                to_team=play.teams[step[1]],
            )
        elif action == "transfer_user":
            conversations.do_transfer(
                actor=agent,
                conversation_id=conversation_id,
                note=_fill(step[2], seed, agent.name),
                to_user=play.users[step[1]],
            )
        elif action == "ticket":
            _ticket(play, step[1], agent=agent, conversation_id=conversation_id, seed=seed)
        else:
            raise ValueError(f"demo scenario {sc['key']}: unknown step {action}")
    played.conversation_id, played.agent = conversation_id, agent
    return played


def _ticket(play: _Play, spec: dict[str, Any], *, agent: User, conversation_id: int, seed: _Seed) -> None:

    ticket = do_create_ticket(
        actor=agent,
        conversation_id=conversation_id,
        title=spec["title"],
        category=spec.get("category"),
        urgent=spec.get("urgent"),
        important=spec.get("important"),
    )
    if spec.get("department"):
        fields = {k: _fill(v, seed, agent.name) for k, v in spec.get("fields", {}).items()}
        do_transfer_ticket(
            actor=agent,
            ticket_id=ticket.pk,
            department_id=play.departments[spec["department"]].pk,
            fields=fields,
            note="请协助处理",
        )


def _gap(rng: random.Random, m: dict[str, Any]) -> int:
    if m["kind"] in (Message.Kind.AUTO, Message.Kind.EVENT):
        return rng.randint(2, 8)
    if m["kind"] in (Message.Kind.NOTE, Message.Kind.CALL):
        return rng.randint(30, 150)
    if m["direction"] == Message.Direction.INCOMING:
        return rng.randint(40, 300)
    return rng.randint(25, 150)


def _backdate(
    rng: random.Random,
    conversation_id: int,
    start: datetime,
    now: datetime,
    waits: dict[int, float] | None = None,
) -> None:
    """Spread a played conversation's messages from ``start`` on, as if it had happened then."""
    waits = waits or {}
    msgs = list(
        Message.objects.filter(conversation_id=conversation_id)
        .order_by("id")
        .values("id", "direction", "kind", "sender_id", "meta", "created_at")
    )
    offsets: list[float] = [0]
    for previous, m in zip(msgs, msgs[1:], strict=False):
        offsets.append(offsets[-1] + waits.get(previous["id"], 0) + _gap(rng, dict(m)))
    start = min(start, now - timedelta(seconds=offsets[-1] + 20))
    times = {m["id"]: start + timedelta(seconds=o) for m, o in zip(msgs, offsets, strict=True)}
    for m in msgs:
        Message.objects.filter(pk=m["id"]).update(created_at=times[m["id"]])
        if m["kind"] == Message.Kind.CALL:
            CallLog.objects.filter(message_id=m["id"]).update(created_at=times[m["id"]])
    for delivery in OutboundDelivery.objects.filter(message__conversation_id=conversation_id):
        # History: these replies went out when they were written.
        OutboundDelivery.objects.filter(pk=delivery.pk).update(
            status=OutboundDelivery.Status.SENT,
            sent_at=times[delivery.message_id],
            attempts=1,
            next_attempt_at=None,
        )
    conv = Conversation.objects.get(pk=conversation_id)
    first, last = times[msgs[0]["id"]], times[msgs[-1]["id"]]

    def last_of(pred: Any) -> datetime | None:
        found = [times[m["id"]] for m in msgs if pred(m)]
        return found[-1] if found else None

    def first_of(pred: Any) -> datetime | None:
        found = [times[m["id"]] for m in msgs if pred(m)]
        return found[0] if found else None

    agent_reply = lambda m: m["direction"] == Message.Direction.OUTGOING and m["sender_id"] is not None  # noqa: E731
    shift = first - conv.created_at
    Conversation.objects.filter(pk=conversation_id).update(
        created_at=first,
        updated_at=last,
        last_message_at=last,
        last_customer_message_at=last_of(lambda m: m["direction"] == Message.Direction.INCOMING),
        last_agent_message_at=last_of(agent_reply),
        first_response_at=first_of(agent_reply) if conv.first_response_at else None,
        first_response_due=conv.first_response_due + shift if conv.first_response_due else None,
        queued_at=first if conv.queued_at else None,
        resolved_at=last if conv.resolved_at else None,
    )

    EmotionAlert.objects.filter(conversation_id=conversation_id).update(
        created_at=last_of(lambda m: m["direction"] == Message.Direction.INCOMING) or first
    )
    for m in msgs:
        ticket_id = (m["meta"] or {}).get("ticket_id")
        if ticket_id:
            _backdate_ticket(ticket_id, times[m["id"]])

    def fake(real: datetime) -> datetime:
        """The backdated time of a moment during play: just after the message before it
        (and after the silence that followed it, if any)."""
        before = [m for m in msgs if m["created_at"] <= real]
        if not before:
            return first
        m = before[-1]
        return times[m["id"]] + timedelta(seconds=waits.get(m["id"], 0)) + (real - m["created_at"])

    _backdate_complaints(conversation_id, fake)


def _backdate_complaints(conversation_id: int, fake: Any) -> None:
    """Move a conversation's complaint along with its messages, stage by stage.

    Each moment moves with the message it followed, and a due time with the moment it
    was set from, so a follow-up falls due three days after the (backdated) confirmation.
    """
    for c in Complaint.objects.filter(ticket__conversations__id=conversation_id).distinct():
        moved: dict[str, Any] = {"created_at": fake(c.created_at)}
        for name in ("last_update_at", "resolved_at", "customer_confirmed_at", "follow_up_done_at"):
            if getattr(c, name) is not None:
                moved[name] = fake(getattr(c, name))
        if c.next_update_due is not None:
            since = c.last_update_at or c.created_at
            moved["next_update_due"] = c.next_update_due + (fake(since) - since)
        if c.follow_up_due is not None and c.customer_confirmed_at is not None:
            shift = fake(c.customer_confirmed_at) - c.customer_confirmed_at
            moved["follow_up_due"] = c.follow_up_due + shift
            for f in FollowUp.objects.filter(ticket_id=c.ticket_id, done_at__isnull=True):
                FollowUp.objects.filter(pk=f.pk).update(
                    due_at=f.due_at + shift, created_at=fake(f.created_at)
                )
        Complaint.objects.filter(pk=c.pk).update(**moved)


def _backdate_ticket(ticket_id: int, at: datetime) -> None:
    ticket = Ticket.objects.get(pk=ticket_id)
    shift = at - ticket.created_at
    moved = {
        f: getattr(ticket, f) + shift
        for f in (
            "created_at",
            "updated_at",
            "first_response_due",
            "first_response_at",
            "due_at",
            "resolved_at",
        )
        if getattr(ticket, f) is not None
    }
    Ticket.objects.filter(pk=ticket_id).update(**moved)
    for event in TicketEvent.objects.filter(ticket_id=ticket_id):
        TicketEvent.objects.filter(pk=event.pk).update(created_at=event.created_at + shift)


def _later_today(now: datetime) -> datetime:
    """18:00 today, or in an hour when that is too close (a demo built in the evening)."""
    local = timezone.localtime(now)
    six = local.replace(hour=18, minute=0, second=0, microsecond=0)
    return six if six - local >= timedelta(minutes=30) else local + timedelta(hours=1)


def _since(play: _Play, items: list[tuple[Scenario, _Played, _Seed]]) -> None:
    """What happened after the conversations, done now: progress, compensation, promises."""
    broken: list[int] = []
    past: list[tuple[int, str, float, int]] = []  # promise, outcome, hours, complaint
    for sc, played, seed in items:
        agent = played.agent
        if agent is None or played.complaint_id is None:
            raise ValueError(f"demo scenario {sc['key']}: 'after' needs an agent and a complaint")
        with transaction.atomic():
            for step in sc["after"]:
                action = step[0]
                if action == "compensation":
                    complaints.do_request_compensation(
                        actor=agent,
                        kind=step[1],
                        amount=_fill(step[2], seed, agent.name),
                        reason=_fill(step[3], seed, agent.name),
                        complaint_id=played.complaint_id,
                    )
                elif action == "promise":
                    now = timezone.now()
                    outcome = step[2]
                    due = {
                        "open": _later_today(now),
                        "kept": now + timedelta(hours=3),
                        # Due in a moment; the sweep below finds it missed.
                        "broken": now + timedelta(seconds=5),
                    }[outcome]
                    promise = complaints.do_make_promise(
                        actor=agent,
                        description=_fill(step[1], seed, agent.name),
                        due_at=due,
                        # A missed promise is told to the customer in its conversation; a
                        # phone call has no one listening there.
                        conversation_id=played.conversation_id if sc["channel"] != "phone" else None,
                        complaint_id=played.complaint_id,
                    )
                    if outcome == "kept":
                        complaints.do_keep_promise(actor=agent, promise_id=promise.pk)
                    elif outcome == "broken":
                        broken.append(promise.pk)
                    if outcome != "open":
                        past.append((promise.pk, outcome, step[3], played.complaint_id))
                else:
                    _complaint_step(play, action, step[1], agent=agent, played=played, seed=seed)
    if broken:
        due = max(Promise.objects.filter(pk__in=broken).values_list("due_at", flat=True))
        complaints.do_sweep(now=due + timedelta(minutes=1))
    # Kept and missed promises were made when their complaint was (the clock is faked
    # as for the conversations): due ``hours`` later, kept half an hour early, or
    # found missed by the sweep a minute after.
    opened = dict(Complaint.objects.filter(pk__in=[p[3] for p in past]).values_list("pk", "created_at"))
    for promise_id, outcome, hours, complaint_id in past:
        made = opened[complaint_id] + timedelta(minutes=2)
        due = made + timedelta(hours=hours)
        moved: dict[str, Any] = {"created_at": made, "due_at": due}
        if outcome == "kept":
            moved["kept_at"] = due - timedelta(minutes=30)
        else:
            moved["broken_at"] = due + timedelta(minutes=1)
        Promise.objects.filter(pk=promise_id).update(**moved)


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
    return DemoResult(
        password=password,
        users=list(users.values()),
        customers=len(seeds),
        orders=orders,
        conversations=played,
        tickets=Ticket.objects.filter(customer__in=[s.customer for s in seeds if s.customer]).count(),
    )
