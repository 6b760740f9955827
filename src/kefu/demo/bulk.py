"""A year (or any span) of a big team's history, written in bulk for benchmarks (``kefu generate``).

The rows look like what the desk itself writes: conversations with customer and agent turns,
automatic replies, transfer, status and CSAT lines (the activity ``meta`` the metrics read),
reopenings, emotion alerts, complaints with their tickets, compensation, promises, quality
scores, reply findings, tickets linked to conversations and every agent's status history.
Volume follows an e-commerce desk's day (quiet nights, peaks at 10–11, 14–16 and 20–22),
its week and its promotion days (618, 双11, 双12; a quiet Spring Festival).

It bypasses the services on purpose: running routing, understanding and SLA for millions of
messages would take days. Ids are assigned here so that rows reference each other without a
round trip; PostgreSQL receives them with ``COPY`` and SQLite with ``executemany``, one
transaction per batch of days, so an interrupted run leaves whole days behind it.
Everything derives from ``random.Random(seed)`` and the end date: the same arguments write
the same rows.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import connection, models, transaction
from django.db.models import Max

from kefu.accounts.models import Role, StatusChange, Team, User
from kefu.channels.models import Channel
from kefu.complaints.models import CompensationRequest, Complaint, Promise
from kefu.conversations.models import Conversation, Message
from kefu.customers.models import Customer
from kefu.hours.calendar import scope_key
from kefu.hours.models import Schedule
from kefu.quality.models import QualityScore, ReplyFindings
from kefu.tickets.models import Ticket
from kefu.understanding.models import EmotionAlert

# --- the shape of a day, a week and a year ------------------------------------------------------

# Share of a day's contacts per local hour (an online shop: evenings matter).
HOURLY = (0.8, 0.4, 0.2, 0.1, 0.1, 0.2, 0.5, 1.2, 2.5, 4.5, 6.0, 6.0,
          4.5, 5.0, 6.0, 6.0, 5.5, 5.0, 4.5, 5.0, 6.0, 6.5, 4.5, 2.2)  # fmt: skip
WEEKDAY = (1.1, 1.0, 1.0, 1.0, 0.95, 0.9, 1.0)  # Monday first


def day_factor(d: date) -> float:
    """Promotion days and their run-up (618, 双11, 双12), the quiet Spring Festival week."""
    md = (d.month, d.day)
    if md == (11, 11):
        return 3.0
    if md == (6, 18):
        return 2.5
    if md == (12, 12):
        return 1.8
    if (11, 1) <= md <= (11, 13) or (6, 1) <= md <= (6, 20):
        return 1.3
    if (1, 25) <= md <= (2, 5):
        return 0.6
    return 1.0


TEAMS = (  # name, share of agents, shift mix, intents it owns
    ("售前咨询", 0.25, ("早班", "中班", "晚班"), ("售前咨询", "下单与支付", "其他")),
    (
        "售后服务",
        0.35,
        ("早班", "中班", "晚班"),
        ("物流查询", "物流延迟/催发货", "退换货与退款", "发票", "转人工"),
    ),
    ("投诉处理", 0.12, ("早班", "中班"), ("服务态度投诉", "商品质量问题")),
    ("技术支持", 0.13, ("早班", "中班"), ("账户与技术问题",)),
    ("会员服务", 0.15, ("中班", "晚班"), ()),
)
SHIFTS = {"早班": (8, 17), "中班": (11, 20), "晚班": (14, 23)}
CHANNELS = (  # name, kind, share
    ("网页在线客服", "web", 0.28),
    ("App 内客服", "app", 0.30),
    ("微信公众号", "im", 0.20),
    ("抖音店铺", "live", 0.10),
    ("客服邮箱", "email", 0.05),
    ("400 热线", "phone", 0.07),
)
INTENT_SHARE = (
    ("物流查询", 0.20), ("退换货与退款", 0.16), ("售前咨询", 0.15), ("物流延迟/催发货", 0.10),
    ("下单与支付", 0.08), ("商品质量问题", 0.07), ("账户与技术问题", 0.06), ("发票", 0.04),
    ("转人工", 0.05), ("服务态度投诉", 0.02), ("其他", 0.07),
)  # fmt: skip

OPENERS = {
    "物流查询": [
        "你好，我的快递到哪了？订单号{o}",
        "请问{o}这单发的什么快递，单号多少",
        "物流三天没更新了，帮我查下{o}",
        "請問我的包裹到哪裡了？訂單{o}",
    ],
    "物流延迟/催发货": [
        "下单五天了还没发货，{o}怎么回事",
        "能不能催一下发货，急用",
        "说好48小时发货，现在还没动静",
        "快遞一直卡在轉運中心，怎麼處理",
    ],
    "退换货与退款": [
        "衣服尺码不合适，想换大一码",
        "退货寄回去一周了，退款什么时候到账",
        "申请了退款被拒绝了，为什么",
        "我要退貨，運費誰出？",
    ],
    "售前咨询": [
        "这款空气炸锅有现货吗",
        "请问这个沙发能送货上门安装吗",
        "双11有什么优惠活动",
        "这个尺码偏大还是偏小",
    ],
    "下单与支付": [
        "付款一直失败，提示银行卡异常",
        "优惠券用不了怎么回事",
        "下错单了，能改地址吗",
        "支付成功了订单却显示未付款",
    ],
    "商品质量问题": [
        "收到的杯子是碎的",
        "刚用两天就坏了，开不了机",
        "颜色和图片差太多了",
        "發錯貨了，我買的是白色",
    ],
    "账户与技术问题": ["收不到验证码", "App 一直闪退", "账号被盗了怎么办", "登录提示密码错误但我没改过"],
    "发票": ["需要开增值税专用发票", "发票抬头写错了能重开吗", "电子发票在哪里下载"],
    "转人工": ["转人工", "我要找人工客服", "机器人听不懂，找真人"],
    "服务态度投诉": [
        "你们快递员态度太差了，我要投诉",
        "上次那个客服敷衍我，叫你们主管来",
        "再不处理我就去12315投诉",
    ],
    "其他": ["在吗", "谢谢你们", "想咨询一下合作的事"],
}
FOLLOW_UPS = [
    "好的，那大概要多久",
    "还有别的办法吗",
    "嗯嗯",
    "能快点吗，我很着急",
    "明白了",
    "那运费怎么算",
    "行，我等你消息",
    "收到，谢谢",
]
REPLIES = [
    "您好，我是客服{a}，很高兴为您服务。",
    "已为您查询，包裹目前在{city}转运中心，预计明天送达。",
    "非常抱歉给您带来不便，我马上为您处理。",
    "已为您登记，24小时内会有专人联系您。",
    "请您提供一下订单号，我帮您核实。",
    "退款已提交，原路退回，1-3个工作日到账。",
    "这边已经帮您催促仓库加急发货了。",
    "理解您的心情，这个问题我们一定负责到底。",
    "请问还有其他可以帮您的吗？",
]
CLOSINGS = ["好的，谢谢", "问题解决了，谢谢", "行吧", "好的，辛苦了"]
CSAT_COMMENTS = {
    1: ["太慢了", "问题没解决"],
    2: ["态度一般"],
    3: ["还行"],
    4: ["挺好的"],
    5: ["非常满意，客服很耐心", "解决得很快，点赞"],
}
CITIES = ("上海", "杭州", "广州", "成都", "武汉", "北京", "郑州", "西安")
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
)
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉婷雪琳晨宇欣怡子涵梓轩浩然"
FINDING_RULES = ("vague_wording", "no_empathy", "promise_without_time", "missing_closing", "internal_jargon")


@dataclass(frozen=True)
class Scale:
    agents: int = 200
    days: int = 365
    tickets: int | None = None  # default: 2 per agent and day
    per_agent_day: float = 5.0  # conversations per agent and day (before the day's shape)
    end: date | None = None  # the last day generated (default: yesterday, local)
    seed: int = 2026

    @property
    def ticket_count(self) -> int:
        return self.tickets if self.tickets is not None else 2 * self.agents * self.days


@dataclass
class Result:
    teams: int = 0
    agents: int = 0
    channels: int = 0
    customers: int = 0
    conversations: int = 0
    messages: int = 0
    tickets: int = 0
    complaints: int = 0
    status_changes: int = 0
    extra: dict[str, int] = field(default_factory=dict)


# --- bulk writing ------------------------------------------------------------------------------


class _Table:
    """Rows of one model given as tuples of ``columns``; every other column gets its field default."""

    def __init__(self, model: type[models.Model], columns: Sequence[str]) -> None:
        self.model = model
        self.columns = list(columns)
        fields = {f.attname: f for f in model._meta.concrete_fields}
        self.fields = [fields[c] for c in self.columns]
        self.rest: list[tuple[str, Any]] = []
        self.rest_fields: list[models.Field[Any, Any]] = []
        for f in model._meta.concrete_fields:
            if f.attname in self.columns:
                continue
            if f.primary_key:
                continue  # not given: the database numbers the rows (many-to-many links)
            value = f.get_default() if f.has_default() else None
            if value is None and not f.null and not f.has_default():
                value = "" if isinstance(f, models.CharField | models.TextField) else None
            self.rest.append((f.attname, value))
            self.rest_fields.append(f)
        self.rows: list[tuple[Any, ...]] = []
        self.json = {
            i
            for i, f in enumerate([*self.fields, *[fields[c] for c, _ in self.rest]])
            if isinstance(f, models.JSONField)
        }

    def add(self, *row: Any) -> None:
        self.rows.append(row)


class _Writer:
    def __init__(self) -> None:
        self.tables: list[_Table] = []
        self.written: dict[str, int] = {}

    def table(self, model: type[models.Model], columns: Sequence[str]) -> _Table:
        t = _Table(model, columns)
        self.tables.append(t)  # in dependency order: parents first
        return t

    def flush(self) -> None:
        with transaction.atomic():
            for t in self.tables:
                if t.rows:
                    _write(t)
                    self.written[t.model._meta.db_table] = self.written.get(t.model._meta.db_table, 0) + len(
                        t.rows
                    )
                    t.rows = []


def _write(t: _Table) -> None:
    names = [*t.columns, *(c for c, _ in t.rest)]
    fixed = tuple(v for _, v in t.rest)
    table = t.model._meta.db_table
    json_at = sorted(t.json)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cols = ", ".join(f'"{c}"' for c in names)
            raw = cursor.cursor  # psycopg's cursor: COPY is ~5× faster than INSERT
            with raw.copy(f'COPY "{table}" ({cols}) FROM STDIN') as copy:
                for row in t.rows:
                    full = [*row, *fixed]
                    for i in json_at:
                        full[i] = _json(full[i])
                    copy.write_row(full)
            return
        all_fields = [*t.fields, *t.rest_fields]
        prep = [_sqlite_prep(f) for f in all_fields]
        sql = f'INSERT INTO "{table}" ({", ".join(chr(34) + c + chr(34) for c in names)}) VALUES ({", ".join("%s" for _ in names)})'
        batch = [tuple(p(v) for p, v in zip(prep, (*row, *fixed), strict=True)) for row in t.rows]
        for i in range(0, len(batch), 5000):
            cursor.executemany(sql, batch[i : i + 5000])


def _sqlite_prep(f: models.Field[Any, Any]) -> Callable[[Any], Any]:
    # What Django's SQLite backend stores (naive UTC text, decimals as text), without its
    # per-value overhead, which took most of the time of a run.
    if isinstance(f, models.JSONField):
        return _json
    if isinstance(f, models.DateTimeField):
        return lambda v: None if v is None else str(v.astimezone(UTC).replace(tzinfo=None))
    if isinstance(f, models.DecimalField):
        return lambda v: None if v is None else str(v)
    return lambda v: v


def _json(v: Any) -> str:
    return "{}" if v == {} else ("[]" if v == [] else json.dumps(v, ensure_ascii=False))


def _next_ids(*model_list: type[models.Model]) -> dict[type[models.Model], int]:
    return {m: (m._default_manager.aggregate(n=Max("pk"))["n"] or 0) + 1 for m in model_list}


def _reset_sequences(model_list: Iterable[type[models.Model]]) -> None:
    if connection.vendor != "postgresql":
        return  # SQLite's AUTOINCREMENT-less rowid follows max(id)
    with connection.cursor() as cursor:
        for m in model_list:
            table = m._meta.db_table
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                f'COALESCE((SELECT MAX(id) FROM "{table}"), 1))'
            )


# --- the generator -------------------------------------------------------------------------------


@dataclass
class _Agent:
    id: int
    team: int
    shift: str
    rest: tuple[int, int]  # weekdays off
    skill: float  # <1 faster and better
    no: int = 0  # 工号 number: what the agent calls herself (ids differ between databases)


class Generator:
    def __init__(self, scale: Scale, *, log: Callable[[str], None] = lambda s: None) -> None:
        self.scale = scale
        self.rng = random.Random(scale.seed)
        self.log = log
        self.tz = ZoneInfo(settings.TIME_ZONE)
        self.result = Result()

    # setup: teams, agents, channels --------------------------------------------------------
    def _people(self) -> None:
        rng = self.rng
        tag = f"g{self.scale.seed}"
        self.team_ids: dict[str, int] = {}
        for name, *_ in TEAMS:
            team, _created = Team.objects.get_or_create(name=name)
            self.team_ids[name] = team.pk
        self.result.teams = len(TEAMS)
        self.channel_ids: list[tuple[int, float]] = []
        for name, kind, share in CHANNELS:
            ch, _created = Channel.objects.get_or_create(name=name, defaults={"kind": kind})
            self.channel_ids.append((ch.pk, share))
        self.result.channels = len(CHANNELS)
        password = make_password(None)
        counts = [max(1, round(self.scale.agents * share)) for _, share, *_ in TEAMS]
        counts[1] += self.scale.agents - sum(counts)
        self.agents: list[_Agent] = []
        self.by_team: dict[int, list[_Agent]] = {}
        users = []
        memberships = []
        serial = 0
        for (name, _share, shifts, _intents), n in zip(TEAMS, counts, strict=True):
            team_id = self.team_ids[name]
            for i in range(max(n, 1)):
                serial += 1
                username = f"{tag}-a{serial:04d}"
                role = Role.TEAM_LEAD if i == 0 else Role.AGENT
                display = (
                    rng.choice(SURNAMES)
                    + rng.choice(GIVEN)
                    + (rng.choice(GIVEN) if rng.random() < 0.5 else "")
                )
                users.append(
                    User(username=username, password=password, role=role, display_name=display,
                         employee_no=f"KF{serial:04d}", max_concurrent=rng.choice((4, 5, 6)))
                )  # fmt: skip
                memberships.append((username, team_id, shifts))
        existing = set(
            User.objects.filter(username__startswith=f"{tag}-a").values_list("username", flat=True)
        )
        User.objects.bulk_create([u for u in users if u.username not in existing], batch_size=500)
        ids = dict(User.objects.filter(username__startswith=f"{tag}-a").values_list("username", "pk"))
        through = User.teams.through
        through.objects.bulk_create(
            [through(user_id=ids[u], team_id=t) for u, t, _ in memberships], ignore_conflicts=True
        )
        for no, (username, team_id, shifts) in enumerate(memberships, start=1):
            first_rest = rng.randrange(7)
            agent = _Agent(ids[username], team_id, rng.choice(shifts), (first_rest, (first_rest + 1) % 7),
                           rng.uniform(0.6, 1.5), no)  # fmt: skip
            self.agents.append(agent)
            self.by_team.setdefault(team_id, []).append(agent)
        self.result.agents = len(self.agents)
        # An online shop answers 08:00–23:00 every day, holidays included; the complaints team
        # works office hours and observes public holidays (first response counts open time).
        Schedule.objects.get_or_create(
            scope_key=scope_key(None, None),
            defaults={
                "name": "全店客服时间",
                "week": [[d, 8 * 60, 23 * 60] for d in range(7)],
                "observe_holidays": False,
            },
        )
        complaints = self.team_ids["投诉处理"]
        Schedule.objects.get_or_create(
            scope_key=scope_key(complaints, None),
            defaults={
                "name": "投诉处理组",
                "team_id": complaints,
                "week": [[d, 9 * 60, 18 * 60] for d in range(5)],
            },
        )
        self.intent_team = {
            intent: self.team_ids[name] for name, _s, _sh, intents in TEAMS for intent in intents
        }

    def run(self) -> Result:
        scale = self.scale
        self._people()
        end = scale.end or (datetime.now(self.tz).date() - timedelta(days=1))
        first = end - timedelta(days=scale.days - 1)
        ids = _next_ids(Customer, Conversation, Message, Ticket, Complaint, CompensationRequest, Promise,
                        EmotionAlert, QualityScore, ReplyFindings, StatusChange)  # fmt: skip
        self.ids = ids
        w = _Writer()
        self.t_customer = w.table(
            Customer, ["id", "name", "vip_level", "phone", "merged_into_id", "created_at", "updated_at"]
        )
        self.t_conv = w.table(Conversation, [
            "id", "channel_id", "customer_id", "team_id", "assignee_id", "first_responder_id", "status",
            "priority", "subject", "intent", "intent_confidence", "emotion_label", "emotion_score",
            "created_at", "updated_at", "last_message_at", "last_customer_message_at",
            "last_agent_message_at", "first_response_at", "first_response_due", "resolved_at",
            "csat_score", "csat_comment", "csat_at", "event_seq",
        ])  # fmt: skip
        self.t_msg = w.table(
            Message,
            [
                "id",
                "conversation_id",
                "direction",
                "kind",
                "sender_id",
                "text",
                "is_private",
                "meta",
                "created_at",
            ],
        )
        self.t_alert = w.table(
            EmotionAlert,
            ["id", "conversation_id", "level", "score", "previous_score", "label", "reason", "created_at"],
        )
        self.t_ticket = w.table(Ticket, [
            "id", "number", "title", "category", "priority", "customer_id", "owner_id", "assignee_id",
            "team_id", "status", "created_at", "updated_at", "first_response_due", "first_response_at",
            "due_at", "resolved_at", "closed_at",
        ])  # fmt: skip
        self.t_link = w.table(Ticket.conversations.through, ["ticket_id", "conversation_id"])
        self.t_complaint = w.table(
            Complaint,
            [
                "id",
                "ticket_id",
                "stage",
                "what_happened",
                "customer_request",
                "resolved_at",
                "created_at",
                "updated_at",
            ],
        )
        self.t_comp = w.table(
            CompensationRequest,
            [
                "id",
                "complaint_id",
                "conversation_id",
                "kind",
                "amount",
                "reason",
                "requested_by_id",
                "status",
                "team_id",
                "decided_at",
                "created_at",
            ],
        )
        self.t_promise = w.table(
            Promise,
            [
                "id",
                "owner_id",
                "conversation_id",
                "description",
                "due_at",
                "status",
                "kept_at",
                "broken_at",
                "created_at",
            ],
        )
        self.t_quality = w.table(
            QualityScore,
            ["id", "conversation_id", "agent_id", "total", "rubric_version", "closed_at", "scored_at"],
        )
        self.t_findings = w.table(
            ReplyFindings,
            [
                "id",
                "message_id",
                "conversation_id",
                "agent_id",
                "ruleset_version",
                "findings",
                "high_count",
                "created_at",
            ],
        )
        self.t_status = w.table(StatusChange, ["id", "user_id", "from_status", "to_status", "reason", "at"])
        self.recent_customers: list[tuple[int, date]] = []
        self.day_conversations: list[tuple[int, int, datetime, int | None, int | None, str]] = []
        total_weight = sum(HOURLY) / 24
        per_day = scale.per_agent_day * scale.agents
        tickets_per_day = scale.ticket_count / scale.days
        ticket_carry = 0.0
        self.ticket_serial = 0
        day = first
        while day <= end:
            factor = WEEKDAY[day.weekday()] * day_factor(day)
            self.day_conversations = []
            for hour in range(24):
                mean = per_day * factor * HOURLY[hour] / total_weight / 24
                for _ in range(self._poisson(mean)):
                    at = datetime.combine(day, time(hour), self.tz) + timedelta(
                        seconds=self.rng.uniform(0, 3600)
                    )
                    self._conversation(at.astimezone(UTC))
            self._statuses(day)
            ticket_carry += tickets_per_day
            n_tickets, ticket_carry = int(ticket_carry), ticket_carry - int(ticket_carry)
            for _ in range(n_tickets):
                self._ticket(day)
            if len(self.t_msg.rows) > 100_000 or day == end:
                w.flush()
                self.log(f"{day.isoformat()}：会话 {self.result.conversations}，消息 {self.result.messages}")
            day += timedelta(days=1)
        _reset_sequences(ids)
        self.result.extra = dict(w.written)
        return self.result

    # helpers ----------------------------------------------------------------------------------
    def _poisson(self, mean: float) -> int:
        if mean > 30:
            return max(0, round(self.rng.gauss(mean, math.sqrt(mean))))
        limit, k, p = math.exp(-mean), 0, 1.0
        while True:
            p *= self.rng.random()
            if p <= limit:
                return k
            k += 1

    def _id(self, model: type[models.Model]) -> int:
        n = self.ids[model]
        self.ids[model] = n + 1
        return n

    def _pick(self, pairs: Sequence[tuple[Any, float]]) -> Any:
        return self.rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]

    def _on_shift(self, team_id: int, at: datetime) -> _Agent:
        local = at.astimezone(self.tz)
        pool = self.by_team.get(team_id) or self.agents
        working = [
            a for a in pool
            if local.weekday() not in a.rest and SHIFTS[a.shift][0] <= local.hour < SHIFTS[a.shift][1]
        ]  # fmt: skip
        return self.rng.choice(working or pool)

    def _customer(self, at: datetime) -> int:
        rng = self.rng
        day = at.date()
        recent = self.recent_customers
        if recent and rng.random() < 0.3:
            cid, seen = recent[rng.randrange(len(recent))]
            if (day - seen).days <= 30:
                return cid
        cid = self._id(Customer)
        name = rng.choice(SURNAMES) + rng.choice(("先生", "女士", rng.choice(GIVEN) + rng.choice(GIVEN)))
        phone = f"1{rng.choice('3578')}{rng.randrange(10**9):09d}"
        self.t_customer.add(cid, name, rng.choice((0, 0, 0, 1, 2)), phone, None, at, at)
        self.result.customers += 1
        recent.append((cid, day))
        if len(recent) > 20000:
            del recent[:5000]
        return cid

    def _message(self, conv: int, direction: str, kind: str, sender: int | None, text: str, at: datetime,
                 *, private: bool = False, meta: dict[str, Any] | None = None) -> int:  # fmt: skip
        mid = self._id(Message)
        self.t_msg.add(mid, conv, direction, kind, sender, text, private, meta or {}, at)
        self.result.messages += 1
        return mid

    def _conversation(self, created: datetime) -> None:
        rng = self.rng
        r = self.result
        cid = self._id(Conversation)
        r.conversations += 1
        intent = self._pick(INTENT_SHARE)
        team_id = self.intent_team.get(
            intent, self.team_ids["会员服务"] if rng.random() < 0.3 else self.team_ids["售后服务"]
        )
        channel_id = self._pick(self.channel_ids)
        customer_id = self._customer(created)
        order_no = f"YJ{created.astimezone(self.tz):%Y%m%d}{rng.randrange(1000, 9999)}"
        agent = self._on_shift(team_id, created)
        first_responder: int | None = agent.id
        t = created
        opener = rng.choice(OPENERS[intent]).format(o=order_no)
        self._message(cid, "incoming", "text", None, opener, t)
        last_customer = t
        local_hour = created.astimezone(self.tz).hour
        if rng.random() < 0.35 or local_hour < 8:
            self._message(
                cid,
                "outgoing",
                "auto",
                None,
                "您好，当前咨询人数较多，您前面还有 3 位，请稍候。",
                t + timedelta(seconds=1),
            )
        bot_only = rng.random() < (0.25 if local_hour < 8 else 0.03)
        # First response: seconds; slower at night and for weaker agents; a long tail.
        wait = rng.lognormvariate(math.log(22 * agent.skill), 0.9)
        if local_hour < 8:
            wait += (8 - local_hour) * 3600 * rng.uniform(0.3, 1.0)
        upset = (
            intent in ("服务态度投诉", "物流延迟/催发货", "商品质量问题")
            and rng.random() < 0.35
            or rng.random() < 0.03
        )
        alert_at = None
        if upset:
            alert_at = t + timedelta(seconds=rng.uniform(1, 5))
            label = "angry" if rng.random() < 0.4 else "dissatisfied"
            self.t_alert.add(self._id(EmotionAlert), cid, "emotion", rng.uniform(7, 9.5), rng.uniform(2, 5), label,
                             "客户情绪明显不满" if label == "dissatisfied" else "客户情绪激动", alert_at)  # fmt: skip
        transferred_to = None
        assignee: int | None = agent.id
        answered = None
        last_agent = None
        agent_replies: list[tuple[int, int, datetime]] = []
        status = "open"
        resolved_at = None
        if bot_only:
            first_responder = None
            assignee = None if rng.random() < 0.7 else agent.id
            t = t + timedelta(seconds=rng.uniform(30, 300))
            self._message(
                cid,
                "outgoing",
                "auto",
                None,
                "您可以在「我的订单」中查看物流进度，如需人工请回复“转人工”。",
                t,
            )
            if rng.random() < 0.8:
                status, resolved_at = "resolved", t + timedelta(minutes=rng.uniform(5, 30))
                self._message(cid, "activity", "event", None, "会话已自动解决", resolved_at, private=True,
                              meta={"from": "open", "to": "resolved"})  # fmt: skip
        else:
            t, status, resolved_at, team_id, assignee, transferred_to, last_customer, last_agent, answered = (
                self._talk(cid, t, wait, agent, team_id, agent_replies, last_customer)
            )
        if status == "resolved" and rng.random() < 0.6:
            status = "closed"  # closed by the auto-close after the quiet period
        csat = csat_at = None
        comment = ""
        if resolved_at is not None and status in ("resolved", "closed") and rng.random() < 0.55:
            base = 4.6 - (1.4 if upset else 0) - (0.6 if transferred_to else 0) - 0.4 * (agent.skill - 1)
            csat = max(1, min(5, round(rng.gauss(base, 0.9))))
            # Most rate at once; some answer the survey days later (a late-arriving change).
            delay = (
                timedelta(minutes=rng.uniform(1, 20))
                if rng.random() < 0.8
                else timedelta(days=rng.uniform(1, 4))
            )
            csat_at = resolved_at + delay
            comment = rng.choice(CSAT_COMMENTS[csat]) if rng.random() < 0.3 else ""
            self._message(
                cid,
                "activity",
                "event",
                None,
                f"客户评价：{csat} 分",
                csat_at,
                private=True,
                meta={"csat_score": csat},
            )
        emotion = ""
        if upset:
            emotion = "calm" if resolved_at and rng.random() < 0.7 else rng.choice(("dissatisfied", "angry"))
        elif rng.random() < 0.8:
            emotion = "calm"
        last = max(x for x in (t, csat_at) if x is not None)
        due = created + timedelta(seconds=60)
        self.t_conv.add(
            cid, channel_id, customer_id, team_id, assignee, first_responder, status,
            "P1" if intent == "服务态度投诉" else ("P2" if upset else "P4"), opener[:60], intent,
            round(rng.uniform(0.55, 0.99), 2), emotion, 8.0 if emotion in ("angry", "dissatisfied") else 1.0,
            created, last, last, last_customer, last_agent, answered, due, resolved_at,
            csat, comment, csat_at, 0,
        )  # fmt: skip
        self.day_conversations.append((cid, customer_id, created, assignee, team_id, intent))
        self._aftermath(
            cid, customer_id, created, resolved_at, assignee, team_id, intent, upset, agent_replies
        )

    def _talk(self, cid: int, t: datetime, wait: float, agent: _Agent, team_id: int,
              agent_replies: list[tuple[int, int, datetime]], last_customer: datetime) -> tuple[Any, ...]:  # fmt: skip
        """An agent's side: the greeting, the turns, perhaps a transfer, the resolution, perhaps a reopening."""
        rng = self.rng
        status, resolved_at, transferred_to = "open", None, None
        assignee: int | None = agent.id
        t = t + timedelta(seconds=wait)
        answered = t
        greeting = REPLIES[0].format(a=f"{agent.no:02d}")
        agent_replies.append((self._message(cid, "outgoing", "text", agent.id, greeting, t), agent.id, t))
        last_agent = t
        turns = 1 + min(int(rng.expovariate(1 / 2.8)), 14)
        current = agent
        for turn in range(turns):
            t += timedelta(seconds=rng.uniform(10, 150))
            self._message(cid, "incoming", "text", None, rng.choice(FOLLOW_UPS), t)
            last_customer = t
            if turn == 0 and rng.random() < 0.07:  # a transfer to the right team
                others = [tid for tid in self.team_ids.values() if tid != team_id]
                transferred_to = rng.choice(others)
                t += timedelta(seconds=rng.uniform(20, 90))
                self._message(cid, "activity", "event", current.id, "会话已转接", t, private=True,
                              meta={"from_team": team_id, "to_team": transferred_to, "reason": "转至对应团队"})  # fmt: skip
                team_id = transferred_to
                current = self._on_shift(team_id, t)
                assignee = current.id
            t += timedelta(seconds=rng.lognormvariate(math.log(35 * current.skill), 0.8))
            text = rng.choice(REPLIES[1:]).format(city=rng.choice(CITIES))
            agent_replies.append((self._message(cid, "outgoing", "text", current.id, text, t), current.id, t))
            last_agent = t
        if rng.random() < 0.8:
            t += timedelta(seconds=rng.uniform(10, 60))
            self._message(cid, "incoming", "text", None, rng.choice(CLOSINGS), t)
            last_customer = t
        if rng.random() < 0.05:
            t += timedelta(seconds=rng.uniform(5, 60))
            self._message(cid, "outgoing", "note", current.id, "客户是老客户，注意跟进", t, private=True)
        if rng.random() < 0.93:
            t += timedelta(seconds=rng.uniform(10, 120))
            status, resolved_at = "resolved", t
            self._message(cid, "activity", "event", current.id, "将状态由「处理中」改为「已解决」", t, private=True,
                          meta={"from": "open", "to": "resolved"})  # fmt: skip
            if rng.random() < 0.05:  # the customer comes back: a reopening
                t += timedelta(hours=rng.uniform(1, 40))
                self._message(cid, "incoming", "text", None, "问题还是没解决，怎么回事？", t)
                last_customer = t
                t += timedelta(seconds=rng.lognormvariate(math.log(60), 0.8))
                agent_replies.append(
                    (
                        self._message(cid, "outgoing", "text", current.id, "抱歉，马上为您重新处理。", t),
                        current.id,
                        t,
                    )
                )
                last_agent = t
                if rng.random() < 0.85:
                    t += timedelta(minutes=rng.uniform(2, 30))
                    resolved_at = t
                    self._message(cid, "activity", "event", current.id, "将状态由「处理中」改为「已解决」", t,
                                  private=True, meta={"from": "open", "to": "resolved"})  # fmt: skip
                else:
                    status, resolved_at = "open", resolved_at  # reopened and still open
        elif rng.random() < 0.5:
            status = "pending"
        return t, status, resolved_at, team_id, assignee, transferred_to, last_customer, last_agent, answered

    def _aftermath(self, cid: int, customer_id: int, created: datetime, resolved_at: datetime | None,
                   assignee: int | None, team_id: int, intent: str, upset: bool,
                   replies: list[tuple[int, int, datetime]]) -> None:  # fmt: skip
        rng = self.rng
        if assignee is None:
            return
        if resolved_at is not None:
            self.t_quality.add(self._id(QualityScore), cid, assignee, max(40, min(100, round(rng.gauss(86, 8)))), 1,
                               resolved_at, resolved_at + timedelta(minutes=1))  # fmt: skip
        if rng.random() < 0.1:  # sampled reply checks
            for mid, sender, at in replies:
                hits = []
                if rng.random() < 0.15:
                    rule = rng.choice(FINDING_RULES)
                    hits.append(
                        {"rule": rule, "severity": "high" if rule == "promise_without_time" else "low"}
                    )
                self.t_findings.add(self._id(ReplyFindings), mid, cid, sender, 1, hits,
                                    sum(1 for h in hits if h["severity"] == "high"), at)  # fmt: skip
        complaint = intent == "服务态度投诉" and rng.random() < 0.5 or upset and rng.random() < 0.06
        complaint_id = None
        if complaint:
            tid = self._new_ticket(created + timedelta(minutes=rng.uniform(3, 30)), customer_id, assignee, team_id,
                                   "complaint", f"投诉：{intent}", cid)  # fmt: skip
            complaint_id = self._id(Complaint)
            done = rng.random() < 0.85
            resolved = created + timedelta(hours=rng.uniform(4, 96)) if done else None
            self.t_complaint.add(complaint_id, tid, "closed" if done else "tracking", "客户反映服务问题",
                                 "要求道歉并补偿", resolved, created + timedelta(minutes=20), resolved or created)  # fmt: skip
            self.result.complaints += 1
        if complaint or (upset and rng.random() < 0.15) or rng.random() < 0.008:
            status = self._pick((("granted", 0.6), ("approved", 0.2), ("pending", 0.1), ("rejected", 0.1)))
            amount = Decimal(rng.choice((5, 10, 10, 20, 20, 30, 50, 100, 200)))
            at = created + timedelta(minutes=rng.uniform(5, 60))
            self.t_comp.add(self._id(CompensationRequest), complaint_id, cid, rng.choice(("coupon", "refund", "resend", "gift")),
                            amount, "补偿客户损失", assignee, status, team_id,
                            at + timedelta(minutes=30) if status != "pending" else None, at)  # fmt: skip
        if rng.random() < 0.03:
            due = created + timedelta(hours=rng.uniform(2, 48))
            status = self._pick((("kept", 0.8), ("broken", 0.1), ("cancelled", 0.05), ("open", 0.05)))
            self.t_promise.add(self._id(Promise), assignee, cid, "24小时内回电告知处理结果", due, status,
                               due - timedelta(hours=1) if status == "kept" else None,
                               due if status == "broken" else None, created + timedelta(minutes=5))  # fmt: skip

    def _new_ticket(self, at: datetime, customer_id: int, assignee: int | None, team_id: int | None,
                    category: str, title: str, conversation_id: int | None) -> int:  # fmt: skip
        rng = self.rng
        tid = self._id(Ticket)
        self.ticket_serial += 1
        number = f"T{self.scale.seed}-{tid:08d}"
        done = rng.random() < 0.9
        first = at + timedelta(minutes=rng.uniform(5, 240))
        due = at + timedelta(hours=24)
        resolved = at + timedelta(hours=rng.uniform(1, 40)) if done else None
        self.t_ticket.add(tid, number, title, category, "P2" if category == "complaint" else "P4", customer_id,
                          assignee, assignee, team_id, "closed" if done else "in_progress", at, resolved or at,
                          at + timedelta(hours=1), first, due, resolved, resolved)  # fmt: skip
        if conversation_id is not None:
            self.t_link.add(tid, conversation_id)
        self.result.tickets += 1
        return tid

    def _ticket(self, day: date) -> None:
        rng = self.rng
        if self.day_conversations and rng.random() < 0.9:
            cid, customer_id, created, assignee, team_id, intent = rng.choice(self.day_conversations)
            at = created + timedelta(minutes=rng.uniform(2, 60))
            category = (
                "technical"
                if intent == "账户与技术问题"
                else ("after_sales" if team_id == self.team_ids["售后服务"] else "service")
            )
            self._new_ticket(at, customer_id, assignee, team_id, category, f"{intent}跟进", cid)
            return
        at = datetime.combine(day, time(rng.randrange(9, 21)), self.tz).astimezone(UTC)
        agent = rng.choice(self.agents)
        self._new_ticket(at, self._customer(at), agent.id, agent.team, "service", "留言工单", None)

    def _statuses(self, day: date) -> None:
        """Each agent's working day: online at the shift's start, breaks, busy stretches, offline at its end."""
        rng = self.rng
        for a in self.agents:
            if day.weekday() in a.rest:
                continue
            start, end = SHIFTS[a.shift]
            at = datetime.combine(day, time(start), self.tz).astimezone(UTC) + timedelta(
                minutes=rng.uniform(-10, 5)
            )
            stop = datetime.combine(day, time(0), self.tz).astimezone(UTC) + timedelta(
                hours=end, minutes=rng.uniform(-5, 15)
            )
            steps = [(at, "offline", "online", "")]
            cursor = at
            for reason, minutes in (("short_break", 15), ("meal", 45), ("short_break", 15)):
                cursor += timedelta(minutes=rng.uniform(90, 150))
                if cursor + timedelta(minutes=minutes) >= stop:
                    break
                if rng.random() < 0.5:
                    steps.append((cursor - timedelta(minutes=rng.uniform(20, 40)), "online", "busy", ""))
                    steps.append((cursor - timedelta(minutes=rng.uniform(1, 15)), "busy", "online", ""))
                steps.append((cursor, "online", "break", reason))
                cursor += timedelta(minutes=minutes * rng.uniform(0.8, 1.3))
                steps.append((cursor, "break", "online", ""))
            steps.append((stop, "online", "offline", "logout"))
            for when, frm, to, reason in steps:
                self.t_status.add(self._id(StatusChange), a.id, frm, to, reason, when)
                self.result.status_changes += 1


def generate(scale: Scale, *, log: Callable[[str], None] = lambda s: None) -> Result:
    """Write ``scale``'s history; teams, channels and agents are reused when they exist."""
    if connection.vendor == "postgresql" and not hasattr(connection.cursor().cursor, "copy"):
        raise RuntimeError("PostgreSQL needs psycopg 3 for COPY")
    return Generator(scale, log=log).run()


__all__ = ["Result", "Scale", "day_factor", "generate"]
