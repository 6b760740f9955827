"""The demo shop's customers: fake but valid-looking personal data, their orders and logistics."""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from kefu.customers import orders
from kefu.customers.models import Customer, Order

from . import shop

CUSTOMER_COUNT = 200


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
        actor=None,
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
