"""REST: business hours and the holiday calendar — every desk user reads, supervisors and admins edit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone
from ninja import Router, Status
from pydantic import StrictBool, StrictInt, StrictStr

from kefu.accounts.access import AuthedRequest, check_desk_user
from kefu.core.apiutil import StrictIn
from kefu.core.errors import InvalidInput

from . import services
from .calendar import calendar_for
from .models import CalendarDay, Schedule
from .presenters import day_out, schedule_out, state_out

router = Router(tags=["hours"])


class IntervalIn(StrictIn):
    weekday: StrictInt
    start: StrictStr
    end: StrictStr


class ScheduleIn(StrictIn):
    name: StrictStr
    team_id: StrictInt | None = None
    channel_id: StrictInt | None = None
    week: list[IntervalIn]
    observe_holidays: StrictBool = True


class SchedulePatch(StrictIn):
    name: StrictStr | None = None
    team_id: StrictInt | None = None
    channel_id: StrictInt | None = None
    week: list[IntervalIn] | None = None
    observe_holidays: StrictBool | None = None


class DayIn(StrictIn):
    date: StrictStr
    kind: StrictStr
    name: StrictStr
    start: StrictStr | None = None
    end: StrictStr | None = None


class DayPatch(StrictIn):
    date: StrictStr | None = None
    kind: StrictStr | None = None
    name: StrictStr | None = None
    start: StrictStr | None = None
    end: StrictStr | None = None


def _schedule_data(payload: StrictIn, *, partial: bool) -> dict[str, Any]:
    data = payload.model_dump(exclude_unset=partial)
    if partial:
        # null clears the team or the channel (a wider scope); elsewhere it means "unchanged".
        data = {k: v for k, v in data.items() if v is not None or k in ("team_id", "channel_id")}
    return data


@router.get("/hours/schedules")
def list_schedules(request: AuthedRequest) -> list[dict[str, Any]]:
    check_desk_user(request.auth)
    return [schedule_out(s) for s in Schedule.objects.select_related("team", "channel").order_by("id")]


@router.post("/hours/schedules", response={201: dict[str, Any]})
def create_schedule(request: AuthedRequest, payload: ScheduleIn) -> Status[dict[str, Any]]:
    schedule = services.do_create_schedule(actor=request.auth, data=_schedule_data(payload, partial=False))
    return Status(201, schedule_out(schedule))


@router.get("/hours/schedules/{schedule_id}")
def get_schedule(request: AuthedRequest, schedule_id: int) -> dict[str, Any]:
    check_desk_user(request.auth)
    return schedule_out(services.access_schedule(schedule_id))


@router.patch("/hours/schedules/{schedule_id}")
def update_schedule(request: AuthedRequest, schedule_id: int, payload: SchedulePatch) -> dict[str, Any]:
    data = _schedule_data(payload, partial=True)
    return schedule_out(services.do_update_schedule(actor=request.auth, schedule_id=schedule_id, data=data))


@router.delete("/hours/schedules/{schedule_id}", response={204: None})
def delete_schedule(request: AuthedRequest, schedule_id: int) -> Status[None]:
    services.do_delete_schedule(actor=request.auth, schedule_id=schedule_id)
    return Status(204, None)


@router.get("/hours/days")
def list_days(request: AuthedRequest, year: int | None = None) -> list[dict[str, Any]]:
    check_desk_user(request.auth)
    days = CalendarDay.objects.order_by("date")
    if year is not None:
        if not 1900 <= year <= 2999:
            raise InvalidInput("年份有误", fields={"year": "1900 到 2999 之间的年份"})
        days = days.filter(date__year=year)
    return [day_out(d) for d in days]


@router.post("/hours/days", response={201: dict[str, Any]})
def create_day(request: AuthedRequest, payload: DayIn) -> Status[dict[str, Any]]:
    return Status(201, day_out(services.do_create_day(actor=request.auth, data=payload.model_dump())))


@router.get("/hours/days/{day_id}")
def get_day(request: AuthedRequest, day_id: int) -> dict[str, Any]:
    check_desk_user(request.auth)
    return day_out(services.access_day(day_id))


@router.patch("/hours/days/{day_id}")
def update_day(request: AuthedRequest, day_id: int, payload: DayPatch) -> dict[str, Any]:
    data = payload.model_dump(exclude_unset=True)
    # null clears the day's own hours; for the other fields it means "unchanged".
    data = {k: v for k, v in data.items() if v is not None or k in ("start", "end")}
    return day_out(services.do_update_day(actor=request.auth, day_id=day_id, data=data))


@router.delete("/hours/days/{day_id}", response={204: None})
def delete_day(request: AuthedRequest, day_id: int) -> Status[None]:
    services.do_delete_day(actor=request.auth, day_id=day_id)
    return Status(204, None)


@router.get("/hours/status")
def hours_status(
    request: AuthedRequest,
    team_id: int | None = None,
    channel_id: int | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """Is the team (on the channel) open at ``at`` (default now), and when it opens or closes."""
    check_desk_user(request.auth)
    moment = at or timezone.now()
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    if not 2000 <= moment.year <= 2100:
        raise InvalidInput("时间有误", fields={"at": "应在 2000 到 2100 年之间"})
    cal = calendar_for(team_id, channel_id)
    open_now = cal.is_open(moment)
    rule = cal.day_rule(timezone.localtime(moment).date())
    return state_out(
        open_now=open_now,
        at=moment,
        next_opening=cal.next_opening(moment),
        closes_at=cal.closes_at(moment) if open_now else None,
        description=cal.description,
        schedule=cal.schedule,
        day_name=rule.name if rule is not None else None,
    )
