"""The page /desk/settings/hours/: weekly hours per scope and the holiday calendar (supervisors and admins)."""

from __future__ import annotations

import re
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from kefu.accounts.access import AuthedRequest
from kefu.accounts.models import Team
from kefu.channels.models import Channel
from kefu.core.errors import InvalidInput, KefuError
from kefu.core.params import whole, whole_param

from . import services
from .calendar import calendar_for, default_week
from .holidays_cn import YEARS
from .models import CalendarDay, Schedule
from .presenters import day_out, schedule_out
from .week import WEEKDAY_LABELS, describe_week

_SPLIT = re.compile(r"[,，、;；\s]+")
_RANGE = re.compile(r"(\S+?)\s*[-–—~～至到]\s*(\S+)")


def _week_from_form(post: Any) -> list[dict[str, Any]]:
    """Seven text boxes「09:00-12:00, 13:30-18:00」(blank = closed) → the service's week list."""
    week = []
    for day in range(7):
        text = (post.get(f"day{day}") or "").strip()
        for part in filter(None, _SPLIT.split(text.replace(" - ", "-"))):
            m = _RANGE.fullmatch(part)
            if m is None:
                raise InvalidInput(
                    f"{WEEKDAY_LABELS[day]}的时段「{part}」看不懂，请写成 09:00-18:00",
                    fields={f"day{day}": "格式应为 09:00-18:00，多段用逗号分隔"},
                )
            week.append({"weekday": day, "start": m.group(1), "end": m.group(2)})
    return week


def _optional_id(value: str | None, field: str) -> int | None:
    return whole_param(value, field, message="选择有误", hint="无效的选择")


def _schedule_data(post: Any) -> dict[str, Any]:
    return {
        "name": post.get("name", ""),
        "team_id": _optional_id(post.get("team_id"), "team_id"),
        "channel_id": _optional_id(post.get("channel_id"), "channel_id"),
        "week": _week_from_form(post),
        "observe_holidays": post.get("observe_holidays") == "on",
    }


def _day_data(post: Any) -> dict[str, Any]:
    return {
        "date": post.get("date", ""),
        "kind": post.get("kind", ""),
        "name": post.get("name", ""),
        "start": post.get("start") or None,
        "end": post.get("end") or None,
    }


def _act(request: AuthedRequest) -> str:
    post, actor = request.POST, request.user
    action = post.get("action", "")
    target = _optional_id(post.get("id"), "id") or 0
    if action == "create_schedule":
        services.do_create_schedule(actor=actor, data=_schedule_data(post))
        return "营业时间已添加"
    if action == "update_schedule":
        services.do_update_schedule(actor=actor, schedule_id=target, data=_schedule_data(post))
        return "营业时间已保存"
    if action == "delete_schedule":
        services.do_delete_schedule(actor=actor, schedule_id=target)
        return "营业时间已删除"
    if action == "create_day":
        services.do_create_day(actor=actor, data=_day_data(post))
        return "日期已添加"
    if action == "update_day":
        services.do_update_day(actor=actor, day_id=target, data=_day_data(post))
        return "日期已保存"
    if action == "delete_day":
        services.do_delete_day(actor=actor, day_id=target)
        return "日期已删除"
    if action == "install_holidays":
        return f"已补充 {services.do_install_official_holidays()} 个法定节假日与调休日期"
    raise InvalidInput("未知操作", fields={"action": "无效"})


def _schedule_form(s: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Each weekday's text for the form: 「09:00-18:00」."""
    rows = []
    for day in range(7):
        parts = [f"{i['start']}-{i['end']}" for i in (s["week"] if s else []) if i["weekday"] == day]
        rows.append({"day": day, "label": WEEKDAY_LABELS[day], "text": ", ".join(parts)})
    return rows


def _year(value: str | None) -> int:
    year = whole(value, lo=2000, hi=2100)
    return timezone.localdate().year if year is None else year


@login_required
@require_http_methods(["GET", "POST"])
def hours_settings(request: AuthedRequest) -> HttpResponse:
    services.check_editor(request.user)
    error: KefuError | None = None
    if request.method == "POST":
        try:
            messages.success(request, _act(request))
            return redirect(f"{request.path}?year={_year(request.POST.get('year'))}")
        except KefuError as exc:
            if exc.status in (401, 403, 404):
                raise
            error = exc
    year = _year(request.GET.get("year"))
    schedules = [schedule_out(s) for s in Schedule.objects.select_related("team", "channel").order_by("id")]
    for s in schedules:
        s["form"] = _schedule_form(s)
    edit_day = None
    edit_day_id = whole(request.GET.get("edit_day"))
    if edit_day_id is not None:
        edit_day = day_out(services.access_day(edit_day_id))
    posted = request.POST if error else {}
    # What the day form shows: the day being edited, else what was just refused.
    day_form = {
        k: (edit_day or {}).get(k) or posted.get(k, "") for k in ("date", "kind", "name", "start", "end")
    }
    years = sorted({*YEARS, year, *(d.year for d in CalendarDay.objects.dates("date", "year"))})
    now, desk_calendar = timezone.now(), calendar_for()
    desk_open = desk_calendar.is_open(now)
    context = {
        "nav": "settings",
        "error": error,
        "posted_name": posted.get("name", "") if posted.get("action") == "create_schedule" else "",
        "day_form": day_form,
        "default_description": describe_week(default_week()),
        "desk_state_open": desk_open,
        "desk_closes_at": desk_calendar.closes_at(now) if desk_open else None,
        "desk_next_opening": None if desk_open else desk_calendar.next_opening(now),
        "schedules": schedules,
        "new_form": _schedule_form(None),
        "teams": Team.objects.order_by("id"),
        "channels": Channel.objects.order_by("id"),
        "year": year,
        "years": years,
        "days": [day_out(d) for d in CalendarDay.objects.filter(date__year=year).order_by("date")],
        "kinds": CalendarDay.Kind.choices,
        "edit_day": edit_day,
    }
    return render(request, "hours/settings.html", context, status=400 if error else 200)
