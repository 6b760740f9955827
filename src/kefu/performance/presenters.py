"""Figures as people read them, and ratings as the API returns them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .stars import Component, Rating


def _seconds(value: float) -> str:
    value = abs(value)
    if value < 120:
        return f"{value:.0f} 秒"
    if value < 7200:
        return f"{value / 60:.1f} 分钟"
    return f"{value / 3600:.1f} 小时"


def value_text(value: float | None, unit: str) -> str:
    """``58 秒``, ``92.5%``, ``4.6``, ``¥120.00``; ``—`` when there is no data."""
    if value is None:
        return "—"
    if unit == "s":
        return _seconds(value)
    if unit == "%":
        return f"{value:.1f}%"
    if unit == "count":
        return f"{value:.0f}"
    if unit == "yuan":
        return f"¥{value:,.2f}"
    return f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:.0f}"


def change_text(change: float | None, unit: str) -> str:
    """``+3.2 个百分点``, ``−12 秒``, ``+5``, ``持平``; empty when either week has no data."""
    if change is None:
        return ""
    if change == 0:
        return "持平"
    sign = "+" if change > 0 else "−"
    if unit == "%":
        return f"{sign}{abs(change):.1f} 个百分点"
    return f"{sign}{value_text(abs(change), unit)}"


def stars_text(stars: int | None) -> str:
    return "★" * stars + "☆" * (5 - stars) if stars else "未评星"


def component_out(c: Component) -> dict[str, Any]:
    return {
        "key": c.key,
        "label": c.label,
        "metric": c.metric,
        "value": c.value,
        "value_text": value_text(c.value, c.unit),
        "unit": c.unit,
        "target": c.target,
        "target_text": value_text(c.target, c.unit) if c.target is not None else "—",
        "weight": c.weight,
        "effective_weight": c.effective_weight,
        "attainment": round(c.attainment, 4) if c.attainment is not None else None,
        "points": c.points,
        "note": c.note,
    }


def rating_out(r: Rating) -> dict[str, Any]:
    return {
        "agent": {"id": r.agent.pk, "name": r.agent.name, "employee_no": r.agent.employee_no},
        "period": r.period.key,
        "period_label": r.period.label,
        "start": r.period.start.isoformat(),
        "end": r.period.end.isoformat(),
        "rated": r.rated,
        "stars": r.stars,
        "stars_text": stars_text(r.stars),
        "score": r.score,
        "volume": r.volume,
        "min_volume": r.min_volume,
        "reason": r.reason,
        "components": [component_out(c) for c in r.components],
    }
