"""The role × endpoint matrix: every operation of the OpenAPI document has a rule, and holds it.

``RULES`` names, for each operation, who may call it:

- ``public``: anyone, signed in or not (the customer-facing help centre);
- ``signed``: no session or token counts, only the channel's HMAC signature (inbound hooks), so
  every unsigned call gets 401 whoever sends it;
- a role (``agent`` … ``admin``): signed-in users of that role and above; the role just below
  gets 403 and anonymous callers 401;
- ``grant:<permission>``: admins, the roles an admin granted it to, and tokens carrying it as a
  scope (``accounts.access.has_grant``); an agent gets 403.

Each operation is called against the demo shop by users who belong to every team, so that what
is tested here is the role; what a second team may see is tested beside each app (for example
``tests/customers/test_permissions.py``). Every call runs in a transaction that is rolled back.
A new endpoint without a rule fails ``test_every_operation_has_a_rule``: decide who may call it
and write it down here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from io import StringIO
from typing import Any
from urllib.parse import urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import transaction
from django.test import Client

# django_db: so that the test database is set up (pytest-django sets it up for marked tests only).
pytestmark = [pytest.mark.slow, pytest.mark.django_db]

ROLES = ("agent", "specialist", "team_lead", "supervisor", "manager", "admin")

RULES: dict[str, str] = {
    "GET /api/v1/ping": "public",
    "GET /api/v1/me": "agent",
    "POST /api/v1/me/status": "agent",
    "GET /api/v1/users": "team_lead",
    "POST /api/v1/users": "admin",
    "PATCH /api/v1/users/{user_id}": "admin",
    "GET /api/v1/teams": "agent",
    "POST /api/v1/teams": "admin",
    "GET /api/v1/audit": "supervisor",
    "GET /api/v1/tokens": "agent",
    "POST /api/v1/tokens": "agent",
    "DELETE /api/v1/tokens/{token_id}": "agent",
    "GET /api/v1/grants": "admin",
    "PUT /api/v1/grants/{permission}": "admin",
    "GET /api/v1/customers": "agent",
    "POST /api/v1/customers": "agent",
    "GET /api/v1/customers/{customer_id}": "agent",
    "PATCH /api/v1/customers/{customer_id}": "agent",
    "POST /api/v1/customers/merge": "admin",
    "POST /api/v1/customers/{customer_id}/reveal": "team_lead",
    "GET /api/v1/customers/{customer_id}/identities": "agent",
    "POST /api/v1/customers/{customer_id}/identities": "agent",
    "DELETE /api/v1/identities/{identity_id}": "agent",
    "GET /api/v1/customers/{customer_id}/timeline": "agent",
    "GET /api/v1/orders": "agent",
    "POST /api/v1/orders": "grant:orders.write",
    "GET /api/v1/orders/{order_no}": "agent",
    "POST /api/v1/orders/{order_no}/logistics": "grant:orders.write",
    "POST /api/v1/channels/{channel_id}/inbound": "signed",
    "GET /api/v1/conversations": "agent",
    "GET /api/v1/desk/counts": "agent",
    "GET /api/v1/desk/my-open-conversations": "agent",
    "GET /api/v1/conversations/{conversation_id}": "agent",
    "GET /api/v1/conversations/{conversation_id}/messages": "agent",
    "GET /api/v1/attachments/{attachment_id}/download": "agent",
    "POST /api/v1/conversations/{conversation_id}/messages": "agent",
    "POST /api/v1/conversations/{conversation_id}/images": "agent",
    "POST /api/v1/conversations/{conversation_id}/notes": "agent",
    "POST /api/v1/conversations/{conversation_id}/status": "agent",
    "POST /api/v1/conversations/{conversation_id}/transfer": "agent",
    "POST /api/v1/conversations/{conversation_id}/read": "agent",
    "POST /api/v1/conversations/{conversation_id}/csat": "agent",
    "POST /api/v1/calls": "agent",
    "GET /api/v1/queues": "agent",
    "GET /api/v1/agents": "team_lead",
    "GET /api/v1/routing-rules": "admin",
    "POST /api/v1/routing-rules": "admin",
    "DELETE /api/v1/routing-rules/{rule_id}": "admin",
    "GET /api/v1/tickets": "agent",
    "POST /api/v1/tickets": "agent",
    "GET /api/v1/tickets/{ticket_id}": "agent",
    "PATCH /api/v1/tickets/{ticket_id}": "agent",
    "POST /api/v1/tickets/{ticket_id}/status": "agent",
    "POST /api/v1/tickets/{ticket_id}/transfer": "agent",
    "POST /api/v1/tickets/{ticket_id}/comments": "agent",
    "GET /api/v1/tickets/{ticket_id}/follow-ups": "agent",
    "POST /api/v1/tickets/{ticket_id}/follow-ups": "agent",
    "POST /api/v1/follow-ups/{follow_up_id}/complete": "agent",
    "GET /api/v1/follow-ups": "agent",
    "POST /api/v1/tickets/{ticket_id}/customer-updates": "agent",
    "GET /api/v1/departments": "agent",
    "GET /api/v1/sla-policies": "agent",
    "POST /api/v1/sla-policies": "supervisor",
    "GET /api/v1/sla-policies/{policy_id}": "agent",
    "PATCH /api/v1/sla-policies/{policy_id}": "supervisor",
    "DELETE /api/v1/sla-policies/{policy_id}": "supervisor",
    "GET /api/v1/webhooks": "admin",
    "POST /api/v1/webhooks": "admin",
    "GET /api/v1/webhooks/{endpoint_id}": "admin",
    "PATCH /api/v1/webhooks/{endpoint_id}": "admin",
    "DELETE /api/v1/webhooks/{endpoint_id}": "admin",
    "GET /api/v1/webhooks/{endpoint_id}/deliveries": "admin",
    "POST /api/v1/webhook-deliveries/{delivery_id}/retry": "admin",
    "GET /api/v1/kb/articles": "agent",
    "POST /api/v1/kb/articles": "team_lead",
    "GET /api/v1/kb/articles/{article_id}": "agent",
    "PATCH /api/v1/kb/articles/{article_id}": "team_lead",
    "DELETE /api/v1/kb/articles/{article_id}": "team_lead",
    "GET /api/v1/kb/articles/{article_id}/versions": "agent",
    "POST /api/v1/kb/articles/{article_id}/attachments": "team_lead",
    "POST /api/v1/kb/articles/{article_id}/uses": "agent",
    "GET /api/v1/kb/search": "agent",
    "GET /api/v1/conversations/{conversation_id}/kb-suggestions": "agent",
    "GET /api/v1/kb/categories": "agent",
    "POST /api/v1/kb/categories": "team_lead",
    "GET /api/v1/kb/synonyms": "agent",
    "PUT /api/v1/kb/synonyms": "team_lead",
    "POST /api/v1/help/articles/{article_id}/feedback": "public",
    "GET /api/v1/help/search": "public",
    "GET /api/v1/surveys/settings": "admin",
    "PUT /api/v1/surveys/settings": "admin",
    "GET /api/v1/surveys/answers": "team_lead",
    "GET /api/v1/surveys/follow-ups": "team_lead",
    "POST /api/v1/surveys/follow-ups/{follow_up_id}/outcome": "team_lead",
    "GET /api/v1/surveys/public/{token}": "public",
    "POST /api/v1/surveys/public/{token}/answer": "public",
    "GET /api/v1/intents": "agent",
    "POST /api/v1/intents": "admin",
    "PATCH /api/v1/intents/{intent_id}": "admin",
    "POST /api/v1/intents/retrain": "admin",
    "POST /api/v1/conversations/{conversation_id}/intent": "agent",
    "GET /api/v1/conversations/{conversation_id}/emotion": "agent",
    "GET /api/v1/emotion-alerts": "agent",
    "POST /api/v1/emotion-alerts/{alert_id}/ack": "team_lead",
    "GET /api/v1/shop-words": "agent",
    "POST /api/v1/shop-words": "admin",
    "POST /api/v1/nlp/analyze": "agent",
    "GET /api/v1/replies": "agent",
    "POST /api/v1/replies": "agent",
    "PATCH /api/v1/replies/{reply_id}": "supervisor",
    "DELETE /api/v1/replies/{reply_id}": "supervisor",
    "POST /api/v1/replies/{reply_id}/use": "agent",
    "GET /api/v1/replies-stats": "agent",
    "GET /api/v1/reply-variables": "agent",
    "GET /api/v1/complaints": "agent",
    "POST /api/v1/complaints": "agent",
    "GET /api/v1/complaints/{complaint_id}": "agent",
    "PATCH /api/v1/complaints/{complaint_id}": "agent",
    "POST /api/v1/complaints/{complaint_id}/advance": "agent",
    "POST /api/v1/complaints/{complaint_id}/transfer": "agent",
    "POST /api/v1/complaints/{complaint_id}/progress": "agent",
    "POST /api/v1/complaints/{complaint_id}/resolve": "agent",
    "POST /api/v1/complaints/{complaint_id}/confirm": "agent",
    "POST /api/v1/complaints/{complaint_id}/follow-up": "agent",
    "POST /api/v1/compensations": "agent",
    "GET /api/v1/compensations/pending": "agent",
    "POST /api/v1/compensations/{request_id}/decision": "agent",
    "GET /api/v1/authority-limits": "agent",
    "PUT /api/v1/authority-limits": "admin",
    "POST /api/v1/promises": "agent",
    "GET /api/v1/promises": "agent",
    "POST /api/v1/promises/{promise_id}/kept": "team_lead",
    "POST /api/v1/promises/{promise_id}/cancel": "team_lead",
    "GET /api/v1/promise-rates": "team_lead",
    "POST /api/v1/conversations/{conversation_id}/reply-check": "agent",
    "POST /api/v1/quality/apply": "agent",
    "GET /api/v1/quality/rules": "supervisor",
    "POST /api/v1/quality/rules": "supervisor",
    "GET /api/v1/quality/rules/versions": "supervisor",
    "GET /api/v1/quality/rules/versions/{version}": "supervisor",
    "GET /api/v1/quality/conversations/{conversation_id}": "agent",
    "GET /api/v1/quality/agents": "agent",
    "POST /api/v1/quality/samples": "supervisor",
    "GET /api/v1/quality/samples": "supervisor",
    "POST /api/v1/quality/reviews": "supervisor",
    "GET /api/v1/quality/reviews": "agent",
    "GET /api/v1/quality/reviews/{review_id}": "agent",
    "POST /api/v1/quality/reviews/{review_id}/appeal": "agent",
    "POST /api/v1/quality/reviews/{review_id}/resolve": "supervisor",
    "GET /api/v1/quality/disagreements": "team_lead",
    # presence (an agent reads their own history and online time; leads their teams')
    "POST /api/v1/me/heartbeat": "agent",
    "GET /api/v1/presence/history": "agent",
    "GET /api/v1/presence/online-time": "agent",
    "GET /api/v1/presence/rule": "team_lead",
    "PUT /api/v1/presence/rule": "admin",
    # business hours and holidays
    "GET /api/v1/hours/schedules": "agent",
    "POST /api/v1/hours/schedules": "supervisor",
    "GET /api/v1/hours/schedules/{schedule_id}": "agent",
    "PATCH /api/v1/hours/schedules/{schedule_id}": "supervisor",
    "DELETE /api/v1/hours/schedules/{schedule_id}": "supervisor",
    "GET /api/v1/hours/days": "agent",
    "POST /api/v1/hours/days": "supervisor",
    "GET /api/v1/hours/days/{day_id}": "agent",
    "PATCH /api/v1/hours/days/{day_id}": "supervisor",
    "DELETE /api/v1/hours/days/{day_id}": "supervisor",
    "GET /api/v1/hours/status": "agent",
    # masking and pre-send quality (agents list their own overrides; leads and above their teams')
    "POST /api/v1/conversations/{conversation_id}/messages/{message_id}/reveal": "team_lead",
    "GET /api/v1/quality/overrides": "agent",
    # SLA escalation chains (policies are the supervisors')
    "PUT /api/v1/sla-policies/{policy_id}/escalation": "supervisor",
    "GET /api/v1/tickets/{ticket_id}/escalations": "agent",
    # the wallboard (a lead acts on their own teams' conversations: tests/wallboard); an agent
    # reads the whispers to her; wall-screen display tokens are the supervisors'
    "GET /api/v1/wallboard": "team_lead",
    "POST /api/v1/wallboard/conversations/{conversation_id}/take-over": "team_lead",
    "POST /api/v1/wallboard/conversations/{conversation_id}/reassign": "team_lead",
    "GET /api/v1/wallboard/conversations/{conversation_id}/observe": "team_lead",
    "POST /api/v1/wallboard/conversations/{conversation_id}/whisper": "team_lead",
    "GET /api/v1/wallboard/conversations/{conversation_id}/whispers": "agent",
    "GET /api/v1/wallboard/displays": "supervisor",
    "POST /api/v1/wallboard/displays": "supervisor",
    "DELETE /api/v1/wallboard/displays/{display_id}": "supervisor",
    # the weekly review (a lead's own teams, supervisors any) and star agents (an agent their own)
    "GET /api/v1/review": "team_lead",
    "GET /api/v1/stars": "agent",
    "GET /api/v1/stars/weights": "admin",
    "PUT /api/v1/stars/weights": "admin",
    # metrics (docs/metrics.md): agents read their own figures and their teams' aggregates
    # (the scope is forced on the server); targets are set by admins
    "GET /api/v1/metrics": "agent",
    "GET /api/v1/metrics/catalog": "agent",
    "GET /api/v1/metrics/breakdown": "agent",
    "GET /api/v1/metrics/heatmap": "agent",
    "GET /api/v1/metrics/behind": "agent",
    "GET /api/v1/metrics/distribution": "agent",
    "GET /api/v1/metrics/arrivals": "agent",
    "GET /api/v1/metrics/targets": "agent",
    "PUT /api/v1/metrics/targets": "admin",
    # shift planning (team leads plan their teams; supervisors set parameters and promotion days)
    "GET /api/v1/staffing/forecast": "team_lead",
    "GET /api/v1/staffing/requirement": "team_lead",
    "GET /api/v1/staffing/settings": "team_lead",
    "PUT /api/v1/staffing/settings": "supervisor",
    "GET /api/v1/staffing/promotions": "team_lead",
    "POST /api/v1/staffing/promotions": "supervisor",
    "DELETE /api/v1/staffing/promotions/{promotion_id}": "supervisor",
    "GET /api/v1/staffing/shifts": "team_lead",
    "POST /api/v1/staffing/shifts": "team_lead",
    "DELETE /api/v1/staffing/shifts/{shift_id}": "team_lead",
    "GET /api/v1/staffing/availability": "team_lead",
    "PUT /api/v1/staffing/availability/{user_id}": "team_lead",
    "POST /api/v1/staffing/rosters": "team_lead",
    "GET /api/v1/staffing/rosters/{roster_id}": "team_lead",
    "POST /api/v1/staffing/rosters/{roster_id}/entries": "team_lead",
    "PATCH /api/v1/staffing/rosters/{roster_id}/entries/{entry_id}": "team_lead",
    "DELETE /api/v1/staffing/rosters/{roster_id}/entries/{entry_id}": "team_lead",
    "POST /api/v1/staffing/rosters/{roster_id}/publish": "team_lead",
    "GET /api/v1/staffing/rosters/{roster_id}/breaks": "team_lead",
    "GET /api/v1/staffing/my-shifts": "agent",
    # incidents: everyone reads their teams' (the approved wording); leads and above decide
    "GET /api/v1/incidents": "agent",
    "POST /api/v1/incidents": "team_lead",
    "GET /api/v1/incidents/{incident_id}": "agent",
    "PATCH /api/v1/incidents/{incident_id}": "team_lead",
    "POST /api/v1/incidents/{incident_id}/confirm": "team_lead",
    "POST /api/v1/incidents/{incident_id}/dismiss": "team_lead",
    "POST /api/v1/incidents/{incident_id}/merge": "team_lead",
    "POST /api/v1/incidents/{incident_id}/conversations": "team_lead",
    "POST /api/v1/incidents/{incident_id}/resolve": "team_lead",
    "POST /api/v1/incidents/{incident_id}/compensation": "team_lead",
    "GET /api/v1/incidents/{incident_id}/review": "agent",
    "GET /api/v1/incidents/{incident_id}/review.csv": "agent",
    "GET /api/v1/conversations/{conversation_id}/incidents": "agent",
    # public posts waiting for a public reply: the list is the leads'; the badge goes with the conversation
    "GET /api/v1/public-posts": "team_lead",
    "GET /api/v1/conversations/{conversation_id}/public-post": "agent",
    # reports (team leads see their own team's; agents have 我的数据)
    "GET /api/v1/reports": "team_lead",
    "GET /api/v1/reports/conversations": "team_lead",
    "GET /api/v1/reports/export": "team_lead",
    # the bot (智能客服): settings are the admins'; what it did is for leads (their teams) and up;
    # its suggestion and summary go with the conversation (access_conversation)
    "GET /api/v1/bot/settings": "admin",
    "PUT /api/v1/bot/settings": "admin",
    "DELETE /api/v1/bot/settings/{setting_id}": "admin",
    "GET /api/v1/bot/overview": "team_lead",
    "POST /api/v1/bot/unanswered/{turn_id}/draft": "team_lead",
    "GET /api/v1/conversations/{conversation_id}/bot-suggestion": "agent",
    "POST /api/v1/conversations/{conversation_id}/bot-suggestion": "agent",
    "GET /api/v1/conversations/{conversation_id}/bot-summary": "agent",
    # proactive service (docs/proactive.md): rules and their log are the supervisors'; team leads
    # propose delay statements for their teams, supervisors approve them
    "GET /api/v1/proactive/rules": "supervisor",
    "POST /api/v1/proactive/rules": "supervisor",
    "GET /api/v1/proactive/rules/{proactive_rule_id}": "supervisor",
    "PATCH /api/v1/proactive/rules/{proactive_rule_id}": "supervisor",
    "DELETE /api/v1/proactive/rules/{proactive_rule_id}": "supervisor",
    "GET /api/v1/proactive/notices": "supervisor",
    "GET /api/v1/proactive/statements": "team_lead",
    "POST /api/v1/proactive/statements": "team_lead",
    "GET /api/v1/proactive/statements/{statement_id}": "team_lead",
    "POST /api/v1/proactive/statements/{statement_id}/approve": "supervisor",
    "POST /api/v1/proactive/statements/{statement_id}/cancel": "team_lead",
    # training (docs/training.md): everyone practises and sees their own sessions; leads follow
    # their teams; supervisors write cases and certify; admins set the certification rule
    "GET /api/v1/training/cases": "agent",
    "POST /api/v1/training/cases": "supervisor",
    "GET /api/v1/training/cases/{case_id}": "agent",
    "PUT /api/v1/training/cases/{case_id}": "supervisor",
    "POST /api/v1/training/cases/from-conversation": "supervisor",
    "GET /api/v1/training/sessions": "agent",
    "POST /api/v1/training/sessions": "agent",
    "GET /api/v1/training/sessions/{session_id}": "agent",
    "POST /api/v1/training/sessions/{session_id}/replies": "agent",
    "POST /api/v1/training/sessions/{session_id}/reply-check": "agent",
    "POST /api/v1/training/sessions/{session_id}/end": "agent",
    "GET /api/v1/training/sessions/{session_id}/scripts": "agent",
    "POST /api/v1/training/sessions/{session_id}/scripts/{reply_id}/use": "agent",
    "GET /api/v1/training/progress": "agent",
    "GET /api/v1/training/team": "team_lead",
    "POST /api/v1/training/certifications": "supervisor",
    "DELETE /api/v1/training/certifications/{trainee_id}": "supervisor",
    "GET /api/v1/training/settings": "admin",
    "PUT /api/v1/training/settings": "admin",
}


# --- the world --------------------------------------------------------------------------


def openapi() -> dict[str, Any]:
    from kefu.api import api

    return api.get_openapi_schema()


def operations() -> list[tuple[str, str]]:
    return [(method.upper(), path) for path, item in openapi()["paths"].items() for method in item]


@dataclass
class World:
    """The demo shop plus one user per role, each in every team, and an id for each path parameter."""

    users: dict[str, Any]
    ids: dict[str, Any]
    tokens: dict[str, int]

    @classmethod
    def build(cls) -> World:
        from kefu.accounts.models import Team
        from kefu.accounts.services import do_create_token, do_create_user

        call_command("demo", stdout=StringIO())
        teams = list(Team.objects.all())
        users, tokens = {}, {}
        for role in ROLES:
            user = do_create_user(username=f"matrix-{role}", password="kefu-matrix-2026", role=role)
            user.teams.set(teams)
            users[role] = user
            tokens[role] = do_create_token(user=user, name="矩阵测试")[0].pk
        return cls(users=users, ids=_path_ids(), tokens=tokens)

    def path_value(self, name: str, role: str | None) -> Any:
        if name == "token_id":
            return self.tokens[role or "agent"]
        return self.ids.get(name, 999_999)


def _first(model: Any, **filters: Any) -> Any:
    row = model.objects.filter(**filters).order_by("pk").first()
    return row.pk if row is not None else 999_999


def _path_ids() -> dict[str, Any]:
    from kefu.accounts.models import Team, User
    from kefu.bot.models import BotSetting, BotTurn
    from kefu.channels.models import Channel
    from kefu.complaints.models import CompensationRequest, Complaint, Promise
    from kefu.conversations.models import Conversation, Message
    from kefu.customers.models import Identity, Order
    from kefu.hours.models import CalendarDay, Schedule
    from kefu.incidents.models import Incident
    from kefu.kb.models import Article
    from kefu.quality.models import Review, RuleSetVersion
    from kefu.replies.models import CannedReply
    from kefu.routing.models import RoutingRule
    from kefu.sla.models import SLAPolicy
    from kefu.staffing.models import Promotion, Roster, ShiftType
    from kefu.tickets.models import FollowUp, Ticket
    from kefu.training.models import TrainingCase
    from kefu.training.services import do_start_session
    from kefu.understanding.models import EmotionAlert, Intent
    from kefu.webhooks.models import WebhookDelivery, WebhookEndpoint

    conversation = Conversation.objects.exclude(customer=None).order_by("pk").first()
    assert conversation is not None, "the demo shop has conversations"
    customer_id = conversation.customer_id
    order = Order.objects.order_by("pk").first()
    endpoint = WebhookEndpoint.objects.order_by("pk").first() or WebhookEndpoint.objects.create(
        url="https://erp.example.com/kefu-hook", events=["conversation.created"]
    )
    delivery = WebhookDelivery.objects.filter(endpoint=endpoint).order_by("pk").first()
    version = RuleSetVersion.objects.order_by("-version").first()
    return {
        "user_id": _first(User, role="agent"),
        "permission": "orders.write",
        "customer_id": customer_id,
        "identity_id": _first(Identity, customer_id=customer_id),
        "order_no": order.order_no if order else "YJ000",
        "channel_id": _first(Channel, kind__in=["im", "social", "live"]),
        "conversation_id": conversation.pk,
        "message_id": _first(Message, conversation=conversation, direction="incoming"),
        "ticket_id": _first(Ticket),
        "follow_up_id": _first(FollowUp),
        "rule_id": _first(RoutingRule),
        "policy_id": _first(SLAPolicy),
        "endpoint_id": endpoint.pk,
        "delivery_id": delivery.pk if delivery else 999_999,
        "article_id": _first(Article, status="published"),
        "intent_id": _first(Intent),
        "alert_id": _first(EmotionAlert),
        "reply_id": _first(CannedReply),
        "complaint_id": _first(Complaint),
        "request_id": _first(CompensationRequest),
        "promise_id": _first(Promise),
        "review_id": _first(Review),
        "version": version.version if version else 1,
        "schedule_id": _first(Schedule),
        "day_id": _first(CalendarDay),
        "promotion_id": _first(Promotion),
        # A team's own shift: a shift of every team is the supervisors' to delete.
        "shift_id": ShiftType.objects.create(
            name="矩阵班", start_minute=540, end_minute=1080, team=Team.objects.order_by("pk").first()
        ).pk,
        "roster_id": _first(Roster),
        "incident_id": Incident.objects.create(
            team=Team.objects.order_by("pk").first(),
            title="矩阵事件",
            kind="manual",
            status="open",
            spec={"keywords": ["矩阵"]},
            statement="矩阵测试",
        ).pk,
        "setting_id": _first(BotSetting),
        "turn_id": _first(BotTurn, kind="unanswered"),
        "case_id": _first(TrainingCase),
        # Only its trainee plays a session: the matrix's agent, the role the rules name.
        "session_id": do_start_session(
            trainee=User.objects.get(username="matrix-agent"), case_id=_first(TrainingCase), seed=1
        ).pk,
        "trainee_id": _first(User, role="agent"),
    }


# --- calls ------------------------------------------------------------------------------

# A 1×1 PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)

SAMPLES = {
    "text": "您好，请问我的订单什么时候发货？",
    "name": "矩阵测试",
    "title": "矩阵测试",
    "reason": "矩阵测试",
    "description": "矩阵测试",
    "body": "矩阵测试",
    "note": "矩阵测试",
    "q": "退款",
}


def sample(schema: dict[str, Any], components: dict[str, Any], name: str = "") -> Any:
    """A small value that fits ``schema``: enough to pass validation, so that the answer is about
    who asks, not what they sent."""
    if "$ref" in schema:
        return sample(components[schema["$ref"].rsplit("/", 1)[-1]], components, name)
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if s.get("type") != "null"]
        return sample(options[0], components, name) if options else None
    if "enum" in schema:
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    kind = schema.get("type")
    if kind == "object":
        required = schema.get("required", [])
        props = schema.get("properties", {})
        return {key: sample(props.get(key, {}), components, key) for key in required}
    if kind == "array":
        return []
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        return 1
    if kind == "boolean":
        return False
    if schema.get("format") == "date-time":
        return "2026-12-02T10:00:00+08:00"
    if schema.get("format") == "date":
        return "2026-12-02"
    return SAMPLES.get(name, "矩阵测试")


def call(world: World, op: tuple[str, str], role: str | None) -> Any:
    method, template = op
    spec = openapi()
    item = spec["paths"][template][method.lower()]
    path = template
    query = {}
    for param in item.get("parameters", []):
        if param["in"] == "path":
            path = path.replace("{" + param["name"] + "}", str(world.path_value(param["name"], role)))
        elif param["in"] == "query" and param.get("required"):
            query[param["name"]] = sample(param["schema"], spec["components"]["schemas"], param["name"])
    if query:
        path = f"{path}?{urlencode(query)}"
    client = Client()
    if role is not None:
        client.force_login(world.users[role])
    content = item.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        body = sample(content["application/json"]["schema"], spec["components"]["schemas"])
        return client.generic(method, path, json.dumps(body), content_type="application/json")
    if "multipart/form-data" in content:  # uploads: a small PNG for each file field
        form = content["multipart/form-data"]["schema"]
        form = spec["components"]["schemas"].get(form.get("$ref", "").rsplit("/", 1)[-1], form)
        data = {
            key: SimpleUploadedFile("matrix.png", PNG, content_type="image/png")
            if prop.get("format") == "binary"
            else sample(prop, spec["components"]["schemas"], key)
            for key, prop in form.get("properties", {}).items()
        }
        return client.post(path, data)
    return client.generic(method, path)


# --- the tests --------------------------------------------------------------------------


@pytest.fixture(scope="module", name="world")
def world_fixture(django_db_setup: Any, django_db_blocker: Any, tmp_path_factory: Any) -> Iterator[World]:
    """The demo shop and a user per role (also used by ``tests/test_pages_odd_input.py``)."""
    from django.conf import settings

    hashers, media = settings.PASSWORD_HASHERS, settings.MEDIA_ROOT
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MEDIA_ROOT = str(tmp_path_factory.mktemp("matrix-media"))
    with django_db_blocker.unblock(), transaction.atomic():
        yield World.build()
        transaction.set_rollback(True)
    settings.PASSWORD_HASHERS, settings.MEDIA_ROOT = hashers, media


def rolled_back(world: World, op: tuple[str, str], role: str | None) -> int:
    with transaction.atomic():
        status = call(world, op, role).status_code
        transaction.set_rollback(True)
    return status


def test_every_operation_has_a_rule():
    ops = {f"{m} {p}" for m, p in operations()}
    missing = sorted(ops - set(RULES))
    stale = sorted(set(RULES) - ops)
    assert not missing, "operations without a rule in RULES (decide who may call them):\n" + "\n".join(
        missing
    )
    assert not stale, "rules for operations that no longer exist:\n" + "\n".join(stale)
    for op, rule in RULES.items():
        assert rule in ("public", "signed") or rule in ROLES or rule.startswith("grant:"), (
            f"{op}: unknown rule {rule!r}"
        )


@pytest.mark.parametrize("op", sorted(RULES), ids=lambda op: op.replace("/api/v1", ""))
def test_each_operation_lets_in_exactly_who_its_rule_names(world: World, op: str, django_db_blocker: Any):
    method, path = op.split(" ", 1)
    rule = RULES[op]
    with django_db_blocker.unblock():
        anon = rolled_back(world, (method, path), None)
        if rule == "public":
            assert anon not in (401, 403), f"{op} is public but answered {anon} to an anonymous caller"
            return
        assert anon == 401, f"{op} answered {anon} to an anonymous caller"
        if rule == "signed":
            status = rolled_back(world, (method, path), "admin")
            assert status == 401, f"{op} is signed but let in an unsigned admin ({status})"
            return
        if rule.startswith("grant:"):
            allowed, below = "admin", "agent"
        else:
            allowed, below = rule, (ROLES[ROLES.index(rule) - 1] if rule != "agent" else None)
        status = rolled_back(world, (method, path), allowed)
        assert status not in (401, 403), f"{op}: {allowed} should be let in, got {status}"
        if below is not None:
            status = rolled_back(world, (method, path), below)
            assert status == 403, f"{op}: {below} should get 403, got {status}"
