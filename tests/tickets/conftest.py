"""Fixtures for tickets, SLA and webhooks: a conversation answered by an agent, an
order, and a department that asks for information before it accepts a transfer."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest


@pytest.fixture
def make_conversation(desk: Any) -> Callable[..., Any]:
    from kefu.conversations.models import Conversation
    from kefu.conversations.services import do_receive_customer_message, do_send_agent_message

    counter = iter(range(1, 10_000))

    def make(
        text: str = "你好，我买的杯子收到就是破的",
        *,
        answered: bool = True,
        channel: Any = None,
        **updates: Any,
    ) -> Conversation:
        msg, _ = do_receive_customer_message(
            channel=channel or desk.channel,
            identities=[("web", f"visitor-{next(counter)}-{id(make)}")],
            text=text,
        )
        if answered:
            do_send_agent_message(
                agent=desk.agent, conversation_id=msg.conversation_id, text="您好，我来帮您处理"
            )
        if updates:
            Conversation.objects.filter(pk=msg.conversation_id).update(**updates)
        return Conversation.objects.select_related("customer", "channel").get(pk=msg.conversation_id)

    return make


@pytest.fixture
def shop(
    desk: Any,
    make_conversation: Callable[..., Any],
    make_team: Callable[..., Any],
    make_user: Callable[..., Any],
) -> Any:
    """A desk plus one answered conversation, its customer's orders and a warehouse department."""
    from django.utils import timezone

    from kefu.customers.models import Order
    from kefu.tickets.models import Department

    # Priority pinned: routing may raise it from the intent; these tests start from P4.
    conversation = make_conversation(subject="杯子破损", priority="P4", intent="")
    now = timezone.now()
    Order.objects.create(
        customer=conversation.customer,
        order_no="SO-OLD",
        amount=Decimal("10"),
        placed_at=now - timedelta(days=9),
    )
    recent = Order.objects.create(
        customer=conversation.customer,
        order_no="SO-20261120-7",
        amount=Decimal("59.90"),
        placed_at=now - timedelta(days=2),
    )
    warehouse_team = make_team("仓储部")
    clerk = make_user("cangku", teams=(warehouse_team,), display_name="仓库小李")
    warehouse = Department.objects.create(
        name="仓储部", team=warehouse_team, required_fields=["order_no", "evidence"], deadline_hours=8
    )
    return SimpleNamespace(
        desk=desk,
        agent=desk.agent,
        supervisor=desk.supervisor,
        conversation=conversation,
        order=recent,
        warehouse=warehouse,
        warehouse_team=warehouse_team,
        clerk=clerk,
    )


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every published event (type, data, recipients), in order, as the publisher saw it."""
    import kefu.core.events as core_events

    seen: list[dict[str, Any]] = []
    real = core_events.publish

    def spy(event_type: str, data: dict[str, Any], **kw: Any) -> str:
        seen.append({"event": event_type, "data": data, **kw})
        return real(event_type, data, **kw)

    # Every module that imported the publisher holds its own reference: patch them all.
    for name, module in list(sys.modules.items()):
        if name.startswith("kefu.") and getattr(module, "publish", None) is real:
            monkeypatch.setattr(module, "publish", spy)
    return seen
