"""Intents and alerts (kefu.understanding.services): the default taxonomy, corrections, retraining."""

from __future__ import annotations

import pytest

from kefu.conversations.models import Conversation
from kefu.conversations.services import do_receive_customer_message
from kefu.understanding import reading, services
from kefu.understanding.models import Intent, IntentExample

pytestmark = pytest.mark.django_db


def test_default_taxonomy_maps_intents_to_teams(teams):
    intent = Intent.objects.get(name="账户与技术问题")
    assert intent.team == teams["技术支持"]


def test_agent_correction_becomes_a_training_example(desk, teams):
    msg, _ = do_receive_customer_message(
        channel=desk.channel, identities=[("web", "c")], text="帮我开一张电子发票"
    )
    Conversation.objects.filter(pk=msg.conversation_id).update(intent="其他")
    services.do_correct_intent(actor=desk.supervisor, conversation_id=msg.conversation_id, intent="发票")
    example = IntentExample.objects.get()
    assert example.intent == "发票" and "发票" in example.text


def test_retrained_model_is_used_by_classification(desk, teams, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    IntentExample.objects.create(text="蓝莓果酱有没有添加剂", intent="售前咨询")
    path = services.do_retrain_intents()
    assert path.exists()
    assert reading.classifier() is reading.classifier()
