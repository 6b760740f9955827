"""Shift planning (排班): forecast, agents needed, rosters, publishing, breaks against the roster.

Who may do what: team leads plan the teams they lead (supervisors and above every team) —
forecast, requirement, shift types, availability, building and publishing rosters;
supervisors and above edit the planning parameters and the promotion days; every desk user
reads their own published shifts. History and AHT are read only through
``kefu.analytics.metrics`` (``arrivals``, ``compute(scope, ["aht_mean"])``); the math is in the
plain modules ``erlang``, ``forecast`` and ``rostering`` (docs/staffing.md).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from kefu.accounts.access import access_team, audit, check_desk_user, check_role, team_ids_of
from kefu.accounts.models import AgentStatus, Role, StatusChange, Team, User
from kefu.analytics import metrics
from kefu.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from kefu.core.fields import check_text
from kefu.core.params import whole
from kefu.hours.calendar import BusinessCalendar, calendar_for, load_days

from .erlang import ErlangError, Need, Target, staff_day
from .forecast import DayForecast, ForecastError, days_between, fit_trend, forecast_days, weekday_profile
from .models import Availability, PlanSettings, Promotion, Roster, RosterEntry, ShiftType
from .rostering import SLOT_MINUTES, SLOTS, AgentSpec, Assignment, ShiftSpec, build

PLANNER_ROLE = Role.TEAM_LEAD
EDITOR_ROLE = Role.SUPERVISOR
# AHT when the metrics have no handled contact to measure and no override is set.
DEFAULT_AHT_SECONDS = 300
AHT_WEEKS = 4
# kefu.analytics.metrics' AHT: first agent reply to resolution, per conversation (docs/metrics.md).
AHT_METRIC = "aht_mean"
MAX_DAYS = 42
MAX_HISTORY_WEEKS = 26
# The roles a roster is built for (leads and above plan, they are not planned).
ROSTERED_ROLES = (Role.AGENT, Role.SPECIALIST)
# Promotions kefu knows by name, as (name, month, day, days, multiplier); 年货节 moves with the
# Spring Festival, so its dates are a starting point to edit.
COMMON_PROMOTIONS = (
    ("年货节", 1, 5, 10, 1.5),
    ("618", 6, 18, 1, 2.5),
    ("双11", 11, 11, 1, 4.0),
    ("双12", 12, 12, 1, 2.0),
)


# --- who may plan -----------------------------------------------------------------------------


def check_planner(actor: User) -> None:
    """Team leads and above plan shifts."""
    check_role(actor, PLANNER_ROLE)


def check_editor(actor: User) -> None:
    """Supervisors and above set planning parameters and promotion days."""
    check_role(actor, EDITOR_ROLE)


def access_planned_team(actor: User, team_id: Any) -> Team:
    """The team ``actor`` may plan: a team lead their own teams, supervisors and above any."""
    check_planner(actor)
    if isinstance(team_id, bool) or not isinstance(team_id, int):
        raise InvalidInput("团队有误", fields={"team_id": "应为团队 id"})
    try:
        team = access_team(team_id)
    except NotFound as exc:
        raise InvalidInput("团队不存在", fields={"team_id": f"团队 {team_id} 不存在"}) from exc
    if not actor.sees_all and team.pk not in team_ids_of(actor):
        raise PermissionDenied("只能为自己带领的团队排班")
    return team


def plannable_teams(actor: User) -> QuerySet[Team]:
    check_planner(actor)
    teams = Team.objects.order_by("id")
    return teams if actor.sees_all else teams.filter(pk__in=team_ids_of(actor))


# --- parameters ---------------------------------------------------------------------------------

SETTINGS_FIELDS = (
    "service_level",
    "answer_seconds",
    "concurrency",
    "shrinkage",
    "aht_seconds",
    "history_weeks",
)


def settings_for(team: Team) -> PlanSettings:
    found = PlanSettings.objects.filter(team=team).first()
    return found if found is not None else PlanSettings(team=team)


def _number(data: dict[str, Any], key: str, low: float, high: float, label: str, *, integer: bool) -> Any:
    value = data[key]
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
        raise InvalidInput(
            f"{label}有误", fields={key: f"应为 {low} 到 {high} 之间的{'整数' if integer else '数'}"}
        )
    return value


def check_settings_fields(data: dict[str, Any]) -> dict[str, Any]:
    unknown = [k for k in data if k not in SETTINGS_FIELDS]
    if unknown:
        raise InvalidInput("未知字段", fields={k: "未知字段" for k in unknown})
    clean: dict[str, Any] = {}
    limits = {
        "service_level": (0.05, 0.99, "服务水平目标", False),
        "answer_seconds": (1, 3600, "应答时限", True),
        "concurrency": (1, 20, "同时接待数", True),
        "shrinkage": (0, 0.8, "损耗率", False),
        "aht_seconds": (10, 86_400, "平均处理时长", True),
        "history_weeks": (1, MAX_HISTORY_WEEKS, "历史周数", True),
    }
    for key, (low, high, label, integer) in limits.items():
        if key not in data:
            continue
        if key == "aht_seconds" and data[key] is None:
            clean[key] = None
            continue
        clean[key] = (
            float(_number(data, key, low, high, label, integer=False))
            if not integer
            else _number(data, key, low, high, label, integer=True)
        )
    return clean


def do_update_settings(*, actor: User, team_id: Any, data: dict[str, Any]) -> PlanSettings:
    check_editor(actor)
    team = access_planned_team(actor, team_id)
    clean = check_settings_fields(data)
    with transaction.atomic():
        row, _ = PlanSettings.objects.select_for_update().get_or_create(team=team)
        for key, value in clean.items():
            setattr(row, key, value)
        row.save()
        audit("staffing.settings_changed", actor=actor, target=team, detail={"fields": sorted(clean)})
    return row


# --- promotion days -----------------------------------------------------------------------------


def _check_date(value: Any, key: str) -> date:
    day: date | None
    if isinstance(value, date) and not isinstance(value, datetime):
        day = value
    else:
        try:
            day = date.fromisoformat(value.strip()) if isinstance(value, str) else None
        except ValueError:
            day = None
    if day is None or not 2000 <= day.year <= 2100:
        raise InvalidInput("日期有误", fields={key: "日期格式应为 YYYY-MM-DD（2000 到 2100 年）"})
    return day


def check_promotion_fields(data: dict[str, Any]) -> dict[str, Any]:
    unknown = [k for k in data if k not in ("name", "start_date", "end_date", "multiplier", "team_id")]
    if unknown:
        raise InvalidInput("未知字段", fields={k: "未知字段" for k in unknown})
    start = _check_date(data.get("start_date"), "start_date")
    end = _check_date(data.get("end_date") or data.get("start_date"), "end_date")
    clean: dict[str, Any] = {
        "name": check_text(data.get("name"), field="name", label="名称", max_len=32),
        "start_date": start,
        "end_date": end,
    }
    if end < start:
        raise InvalidInput("结束日期早于开始日期", fields={"end_date": "不能早于开始日期"})
    if (end - start).days > 60:
        raise InvalidInput("大促最长 60 天", fields={"end_date": "与开始日期相差不超过 60 天"})
    multiplier = data.get("multiplier", 2.0)
    if isinstance(multiplier, bool) or not isinstance(multiplier, int | float) or not 0 <= multiplier <= 50:
        raise InvalidInput("倍数有误", fields={"multiplier": "应为 0 到 50 之间的数"})
    clean["multiplier"] = float(multiplier)
    team_id = data.get("team_id")
    if team_id is not None:
        if (
            isinstance(team_id, bool)
            or not isinstance(team_id, int)
            or not Team.objects.filter(pk=team_id).exists()
        ):
            raise InvalidInput("团队不存在", fields={"team_id": "应为团队 id 或留空（所有团队）"})
    clean["team_id"] = team_id
    return clean


def do_create_promotion(*, actor: User, data: dict[str, Any]) -> Promotion:
    check_editor(actor)
    promotion = Promotion.objects.create(**check_promotion_fields(data))
    audit("staffing.promotion_created", actor=actor, target=promotion, detail={"name": promotion.name})
    return promotion


def access_promotion(promotion_id: int) -> Promotion:
    try:
        return Promotion.objects.get(pk=promotion_id)
    except Promotion.DoesNotExist as exc:
        raise NotFound(f"大促日 {promotion_id} 不存在") from exc


def do_delete_promotion(*, actor: User, promotion_id: int) -> None:
    check_editor(actor)
    with transaction.atomic():
        promotion = access_promotion(promotion_id)
        audit("staffing.promotion_deleted", actor=actor, target=promotion, detail={"name": promotion.name})
        promotion.delete()


def do_install_common_promotions(*, actor: User, year: int) -> int:
    """Add 年货节, 618, 双11 and 双12 of ``year`` where no promotion of that name starts that year."""
    check_editor(actor)
    if not 2000 <= year <= 2100:
        raise InvalidInput("年份有误", fields={"year": "2000 到 2100 之间的年份"})
    added = 0
    with transaction.atomic():
        for name, month, day, days, multiplier in COMMON_PROMOTIONS:
            if Promotion.objects.filter(name=name, start_date__year=year, team=None).exists():
                continue
            start = date(year, month, day)
            Promotion.objects.create(
                name=name, start_date=start, end_date=start + timedelta(days=days - 1), multiplier=multiplier
            )
            added += 1
        audit("staffing.promotions_installed", actor=actor, detail={"year": year, "added": added})
    return added


def promotions_for(team: Team | None, start: date, end: date) -> QuerySet[Promotion]:
    """Promotions touching ``[start, end]`` for ``team`` (its own and every team's)."""
    rows = Promotion.objects.filter(start_date__lte=end, end_date__gte=start)
    return rows.filter(Q(team=None) | Q(team=team)) if team is not None else rows.filter(team=None)


def _promotion_days(team: Team, start: date, end: date) -> dict[date, tuple[str, float]]:
    """Each date of ``[start, end]`` under a promotion → (name, multiplier); the larger multiplier wins."""
    out: dict[date, tuple[str, float]] = {}
    for p in promotions_for(team, start, end):
        day = max(p.start_date, start)
        while day <= min(p.end_date, end):
            if day not in out or p.multiplier > out[day][1]:
                out[day] = (p.name, p.multiplier)
            day += timedelta(days=1)
    return out


# --- shift types --------------------------------------------------------------------------------


def _minute(value: Any, key: str) -> int:
    if isinstance(value, str):
        hours, _, minutes = value.partition(":")
        h, m = whole(hours), whole(minutes)
        if h is not None and m is not None and m < 60 and (h < 24 or (h == 24 and m == 0)):
            return h * 60 + m
    raise InvalidInput("时间有误", fields={key: "时间格式应为 HH:MM，例如 08:00（24:00 为当天结束）"})


def check_shift_fields(data: dict[str, Any]) -> dict[str, Any]:
    unknown = [k for k in data if k not in ("name", "start", "end", "break_start", "break_end", "team_id")]
    if unknown:
        raise InvalidInput("未知字段", fields={k: "未知字段" for k in unknown})
    clean: dict[str, Any] = {"name": check_text(data.get("name"), field="name", label="名称", max_len=16)}
    start, end = _minute(data.get("start"), "start"), _minute(data.get("end"), "end")
    if start % SLOT_MINUTES or end % SLOT_MINUTES:
        raise InvalidInput(
            "班次按半小时排", fields={"start" if start % SLOT_MINUTES else "end": "应为整点或半点"}
        )
    if end <= start:
        raise InvalidInput("结束时间应晚于开始时间", fields={"end": "应晚于开始时间（跨零点的班请拆成两段）"})
    if end - start > 12 * 60:
        raise InvalidInput("班次最长 12 小时", fields={"end": "与开始时间相差不超过 12 小时"})
    clean["start_minute"], clean["end_minute"] = start, end
    b_start, b_end = data.get("break_start"), data.get("break_end")
    if b_start in (None, "") and b_end in (None, ""):
        clean["break_start_minute"] = clean["break_end_minute"] = None
    else:
        if b_start in (None, "") or b_end in (None, ""):
            missing = "break_start" if b_start in (None, "") else "break_end"
            raise InvalidInput(
                "休息时段要么都填，要么都不填", fields={missing: "与另一个时间一起填写或都留空"}
            )
        bs, be = _minute(b_start, "break_start"), _minute(b_end, "break_end")
        if not start <= bs < be <= end:
            raise InvalidInput(
                "休息时段应在班次之内", fields={"break_end": "应在班次的开始与结束之间，且晚于休息开始"}
            )
        clean["break_start_minute"], clean["break_end_minute"] = bs, be
    team_id = data.get("team_id")
    if team_id is not None and (
        isinstance(team_id, bool)
        or not isinstance(team_id, int)
        or not Team.objects.filter(pk=team_id).exists()
    ):
        raise InvalidInput("团队不存在", fields={"team_id": "应为团队 id 或留空（所有团队）"})
    clean["team_id"] = team_id
    return clean


def do_create_shift(*, actor: User, data: dict[str, Any]) -> ShiftType:
    check_planner(actor)
    clean = check_shift_fields(data)
    if clean["team_id"] is None:
        check_editor(actor)  # a shift for every team is the supervisors'
    else:
        access_planned_team(actor, clean["team_id"])
    shift = ShiftType.objects.create(**clean)
    audit("staffing.shift_created", actor=actor, target=shift, detail={"name": shift.name})
    return shift


def access_shift(shift_id: int) -> ShiftType:
    try:
        return ShiftType.objects.get(pk=shift_id)
    except ShiftType.DoesNotExist as exc:
        raise NotFound(f"班次 {shift_id} 不存在") from exc


def do_delete_shift(*, actor: User, shift_id: int) -> None:
    check_planner(actor)
    with transaction.atomic():
        shift = access_shift(shift_id)
        if shift.team_id is None:
            check_editor(actor)
        else:
            access_planned_team(actor, shift.team_id)
        audit("staffing.shift_deleted", actor=actor, target=shift, detail={"name": shift.name})
        shift.delete()


def shifts_for(team: Team | None) -> QuerySet[ShiftType]:
    rows = ShiftType.objects.all()
    return rows.filter(Q(team=None) | Q(team=team)) if team is not None else rows


# --- availability -------------------------------------------------------------------------------


def availability_of(users: list[User]) -> dict[int, Availability]:
    found = {a.user_id: a for a in Availability.objects.filter(user__in=users)}
    return {u.pk: found.get(u.pk) or Availability(user=u, weekdays=list(range(7))) for u in users}


def rostered_members(team: Team) -> list[User]:
    return list(team.members.filter(is_active=True, role__in=ROSTERED_ROLES).order_by("id"))


def do_set_availability(*, actor: User, user_id: int, data: dict[str, Any]) -> Availability:
    check_planner(actor)
    unknown = [k for k in data if k not in ("weekdays", "max_hours_per_week")]
    if unknown:
        raise InvalidInput("未知字段", fields={k: "未知字段" for k in unknown})
    try:
        user = User.objects.get(pk=user_id)
    except User.DoesNotExist as exc:
        raise NotFound(f"用户 {user_id} 不存在") from exc
    if not actor.sees_all and not set(team_ids_of(user)) & set(team_ids_of(actor)):
        raise PermissionDenied("只能设置本团队成员的可排班时间")
    with transaction.atomic():
        row, _ = Availability.objects.select_for_update().get_or_create(
            user=user, defaults={"weekdays": list(range(7))}
        )
        if "weekdays" in data:
            days = data["weekdays"]
            if not isinstance(days, list) or any(isinstance(d, bool) or d not in range(7) for d in days):
                raise InvalidInput("星期有误", fields={"weekdays": "应为 0（周一）到 6（周日）的列表"})
            row.weekdays = sorted(set(days))
        if "max_hours_per_week" in data:
            row.max_hours_per_week = _number(data, "max_hours_per_week", 0, 84, "每周最多工时", integer=True)
        row.save()
        audit("staffing.availability_changed", actor=actor, target=user, detail={"fields": sorted(data)})
    return row


# --- forecast and requirement -------------------------------------------------------------------


@dataclass
class DayPlan:
    """One day of the forecast and what it needs, per half hour."""

    forecast: DayForecast
    open_slots: list[bool]
    needs: list[Need] = field(default_factory=list)

    @property
    def day(self) -> date:
        return self.forecast.day


@dataclass
class Requirement:
    team: Team
    start: date
    days: list[DayPlan]
    aht: float
    aht_source: str  # "metrics" | "override" | "default"
    settings: PlanSettings
    history: tuple[date, date]
    weekly_change: float = 0.0

    def scheduled(self) -> dict[date, list[int]]:
        return {d.day: [n.scheduled for n in d.needs] for d in self.days}


def _check_window(start: Any, days: Any) -> tuple[date, int]:
    start = _check_date(start, "start")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise InvalidInput("天数有误", fields={"days": f"应为 1 到 {MAX_DAYS} 之间的整数"})
    return start, days


def _local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def open_slots(calendar: BusinessCalendar, day: date) -> list[bool]:
    """Which half hours of ``day`` the team is open in (any part of the half hour)."""
    slots = [False] * SLOTS
    for start, end in calendar.hours_on(day):
        for s in range(start // SLOT_MINUTES, -(-end // SLOT_MINUTES)):
            slots[s] = True
    return slots


def _history(team: Team, start: date, weeks: int) -> tuple[list[tuple[datetime, int]], list[date]]:
    """Arrivals per half hour (local time) over the ``weeks`` before ``start`` (and before today)."""
    end = min(start, timezone.localdate())
    begin = end - timedelta(weeks=weeks)
    scope = metrics.Scope(start=_local_midnight(begin), end=_local_midnight(end), team_id=team.pk)
    # Minute buckets summed into half hours here: metrics.arrivals groups its half hours by
    # EXTRACT(MINUTE) / 30, which PostgreSQL keeps as a fraction, so that two chats of one half
    # hour at different minutes land in separate groups and all but one are lost there (exact on
    # SQLite). Whole minutes group exactly on both; this stays right once that is fixed.
    halves: dict[datetime, int] = defaultdict(int)
    tz = timezone.get_current_timezone()
    for at, count in metrics.arrivals(scope, bucket_minutes=1):
        if count:
            local = at.astimezone(tz)
            halves[local.replace(minute=local.minute - local.minute % 30)] += int(count)
    return sorted(halves.items()), days_between(begin, end)


def measured_aht(team: Team, before: date) -> float | None:
    """The AHT of the team over the ``AHT_WEEKS`` weeks before ``before`` (and before today)."""
    end = min(before, timezone.localdate())
    scope = metrics.Scope(
        start=_local_midnight(end - timedelta(weeks=AHT_WEEKS)), end=_local_midnight(end), team_id=team.pk
    )
    figure = metrics.compute(scope, [AHT_METRIC]).get(AHT_METRIC)
    if figure is None or figure.value is None or figure.value <= 0:
        return None
    return float(figure.value)


def forecast(*, actor: User, team_id: Any, start: Any, days: Any = 7) -> Requirement:
    """Contacts per half hour for ``days`` from ``start`` (no staffing yet)."""
    team = access_planned_team(actor, team_id)
    start, days = _check_window(start, days)
    return _forecast(team, start, days)


def _forecast(team: Team, start: date, days: int) -> Requirement:
    plan = settings_for(team)
    history, covered = _history(team, start, plan.history_weeks)
    targets = days_between(start, start + timedelta(days=days))
    # Promotion days and the calendar's holidays and make-up days would bend the normal week.
    exclude = set(_promotion_days(team, covered[0], covered[-1])) if covered else set()
    exclude |= {d for d in load_days() if covered and covered[0] <= d <= covered[-1]}
    multipliers = _promotion_days(team, targets[0], targets[-1])
    try:
        predicted = forecast_days(history, covered, targets, exclude=exclude, multipliers=multipliers)
    except ForecastError as exc:
        raise InvalidInput(exc.message, fields={exc.field: exc.message}) from exc
    calendar = calendar_for(team)
    profile = weekday_profile(history, covered, exclude=exclude)
    change = fit_trend(history, profile, covered, exclude=exclude).weekly_change
    return Requirement(
        team=team,
        start=start,
        days=[DayPlan(forecast=f, open_slots=open_slots(calendar, f.day)) for f in predicted],
        aht=0.0,
        aht_source="",
        settings=plan,
        history=(covered[0], covered[-1]) if covered else (start, start),
        weekly_change=change,
    )


def requirement(*, actor: User, team_id: Any, start: Any, days: Any = 7) -> Requirement:
    """The forecast and the agents each half hour needs (Erlang C, concurrency, shrinkage)."""
    team = access_planned_team(actor, team_id)
    start, days = _check_window(start, days)
    return _requirement(team, start, days)


def _requirement(team: Team, start: date, days: int) -> Requirement:
    req = _forecast(team, start, days)
    plan = req.settings
    if plan.aht_seconds:
        req.aht, req.aht_source = float(plan.aht_seconds), "override"
    else:
        measured = measured_aht(team, start)
        req.aht, req.aht_source = (
            (measured, "metrics") if measured else (float(DEFAULT_AHT_SECONDS), "default")
        )
    target = Target(level=plan.service_level, answer_seconds=plan.answer_seconds)
    try:
        for d in req.days:
            contacts = [
                c if is_open else 0.0 for c, is_open in zip(d.forecast.slots, d.open_slots, strict=True)
            ]
            d.needs = staff_day(
                contacts,
                aht=req.aht,
                interval_seconds=SLOT_MINUTES * 60,
                target=target,
                concurrency=plan.concurrency,
                shrinkage=plan.shrinkage,
            )
    except ErlangError as exc:
        raise InvalidInput(exc.message, fields={exc.field: exc.message}) from exc
    return req


# --- rosters ------------------------------------------------------------------------------------


def week_monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def access_roster(actor: User, roster_id: int) -> Roster:
    check_planner(actor)
    try:
        roster = Roster.objects.select_related("team").get(pk=roster_id)
    except Roster.DoesNotExist as exc:
        raise NotFound(f"排班表 {roster_id} 不存在") from exc
    if not actor.sees_all and roster.team_id not in team_ids_of(actor):
        raise PermissionDenied("只能查看自己带领的团队的排班")
    return roster


def _shift_spec(s: ShiftType) -> ShiftSpec:
    return ShiftSpec(s.pk, s.name, s.start_minute, s.end_minute, s.break_start_minute, s.break_end_minute)


def do_build_roster(*, actor: User, team_id: Any, week_start: Any) -> Roster:
    """Build (or rebuild, as a draft) the team's roster for the week of ``week_start``."""
    team = access_planned_team(actor, team_id)
    monday = week_monday(_check_date(week_start, "week_start"))
    shifts = [_shift_spec(s) for s in shifts_for(team)]
    if not shifts:
        raise InvalidInput("还没有班次，请先添加班次", fields={"team_id": "该团队没有可用的班次"})
    req = _requirement(team, monday, 7)
    members = rostered_members(team)
    avail = availability_of(members)
    agents = [
        AgentSpec(
            id=u.pk,
            name=u.name,
            max_minutes=avail[u.pk].max_hours_per_week * 60,
            weekdays=frozenset(avail[u.pk].weekdays),
        )
        for u in members
    ]
    with transaction.atomic():
        roster, _ = Roster.objects.select_for_update().get_or_create(
            team=team, week_start=monday, defaults={"created_by": actor}
        )
        # A lead's own changes stay: the builder covers what they leave short around them.
        kept = list(roster.entries.filter(by_hand=True))
        fixed = [
            Assignment(
                agent_id=e.user_id,
                day=e.date,
                shift=ShiftSpec(
                    0, e.shift_name, e.start_minute, e.end_minute, e.break_start_minute, e.break_end_minute
                ),
            )
            for e in kept
        ]
        plan = build(req.scheduled(), shifts, agents, fixed=fixed)
        roster.status = Roster.Status.DRAFT
        roster.published_at = None
        roster.published_by = None
        roster.requirement = {d.isoformat(): row for d, row in req.scheduled().items()}
        roster.parameters = {
            "aht": round(req.aht, 1),
            "aht_source": req.aht_source,
            "service_level": req.settings.service_level,
            "answer_seconds": req.settings.answer_seconds,
            "concurrency": req.settings.concurrency,
            "shrinkage": req.settings.shrinkage,
            "contacts": round(sum(d.forecast.total for d in req.days), 1),
        }
        roster.save()
        roster.entries.filter(by_hand=False).delete()
        hand = {(e.user_id, e.date) for e in kept}
        RosterEntry.objects.bulk_create(
            RosterEntry(
                roster=roster,
                user_id=a.agent_id,
                date=a.day,
                shift_name=a.shift.name,
                start_minute=a.shift.start,
                end_minute=a.shift.end,
                break_start_minute=a.shift.break_start,
                break_end_minute=a.shift.break_end,
            )
            for a in plan.assignments
            if (a.agent_id, a.day) not in hand
        )
        audit(
            "staffing.roster_built",
            actor=actor,
            target=roster,
            detail={"team": team.pk, "week": monday.isoformat(), "entries": len(plan.assignments)},
        )
    return roster


def do_publish_roster(*, actor: User, roster_id: int) -> Roster:
    with transaction.atomic():
        roster = access_roster(actor, roster_id)
        roster = Roster.objects.select_for_update().get(pk=roster.pk)
        if roster.status == Roster.Status.PUBLISHED:
            raise Conflict("排班表已发布", fields={"roster_id": "已经发布过了"})
        roster.status = Roster.Status.PUBLISHED
        roster.published_at = timezone.now()
        roster.published_by = actor
        roster.save(update_fields=["status", "published_at", "published_by", "updated_at"])
        audit(
            "staffing.roster_published",
            actor=actor,
            target=roster,
            detail={"week": roster.week_start.isoformat()},
        )
    return roster


# --- a lead's hand edits: add, move, remove one agent's shift on one day ------------------------

WEEKDAY_NAMES = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")


def _locked_roster(actor: User, roster_id: int) -> Roster:
    """The roster, locked: edits of one roster run one at a time (hours add up per agent)."""
    roster = access_roster(actor, roster_id)
    return Roster.objects.select_for_update().select_related("team").get(pk=roster.pk)


def _check_placement(
    roster: Roster, *, user_id: Any, day: Any, shift_id: Any, moving: RosterEntry | None = None
) -> tuple[User, date, ShiftType]:
    """Who, which day, which shift — each checked against the roster's team and the agent's
    availability (weekdays, maximum hours a week) and the one-shift-a-day rule; ``moving``
    is the entry being changed, whose own hours and day do not count against it."""
    if isinstance(user_id, bool) or not isinstance(user_id, int):
        raise InvalidInput("客服有误", fields={"user_id": "应为客服 id"})
    if isinstance(shift_id, bool) or not isinstance(shift_id, int):
        raise InvalidInput("班次有误", fields={"shift_id": "应为班次 id"})
    when = _check_date(day, "date")
    if not roster.week_start <= when < roster.week_start + timedelta(days=7):
        raise InvalidInput(
            "日期不在这一周",
            fields={"date": f"应在 {roster.week_start} 至 {roster.week_start + timedelta(days=6)} 之间"},
        )
    user = next((u for u in rostered_members(roster.team) if u.pk == user_id), None)
    if user is None:
        raise InvalidInput("该客服不在这个团队的排班名单中", fields={"user_id": "不是该团队可排班的客服"})
    shift = shifts_for(roster.team).filter(pk=shift_id).first()
    if shift is None or shift.end_minute <= shift.start_minute:
        raise InvalidInput("班次不存在", fields={"shift_id": "不是该团队可用的班次"})
    avail = availability_of([user])[user.pk]
    if when.weekday() not in avail.weekdays:
        raise InvalidInput(
            f"{user.name}{WEEKDAY_NAMES[when.weekday()]}不可排班",
            fields={"date": f"{user.name}的可排班时间不含{WEEKDAY_NAMES[when.weekday()]}"},
        )
    others = roster.entries.filter(user=user)
    if moving is not None:
        others = others.exclude(pk=moving.pk)
    if others.filter(date=when).exists():
        raise Conflict(f"{user.name}当天已有班次", fields={"date": "每人每天只排一个班次"})
    worked = sum(e.end_minute - e.start_minute for e in others)
    total = worked + shift.end_minute - shift.start_minute
    if total > avail.max_hours_per_week * 60:
        raise InvalidInput(
            f"超出{user.name}每周最多 {avail.max_hours_per_week} 小时",
            fields={
                "shift_id": f"本周将排 {total / 60:g} 小时，超过每周最多 {avail.max_hours_per_week} 小时"
            },
        )
    return user, when, shift


def _place(entry: RosterEntry, user: User, when: date, shift: ShiftType) -> None:
    entry.user = user
    entry.date = when
    entry.shift_name = shift.name
    entry.start_minute = shift.start_minute
    entry.end_minute = shift.end_minute
    entry.break_start_minute = shift.break_start_minute
    entry.break_end_minute = shift.break_end_minute
    entry.by_hand = True


def _entry_detail(e: RosterEntry) -> dict[str, Any]:
    return {"user_id": e.user_id, "date": e.date.isoformat(), "shift": e.shift_name}


def do_add_roster_entry(*, actor: User, roster_id: int, user_id: Any, day: Any, shift_id: Any) -> RosterEntry:
    """A lead puts an agent on a shift on one day of the roster (a draft or a published one:
    a published roster stays published, and the agent's 我的排班 shows the change at once)."""
    with transaction.atomic():
        roster = _locked_roster(actor, roster_id)
        user, when, shift = _check_placement(roster, user_id=user_id, day=day, shift_id=shift_id)
        entry = RosterEntry(roster=roster)
        _place(entry, user, when, shift)
        entry.save()
        audit("staffing.roster_edited", actor=actor, target=roster, detail={"added": _entry_detail(entry)})
    return entry


def _locked_entry(roster: Roster, entry_id: int) -> RosterEntry:
    entry = roster.entries.select_for_update().filter(pk=entry_id).first()
    if entry is None:
        raise NotFound(f"排班表 {roster.pk} 中没有班次 {entry_id}")
    return entry


def do_move_roster_entry(
    *, actor: User, roster_id: int, entry_id: int, user_id: Any = None, day: Any = None, shift_id: Any = None
) -> RosterEntry:
    """Move a shift to another day, another shift type or another agent (what is not given
    stays); checked as if it were added anew."""
    with transaction.atomic():
        roster = _locked_roster(actor, roster_id)
        entry = _locked_entry(roster, entry_id)
        before = _entry_detail(entry)
        shift_id = shift_id if shift_id is not None else _shift_id_of(roster, entry)
        user, when, shift = _check_placement(
            roster,
            user_id=user_id if user_id is not None else entry.user_id,
            day=day if day is not None else entry.date.isoformat(),
            shift_id=shift_id,
            moving=entry,
        )
        _place(entry, user, when, shift)
        entry.save()
        audit(
            "staffing.roster_edited",
            actor=actor,
            target=roster,
            detail={"moved": before, "to": _entry_detail(entry)},
        )
    return entry


def _shift_id_of(roster: Roster, entry: RosterEntry) -> int:
    """The shift type an entry was made from (its times are copied), for a move that keeps it."""
    match = (
        shifts_for(roster.team)
        .filter(start_minute=entry.start_minute, end_minute=entry.end_minute, name=entry.shift_name)
        .values_list("pk", flat=True)
        .first()
    )
    if match is None:
        raise InvalidInput("原班次类型已不存在，请选择班次", fields={"shift_id": "请选择班次"})
    return match


def do_remove_roster_entry(*, actor: User, roster_id: int, entry_id: int) -> None:
    """Take an agent off a shift; the gap per half hour shows what that leaves short."""
    with transaction.atomic():
        roster = _locked_roster(actor, roster_id)
        entry = _locked_entry(roster, entry_id)
        audit("staffing.roster_edited", actor=actor, target=roster, detail={"removed": _entry_detail(entry)})
        entry.delete()


@dataclass
class RosterView:
    roster: Roster
    entries: list[RosterEntry]
    days: list[date]
    requirement: dict[date, list[int]]
    coverage: dict[date, list[int]]
    gap: dict[date, list[int]]
    hours: dict[int, float]


def roster_view(roster: Roster) -> RosterView:
    entries = list(roster.entries.select_related("user").order_by("date", "start_minute", "user_id"))
    days = days_between(roster.week_start, roster.week_start + timedelta(days=7))
    req = {d: list(roster.requirement.get(d.isoformat(), [0] * SLOTS)) for d in days}
    cov = {d: [0] * SLOTS for d in days}
    hours: dict[int, float] = defaultdict(float)
    for e in entries:
        hours[e.user_id] += (e.end_minute - e.start_minute) / 60
        if e.date in cov:
            for s in range(e.start_minute // SLOT_MINUTES, -(-e.end_minute // SLOT_MINUTES)):
                cov[e.date][s] += 1
    gap = {d: [req[d][s] - cov[d][s] for s in range(SLOTS)] for d in days}
    return RosterView(roster, entries, days, req, cov, gap, dict(hours))


def my_shifts(*, actor: User, days_back: int = 7, days_ahead: int = 28) -> list[RosterEntry]:
    """The published shifts of ``actor`` from a week ago to four weeks ahead."""
    check_desk_user(actor)
    today = timezone.localdate()
    return list(
        RosterEntry.objects.filter(
            user=actor,
            roster__status=Roster.Status.PUBLISHED,
            date__gte=today - timedelta(days=days_back),
            date__lte=today + timedelta(days=days_ahead),
        )
        .select_related("roster__team")
        .order_by("date", "start_minute")
    )


# --- breaks against the roster ------------------------------------------------------------------


@dataclass
class BreakTaken:
    user: User
    day: date
    start: datetime
    end: datetime | None  # None: still on break
    reason: str
    entry: RosterEntry | None
    outside: bool  # outside the planned break window (or not on a shift that day)


def breaks_against_roster(*, actor: User, roster_id: int, now: datetime | None = None) -> list[BreakTaken]:
    """Every break (status 休息) the roster's agents took that week, marked when outside the planned window."""
    roster = access_roster(actor, roster_id)
    now = now or timezone.now()
    begin = _local_midnight(roster.week_start)
    end = min(_local_midnight(roster.week_start + timedelta(days=7)), now)
    entries = {(e.user_id, e.date): e for e in roster.entries.select_related("user")}
    user_ids = {uid for uid, _ in entries}
    users = {u.pk: u for u in User.objects.filter(pk__in=user_ids)}
    changes = StatusChange.objects.filter(user_id__in=user_ids, at__gte=begin, at__lt=end).order_by(
        "user_id", "at", "id"
    )
    out: list[BreakTaken] = []
    open_break: dict[int, tuple[datetime, str]] = {}
    for c in changes:
        if c.user_id in open_break and c.to_status != AgentStatus.BREAK:
            started, reason = open_break.pop(c.user_id)
            out.append(_judge_break(users[c.user_id], started, c.at, reason, entries))
        if c.to_status == AgentStatus.BREAK and c.user_id not in open_break:
            open_break[c.user_id] = (c.at, c.reason)
    for uid, (started, reason) in open_break.items():
        out.append(_judge_break(users[uid], started, None, reason, entries))
    out.sort(key=lambda b: (b.start, b.user.pk))
    return out


def _judge_break(
    user: User,
    start: datetime,
    end: datetime | None,
    reason: str,
    entries: dict[tuple[int, date], RosterEntry],
) -> BreakTaken:
    local = timezone.localtime(start)
    day = local.date()
    entry = entries.get((user.pk, day))
    outside = True
    if entry is not None and entry.break_start_minute is not None and entry.break_end_minute is not None:
        window_start = _local_midnight(day) + timedelta(minutes=entry.break_start_minute)
        window_end = _local_midnight(day) + timedelta(minutes=entry.break_end_minute)
        outside = start < window_start or (end or timezone.now()) > window_end
    return BreakTaken(user=user, day=day, start=start, end=end, reason=reason, entry=entry, outside=outside)
