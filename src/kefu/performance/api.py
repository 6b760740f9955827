"""REST: the weekly review (leads their teams, supervisors and above any team) and star ratings."""

from __future__ import annotations

from typing import Any

from ninja import Router
from pydantic import StrictInt

from kefu.accounts.access import AuthedRequest, check_admin, client_ip
from kefu.core.apiutil import StrictIn

from . import review, stars
from .presenters import rating_out

router = Router(tags=["performance"])


class WeightsIn(StrictIn):
    quality: StrictInt
    csat: StrictInt
    resolution: StrictInt
    fcr: StrictInt
    volume: StrictInt
    min_volume: StrictInt
    volume_per_week: StrictInt


def _weights_out(w: Any) -> dict[str, Any]:
    return {
        **{key: getattr(w, key) for key in stars.WEIGHT_KEYS},
        "min_volume": w.min_volume,
        "volume_per_week": w.volume_per_week,
        "star_floors": [{"stars": n, "score_at_least": floor} for floor, n in stars.STAR_FLOORS],
        "updated_by": w.updated_by.name if w.updated_by else None,
        "updated_at": w.updated_at.isoformat() if w.updated_at else None,
    }


@router.get("/review")
def get_review(request: AuthedRequest, team: int | None = None, week: str | None = None) -> dict[str, Any]:
    """The weekly review (复盘) of a team: ``week`` as ``2026-W48`` or a date in it (default: last week)."""
    return review.access_review(request.auth, team_id=team, week=week)


@router.get("/stars")
def list_stars(request: AuthedRequest, period: str | None = None, team: int | None = None) -> dict[str, Any]:
    """Star ratings: ``period`` a month ``2026-11`` or a week ``2026-W48`` (default: this month).

    An agent gets their own; a lead their team's; supervisors and above any team (or everyone).
    """
    when, scope_team, ratings = stars.access_star_ratings(request.auth, period=period, team_id=team)
    return {
        "period": when.key,
        "period_label": when.label,
        "complete": when.is_complete(),
        "team": {"id": scope_team.pk, "name": scope_team.name} if scope_team else None,
        "ratings": [rating_out(r) for r in ratings],
    }


@router.get("/stars/weights")
def get_star_weights(request: AuthedRequest) -> dict[str, Any]:
    check_admin(request.auth)
    return _weights_out(stars.star_weights())


@router.put("/stars/weights")
def put_star_weights(request: AuthedRequest, payload: WeightsIn) -> dict[str, Any]:
    weights = stars.do_set_star_weights(actor=request.auth, data=payload.model_dump(), ip=client_ip(request))
    return _weights_out(weights)
