"""Shapes of rules, notices and statements for the API and the settings page."""

from __future__ import annotations

from typing import Any

from .models import Kind, Notice, PageKind, Rule, Statement

KIND_LABELS = dict(Kind.choices) | {"statement": "配送延误说明"}
PAGE_KIND_LABELS = dict(PageKind.choices)


def rule_dict(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.pk,
        "name": rule.name,
        "kind": rule.kind,
        "kind_label": KIND_LABELS.get(rule.kind, rule.kind),
        "team_id": rule.team_id,
        "team": rule.team.name if rule.team else "",
        "reply_id": rule.reply_id,
        "reply_title": rule.reply.title,
        "reply_text": rule.reply.text,
        "is_enabled": rule.is_enabled,
        "daily_limit": rule.daily_limit,
        "stall_hours": rule.stall_hours,
        "estimate_days": rule.estimate_days,
        "linger_seconds": rule.linger_seconds,
        "page_kinds": list(rule.page_kinds or []),
        "page_kind_labels": [PAGE_KIND_LABELS.get(k, k) for k in rule.page_kinds or []],
        "updated_at": rule.updated_at.isoformat(),
    }


def notice_dict(n: Notice) -> dict[str, Any]:
    return {
        "id": n.pk,
        "kind": n.kind,
        "kind_label": KIND_LABELS.get(n.kind, n.kind),
        "rule_id": n.rule_id,
        "statement_id": n.statement_id,
        "customer_id": n.customer_id,
        "customer": n.customer.name if n.customer_id and n.customer else "",
        "order_no": n.order.order_no if n.order_id and n.order else "",
        "status": n.status,
        "status_label": n.get_status_display(),
        "reason": n.reason,
        "channel_kind": n.channel_kind,
        "conversation_id": n.conversation_id,
        "message_id": n.message_id,
        "text": n.text,
        "created_at": n.created_at.isoformat(),
        "sent_at": n.sent_at.isoformat() if n.sent_at else None,
    }


def statement_dict(s: Statement) -> dict[str, Any]:
    return {
        "id": s.pk,
        "title": s.title,
        "reason": s.reason,
        "reason_label": s.get_reason_display(),
        "text": s.text,
        "team_id": s.team_id,
        "team": s.team.name if s.team else "",
        "order_nos": list(s.order_nos or []),
        "carrier": s.carrier,
        "new_estimate": s.new_estimate.isoformat() if s.new_estimate else None,
        "status": s.status,
        "status_label": s.get_status_display(),
        "created_by": s.created_by.name if s.created_by else "",
        "approved_by": s.approved_by.name if s.approved_by else "",
        "approved_at": s.approved_at.isoformat() if s.approved_at else None,
        "sent_at": s.sent_at.isoformat() if s.sent_at else None,
        "recipient_count": s.recipient_count,
        "created_at": s.created_at.isoformat(),
    }
