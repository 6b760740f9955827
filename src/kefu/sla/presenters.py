"""SLA: policies, durations and escalation steps as the API and pages show them."""

from __future__ import annotations

from typing import Any

from .models import EscalationNotice, EscalationStep, SLAPolicy, Timer

_UNITS = ((86400, "天"), (3600, "小时"), (60, "分钟"), (1, "秒"))


def duration_text(seconds: int | None, *, business_hours: bool = False) -> str:
    """``5400`` → 「1 小时 30 分钟」; working time says 工作小时 (hours are not folded into days)."""
    if seconds is None:
        return "—"
    if seconds == 0:
        return "0 秒"
    parts = []
    rest = seconds
    for size, unit in _UNITS:
        if business_hours and size == 86400:
            continue
        if rest >= size:
            count, rest = divmod(rest, size)
            parts.append(f"{count} {'工作小时' if business_hours and size == 3600 else unit}")
    return " ".join(parts)


def step_text(step: EscalationStep | Any) -> str:
    """「超时后 2 小时 · 通知主管」; also for a notice, which copies a step's settings."""
    anchor = EscalationStep.Anchor(step.anchor).label
    when = anchor if not step.after_seconds else f"{anchor[:-1]}后 {duration_text(step.after_seconds)}"
    return f"{when} · 通知{EscalationStep.Notify(step.notify).label}"


def step_dict(step: EscalationStep) -> dict[str, Any]:
    return {
        "id": step.pk,
        "timer": step.timer,
        "anchor": step.anchor,
        "after_seconds": step.after_seconds,
        "notify": step.notify,
        "email": step.email,
        "text": step_text(step),
    }


def chain_order(steps: list[EscalationStep]) -> list[EscalationStep]:
    """Steps in the order they fire: at the warning, then after the breach by offset."""
    return sorted(
        steps, key=lambda s: (s.anchor != EscalationStep.Anchor.WARNING, s.after_seconds, s.pk or 0)
    )


def policy_out(p: SLAPolicy, steps: list[EscalationStep] | None = None) -> dict[str, Any]:
    """A policy; the durations as text are computed from the fields, never stored."""
    steps = chain_order(list(p.escalation_steps.all()) if steps is None else steps)
    return {
        "id": p.pk,
        "name": p.name,
        "applies_to": p.applies_to,
        "channel_kind": p.channel_kind,
        "ticket_category": p.ticket_category,
        "priority": p.priority,
        "first_response_seconds": p.first_response_seconds,
        "resolution_seconds": p.resolution_seconds,
        "first_response_text": duration_text(p.first_response_seconds, business_hours=p.business_hours),
        "resolution_text": duration_text(p.resolution_seconds, business_hours=p.business_hours),
        "business_hours": p.business_hours,
        "warn_ratio": p.warn_ratio,
        "is_active": p.is_active,
        "escalation": [step_dict(s) for s in steps],
    }


def notice_dict(n: EscalationNotice) -> dict[str, Any]:
    return {
        "id": n.pk,
        "ticket_id": n.ticket_id,
        "timer": n.timer,
        "timer_label": Timer(n.timer).label,
        "round": n.round,
        "anchor": n.anchor,
        "after_seconds": n.after_seconds,
        "notify": n.notify,
        "notify_label": EscalationStep.Notify(n.notify).label,
        "step_text": step_text(n),
        "due_at": n.due_at.isoformat() if n.due_at else None,
        "recipients": n.recipients,
        "created_at": n.created_at.isoformat(),
    }
