"""Pages: the weekly review (/desk/review/, its print view), star agents (/desk/stars/) and the
admin's star weights (/desk/settings/stars/)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from kefu.accounts.access import AuthedRequest, check_admin, client_ip
from kefu.accounts.models import Role
from kefu.core.errors import InvalidInput, KefuError
from kefu.core.params import whole, whole_param

from . import review, stars
from .mailing import review_link
from .periods import month_of, parse_week, today, week_of
from .presenters import rating_out


def _team_param(value: str | None) -> int | None:
    return whole_param(value, "team", message="团队选择有误", hint="无效的团队")


def _review_context(request: AuthedRequest) -> dict[str, Any]:
    data = review.access_review(
        request.user, team_id=_team_param(request.GET.get("team")), week=request.GET.get("week")
    )
    week = parse_week(data["week"])
    return {
        "review": data,
        "link": review_link(data["team"]["id"], week),
        "print_link": review_link(data["team"]["id"], week, printable=True),
    }


@login_required
@require_http_methods(["GET"])
def review_page(request: AuthedRequest) -> HttpResponse:
    """复盘: a team's week — figures, cases, intents, complaints, missed promises, what to update."""
    context = _review_context(request)
    context.update(nav="review", teams=review.reviewable_teams(request.user))
    return render(request, "performance/review.html", context)


@login_required
@require_http_methods(["GET"])
def review_print(request: AuthedRequest) -> HttpResponse:
    """The same review without navigation, laid out for printing or saving as PDF."""
    return render(request, "performance/review_print.html", _review_context(request))


def _period_choices() -> list[tuple[str, str]]:
    day = today()
    this_month, this_week = month_of(day), week_of(day)
    last_month, last_week = this_month.previous(), this_week.previous()
    return [
        (this_month.key, f"本月（{this_month.label}）"),
        (last_month.key, f"上月（{last_month.label}）"),
        (this_week.key, f"本周（{this_week.label}）"),
        (last_week.key, f"上周（{last_week.label}）"),
    ]


@login_required
@require_http_methods(["GET"])
def stars_page(request: AuthedRequest) -> HttpResponse:
    """星级客服: an agent sees their own rating and its reasons; a lead their team's; supervisors any team."""
    user = request.user
    period, team, ratings = stars.access_star_ratings(
        user, period=request.GET.get("period"), team_id=_team_param(request.GET.get("team"))
    )
    is_lead = user.has_role_at_least(Role.TEAM_LEAD)
    return render(
        request,
        "performance/stars.html",
        {
            "nav": "stars",
            "period": period,
            "team": team,
            "is_lead": is_lead,
            "teams": review.reviewable_teams(user) if is_lead else [],
            "ratings": [rating_out(r) for r in ratings],
            # the volume has its own column
            "component_labels": [label for key, (label, _) in stars.COMPONENTS.items() if key != "volume"],
            "choices": _period_choices(),
            "weights": stars.star_weights(),
        },
    )


@login_required
@require_http_methods(["GET"])
def star_agent_page(request: AuthedRequest, user_id: int) -> HttpResponse:
    rating = stars.access_agent_rating(request.user, user_id, period=request.GET.get("period"))
    return render(
        request,
        "performance/star_agent.html",
        {
            "nav": "stars",
            "rating": rating_out(rating),
            "period": rating.period,
            "choices": _period_choices(),
            "weights": stars.star_weights(),
        },
    )


def _int_field(post: Any, key: str) -> Any:
    value = (post.get(key) or "").strip()
    number = whole(value, signed=True)
    return value if number is None else number


@login_required
@require_http_methods(["GET", "POST"])
def stars_settings(request: AuthedRequest) -> HttpResponse:
    """The admin's star weights: per-cent weights summing to 100, the minimum volume, the volume target."""
    check_admin(request.user)
    weights = stars.star_weights()
    error: KefuError | None = None
    values: dict[str, Any] = {
        key: getattr(weights, key) for key in (*stars.WEIGHT_KEYS, "min_volume", "volume_per_week")
    }
    if request.method == "POST":
        values = {key: _int_field(request.POST, key) for key in values}
        try:
            stars.do_set_star_weights(actor=request.user, data=values, ip=client_ip(request))
        except InvalidInput as exc:
            error = exc
        else:
            messages.success(request, "星级权重已保存。")
            return redirect("performance:stars-settings")
    fields = error.fields if error else {}
    # The sum is said once above the form, not beside each of the weights.
    shared = len({fields.get(key) for key in stars.WEIGHT_KEYS}) == 1
    rows = [
        {"key": key, "label": label, "value": values[key], "error": None if shared else fields.get(key)}
        for key, (label, _) in stars.COMPONENTS.items()
    ]
    return render(
        request,
        "performance/stars_settings.html",
        {
            "nav": "settings",
            "weights": weights,
            "rows": rows,
            "values": values,
            "error": error,
            "floors": stars.STAR_FLOORS,
        },
        status=400 if error else 200,
    )
