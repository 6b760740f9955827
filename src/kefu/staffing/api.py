"""REST: shift planning under /api/v1/staffing/ — team leads plan their teams, agents read their shifts."""

from __future__ import annotations

from datetime import date
from typing import Any

from ninja import Router, Status
from pydantic import StrictFloat, StrictInt, StrictStr

from kefu.accounts.access import AuthedRequest
from kefu.core.apiutil import StrictIn

from . import services
from .models import Promotion
from .presenters import (
    availability_out,
    break_out,
    entry_out,
    forecast_out,
    promotion_out,
    requirement_out,
    roster_out,
    settings_out,
    shift_out,
)

router = Router(tags=["staffing"])


class SettingsIn(StrictIn):
    team_id: StrictInt
    service_level: StrictFloat | StrictInt | None = None
    answer_seconds: StrictInt | None = None
    concurrency: StrictInt | None = None
    shrinkage: StrictFloat | StrictInt | None = None
    aht_seconds: StrictInt | None = None
    history_weeks: StrictInt | None = None


class PromotionIn(StrictIn):
    name: StrictStr
    start_date: StrictStr
    end_date: StrictStr | None = None
    multiplier: StrictFloat | StrictInt = 2.0
    team_id: StrictInt | None = None


class ShiftIn(StrictIn):
    name: StrictStr
    start: StrictStr
    end: StrictStr
    break_start: StrictStr | None = None
    break_end: StrictStr | None = None
    team_id: StrictInt | None = None


class AvailabilityIn(StrictIn):
    weekdays: list[StrictInt] | None = None
    max_hours_per_week: StrictInt | None = None


class RosterIn(StrictIn):
    team_id: StrictInt
    week_start: date


@router.get("/staffing/forecast")
def get_forecast(request: AuthedRequest, team_id: int, start: date, days: int = 7) -> dict[str, Any]:
    """Contacts per half hour for ``days`` from ``start``: weekday × half-hour profile, trend, promotions."""
    return forecast_out(services.forecast(actor=request.auth, team_id=team_id, start=start, days=days))


@router.get("/staffing/requirement")
def get_requirement(request: AuthedRequest, team_id: int, start: date, days: int = 7) -> dict[str, Any]:
    """Agents needed per half hour (Erlang C with chat concurrency, shrinkage) from the forecast."""
    return requirement_out(services.requirement(actor=request.auth, team_id=team_id, start=start, days=days))


@router.get("/staffing/settings")
def get_settings(request: AuthedRequest, team_id: int) -> dict[str, Any]:
    team = services.access_planned_team(request.auth, team_id)
    return settings_out(services.settings_for(team))


@router.put("/staffing/settings")
def put_settings(request: AuthedRequest, payload: SettingsIn) -> dict[str, Any]:
    data = {k: v for k, v in payload.model_dump(exclude_unset=True).items() if k != "team_id"}
    data = {k: v for k, v in data.items() if v is not None or k == "aht_seconds"}
    return settings_out(services.do_update_settings(actor=request.auth, team_id=payload.team_id, data=data))


@router.get("/staffing/promotions")
def list_promotions(request: AuthedRequest) -> list[dict[str, Any]]:
    services.check_planner(request.auth)
    return [promotion_out(p) for p in Promotion.objects.order_by("start_date", "id")]


@router.post("/staffing/promotions", response={201: dict[str, Any]})
def create_promotion(request: AuthedRequest, payload: PromotionIn) -> Status[dict[str, Any]]:
    promotion = services.do_create_promotion(actor=request.auth, data=payload.model_dump())
    return Status(201, promotion_out(promotion))


@router.delete("/staffing/promotions/{promotion_id}", response={204: None})
def delete_promotion(request: AuthedRequest, promotion_id: int) -> Status[None]:
    services.do_delete_promotion(actor=request.auth, promotion_id=promotion_id)
    return Status(204, None)


@router.get("/staffing/shifts")
def list_shifts(request: AuthedRequest, team_id: int | None = None) -> list[dict[str, Any]]:
    services.check_planner(request.auth)
    team = services.access_planned_team(request.auth, team_id) if team_id is not None else None
    return [shift_out(s) for s in services.shifts_for(team)]


@router.post("/staffing/shifts", response={201: dict[str, Any]})
def create_shift(request: AuthedRequest, payload: ShiftIn) -> Status[dict[str, Any]]:
    return Status(201, shift_out(services.do_create_shift(actor=request.auth, data=payload.model_dump())))


@router.delete("/staffing/shifts/{shift_id}", response={204: None})
def delete_shift(request: AuthedRequest, shift_id: int) -> Status[None]:
    services.do_delete_shift(actor=request.auth, shift_id=shift_id)
    return Status(204, None)


@router.get("/staffing/availability")
def list_availability(request: AuthedRequest, team_id: int) -> list[dict[str, Any]]:
    team = services.access_planned_team(request.auth, team_id)
    members = services.rostered_members(team)
    avail = services.availability_of(members)
    return [availability_out(u.pk, u.name, avail[u.pk]) for u in members]


@router.put("/staffing/availability/{user_id}")
def put_availability(request: AuthedRequest, user_id: int, payload: AvailabilityIn) -> dict[str, Any]:
    data = {k: v for k, v in payload.model_dump(exclude_unset=True).items() if v is not None}
    row = services.do_set_availability(actor=request.auth, user_id=user_id, data=data)
    return availability_out(row.user_id, row.user.name, row)


@router.post("/staffing/rosters", response={201: dict[str, Any]})
def build_roster(request: AuthedRequest, payload: RosterIn) -> Status[dict[str, Any]]:
    """Build (or rebuild as a draft) the team's roster for the week containing ``week_start``."""
    roster = services.do_build_roster(
        actor=request.auth, team_id=payload.team_id, week_start=payload.week_start
    )
    return Status(201, roster_out(services.roster_view(roster)))


@router.get("/staffing/rosters/{roster_id}")
def get_roster(request: AuthedRequest, roster_id: int) -> dict[str, Any]:
    """The roster, with required, covered and the gap (required − covered) per half hour."""
    return roster_out(services.roster_view(services.access_roster(request.auth, roster_id)))


@router.post("/staffing/rosters/{roster_id}/publish")
def publish_roster(request: AuthedRequest, roster_id: int) -> dict[str, Any]:
    roster = services.do_publish_roster(actor=request.auth, roster_id=roster_id)
    return roster_out(services.roster_view(roster))


class EntryIn(StrictIn):
    user_id: StrictInt
    date: StrictStr
    shift_id: StrictInt


class EntryMoveIn(StrictIn):
    user_id: StrictInt | None = None
    date: StrictStr | None = None
    shift_id: StrictInt | None = None


@router.post("/staffing/rosters/{roster_id}/entries", response={201: dict[str, Any]})
def add_roster_entry(request: AuthedRequest, roster_id: int, payload: EntryIn) -> Status[dict[str, Any]]:
    """Put an agent on a shift on one day (checked against her availability and maximum hours,
    one shift a day); answers the roster with its gap per half hour recomputed."""
    services.do_add_roster_entry(
        actor=request.auth,
        roster_id=roster_id,
        user_id=payload.user_id,
        day=payload.date,
        shift_id=payload.shift_id,
    )
    return Status(201, roster_out(services.roster_view(services.access_roster(request.auth, roster_id))))


@router.patch("/staffing/rosters/{roster_id}/entries/{entry_id}")
def move_roster_entry(
    request: AuthedRequest, roster_id: int, entry_id: int, payload: EntryMoveIn
) -> dict[str, Any]:
    """Move a shift to another day, shift type or agent (fields left out stay); the roster answers."""
    services.do_move_roster_entry(
        actor=request.auth,
        roster_id=roster_id,
        entry_id=entry_id,
        user_id=payload.user_id,
        day=payload.date,
        shift_id=payload.shift_id,
    )
    return roster_out(services.roster_view(services.access_roster(request.auth, roster_id)))


@router.delete("/staffing/rosters/{roster_id}/entries/{entry_id}")
def remove_roster_entry(request: AuthedRequest, roster_id: int, entry_id: int) -> dict[str, Any]:
    """Take an agent off a shift; the roster answers with the gap that leaves."""
    services.do_remove_roster_entry(actor=request.auth, roster_id=roster_id, entry_id=entry_id)
    return roster_out(services.roster_view(services.access_roster(request.auth, roster_id)))


@router.get("/staffing/rosters/{roster_id}/breaks")
def roster_breaks(request: AuthedRequest, roster_id: int) -> list[dict[str, Any]]:
    """Breaks the roster's agents took that week; ``outside_window`` when not in the planned window."""
    return [break_out(b) for b in services.breaks_against_roster(actor=request.auth, roster_id=roster_id)]


@router.get("/staffing/my-shifts")
def get_my_shifts(request: AuthedRequest) -> list[dict[str, Any]]:
    """The caller's published shifts, from a week ago to four weeks ahead."""
    return [entry_out(e) for e in services.my_shifts(actor=request.auth)]
