from __future__ import annotations

import pytest

from kefu.conversations.models import Conversation, Message
from kefu.conversations.services import do_receive_customer_message, do_send_agent_message
from kefu.core.errors import InvalidInput


@pytest.mark.django_db
def test_customer_message_opens_conversation_and_assigns_online_agent(
    desk, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        msg, created = do_receive_customer_message(
            channel=desk.channel,
            identities=[("web", "visitor-abc")],
            text="你好，我的快递三天没有物流更新了",
            client_msg_id="c1",
        )
    assert created
    conv = Conversation.objects.get(pk=msg.conversation_id)
    assert conv.assignee == desk.agent
    assert conv.team == desk.team


@pytest.mark.django_db
def test_resent_client_message_is_stored_once(desk):
    first, _ = do_receive_customer_message(
        channel=desk.channel, identities=[("web", "v1")], text="在吗？", client_msg_id="same"
    )
    again, created = do_receive_customer_message(
        channel=desk.channel, identities=[("web", "v1")], text="在吗？", client_msg_id="same"
    )
    assert not created
    assert again.pk == first.pk
    assert Message.objects.filter(direction="incoming").count() == 1


@pytest.mark.django_db
def test_empty_message_is_refused_naming_the_field(desk):
    with pytest.raises(InvalidInput) as exc:
        do_receive_customer_message(channel=desk.channel, identities=[("web", "v2")], text="   ")
    assert "text" in exc.value.fields


@pytest.mark.django_db
def test_first_agent_to_answer_becomes_first_responder(desk):
    msg, _ = do_receive_customer_message(channel=desk.channel, identities=[("web", "v3")], text="杯子漏水")
    reply, _ = do_send_agent_message(agent=desk.agent, conversation_id=msg.conversation_id, text="非常抱歉")
    conv = Conversation.objects.get(pk=msg.conversation_id)
    assert conv.first_responder == desk.agent
    assert conv.first_response_at is not None


@pytest.mark.django_db
def test_snoozed_conversation_reopens_when_its_time_comes(desk):
    from datetime import timedelta

    from django.utils import timezone

    from kefu.conversations.services import do_set_status, do_wake_snoozed

    msg, _ = do_receive_customer_message(
        channel=desk.channel, identities=[("web", "snz")], text="明天再联系我"
    )
    until = timezone.now() + timedelta(hours=1)
    do_set_status(
        actor=desk.supervisor, conversation_id=msg.conversation_id, status="snoozed", snoozed_until=until
    )
    assert do_wake_snoozed(timezone.now()) == 0
    assert do_wake_snoozed(until + timedelta(seconds=1)) == 1
    conv = Conversation.objects.get(pk=msg.conversation_id)
    assert conv.status == "open" and conv.snoozed_until is None
    assert do_wake_snoozed(until + timedelta(seconds=2)) == 0
