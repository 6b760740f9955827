"""Shapes of shift planning for the API and the pages: plain dicts, times as HH:MM."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from .forecast import DayForecast
from .rostering import SLOT_MINUTES, SLOTS

if TYPE_CHECKING:
    from .models import Availability, PlanSettings, Promotion, RosterEntry, ShiftType
    from .services import BreakTaken, Requirement, RosterView

WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
AHT_SOURCES = {"metrics": "近 4 周实测", "override": "手工设置", "default": "默认值（无实测数据）"}


def hhmm(minute: int | None) -> str | None:
    if minute is None:
        return None
    return f"{minute // 60:02d}:{minute % 60:02d}"


def slot_label(slot: int) -> str:
    return f"{hhmm(slot * SLOT_MINUTES)}"


def day_label(day: date) -> str:
    return f"{day.month}月{day.day}日 {WEEKDAYS[day.weekday()]}"


def settings_out(s: PlanSettings) -> dict[str, Any]:
    return {
        "team_id": s.team_id,
        "service_level": s.service_level,
        "answer_seconds": s.answer_seconds,
        "concurrency": s.concurrency,
        "shrinkage": s.shrinkage,
        "aht_seconds": s.aht_seconds,
        "history_weeks": s.history_weeks,
    }


def promotion_out(p: Promotion) -> dict[str, Any]:
    return {
        "id": p.pk,
        "name": p.name,
        "start_date": p.start_date.isoformat(),
        "end_date": p.end_date.isoformat(),
        "multiplier": p.multiplier,
        "team_id": p.team_id,
    }


def shift_out(s: ShiftType) -> dict[str, Any]:
    return {
        "id": s.pk,
        "name": s.name,
        "start": hhmm(s.start_minute),
        "end": hhmm(s.end_minute),
        "break_start": hhmm(s.break_start_minute),
        "break_end": hhmm(s.break_end_minute),
        "team_id": s.team_id,
        "hours": (s.end_minute - s.start_minute) / 60,
    }


def availability_out(user_id: int, name: str, a: Availability) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "name": name,
        "weekdays": list(a.weekdays),
        "max_hours_per_week": a.max_hours_per_week,
    }


def forecast_day_out(f: DayForecast, open_slots: list[bool]) -> dict[str, Any]:
    return {
        "date": f.day.isoformat(),
        "total": round(f.total, 1),
        "trend_index": round(f.base_index, 3),
        "multiplier": f.multiplier,
        "special": f.special or None,
        "notes": f.notes,
        "slots": [
            {"start": slot_label(i), "contacts": round(c, 2), "open": is_open}
            for i, (c, is_open) in enumerate(zip(f.slots, open_slots, strict=True))
        ],
    }


def forecast_out(req: Requirement) -> dict[str, Any]:
    return {
        "team_id": req.team.pk,
        "start": req.start.isoformat(),
        "history": {"start": req.history[0].isoformat(), "end": req.history[1].isoformat()},
        "weekly_change": round(req.weekly_change, 4),
        "days": [forecast_day_out(d.forecast, d.open_slots) for d in req.days],
    }


def requirement_out(req: Requirement) -> dict[str, Any]:
    s = req.settings
    days = []
    for d in req.days:
        out = forecast_day_out(d.forecast, d.open_slots)
        for slot, need in zip(out["slots"], d.needs, strict=True):
            slot.update(need.as_dict())
        out["agent_hours"] = sum(n.scheduled for n in d.needs) * SLOT_MINUTES / 60
        days.append(out)
    return {
        "team_id": req.team.pk,
        "start": req.start.isoformat(),
        "aht_seconds": round(req.aht, 1),
        "aht_source": req.aht_source,
        "service_level": s.service_level,
        "answer_seconds": s.answer_seconds,
        "concurrency": s.concurrency,
        "shrinkage": s.shrinkage,
        "weekly_change": round(req.weekly_change, 4),
        "days": days,
    }


def entry_out(e: RosterEntry) -> dict[str, Any]:
    return {
        "id": e.pk,
        "user_id": e.user_id,
        "name": e.user.name,
        "date": e.date.isoformat(),
        "shift": e.shift_name,
        "start": hhmm(e.start_minute),
        "end": hhmm(e.end_minute),
        "break_start": hhmm(e.break_start_minute),
        "break_end": hhmm(e.break_end_minute),
        "by_hand": e.by_hand,
    }


def roster_out(view: RosterView) -> dict[str, Any]:
    r = view.roster
    return {
        "id": r.pk,
        "team_id": r.team_id,
        "week_start": r.week_start.isoformat(),
        "status": r.status,
        "published_at": r.published_at.isoformat() if r.published_at else None,
        "parameters": r.parameters,
        "entries": [entry_out(e) for e in view.entries],
        "hours": {str(k): v for k, v in sorted(view.hours.items())},
        "days": [
            {
                "date": d.isoformat(),
                "required": view.requirement[d],
                "covered": view.coverage[d],
                "gap": view.gap[d],
                "short_slots": sum(1 for g in view.gap[d] if g > 0),
            }
            for d in view.days
        ],
        "slots": [slot_label(i) for i in range(SLOTS)],
    }


def break_out(b: BreakTaken) -> dict[str, Any]:
    e = b.entry
    return {
        "user_id": b.user.pk,
        "name": b.user.name,
        "date": b.day.isoformat(),
        "start": timezone.localtime(b.start).isoformat(),
        "end": timezone.localtime(b.end).isoformat() if b.end else None,
        "reason": b.reason,
        "shift": e.shift_name if e else None,
        "window": [hhmm(e.break_start_minute), hhmm(e.break_end_minute)]
        if e and e.break_start_minute is not None
        else None,
        "outside_window": b.outside,
    }
