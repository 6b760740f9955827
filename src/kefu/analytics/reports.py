"""Reports, top floor: what /desk/reports/, its API and its exports show.

No figure is computed here. Every number comes from :mod:`kefu.analytics.metrics`
(``compute``, ``breakdown``, ``heatmap``, ``behind``, ``targets``); this module checks
who asks (``check_viewer``), turns a request's filters into a ``Scope`` and the one
before it (``parse_filters``), lays the figures out for the page and the API
(``build_report``), lists the conversations behind a figure that the viewer may see
(``drilldown``), and turns a report into sheets for the exports (``export_sheets``).

Whose figures: ``services.access_scope`` decides (supervisors, managers and admins any
team or the whole desk; a team lead their own team — the first of theirs unless they
choose another of theirs — and its agents); agents and specialists have 我的数据 instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from django.utils import timezone

from kefu.accounts.access import team_ids_of
from kefu.accounts.models import Role, Team, User
from kefu.channels.models import Channel
from kefu.conversations.models import Conversation
from kefu.conversations.timeline import visible_conversations
from kefu.core.errors import InvalidInput, PermissionDenied
from kefu.understanding.models import Intent

from . import metrics, services
from .exports import Column, Sheet

PERIODS = {"today": "今天", "7d": "近 7 天", "30d": "近 30 天", "custom": "自定义"}
PERIOD_DAYS = {"today": 1, "7d": 7, "30d": 30}
MAX_DAYS = 366
EARLIEST = date(2000, 1, 1)
DIMENSIONS = {"channel": "渠道", "intent": "意图", "team": "团队", "agent": "客服"}
# Keys a drill-down may name: the breakdowns above and the trend / heat map buckets.
DRILL_KEYS = {**DIMENSIONS, "day": "日期", "hour": "小时", "weekday": "星期"}
WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
UNITS = {"s": "秒", "%": "%", "count": "个", "score": "分", "yuan": "元"}
# The tiles on top, in this order, where the metrics module defines them; the table under
# them lists every figure.
TILE_METRICS = (
    "volume",
    "first_response_mean",
    "first_response_p50",
    "first_response_within_target",
    "resolution_rate",
    "fcr_rate",
    "csat_mean",
    "nps",
    "aht_mean",
    "complaint_rate",
)
# The figures each breakdown table shows beside the volume its bars draw.
BREAKDOWN_METRICS = ("volume", "first_response_mean", "resolution_rate", "csat_mean", "nps")
# First response by the hour the customer wrote: the chart of how it spreads over the day.
DISTRIBUTION_METRIC = "first_response_mean"
DRILLDOWN_PAGE = 50
# The histogram the page draws (``metrics.DISTRIBUTIONS``).
HISTOGRAM = "first_response"


def check_viewer(user: User) -> None:
    """Team leads and above; agents and specialists have 我的数据 instead."""
    if not user.is_authenticated or not user.has_role_at_least(Role.TEAM_LEAD):
        raise PermissionDenied("报表仅对组长、主管、经理和管理员开放")


@dataclass(frozen=True)
class Filters:
    """A request's filters, checked: the days shown, the scope and the period compared with."""

    period: str
    first_day: date
    last_day: date
    scope: metrics.Scope
    previous: metrics.Scope
    team: Team | None = None
    channel: Channel | None = None
    agent: User | None = None
    intent: str | None = None

    def params(self) -> dict[str, str]:
        """The filters as query parameters (links to the drill-down, exports, the API)."""
        out = {"period": self.period}
        if self.period == "custom":
            out.update(start=self.first_day.isoformat(), end=self.last_day.isoformat())
        for key, value in (
            ("team", self.team.pk if self.team else None),
            ("channel", self.channel.pk if self.channel else None),
            ("agent", self.agent.pk if self.agent else None),
            ("intent", self.intent),
        ):
            if value is not None:
                out[key] = str(value)
        return out

    def query(self, **extra: str) -> str:
        return urlencode({**self.params(), **extra})

    def describe(self) -> list[tuple[str, str]]:
        """(条件, 值) pairs as the exports and the page's heading name them."""
        return [
            ("时间范围", f"{PERIODS[self.period]}（{self.first_day} 至 {self.last_day}）"),
            ("对比期", f"{_local_day(self.previous.start)} 至 {_local_day(self.previous.end - _TICK)}"),
            ("团队", self.team.name if self.team else "全部"),
            ("渠道", self.channel.name if self.channel else "全部"),
            ("客服", self.agent.name if self.agent else "全部"),
            ("意图", self.intent or "全部"),
        ]


_TICK = timedelta(microseconds=1)


def _local_day(moment: datetime) -> date:
    return timezone.localtime(moment).date()


def _midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _days(period: str, start: date | None, end: date | None, today: date) -> tuple[date, date]:
    if period not in PERIODS:
        raise InvalidInput("时间范围无效", fields={"period": "应为 today、7d、30d 或 custom"})
    if period != "custom":
        return today - timedelta(days=PERIOD_DAYS[period] - 1), today
    if start is None or end is None:
        missing = {
            k: "自定义时间范围需要开始和结束日期" for k, v in (("start", start), ("end", end)) if v is None
        }
        raise InvalidInput("自定义时间范围需要开始和结束日期", fields=missing)
    if start < EARLIEST or start > today:
        raise InvalidInput("开始日期超出范围", fields={"start": f"应在 {EARLIEST} 与今天之间"})
    if end < start:
        raise InvalidInput("结束日期早于开始日期", fields={"end": "不能早于开始日期"})
    if end > today:
        raise InvalidInput("结束日期不能晚于今天", fields={"end": "不能晚于今天"})
    if (end - start).days + 1 > MAX_DAYS:
        raise InvalidInput(
            f"时间范围最长 {MAX_DAYS} 天", fields={"end": f"与开始日期相隔不超过 {MAX_DAYS} 天"}
        )
    return start, end


def _pick(model: Any, pk: int | None, name: str, label: str) -> Any:
    if pk is None:
        return None
    row = model.objects.filter(pk=pk).first() if 0 < pk < 2**63 else None
    if row is None:
        raise InvalidInput(f"{label}不存在", fields={name: f"没有编号为 {pk} 的{label}"})
    return row


def parse_filters(
    viewer: User,
    *,
    period: str = "7d",
    start: date | None = None,
    end: date | None = None,
    team: int | None = None,
    channel: int | None = None,
    agent: int | None = None,
    intent: str | None = None,
    now: datetime | None = None,
) -> Filters:
    """Check the viewer and the filters; a period that reaches today ends now, and is compared
    with the same hours the same number of days before (today against yesterday until now)."""
    check_viewer(viewer)
    now = now or timezone.now()
    period = period or "7d"
    first_day, last_day = _days(period, start, end, timezone.localtime(now).date())
    picked_team = _pick(Team, team, "team", "团队")
    picked_agent = _pick(User, agent, "agent", "客服")
    picked_channel = _pick(Channel, channel, "channel", "渠道")
    intent = (intent or "").strip() or None
    if intent is not None and not Intent.objects.filter(name=intent).exists():
        raise InvalidInput("意图不存在", fields={"intent": f"没有名为「{intent[:32]}」的意图"})
    span = timedelta(days=(last_day - first_day).days + 1)
    start_at = _midnight(first_day)
    end_at = min(_midnight(last_day + timedelta(days=1)), now)
    scope = services.access_scope(
        viewer,
        metrics.Scope(
            start=start_at, end=end_at, team_id=team, agent_id=agent, channel_id=channel, intent=intent
        ),
    )
    return Filters(
        period=period,
        first_day=first_day,
        last_day=last_day,
        scope=scope,
        previous=replace(scope, start=start_at - span, end=end_at - span),
        # access_scope may have chosen them: a lead's own team, or oneself for a lead without one.
        team=picked_team if team == scope.team_id else _pick(Team, scope.team_id, "team", "团队"),
        channel=picked_channel,
        agent=picked_agent if agent == scope.agent_id else _pick(User, scope.agent_id, "agent", "客服"),
        intent=intent,
    )


def filter_choices(viewer: User) -> dict[str, Any]:
    """What the filter form offers this viewer: a lead, their teams and their teams' people."""
    check_viewer(viewer)
    if viewer.sees_all:
        teams = list(Team.objects.order_by("id"))
        people = User.objects.filter(is_active=True)
    else:
        teams = list(Team.objects.filter(pk__in=team_ids_of(viewer)).order_by("id"))
        people = User.objects.filter(is_active=True, teams__in=teams).distinct()
    return {
        "periods": list(PERIODS.items()),
        "teams": [(t.pk, t.name) for t in teams],
        "channels": [(c.pk, c.name) for c in Channel.objects.order_by("id")],
        "agents": [(u.pk, u.name) for u in people.order_by("id")],
        "intents": list(Intent.objects.order_by("order", "id").values_list("name", flat=True)),
        "all_teams": viewer.sees_all,
    }


# --- presenting a figure -------------------------------------------------------------


def format_value(value: float | None, unit: str) -> str:
    """A figure as the page shows it: 「45 秒」「1 分 05 秒」「93.5%」「4.62 分」「1,234」「¥12.00」."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if unit == "s":
        seconds = round(value)
        if seconds < 60:
            return f"{seconds} 秒"
        if seconds < 3600:
            return f"{seconds // 60} 分 {seconds % 60:02d} 秒"
        return f"{seconds // 3600} 小时 {seconds % 3600 // 60:02d} 分"
    if unit == "%":
        return f"{value:.1f}%"
    if unit == "score":
        return f"{value:.2f} 分"
    if unit == "yuan":
        return f"¥{value:,.2f}"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def _change(current: float | None, previous: float | None, unit: str) -> tuple[float | None, str]:
    """How far the figure moved: percentage points for a rate, else per cent of the previous value."""
    if current is None or previous is None:
        return None, ""
    if unit == "%":
        return round(current - previous, 2), "pp"
    if previous == 0:
        return None, ""
    return round((current - previous) / abs(previous) * 100, 1), "%"


def _verdict(delta: float | None, better: str) -> str:
    """'good', 'bad' or 'flat': whether the move is for the better."""
    if delta is None or delta == 0:
        return "flat"
    return "good" if (delta > 0) == (better == "higher") else "bad"


def _meets(value: float | None, target: float | None, better: str) -> bool | None:
    if value is None or target is None:
        return None
    return value >= target if better == "higher" else value <= target


def _rounded(value: float | None) -> float | None:
    """Two decimals, as /api/v1/metrics gives them."""
    return None if value is None else round(float(value), 2)


def figure_row(current: metrics.Figure, previous: metrics.Figure) -> dict[str, Any]:
    delta, delta_unit = _change(current.value, previous.value, current.unit)
    return {
        "name": current.name,
        "label": current.label,
        "unit": current.unit,
        "better": current.better,
        "value": _rounded(current.value),
        "display": format_value(current.value, current.unit),
        "count": current.count,
        "previous": _rounded(previous.value),
        "previous_display": format_value(previous.value, previous.unit),
        "previous_count": previous.count,
        "change": delta,
        "change_unit": delta_unit,
        "change_display": _change_display(delta, delta_unit),
        "trend": _verdict(delta, current.better),
        "target": current.target,
        "target_display": format_value(current.target, current.unit) if current.target is not None else "",
        "meets_target": _meets(current.value, current.target, current.better),
    }


def _change_display(delta: float | None, unit: str) -> str:
    if delta is None:
        return "—"
    arrow = "↑" if delta > 0 else "↓" if delta < 0 else "→"
    return f"{arrow} {abs(delta):.1f}{' 个百分点' if unit == 'pp' else '%'}"


# --- the report ----------------------------------------------------------------------


def _kpis(filters: Filters) -> list[dict[str, Any]]:
    current, previous = metrics.compare_periods(filters.scope, filters.previous)
    rows = [figure_row(current[name], previous[name]) for name in current]
    order = {name: i for i, name in enumerate(TILE_METRICS)}
    for row in rows:
        row["tile"] = row["name"] in order
    rows.sort(key=lambda r: order.get(r["name"], len(order)))
    return rows


def _trend(filters: Filters) -> dict[str, Any]:
    days = (filters.last_day - filters.first_day).days + 1
    keys = [(filters.first_day + timedelta(days=i)).isoformat() for i in range(days)]

    # Volume per local day of the period and of the one before, the days without a conversation
    # as 0: one grouped read of both when they meet end to end (a clock change between them
    # would leave a gap or an overlap: then one read each).
    def volumes(scope: metrics.Scope) -> dict[str, float | None]:
        return {key: f.value for key, _, f in metrics.breakdown(scope, "volume", "day")}

    if filters.previous.end == filters.scope.start:
        current = previous = volumes(replace(filters.scope, start=filters.previous.start))
    else:
        current, previous = volumes(filters.scope), volumes(filters.previous)

    def by_day(counts: dict[str, float | None], first_day: date) -> list[float | None]:
        return [_rounded(counts.get((first_day + timedelta(days=i)).isoformat(), 0)) for i in range(days)]

    return {
        "name": "volume",
        "label": metrics.METRICS["volume"].label,
        "keys": keys,
        "labels": [k[5:] if days > 1 else k for k in keys],
        "current": by_day(current, filters.first_day),
        "previous": by_day(previous, filters.first_day - timedelta(days=days)),
    }


def _distribution(filters: Filters) -> dict[str, Any]:
    """First response over the day: the figure per hour the customer wrote in, all 24 hours."""
    name = DISTRIBUTION_METRIC
    figures = {key: f for key, _, f in metrics.breakdown(filters.scope, name, "hour")}
    definition = metrics.METRICS[name]
    hours = [str(h) for h in range(24)]
    return {
        "name": name,
        "by": "hour",
        "label": definition.label,
        "axis_label": "小时",
        "value_label": definition.label,
        "unit": definition.unit,
        "keys": hours,
        "labels": [f"{h:02d}:00" for h in range(24)],
        "values": [_rounded(figures[h].value) if h in figures else None for h in hours],
        "displays": [format_value(figures[h].value, definition.unit) if h in figures else "—" for h in hours],
        "counts": [figures[h].count if h in figures else 0 for h in hours],
        "target": metrics.targets(filters.scope.team_id).get(name),
    }


def _histogram(filters: Filters) -> dict[str, Any]:
    """How first responses spread over buckets (15 秒内 … 1 小时以上, 超时未回复)."""
    spec = metrics.DISTRIBUTIONS[HISTOGRAM]
    rows = metrics.distribution(filters.scope, HISTOGRAM)
    total = sum(n for _, _, n in rows)
    return {
        "name": HISTOGRAM,
        "metric": spec.metric,
        "label": spec.label,
        "keys": [k for k, _, _ in rows],
        "labels": [label for _, label, _ in rows],
        "counts": [n for _, _, n in rows],
        "shares": [round(100.0 * n / total, 1) if total else None for _, _, n in rows],
        "total": total,
    }


def _heatmap(filters: Filters) -> dict[str, Any]:
    grid = metrics.heatmap(filters.scope, "volume")
    top = max((v for row in grid for v in row if v is not None), default=0) or 0

    def level(v: float | None) -> int:
        return 0 if not v or not top else max(1, math.ceil(v / top * 5))

    return {
        "name": "volume",
        "weekdays": list(WEEKDAYS),
        "hours": list(range(24)),
        "values": [[_rounded(v) for v in row] for row in grid],
        "levels": [[level(v) for v in row] for row in grid],
        "max": top,
    }


def _breakdown(filters: Filters, by: str) -> dict[str, Any]:
    names = [n for n in BREAKDOWN_METRICS if n in metrics.METRICS]
    rows: dict[str, dict[str, Any]] = {}
    labels: dict[str, tuple[str, str]] = {}
    figures = metrics.breakdowns(filters.scope, names, by)
    for name in names:
        for key, label, figure in figures[name]:
            row = rows.setdefault(key, {"key": key, "label": label, "values": {}, "displays": {}})
            row["values"][name] = _rounded(figure.value)
            row["displays"][name] = format_value(figure.value, figure.unit)
            labels[name] = (figure.label, figure.unit)
    ordered = sorted(rows.values(), key=lambda r: -(r["values"].get("volume") or 0))
    return {
        "by": by,
        "label": DIMENSIONS[by],
        "metrics": [{"name": n, "label": labels.get(n, (n, ""))[0]} for n in names],
        "rows": ordered,
    }


def build_report(filters: Filters) -> dict[str, Any]:
    """Everything the page draws, as JSON: the tiles, the trend, first response by hour and its
    histogram, the heat map, the breakdowns (sharing targets, calendars and per-conversation
    values between them: ``metrics.shared``)."""
    with metrics.shared(window=(filters.previous.start, filters.scope.end)):
        return _report(filters)


def _report(filters: Filters) -> dict[str, Any]:
    return {
        "filters": filters.params(),
        "period": {
            "label": PERIODS[filters.period],
            "first_day": filters.first_day.isoformat(),
            "last_day": filters.last_day.isoformat(),
            "start": filters.scope.start.isoformat(),
            "end": filters.scope.end.isoformat(),
            "previous_start": filters.previous.start.isoformat(),
            "previous_end": filters.previous.end.isoformat(),
        },
        "kpis": _kpis(filters),
        "trend": _trend(filters),
        "distribution": _distribution(filters),
        "histogram": _histogram(filters),
        "heatmap": _heatmap(filters),
        "breakdowns": [_breakdown(filters, by) for by in DIMENSIONS],
    }


# --- drill-down ----------------------------------------------------------------------


def _drill_keys(by: str | None, key: str | None) -> list[tuple[str, str]]:
    """``by=weekday,hour&key=2,14`` → [("weekday", "2"), ("hour", "14")] (a heat map cell)."""
    if not by and not key:
        return []
    bys = [b.strip() for b in (by or "").split(",")]
    keys = [k.strip() for k in (key or "").split(",")]
    if len(bys) != len(keys) or len(bys) > 2 or not all(bys):
        raise InvalidInput("下钻条件无效", fields={"key": "维度与取值须一一对应"})
    for b in bys:
        if b not in DRILL_KEYS:
            raise InvalidInput("下钻维度无效", fields={"by": f"应为 {'、'.join(DRILL_KEYS)} 之一"})
    return list(zip(bys, [k[:64] for k in keys], strict=True))


def drilldown(
    viewer: User,
    filters: Filters,
    *,
    metric: str,
    by: str | None = None,
    key: str | None = None,
    page: int = 1,
) -> dict[str, Any]:
    """One page (``DRILLDOWN_PAGE`` rows, newest first) of the conversations behind a figure
    (or one bar, one day, one heat-map cell) that the viewer may see, and how many in all.

    A heat-map cell is the conversations behind both its weekday and its hour. Counting and
    paging are done by the database: no figure is cut off, however many conversations it has.
    """
    check_viewer(viewer)
    services.check_name(metric, field="metric")
    pairs = _drill_keys(by, key)
    if page < 1 or page > 10**6:
        raise InvalidInput("页码无效", fields={"page": "应为 1 或更大的整数"})
    ids, total = services.access_behind_page(
        viewer, filters.scope, metric, pairs, offset=(page - 1) * DRILLDOWN_PAGE, limit=DRILLDOWN_PAGE
    )
    shown = list(
        visible_conversations(viewer)
        .select_related("channel", "customer", "assignee", "team")
        .filter(pk__in=ids)
        .order_by("-pk")
    )
    pages = max(1, math.ceil(total / DRILLDOWN_PAGE))
    return {
        "metric": metric,
        "label": metrics.METRICS[metric].label,
        "by": [b for b, _ in pairs],
        "key": [k for _, k in pairs],
        "key_label": _key_label(pairs),
        "total": total,
        "page": page,
        "pages": pages,
        "page_size": DRILLDOWN_PAGE,
        "first": (page - 1) * DRILLDOWN_PAGE + 1 if shown else 0,
        "last": (page - 1) * DRILLDOWN_PAGE + len(shown),
        "previous_page": page - 1 if page > 1 else None,
        "next_page": page + 1 if page < pages else None,
        "items": [drill_row(c) for c in shown],
    }


def _key_label(pairs: list[tuple[str, str]]) -> str:
    parts = []
    for by, key in pairs:
        if by == "weekday" and key.isdigit() and int(key) < 7:
            parts.append(WEEKDAYS[int(key)])
        elif by == "hour":
            parts.append(f"{key} 时")
        else:
            parts.append(f"{DRILL_KEYS[by]}：{key}")
    return " ".join(parts)


def drill_row(c: Conversation) -> dict[str, Any]:
    return {
        "id": c.pk,
        "url": f"/desk/c/{c.pk}/",
        "customer": str(c.customer),
        "channel": c.channel.name if c.channel_id else "",
        "team": c.team.name if c.team_id and c.team else "",
        "assignee": c.assignee.name if c.assignee_id and c.assignee else "",
        "status": c.status,
        "status_label": c.get_status_display(),
        "intent": c.intent,
        "created_at": timezone.localtime(c.created_at).isoformat(timespec="seconds"),
        "first_response_at": (
            timezone.localtime(c.first_response_at).isoformat(timespec="seconds")
            if c.first_response_at
            else None
        ),
        "csat_score": c.csat_score,
    }


# --- exports -------------------------------------------------------------------------

EXPORT_COLUMNS = (
    Column("section", "部分"),
    Column("dimension", "维度"),
    Column("item", "项目"),
    Column("metric", "指标"),
    Column("value", "数值"),
    Column("unit", "单位"),
    Column("count", "样本数"),
    Column("previous", "上期数值"),
    Column("change", "变化"),
    Column("target", "目标"),
)


def _export_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for k in report["kpis"]:
        rows.append(
            {
                "section": "关键指标",
                "dimension": "",
                "item": "全部",
                "metric": k["label"],
                "value": k["value"],
                "unit": UNITS.get(k["unit"], k["unit"]),
                "count": k["count"],
                "previous": k["previous"],
                "change": k["change_display"] if k["change"] is not None else None,
                "target": k["target"],
            }
        )
    trend = report["trend"]
    for label, value, prev in zip(
        trend["labels"], trend["current"], trend["previous"] + [None] * len(trend["labels"]), strict=False
    ):
        rows.append(
            {
                "section": "趋势（按日）",
                "dimension": "日期",
                "item": label,
                "metric": trend["label"],
                "value": value,
                "unit": "个",
                "previous": prev,
            }
        )
    for b in report["breakdowns"]:
        for row in b["rows"]:
            for m in b["metrics"]:
                rows.append(
                    {
                        "section": f"按{b['label']}",
                        "dimension": b["label"],
                        "item": row["label"],
                        "metric": m["label"],
                        "value": row["values"].get(m["name"]),
                    }
                )
    heat = report["heatmap"]
    for d, day_values in enumerate(heat["values"]):
        for h, value in enumerate(day_values):
            if value:
                rows.append(
                    {
                        "section": "热力图",
                        "dimension": "星期×小时",
                        "item": f"{WEEKDAYS[d]} {h:02d} 时",
                        "metric": "会话量",
                        "value": value,
                        "unit": "个",
                    }
                )
    return rows


def export_sheets(filters: Filters, report: dict[str, Any]) -> list[Sheet]:
    """The report as sheets: the figures (also the CSV), the heat map as a grid, the filters."""
    heat_columns = [Column("weekday", "星期")] + [Column(str(h), f"{h} 时") for h in range(24)]
    heat_rows = [
        {"weekday": WEEKDAYS[d], **{str(h): v for h, v in enumerate(values)}}
        for d, values in enumerate(report["heatmap"]["values"])
    ]
    return [
        Sheet("报表", EXPORT_COLUMNS, _export_rows(report)),
        Sheet("热力图", heat_columns, heat_rows),
        Sheet(
            "筛选条件",
            (Column("name", "条件"), Column("value", "值")),
            [{"name": n, "value": v} for n, v in filters.describe()],
        ),
    ]


def export_filename(filters: Filters, extension: str) -> str:
    return f"kefu-报表-{filters.first_day:%Y%m%d}-{filters.last_day:%Y%m%d}.{extension}"
