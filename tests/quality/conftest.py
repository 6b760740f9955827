"""Fixtures for the reply-quality tests: conversations built through the real services."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from django.test import override_settings

_seq = itertools.count(1)

IMMEDIATE_TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}


@pytest.fixture
def chat(desk: Any) -> Callable[..., Any]:
    """``chat(("customer", "…"), ("agent", "…"), …)`` → the conversation, replies sent by ``agent``."""
    from kefu.conversations.models import Conversation
    from kefu.conversations.services import do_receive_customer_message, do_send_agent_message

    def make(*turns: tuple[str, str], agent: Any = None, identity: str | None = None) -> Conversation:
        ident = identity or f"q{next(_seq)}"
        conversation = None
        for role, text in turns:
            if role == "customer":
                msg, _ = do_receive_customer_message(
                    channel=desk.channel, identities=[("web", ident)], text=text, conversation=conversation
                )
            else:
                assert conversation is not None
                # History as it was sent: a reply with high findings went out confirmed.
                msg, _ = do_send_agent_message(
                    agent=agent or desk.agent,
                    conversation_id=conversation.pk,
                    text=text,
                    confirm_findings=True,
                )
            conversation = msg.conversation
        assert conversation is not None
        return Conversation.objects.get(pk=conversation.pk)

    return make


@pytest.fixture
def close(desk: Any, django_capture_on_commit_callbacks: Any) -> Callable[..., Any]:
    """Resolve a conversation with tasks run at once, as the worker would after the commit."""
    from kefu.conversations.services import do_set_status

    def run(conversation: Any, *, actor: Any = None, status: str = "resolved") -> Any:
        with override_settings(TASKS=IMMEDIATE_TASKS), django_capture_on_commit_callbacks(execute=True):
            return do_set_status(actor=actor or desk.agent, conversation_id=conversation.pk, status=status)

    return run


@pytest.fixture
def quality_conversation_for_closing(desk):
    from types import SimpleNamespace

    from kefu.conversations.services import do_receive_customer_message, do_send_agent_message

    msg, _ = do_receive_customer_message(
        channel=desk.channel, identities=[("web", "closing")], text="好的，明白了，谢谢"
    )
    do_send_agent_message(
        agent=desk.agent, conversation_id=msg.conversation_id, text="您好，很高兴为您服务。"
    )
    return SimpleNamespace(agent=desk.agent, conversation_id=msg.conversation_id)
