"""Star agents (星级客服): a 1–5 star rating per agent and period from weighted components.

Every figure comes from ``kefu.analytics.metrics``. Each component's attainment is its
value against its target, capped at 100 % (CSAT is measured above the scale's floor of 1:
``(value − 1) / (target − 1)``); its contribution is its weight × attainment; the score is
the sum of contributions (0–100) and the stars follow ``STAR_FLOORS``. A component with no
data (nobody rated the agent's conversations) does not count against the agent: its weight
is shared among the components that have data, and the reason says so. Below the minimum
volume no rating is given at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from kefu.accounts.access import audit, check_admin, check_desk_user, team_ids_of
from kefu.accounts.models import Role, Team, User
from kefu.analytics import metrics
from kefu.core.errors import InvalidInput, NotFound, PermissionDenied

from .models import StarWeights
from .periods import Period, parse_period

# component key -> (Chinese label, the metric). The targets are the metrics module's
# (``metrics.targets``: the handbook defaults, overridden at /desk/settings/targets/); the
# volume's is the admin's weekly volume target.
COMPONENTS: dict[str, tuple[str, str]] = {
    "quality": ("质检得分", "quality_score_mean"),
    "csat": ("满意度", "csat_mean"),
    "resolution": ("解决率", "resolution_rate"),
    "fcr": ("一次解决率", "fcr_rate"),
    "volume": ("接待量", "volume"),
}
WEIGHT_KEYS = tuple(COMPONENTS)
# A score at or above the floor earns the stars: 90+ ★★★★★, 80+ ★★★★, 70+ ★★★, 60+ ★★, else ★.
STAR_FLOORS = ((90.0, 5), (80.0, 4), (70.0, 3), (60.0, 2))
# Roles whose conversations are rated (leads take chats too; supervisors and above do not).
RATED_ROLES = (Role.AGENT, Role.SPECIALIST, Role.TEAM_LEAD)


@dataclass(frozen=True)
class Component:
    key: str
    label: str
    metric: str
    value: float | None
    unit: str
    target: float | None
    weight: int  # as set by the admin, per cent
    effective_weight: float  # after sharing out the weights of components without data
    attainment: float | None  # 0..1
    points: float  # contribution to the score (0..100 in all)
    note: str = ""


@dataclass(frozen=True)
class Rating:
    agent: User
    period: Period
    volume: int
    min_volume: int
    stars: int | None
    score: float | None
    components: list[Component] = field(default_factory=list)
    reason: str = ""

    @property
    def rated(self) -> bool:
        return self.stars is not None


# --- weights ------------------------------------------------------------------------------


def star_weights() -> StarWeights:
    weights, _ = StarWeights.objects.get_or_create(pk=1)
    return weights


def _whole(data: dict[str, Any], key: str, label: str, low: int, high: int) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{label}必须是整数", fields={key: "必须是整数"})
    if not low <= value <= high:
        raise InvalidInput(f"{label}应在 {low}–{high} 之间", fields={key: f"应在 {low}–{high} 之间"})
    return value


def check_weights(data: dict[str, Any]) -> dict[str, int]:
    """Validated weights (whole per cents, non-negative, summing to 100) and the volume settings."""
    clean = {key: _whole(data, key, COMPONENTS[key][0] + "权重", 0, 100) for key in WEIGHT_KEYS}
    total = sum(clean.values())
    if total != 100:
        raise InvalidInput(
            f"各项权重之和应为 100%，现在是 {total}%",
            fields={key: f"权重之和为 {total}%，应为 100%" for key in WEIGHT_KEYS},
        )
    clean["min_volume"] = _whole(data, "min_volume", "最低接待量", 1, 100_000)
    clean["volume_per_week"] = _whole(data, "volume_per_week", "每周目标接待量", 1, 100_000)
    return clean


def do_set_star_weights(*, actor: User, data: dict[str, Any], ip: str | None = None) -> StarWeights:
    check_admin(actor)
    clean = check_weights(data)
    with transaction.atomic():
        weights = StarWeights.objects.select_for_update().filter(pk=1).first() or star_weights()
        before = {key: getattr(weights, key) for key in clean}
        for key, value in clean.items():
            setattr(weights, key, value)
        weights.updated_by = actor
        weights.updated_at = timezone.now()
        weights.save()
        audit("star_weights", actor=actor, target=weights, detail={"before": before, "after": clean}, ip=ip)
    return weights


# --- rating -------------------------------------------------------------------------------


def _attainment(key: str, value: float | None, target: float | None) -> float | None:
    if value is None or target is None or target <= 0:
        return None
    if key == "csat":  # a 1–5 scale: 1 is nothing achieved
        ratio = (value - 1) / (target - 1) if target > 1 else 0.0
    else:
        ratio = value / target
    return max(0.0, min(1.0, ratio))


def stars_for(score: float) -> int:
    return next((stars for floor, stars in STAR_FLOORS if score >= floor - 1e-9), 1)


def _target(
    key: str, figure: Any, targets: dict[str, float], weights: StarWeights, period: Period
) -> float | None:
    if key == "volume":
        return round(weights.volume_per_week * period.days / 7, 1)
    if figure is not None and getattr(figure, "target", None) is not None:
        return float(figure.target)
    name = COMPONENTS[key][1]
    return float(targets[name]) if name in targets else None


def rate(
    agent: User,
    period: Period,
    figures: dict[str, Any],
    *,
    weights: StarWeights,
    targets: dict[str, float],
) -> Rating:
    """The rating of one agent from their figures (component key -> metrics.Figure or None)."""
    volume_figure = figures.get("volume")
    volume = int(volume_figure.value or 0) if volume_figure is not None else 0
    if volume < weights.min_volume:
        return Rating(
            agent=agent,
            period=period,
            volume=volume,
            min_volume=weights.min_volume,
            stars=None,
            score=None,
            reason=f"本期接待 {volume} 个会话，少于最低 {weights.min_volume} 个，不评星",
        )
    raw = []
    for key in WEIGHT_KEYS:
        figure = figures.get(key)
        value = None if figure is None or figure.value is None else float(figure.value)
        target = _target(key, figure, targets, weights, period)
        raw.append((key, figure, value, target, _attainment(key, value, target)))
    with_data = sum(getattr(weights, key) for key, _, _, _, att in raw if att is not None)
    components = []
    for key, figure, value, target, att in raw:
        weight = getattr(weights, key)
        effective = weight * 100 / with_data if att is not None and with_data else 0.0
        if figure is None:
            note = "暂无此项指标"
        elif value is None:
            note = "本期无数据，权重分给其他各项"
        elif target is None:
            note = "未设目标"
        else:
            note = ""
        components.append(
            Component(
                key=key,
                label=COMPONENTS[key][0],
                metric=figure.name if figure is not None else "",
                value=value,
                unit=figure.unit if figure is not None else "",
                target=target,
                weight=weight,
                effective_weight=round(effective, 2),
                attainment=att,
                points=round(effective * att, 2) if att is not None else 0.0,
                note=note,
            )
        )
    score = round(sum(c.points for c in components), 1)
    return Rating(
        agent=agent,
        period=period,
        volume=volume,
        min_volume=weights.min_volume,
        stars=stars_for(score),
        score=score,
        components=components,
        reason=f"综合得分 {score:g} 分",
    )


def _figures_by_agent(period: Period, agent_ids: set[int]) -> dict[int, dict[str, Any]]:
    """Each agent's component figures, one breakdown by agent per component."""
    scope = metrics.Scope(start=period.start, end=period.end)
    out: dict[int, dict[str, Any]] = {pk: {} for pk in agent_ids}
    for key, (_, name) in COMPONENTS.items():
        if name not in metrics.METRICS:
            continue
        for agent_key, _, figure in metrics.breakdown(scope, name, by="agent"):
            try:
                pk = int(agent_key)
            except (TypeError, ValueError):
                continue
            if pk in out:
                out[pk][key] = figure
        for figs in out.values():
            if key not in figs:  # no conversations in the breakdown: an empty figure, not a missing metric
                label = metrics.METRICS[name]
                figs[key] = metrics.Figure(
                    name=name,
                    label=getattr(label, "label", name),
                    value=0.0 if key == "volume" else None,
                    unit=getattr(label, "unit", ""),
                    count=0,
                )
    return out


def home_team_id(agent: User) -> int | None:
    """The team whose targets apply to an agent: their first team."""
    ids = sorted(team.pk for team in agent.teams.all())  # prefetched by the callers
    return ids[0] if ids else None


def rate_agents(agents: Iterable[User], period: Period) -> list[Rating]:
    agents = list(agents)
    weights = star_weights()
    figures = _figures_by_agent(period, {a.pk for a in agents})
    targets_by_team: dict[int | None, dict[str, float]] = {}
    ratings = []
    for agent in agents:
        team_id = home_team_id(agent)
        if team_id not in targets_by_team:
            targets_by_team[team_id] = dict(metrics.targets(team_id))
        ratings.append(
            rate(agent, period, figures[agent.pk], weights=weights, targets=targets_by_team[team_id])
        )
    ratings.sort(key=lambda r: (r.stars is None, -(r.score or 0), r.agent.pk))
    return ratings


# --- who sees whom ------------------------------------------------------------------------


def _rated_members(team: Team | None) -> QuerySet[User]:
    qs = User.objects.filter(is_active=True, role__in=RATED_ROLES).prefetch_related("teams").order_by("id")
    return qs.filter(teams=team) if team is not None else qs


def access_star_team(user: User, team_id: int | None) -> Team | None:
    """The team whose ratings ``user`` asks for: leads their own teams; supervisors and above any (or all)."""
    check_desk_user(user)
    if not user.has_role_at_least(Role.TEAM_LEAD):
        return None
    mine = sorted(team_ids_of(user))
    if team_id is None:
        if user.sees_all:
            return None
        if not mine:
            raise PermissionDenied("您不属于任何团队")
        team_id = mine[0]
    team = Team.objects.filter(pk=team_id).first()
    if team is None:
        raise NotFound(f"团队 {team_id} 不存在", extra={"fields": {"team": "不存在"}})
    if not user.sees_all and team.pk not in mine:
        raise PermissionDenied("组长只能查看本组的星级")
    return team


def access_star_ratings(
    user: User, *, period: str | None = None, team_id: int | None = None
) -> tuple[Period, Team | None, list[Rating]]:
    """The ratings ``user`` may see: an agent their own; a lead their team's; supervisors any team."""
    check_desk_user(user)
    when = parse_period(period)
    if not user.has_role_at_least(Role.TEAM_LEAD):
        return when, None, rate_agents([user], when)
    team = access_star_team(user, team_id)
    return when, team, rate_agents(_rated_members(team), when)


def access_agent_rating(user: User, agent_id: int, *, period: str | None = None) -> Rating:
    """One agent's rating with its reasons: the agent themself, their leads, supervisors and above."""
    check_desk_user(user)
    when = parse_period(period)
    agent = User.objects.filter(pk=agent_id, is_active=True).prefetch_related("teams").first()
    if agent is None:
        raise NotFound(f"客服 {agent_id} 不存在")
    if agent.pk != user.pk:
        if not user.has_role_at_least(Role.TEAM_LEAD):
            raise PermissionDenied("只能查看自己的星级")
        if not user.sees_all and not set(team_ids_of(user)) & set(team_ids_of(agent)):
            raise PermissionDenied("组长只能查看本组客服的星级")
    return rate_agents([agent], when)[0]
