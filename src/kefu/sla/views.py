"""The SLA settings page (/desk/settings/sla/): policies, their durations and escalation chains.

Supervisors and admins edit; the forms are parsed here into the shape the API takes
and handed to the same services, so the page and the API refuse the same things.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from kefu.accounts.access import AuthedRequest
from kefu.channels.models import Channel
from kefu.conversations.models import Priority
from kefu.core.errors import InvalidInput
from kefu.core.params import whole
from kefu.tickets.models import Ticket

from . import services
from .models import EscalationStep, SLAPolicy, Timer
from .presenters import chain_order, duration_text, step_text

# Units offered for durations and offsets, in seconds.
UNITS = (("seconds", "秒", 1), ("minutes", "分钟", 60), ("hours", "小时", 3600), ("days", "天", 86400))
UNIT_SECONDS = {key: size for key, _, size in UNITS}
BLANK_STEP_ROWS = 3
FIELD_LABELS = {
    "name": "名称",
    "applies_to": "适用于",
    "channel_kind": "渠道",
    "ticket_category": "工单类别",
    "priority": "优先级",
    "first_response_seconds": "首次响应时限",
    "resolution_seconds": "解决时限",
    "warn_ratio": "预警比例",
    "business_hours": "只计工作时间",
    "is_active": "启用",
    "escalation": "升级链",
}
STEP_LABELS = {
    "timer": "计时",
    "anchor": "触发点",
    "after_seconds": "延后时间",
    "notify": "通知对象",
    "email": "邮件",
}


def _split(seconds: int | None) -> tuple[str, str]:
    """A duration as the largest whole unit: 7200 → ("2", "hours")."""
    if not seconds:
        return ("" if seconds is None else "0", "minutes")
    for key, _, size in reversed(UNITS):
        if seconds % size == 0:
            return str(seconds // size), key
    return str(seconds), "seconds"


def _seconds(form: QueryDict, prefix: str, field: str, *, blank: int | None) -> Any:
    """The number in ``<prefix>`` times its unit; ``blank`` when empty; the raw text when not a number."""
    raw = form.get(prefix, "").strip()
    if not raw:
        return blank
    unit = UNIT_SECONDS.get(form.get(f"{prefix}_unit", ""), 0)
    value = whole(raw, signed=True)
    if value is None:
        raise InvalidInput(f"{FIELD_LABELS.get(field, field)}应为整数", fields={field: "应为整数"})
    if not unit:
        raise InvalidInput("请选择时间单位", fields={field: "单位无效"})
    return value * unit


def _steps_from_form(form: QueryDict) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    # At most 100 steps: the form's count is typed by the browser, not trusted.
    for i in range(min(whole(form.get("step_count")) or 0, 100)):
        p = f"step{i}_"
        if form.get(f"{p}delete") or not form.get(f"{p}notify"):
            continue
        field = f"escalation[{len(steps)}].after_seconds"
        steps.append(
            {
                "timer": form.get(f"{p}timer", ""),
                "anchor": form.get(f"{p}anchor", ""),
                "after_seconds": _seconds(form, f"{p}after", field, blank=0),
                "notify": form.get(f"{p}notify", ""),
                "email": bool(form.get(f"{p}email")),
            }
        )
    return steps


def _policy_from_form(form: QueryDict) -> dict[str, Any]:
    ratio = form.get("warn_percent", "").strip()
    percent = whole(ratio, signed=True)
    if ratio and percent is None:
        raise InvalidInput("预警比例应为 1–99 的整数", fields={"warn_ratio": "应为整数百分比"})
    warn_ratio: Any = percent / 100 if percent is not None else 0.8
    return {
        "name": form.get("name", ""),
        "applies_to": form.get("applies_to", ""),
        "channel_kind": form.get("channel_kind", ""),
        "ticket_category": form.get("ticket_category", ""),
        "priority": form.get("priority", ""),
        "first_response_seconds": _seconds(form, "first_response", "first_response_seconds", blank=None),
        "resolution_seconds": _seconds(form, "resolution", "resolution_seconds", blank=None),
        "business_hours": bool(form.get("business_hours")),
        "warn_ratio": warn_ratio,
        "is_active": bool(form.get("is_active")),
        "escalation": _steps_from_form(form),
    }


def _field_name(key: str) -> str:
    """``escalation[1].after_seconds`` → 「升级链第 2 步 · 延后时间」."""
    if key.startswith("escalation["):
        index, _, rest = key[len("escalation[") :].partition("]")
        step = f"升级链第 {int(index) + 1} 步" if index.isdigit() else "升级链"
        rest = rest.lstrip(".")
        return f"{step} · {STEP_LABELS.get(rest, rest)}" if rest else step
    return FIELD_LABELS.get(key, key)


def _error_lines(exc: InvalidInput) -> list[str]:
    return [f"{_field_name(k)}：{v}" for k, v in exc.fields.items()] or [exc.message]


def _match_text(policy: SLAPolicy) -> str:
    parts = []
    if policy.channel_kind:
        parts.append(f"渠道：{dict(Channel.Kind.choices).get(policy.channel_kind, policy.channel_kind)}")
    if policy.ticket_category:
        parts.append(
            f"类别：{dict(Ticket.Category.choices).get(policy.ticket_category, policy.ticket_category)}"
        )
    if policy.priority:
        parts.append(f"优先级：{policy.priority}")
    return "，".join(parts) or "任意"


def _policy_row(policy: SLAPolicy, steps: list[EscalationStep]) -> dict[str, Any]:
    fr_value, fr_unit = _split(policy.first_response_seconds)
    res_value, res_unit = _split(policy.resolution_seconds)
    step_rows = []
    for step in [*chain_order(steps), *([None] * BLANK_STEP_ROWS)]:
        after_value, after_unit = _split(step.after_seconds if step else 0)
        step_rows.append(
            {
                "step": step,
                "text": step_text(step) if step else "",
                "after_value": after_value if step else "0",
                "after_unit": after_unit if step else "hours",
            }
        )
    return {
        "policy": policy,
        "match": _match_text(policy),
        "first_response_text": duration_text(
            policy.first_response_seconds, business_hours=policy.business_hours
        ),
        "resolution_text": duration_text(policy.resolution_seconds, business_hours=policy.business_hours),
        "fr_value": fr_value,
        "fr_unit": fr_unit,
        "res_value": res_value,
        "res_unit": res_unit,
        "warn_percent": round(policy.warn_ratio * 100),
        "steps": step_rows,
        "chain": [step_text(s) for s in chain_order(steps)],
    }


@require_GET
@login_required
def sla_settings_view(request: AuthedRequest) -> HttpResponse:
    services.check_policy_editor(request.user)
    rows = [_policy_row(p, steps) for p, steps in services.list_policies()]
    blank = SLAPolicy(name="", warn_ratio=0.8)
    return render(
        request,
        "sla/settings.html",
        {
            "nav": "settings",
            "rows": rows,
            "new_row": _policy_row(blank, []),
            "units": [(k, label) for k, label, _ in UNITS],
            "applies_choices": SLAPolicy.AppliesTo.choices,
            "channel_choices": Channel.Kind.choices,
            "category_choices": Ticket.Category.choices,
            "priority_choices": Priority.choices,
            "timer_choices": [("", "每个计时"), *Timer.choices],
            "anchor_choices": EscalationStep.Anchor.choices,
            "notify_choices": EscalationStep.Notify.choices,
        },
    )


def _back(policy_id: int | None = None) -> HttpResponseRedirect:
    url = reverse("sla:settings")
    return HttpResponseRedirect(f"{url}#policy-{policy_id}" if policy_id else url)


@require_POST
@login_required
def sla_policy_save_view(request: AuthedRequest, policy_id: int | None = None) -> HttpResponse:
    """Create (no id) or change a policy with its chain; errors are shown on the page in Chinese."""
    services.check_policy_editor(request.user)
    try:
        data = _policy_from_form(request.POST)
        if policy_id is None:
            policy = services.do_create_policy(actor=request.user, data=data)
        else:
            policy = services.do_update_policy(actor=request.user, policy_id=policy_id, data=data)
    except InvalidInput as exc:
        for line in _error_lines(exc):
            messages.error(request, line)
        return _back(policy_id)
    messages.success(request, f"已保存 SLA 策略「{policy.name}」")
    return _back(policy.pk)


@require_POST
@login_required
def sla_policy_delete_view(request: AuthedRequest, policy_id: int) -> HttpResponse:
    policy = services.access_policy(policy_id)
    services.do_delete_policy(actor=request.user, policy_id=policy_id)
    messages.success(request, f"已删除 SLA 策略「{policy.name}」")
    return _back()
