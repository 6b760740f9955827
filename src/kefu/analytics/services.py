"""Who may read which figures, the checks of a request's scope, and the targets admins set.

The figures themselves come from ``kefu.analytics.metrics``; this module decides the scope
a user may see (``access_scope``) and validates what a request asked for (``check_*``).

Permissions: agents and specialists read their own figures and their own teams'
aggregates (never a colleague's, never a breakdown by agent); team leads read their
teams and the members of their teams; supervisors, managers and admins read everything.
Only admins set targets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from kefu.accounts.access import audit, check_admin, team_ids_of
from kefu.accounts.models import AuditLog, Role, Team, User
from kefu.analytics import metrics
from kefu.analytics.models import MetricTarget
from kefu.conversations.models import Conversation
from kefu.conversations.timeline import visible_conversations
from kefu.core.errors import InvalidInput, NotFound, PermissionDenied
from kefu.quality.models import ReplyFindings
from kefu.quality.presenters import RULE_LABELS, SEVERITY_LABELS

MAX_PERIOD_DAYS = 400
DEFAULT_PERIOD_DAYS = 7


def default_period(now: datetime | None = None) -> tuple[datetime, datetime]:
    """The last seven local days, today included: ``[midnight − 6 days, tomorrow's midnight)``."""
    today = timezone.localtime(now or timezone.now()).date()
    tz = timezone.get_current_timezone()
    end = timezone.make_aware(datetime.combine(today + timedelta(days=1), time.min), tz)
    return end - timedelta(days=DEFAULT_PERIOD_DAYS), end


def check_scope(
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    team_id: int | None = None,
    agent_id: int | None = None,
    channel_id: int | None = None,
    intent: str | None = None,
) -> metrics.Scope:
    """A scope from request parameters: the period checked (end after start, at most 400 days)."""
    default_start, default_end = default_period()
    if start is None and end is None:
        start, end = default_start, default_end
    elif start is None:
        assert end is not None
        start = end - timedelta(days=DEFAULT_PERIOD_DAYS)
    elif end is None:
        end = start + timedelta(days=DEFAULT_PERIOD_DAYS)
    tz = timezone.get_current_timezone()
    if timezone.is_naive(start):
        start = timezone.make_aware(start, tz)
    if timezone.is_naive(end):
        end = timezone.make_aware(end, tz)
    if end <= start:
        raise InvalidInput("结束时间必须晚于开始时间", fields={"end": "必须晚于 start"})
    if end - start > timedelta(days=MAX_PERIOD_DAYS):
        raise InvalidInput(
            f"一次最多查询 {MAX_PERIOD_DAYS} 天", fields={"end": f"与 start 相差不超过 {MAX_PERIOD_DAYS} 天"}
        )
    if intent is not None:
        intent = intent.strip() or None
    return metrics.Scope(start, end, team_id, agent_id, channel_id, intent)


def check_names(names: str | Iterable[str] | None) -> list[str] | None:
    """Metric names from ``a,b,c`` (None: all); an unknown name is a 400 naming it."""
    if names is None:
        return None
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    names = list(names)
    if not names:
        return None
    try:
        return metrics.check_names(names)
    except KeyError as exc:
        raise InvalidInput(
            f"未知指标：{exc.args[0]}",
            fields={"names": f"未知指标 {exc.args[0]}；可用：{', '.join(metrics.METRICS)}"},
        ) from exc


def check_name(name: str, *, field: str = "name") -> str:
    if name not in metrics.METRICS:
        raise InvalidInput(f"未知指标：{name}", fields={field: f"可用：{', '.join(metrics.METRICS)}"})
    return name


def check_by(by: str) -> str:
    if by not in metrics.BREAKDOWNS and by != metrics.RULE:
        choices = ", ".join([*metrics.BREAKDOWNS, metrics.RULE])
        raise InvalidInput(f"未知分组：{by}", fields={"by": f"应为 {choices} 之一"})
    return by


def _check_exists(scope: metrics.Scope) -> None:
    if scope.team_id is not None and not Team.objects.filter(pk=scope.team_id).exists():
        raise NotFound(f"团队 {scope.team_id} 不存在", fields={"team": "不存在"})
    if scope.agent_id is not None and not User.objects.filter(pk=scope.agent_id).exists():
        raise NotFound(f"客服 {scope.agent_id} 不存在", fields={"agent": "不存在"})


def access_scope(user: User, scope: metrics.Scope) -> metrics.Scope:
    """The scope ``user`` may read, or PermissionDenied.

    An agent who names neither an agent nor a team reads her own figures; a team lead who
    names neither reads her team (the first, if she leads several).
    """
    _check_exists(scope)
    if user.sees_all:
        return scope
    teams = team_ids_of(user)
    if user.has_role_at_least(Role.TEAM_LEAD):
        if scope.team_id is not None and scope.team_id not in teams:
            raise PermissionDenied("只能查看本组的数据", fields={"team": "不是您所在的团队"})
        if scope.agent_id is not None and scope.agent_id != user.pk:
            member = User.objects.filter(pk=scope.agent_id, teams__in=teams).exists()
            if not member:
                raise PermissionDenied("只能查看本组成员的数据", fields={"agent": "不是您团队的成员"})
        if scope.team_id is None and scope.agent_id is None:
            if not teams:
                return replace(scope, agent_id=user.pk)
            return replace(scope, team_id=teams[0])
        return scope
    if scope.agent_id is not None and scope.agent_id != user.pk:
        raise PermissionDenied("只能查看自己的数据", fields={"agent": "只能是您自己"})
    if scope.team_id is not None:
        if scope.team_id not in teams:
            raise PermissionDenied("只能查看本组的数据", fields={"team": "不是您所在的团队"})
        return scope
    return replace(scope, agent_id=user.pk)


def check_breakdown(user: User, scope: metrics.Scope, by: str) -> None:
    """Agents see no colleague's figure: a breakdown by agent is for leads and above."""
    if by == "agent" and not user.has_role_at_least(Role.TEAM_LEAD):
        raise PermissionDenied("按客服分组的数据仅组长及以上可见", fields={"by": "需要组长及以上权限"})


def access_breakdown(user: User, scope: metrics.Scope, name: str, by: str) -> list[tuple[str, str, Any]]:
    check_by(by)
    check_name(name)
    scope = access_scope(user, scope)
    check_breakdown(user, scope, by)
    try:
        return metrics.breakdown(scope, name, by)
    except KeyError as exc:
        raise InvalidInput(f"指标 {name} 不能按 {by} 分组", fields={"by": "该指标不支持此分组"}) from exc


def access_heatmap(user: User, scope: metrics.Scope, name: str) -> list[list[float | None]]:
    check_name(name)
    scope = access_scope(user, scope)
    try:
        return metrics.heatmap(scope, name)
    except KeyError as exc:
        raise InvalidInput(f"指标 {name} 没有热力图", fields={"name": "该指标不支持按时段统计"}) from exc


def access_behind_page(
    user: User,
    scope: metrics.Scope,
    name: str,
    keys: Sequence[tuple[str, str]] = (),
    *,
    offset: int = 0,
    limit: int = 100,
) -> tuple[list[int], int]:
    """One page of the conversations behind a figure that ``user`` may open, newest first,
    and how many there are in all.

    Several ``keys`` (a heat-map cell: its weekday and its hour) mean the conversations
    behind every one of them. Counting and paging happen in SQL, so no figure is capped.
    """
    check_name(name)
    for by, _value in keys:
        if by not in metrics.BREAKDOWNS:
            raise InvalidInput(f"未知分组：{by}", fields={"by": f"应为 {', '.join(metrics.BREAKDOWNS)} 之一"})
    if offset < 0:
        raise InvalidInput("offset 不能为负", fields={"offset": "应为 0 或正整数"})
    if not 1 <= limit <= metrics.BEHIND_LIMIT:
        raise InvalidInput("limit 超出范围", fields={"limit": f"应在 1–{metrics.BEHIND_LIMIT} 之间"})
    scope = access_scope(user, scope)
    for by, _value in keys:
        check_breakdown(user, scope, by)
    conversations = Conversation.objects.all() if user.sees_all else visible_conversations(user)
    try:
        wanted: list[tuple[str, str] | None] = list(keys) or [None]
        for key in wanted:
            conversations = conversations.filter(pk__in=metrics.behind_ids(scope, name, key))
        total = conversations.count()
    except (KeyError, ValueError) as exc:
        raise InvalidInput("分组值无效", fields={"key": "与 by 不符"}) from exc
    ids = list(conversations.order_by("-pk").values_list("pk", flat=True)[offset : offset + limit])
    return ids, total


def access_distribution(user: User, scope: metrics.Scope, name: str) -> list[tuple[str, str, int]]:
    """A histogram of a duration (``metrics.DISTRIBUTIONS``) over the scope ``user`` may read."""
    if name not in metrics.DISTRIBUTIONS:
        raise InvalidInput(
            f"未知分布：{name}", fields={"name": f"应为 {', '.join(metrics.DISTRIBUTIONS)} 之一"}
        )
    return metrics.distribution(access_scope(user, scope), name)


# --- targets ---------------------------------------------------------------------------------------


def target_rows(team_id: int | None = None) -> dict[str, float]:
    """The targets stored for the desk (``team_id`` None) or a team's own overrides."""
    rows = (
        MetricTarget.objects.filter(team__isnull=True)
        if team_id is None
        else MetricTarget.objects.filter(team_id=team_id)
    )
    return dict(rows.values_list("name", "value"))


def check_target_values(values: Mapping[str, Any]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for name, value in values.items():
        check_name(name, field=f"targets.{name}")
        metric = metrics.METRICS[name]
        if value is None:
            out[name] = None
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            raise InvalidInput("目标值应为数字", fields={f"targets.{name}": "应为数字或 null"})
        value = float(value)
        if value < 0 or (metric.unit == "%" and value > 100) or (metric.unit == "score" and value > 100):
            raise InvalidInput("目标值超出范围", fields={f"targets.{name}": "超出允许范围"})
        if value > 10**9:
            raise InvalidInput("目标值超出范围", fields={f"targets.{name}": "超出允许范围"})
        out[name] = value
    return out


def do_set_targets(*, actor: User, values: Mapping[str, Any], team_id: int | None = None) -> dict[str, float]:
    """Set (a number) or clear (None) targets, desk-wide or for one team; admins only; audited."""
    check_admin(actor)
    checked = check_target_values(values)
    team = Team.objects.filter(pk=team_id).first() if team_id is not None else None
    if team_id is not None and team is None:
        raise NotFound(f"团队 {team_id} 不存在", fields={"team": "不存在"})
    with transaction.atomic():
        before = target_rows(team_id)
        for name, value in checked.items():
            if value is None:
                MetricTarget.objects.filter(name=name, team=team).delete()
            else:
                MetricTarget.objects.update_or_create(
                    name=name, team=team, defaults={"value": value, "updated_by": actor}
                )
        after = target_rows(team_id)
        if before != after:
            audit(
                AuditLog.Action.SETTINGS_CHANGE,
                actor=actor,
                target=team,
                detail={"setting": "metric_targets", "before": before, "after": after},
            )
    return metrics.targets(team_id)


# --- 我的数据: an agent's own page ---------------------------------------------------------------

MY_FIGURES = (
    "volume",
    "first_response_mean",
    "first_response_within_target",
    "response_time_mean",
    "resolution_rate",
    "fcr_rate",
    "aht_mean",
    "transfer_rate",
    "reopen_rate",
    "csat_mean",
    "csat_satisfied_rate",
    "nps",
    "quality_score_mean",
    "quality_findings_rate",
    "promise_kept_rate",
    "online_time",
    "occupancy",
)
# Team figures that add up over agents: the page compares the agent with the team's average.
PER_AGENT = ("volume", "online_time")
MY_LIST_LIMIT = 20


@dataclass(frozen=True)
class MyFigures:
    scope: metrics.Scope
    team: Team | None
    rows: list[dict[str, Any]]
    findings: list[dict[str, Any]]
    comments: list[dict[str, Any]]


def access_my_figures(user: User, *, start: datetime, end: datetime, team_id: int | None = None) -> MyFigures:
    """The user's own figures beside her team's (per agent where figures add up) and the targets,
    with her recent quality findings and customers' CSAT comments of the period."""
    teams = list(user.teams.order_by("id"))
    team = next((t for t in teams if t.pk == team_id), teams[0] if teams else None)
    mine = check_scope(start=start, end=end, agent_id=user.pk, team_id=None)
    now_pairs = metrics.compare(mine, MY_FIGURES)
    team_figures = (
        metrics.compute(replace(mine, agent_id=None, team_id=team.pk), MY_FIGURES) if team is not None else {}
    )
    goals = metrics.targets(team.pk if team is not None else None)
    members = team_figures["online_time"].count if team_figures else 0
    rows = []
    for name, (current, previous) in now_pairs.items():
        team_value = team_figures[name].value if team_figures else None
        if name in PER_AGENT and team_value is not None:
            team_value = team_value / members if members else None
        rows.append(
            {
                "name": name,
                "label": current.label + ("（团队人均）" if name in PER_AGENT else ""),
                "unit": current.unit,
                "better": current.better,
                "mine": current.value,
                "count": current.count,
                "previous": previous.value,
                "team": team_value,
                "target": goals.get(name),
                "meets": _meets(current.value, goals.get(name), current.better),
            }
        )
    findings = [
        {
            "conversation_id": r.conversation_id,
            "at": r.created_at,
            "text": r.message.text,
            "findings": [
                {
                    "rule": RULE_LABELS.get(str(f.get("rule", "")), str(f.get("rule", ""))),
                    "severity": SEVERITY_LABELS.get(str(f.get("severity", "")), str(f.get("severity", ""))),
                    "excerpt": f.get("excerpt", ""),
                }
                for f in r.findings
                if isinstance(f, dict)
            ],
            "overridden": r.overridden,
        }
        for r in ReplyFindings.objects.filter(agent=user, created_at__gte=mine.start, created_at__lt=mine.end)
        .exclude(findings=[])
        .select_related("message")
        .order_by("-id")[:MY_LIST_LIMIT]
    ]
    comments: list[dict[str, Any]] = [
        dict(row)
        for row in Conversation.objects.filter(
            assignee=user, created_at__gte=mine.start, created_at__lt=mine.end, csat_score__isnull=False
        )
        .order_by("-csat_at", "-id")
        .values("id", "csat_score", "csat_comment", "csat_at")[:MY_LIST_LIMIT]
    ]
    return MyFigures(mine, team, rows, findings, comments)


def _meets(value: float | None, target: float | None, better: str) -> bool | None:
    if value is None or target is None:
        return None
    return value >= target if better == "higher" else value <= target
