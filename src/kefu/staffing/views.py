"""The pages of shift planning (排班): the planner (leads and above), my shifts (everyone), the settings."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from kefu.accounts.access import AuthedRequest, check_desk_user
from kefu.core.errors import InvalidInput, KefuError
from kefu.core.params import whole_param

from . import services
from .models import Promotion, Roster
from .presenters import (
    WEEKDAYS,
    break_out,
    day_label,
    entry_out,
    hhmm,
    promotion_out,
    settings_out,
    shift_out,
)
from .rostering import SLOTS


def _int(value: str | None, field: str) -> int | None:
    return whole_param(value, field, message="选择有误", signed=True)


def _float(value: str | None, field: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except ValueError as exc:
        raise InvalidInput("数值有误", fields={field: "应为数字"}) from exc


def _week(value: str | None) -> date:
    try:
        day = date.fromisoformat(value) if value else timezone.localdate() + timedelta(days=7)
    except ValueError:
        day = timezone.localdate() + timedelta(days=7)
    if not 2000 <= day.year <= 2100:
        day = timezone.localdate()
    return services.week_monday(day)


def _grid(view: services.RosterView) -> list[dict[str, Any]]:
    """Half hours with anything required or covered: per day required, covered, gap."""
    rows = []
    for s in range(SLOTS):
        cells = [(view.requirement[d][s], view.coverage[d][s], view.gap[d][s]) for d in view.days]
        if any(r or c for r, c, _ in cells):
            rows.append(
                {"start": hhmm(s * 30), "cells": [{"req": r, "cov": c, "gap": g} for r, c, g in cells]}
            )
    return rows


def _requirement_grid(req: services.Requirement) -> list[dict[str, Any]]:
    rows = []
    for s in range(SLOTS):
        cells = [(d.forecast.slots[s], d.needs[s], d.open_slots[s]) for d in req.days]
        if any(n.scheduled or c >= 0.5 for c, n, _ in cells):
            rows.append(
                {
                    "start": hhmm(s * 30),
                    "cells": [
                        {"contacts": round(c), "agents": n.agents, "scheduled": n.scheduled, "open": o}
                        for c, n, o in cells
                    ],
                }
            )
    return rows


def _act(request: AuthedRequest, team_id: int | None, week: date) -> str:
    action = request.POST.get("action", "")
    if action == "build":
        roster = services.do_build_roster(actor=request.user, team_id=team_id, week_start=week)
        return f"已生成 {roster.week_start:%m月%d日} 一周的排班草稿"
    if action == "publish":
        services.do_publish_roster(
            actor=request.user, roster_id=_int(request.POST.get("roster_id"), "roster_id") or 0
        )
        return "排班已发布，客服可在「我的排班」中查看"
    roster_id = _int(request.POST.get("roster_id"), "roster_id") or 0
    if action == "add_entry":
        entry = services.do_add_roster_entry(
            actor=request.user,
            roster_id=roster_id,
            user_id=_int(request.POST.get("user_id"), "user_id"),
            day=request.POST.get("date", ""),
            shift_id=_int(request.POST.get("shift_id"), "shift_id"),
        )
        return f"已为{entry.user.name}在 {entry.date:%m月%d日} 排上{entry.shift_name}"
    if action == "move_entry":
        entry = services.do_move_roster_entry(
            actor=request.user,
            roster_id=roster_id,
            entry_id=_int(request.POST.get("entry_id"), "entry_id") or 0,
            user_id=_int(request.POST.get("user_id"), "user_id"),
            day=request.POST.get("date") or None,
            shift_id=_int(request.POST.get("shift_id"), "shift_id"),
        )
        return f"已调整为{entry.user.name} {entry.date:%m月%d日} {entry.shift_name}"
    if action == "remove_entry":
        services.do_remove_roster_entry(
            actor=request.user,
            roster_id=roster_id,
            entry_id=_int(request.POST.get("entry_id"), "entry_id") or 0,
        )
        return "已删除该班次，缺口已重新计算"
    raise InvalidInput("未知操作", fields={"action": "无效"})


@login_required
@require_http_methods(["GET", "POST"])
def planner(request: AuthedRequest) -> HttpResponse:
    user = request.user
    check_desk_user(user)
    if not user.has_role_at_least(services.PLANNER_ROLE):
        return redirect("/desk/staffing/me/")
    teams = list(services.plannable_teams(user))
    source = request.POST if request.method == "POST" else request.GET
    team_id = _int(source.get("team"), "team") or (teams[0].pk if teams else None)
    week = _week(source.get("week"))
    error: KefuError | None = None
    if request.method == "POST":
        try:
            messages.success(request, _act(request, team_id, week))
            return redirect(f"{request.path}?team={team_id}&week={week.isoformat()}")
        except KefuError as exc:
            if exc.status in (401, 403, 404):
                raise
            error = exc
    context: dict[str, Any] = {
        "nav": "staffing",
        "error": error,
        "teams": teams,
        "team_id": team_id,
        "week": week,
        "prev_week": week - timedelta(days=7),
        "next_week": week + timedelta(days=7),
    }
    if team_id is not None:
        team = services.access_planned_team(user, team_id)
        roster = Roster.objects.filter(team=team, week_start=week).first()
        context["day_labels"] = [day_label(week + timedelta(days=i)) for i in range(7)]
        context["settings"] = settings_out(services.settings_for(team))
        if roster is not None:
            view = services.roster_view(roster)
            context["roster"] = roster
            context["grid"] = _grid(view)
            context["short_slots"] = sum(1 for d in view.days for g in view.gap[d] if g > 0)
            context["entries"] = [entry_out(e) for e in view.entries]
            # What a lead may choose when editing by hand (the service checks each choice).
            context["edit_members"] = [{"id": u.pk, "name": u.name} for u in services.rostered_members(team)]
            context["edit_shifts"] = [
                {"id": sh.pk, "label": f"{sh.name} {hhmm(sh.start_minute)}–{hhmm(sh.end_minute)}"}
                for sh in services.shifts_for(team).order_by("start_minute", "id")
            ]
            context["edit_days"] = [{"date": d.isoformat(), "label": day_label(d)} for d in view.days]
            context["hours"] = sorted(
                (
                    {"name": e.user.name, "hours": view.hours.get(e.user_id, 0)}
                    for e in {e.user_id: e for e in view.entries}.values()
                ),
                key=lambda h: -h["hours"],
            )
            if roster.status == Roster.Status.PUBLISHED:
                context["breaks"] = [
                    break_out(b) for b in services.breaks_against_roster(actor=user, roster_id=roster.pk)
                ]
        else:
            req = services.requirement(actor=user, team_id=team_id, start=week, days=7)
            context["requirement"] = req
            context["req_grid"] = _requirement_grid(req)
            context["req_days"] = [
                {
                    "label": day_label(d.day),
                    "special": d.forecast.special,
                    "multiplier": d.forecast.multiplier,
                    "total": round(d.forecast.total),
                }
                for d in req.days
            ]
    return render(request, "staffing/planner.html", context, status=400 if error else 200)


@login_required
def my_shifts(request: AuthedRequest) -> HttpResponse:
    entries = services.my_shifts(actor=request.user)
    rows = [
        {
            **entry_out(e),
            "day": day_label(e.date),
            "team": e.roster.team.name,
            "past": e.date < timezone.localdate(),
        }
        for e in entries
    ]
    return render(request, "staffing/me.html", {"nav": "staffing", "shifts": rows})


def _settings_action(request: AuthedRequest, team_id: int | None) -> str:
    post, actor = request.POST, request.user
    action = post.get("action", "")
    if action == "settings":
        data: dict[str, Any] = {}
        for key in ("service_level", "shrinkage"):
            value = _float(post.get(key), key)
            if value is not None:
                data[key] = value / 100
        for key in ("answer_seconds", "concurrency", "history_weeks"):
            value = _int(post.get(key), key)
            if value is not None:
                data[key] = value
        data["aht_seconds"] = _int(post.get("aht_seconds"), "aht_seconds")
        services.do_update_settings(actor=actor, team_id=team_id, data=data)
        return "排班参数已保存"
    if action == "promotion":
        services.do_create_promotion(
            actor=actor,
            data={
                "name": post.get("name", ""),
                "start_date": post.get("start_date", ""),
                "end_date": post.get("end_date") or None,
                "multiplier": _float(post.get("multiplier"), "multiplier") or 0,
                "team_id": _int(post.get("team_id"), "team_id"),
            },
        )
        return "大促日已添加"
    if action == "delete_promotion":
        services.do_delete_promotion(actor=actor, promotion_id=_int(post.get("id"), "id") or 0)
        return "大促日已删除"
    if action == "common_promotions":
        year = _int(post.get("year"), "year") or timezone.localdate().year
        return f"已添加 {services.do_install_common_promotions(actor=actor, year=year)} 个常见大促"
    if action == "shift":
        services.do_create_shift(
            actor=actor,
            data={k: post.get(k) or None for k in ("name", "start", "end", "break_start", "break_end")}
            | {"team_id": _int(post.get("team_id"), "team_id")},
        )
        return "班次已添加"
    if action == "delete_shift":
        services.do_delete_shift(actor=actor, shift_id=_int(post.get("id"), "id") or 0)
        return "班次已删除"
    if action == "availability":
        weekdays = [d for d in range(7) if post.get(f"wd{d}") == "on"]
        hours = _int(post.get("max_hours_per_week"), "max_hours_per_week")
        data = {"weekdays": weekdays} | ({"max_hours_per_week": hours} if hours is not None else {})
        services.do_set_availability(
            actor=actor, user_id=_int(post.get("user_id"), "user_id") or 0, data=data
        )
        return "可排班时间已保存"
    raise InvalidInput("未知操作", fields={"action": "无效"})


@login_required
@require_http_methods(["GET", "POST"])
def staffing_settings(request: AuthedRequest) -> HttpResponse:
    user = request.user
    services.check_planner(user)
    teams = list(services.plannable_teams(user))
    source = request.POST if request.method == "POST" else request.GET
    team_id = _int(source.get("team"), "team") or (teams[0].pk if teams else None)
    error: KefuError | None = None
    if request.method == "POST":
        try:
            messages.success(request, _settings_action(request, team_id))
            return redirect(f"{request.path}?team={team_id or ''}")
        except KefuError as exc:
            if exc.status in (401, 403, 404):
                raise
            error = exc
    team = services.access_planned_team(user, team_id) if team_id is not None else None
    members = services.rostered_members(team) if team is not None else []
    avail = services.availability_of(members)
    context = {
        "nav": "staffing",
        "error": error,
        "teams": teams,
        "team_id": team_id,
        "can_edit": user.has_role_at_least(services.EDITOR_ROLE),
        "settings": settings_out(services.settings_for(team)) if team is not None else None,
        "promotions": [promotion_out(p) for p in Promotion.objects.order_by("start_date", "id")],
        "shifts": [shift_out(s) for s in services.shifts_for(team)],
        "members": [
            {
                "id": u.pk,
                "name": u.name,
                "weekdays": avail[u.pk].weekdays,
                "max_hours": avail[u.pk].max_hours_per_week,
            }
            for u in members
        ],
        "weekdays": list(enumerate(WEEKDAYS)),
        "year": timezone.localdate().year,
    }
    return render(request, "staffing/settings.html", context, status=400 if error else 200)
