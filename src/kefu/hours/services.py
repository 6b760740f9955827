"""Business hours administration: schedules per scope and the holiday calendar (supervisors and admins).

Reads for everyone are in the ground floor, ``kefu.hours.calendar``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import IntegrityError, transaction

from kefu.accounts.access import access_team, audit, check_role
from kefu.accounts.models import Role, User
from kefu.channels.models import Channel
from kefu.core.errors import Conflict, InvalidInput, NotFound
from kefu.core.fields import check_text

from .calendar import scope_key
from .holidays_cn import official_days
from .models import CalendarDay, Schedule
from .week import WeekError, check_interval, check_week, parse_hhmm, week_rows

EDITOR_ROLE = Role.SUPERVISOR
SCHEDULE_FIELDS = ("name", "team_id", "channel_id", "week", "observe_holidays")
DAY_FIELDS = ("date", "kind", "name", "start", "end")
MAX_INTERVALS = 7 * 6


def check_editor(actor: User) -> None:
    """Supervisors, managers and admins edit hours and holidays."""
    check_role(actor, EDITOR_ROLE)


# --- schedules ----------------------------------------------------------------------------


def _check_week_input(value: Any) -> list[list[int]]:
    if not isinstance(value, list):
        raise InvalidInput("每周时段有误", fields={"week": "应为时段列表"})
    if len(value) > MAX_INTERVALS:
        raise InvalidInput("每周时段有误", fields={"week": f"最多 {MAX_INTERVALS} 个时段"})
    rows = []
    try:
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                raise WeekError(f"week.{i}", "应为 {weekday, start, end}")
            rows.append(
                (
                    item.get("weekday"),
                    parse_hhmm(item.get("start"), field=f"week.{i}.start"),
                    parse_hhmm(item.get("end"), field=f"week.{i}.end"),
                )
            )
        return week_rows(check_week(rows))
    except WeekError as exc:
        raise InvalidInput(f"每周时段有误：{exc.message}", fields={exc.field: exc.message}) from exc


def _check_channel(channel_id: Any) -> Channel:
    if isinstance(channel_id, bool) or not isinstance(channel_id, int):
        raise InvalidInput("渠道有误", fields={"channel_id": "应为渠道 id 或留空"})
    try:
        return Channel.objects.get(pk=channel_id)
    except Channel.DoesNotExist as exc:
        raise InvalidInput("渠道不存在", fields={"channel_id": f"渠道 {channel_id} 不存在"}) from exc


def _check_team_id(team_id: Any) -> int:
    if isinstance(team_id, bool) or not isinstance(team_id, int):
        raise InvalidInput("团队有误", fields={"team_id": "应为团队 id 或留空"})
    try:
        return access_team(team_id).pk
    except NotFound as exc:
        raise InvalidInput("团队不存在", fields={"team_id": f"团队 {team_id} 不存在"}) from exc


def check_schedule_fields(data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    """Clean schedule input; raises InvalidInput naming the bad field."""
    unknown = [k for k in data if k not in SCHEDULE_FIELDS]
    if unknown:
        raise InvalidInput("未知字段", fields={k: "未知字段" for k in unknown})
    clean: dict[str, Any] = {}
    if "name" in data or not partial:
        clean["name"] = check_text(data.get("name"), field="name", label="名称", max_len=64)
    if "team_id" in data:
        clean["team_id"] = None if data["team_id"] is None else _check_team_id(data["team_id"])
    if "channel_id" in data:
        clean["channel_id"] = None if data["channel_id"] is None else _check_channel(data["channel_id"]).pk
    if "week" in data or not partial:
        clean["week"] = _check_week_input(data.get("week", []))
    if "observe_holidays" in data:
        if not isinstance(data["observe_holidays"], bool):
            raise InvalidInput("节假日设置有误", fields={"observe_holidays": "必须是 true 或 false"})
        clean["observe_holidays"] = data["observe_holidays"]
    return clean


def access_schedule(schedule_id: int) -> Schedule:
    try:
        return Schedule.objects.select_related("team", "channel").get(pk=schedule_id)
    except Schedule.DoesNotExist as exc:
        raise NotFound(f"营业时间 {schedule_id} 不存在") from exc


def _save_schedule(schedule: Schedule) -> Schedule:
    schedule.scope_key = scope_key(schedule.team_id, schedule.channel_id)
    try:
        with transaction.atomic():
            schedule.save()
    except IntegrityError as exc:
        raise Conflict(
            "这个范围已经设置了营业时间，请直接修改",
            fields={
                "team_id": "该团队与渠道的组合已有营业时间",
                "channel_id": "该团队与渠道的组合已有营业时间",
            },
        ) from exc
    return access_schedule(schedule.pk)


def do_create_schedule(*, actor: User, data: dict[str, Any]) -> Schedule:
    check_editor(actor)
    schedule = _save_schedule(Schedule(**check_schedule_fields(data, partial=False)))
    audit("hours.schedule_created", actor=actor, target=schedule, detail={"scope": schedule.scope_key})
    return schedule


def do_update_schedule(*, actor: User, schedule_id: int, data: dict[str, Any]) -> Schedule:
    check_editor(actor)
    clean = check_schedule_fields(data, partial=True)
    with transaction.atomic():
        schedule = access_schedule(schedule_id)
        for key, value in clean.items():
            setattr(schedule, key, value)
        schedule = _save_schedule(schedule)
        audit("hours.schedule_updated", actor=actor, target=schedule, detail={"fields": sorted(clean)})
    return schedule


def do_delete_schedule(*, actor: User, schedule_id: int) -> None:
    check_editor(actor)
    with transaction.atomic():
        schedule = access_schedule(schedule_id)
        audit("hours.schedule_deleted", actor=actor, target=schedule, detail={"scope": schedule.scope_key})
        schedule.delete()


# --- the holiday calendar -------------------------------------------------------------------


def _check_date(value: Any) -> date:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise InvalidInput("日期有误", fields={"date": "日期格式应为 YYYY-MM-DD，且是真实存在的日期"})


def _check_day_hours(start: Any, end: Any) -> tuple[int | None, int | None]:
    if start in (None, "") and end in (None, ""):
        return None, None
    if start in (None, "") or end in (None, ""):
        missing = "start" if start in (None, "") else "end"
        raise InvalidInput(
            "开始与结束时间要么都填，要么都不填", fields={missing: "与另一个时间一起填写或都留空"}
        )
    try:
        s, e = check_interval(parse_hhmm(start, field="start"), parse_hhmm(end, field="end"), field="")
    except WeekError as exc:
        field = exc.field.strip(".") or "start"
        raise InvalidInput(f"时间有误：{exc.message}", fields={field: exc.message}) from exc
    return s, e


def check_day_fields(
    data: dict[str, Any], *, partial: bool, current: CalendarDay | None = None
) -> dict[str, Any]:
    """Clean a calendar day's input; raises InvalidInput naming the bad field."""
    unknown = [k for k in data if k not in DAY_FIELDS]
    if unknown:
        raise InvalidInput("未知字段", fields={k: "未知字段" for k in unknown})
    clean: dict[str, Any] = {}
    if "date" in data or not partial:
        clean["date"] = _check_date(data.get("date"))
    if "kind" in data or not partial:
        if data.get("kind") not in CalendarDay.Kind.values:
            raise InvalidInput("类型有误", fields={"kind": "应为 holiday（放假）或 workday（调休上班）"})
        clean["kind"] = data["kind"]
    if "name" in data or not partial:
        clean["name"] = check_text(data.get("name"), field="name", label="名称", max_len=32)
    if "start" in data or "end" in data:
        start = data.get("start", _fmt(current.start_minute) if current else None)
        end = data.get("end", _fmt(current.end_minute) if current else None)
        clean["start_minute"], clean["end_minute"] = _check_day_hours(start, end)
    return clean


def _fmt(minute: int | None) -> str | None:
    return None if minute is None else f"{minute // 60:02d}:{minute % 60:02d}"


def access_day(day_id: int) -> CalendarDay:
    try:
        return CalendarDay.objects.get(pk=day_id)
    except CalendarDay.DoesNotExist as exc:
        raise NotFound(f"日期 {day_id} 不存在") from exc


def _save_day(day: CalendarDay) -> CalendarDay:
    try:
        with transaction.atomic():
            day.save()
    except IntegrityError as exc:
        raise Conflict(
            f"{day.date.isoformat()} 已在日历中，请直接修改", fields={"date": "该日期已存在"}
        ) from exc
    return day


def do_create_day(*, actor: User, data: dict[str, Any]) -> CalendarDay:
    check_editor(actor)
    day = _save_day(CalendarDay(source=CalendarDay.Source.CUSTOM, **check_day_fields(data, partial=False)))
    audit(
        "hours.day_created", actor=actor, target=day, detail={"date": day.date.isoformat(), "kind": day.kind}
    )
    return day


def do_update_day(*, actor: User, day_id: int, data: dict[str, Any]) -> CalendarDay:
    check_editor(actor)
    with transaction.atomic():
        day = access_day(day_id)
        clean = check_day_fields(data, partial=True, current=day)
        for key, value in clean.items():
            setattr(day, key, value)
        day = _save_day(day)
        audit("hours.day_updated", actor=actor, target=day, detail={"fields": sorted(clean)})
    return day


def do_delete_day(*, actor: User, day_id: int) -> None:
    check_editor(actor)
    with transaction.atomic():
        day = access_day(day_id)
        audit("hours.day_deleted", actor=actor, target=day, detail={"date": day.date.isoformat()})
        day.delete()


def do_install_official_holidays() -> int:
    """Add the official dates missing from the calendar; returns how many.

    A date already in the calendar (an admin's edit included) is left as it is.
    """
    existing = set(CalendarDay.objects.values_list("date", flat=True))
    rows = [
        CalendarDay(date=d, kind=kind, name=name, source=CalendarDay.Source.OFFICIAL)
        for d, kind, name in official_days()
        if d not in existing
    ]
    CalendarDay.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)
