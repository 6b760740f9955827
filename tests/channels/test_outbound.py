"""Agent replies delivered to a platform's outbound URL: signed, retried with backoff, then failed;
and to an email customer through the SMTP relay, threaded under their mail.

The platform is a real HTTP server on loopback that answers with whatever the test queues;
the relay is an aiosmtpd sink on loopback.
"""

from __future__ import annotations

import email
import email.policy
import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from kefu.accounts.models import AgentStatus
from kefu.channels.models import Channel, OutboundDelivery
from kefu.channels.outbound import retry_delay, send_outbound
from kefu.channels.services import PlatformMessage, do_receive_email, do_receive_platform_message
from kefu.conversations.models import Message
from kefu.conversations.services import do_add_note, do_send_agent_message
from kefu.core.signing import check_signature
from tests.channels.mail import SUPPORT, free_port, make_mail


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


class Platform:
    """What the platform received, and the statuses it will answer with (then 200)."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        self.delay = 0.0
        self.url = ""


@pytest.fixture
def platform() -> Iterator[Platform]:
    state = Platform()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.requests.append((dict(self.headers.items()), body))
            if state.delay:
                time.sleep(state.delay)
            status = state.statuses.pop(0) if state.statuses else 200
            try:
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except (BrokenPipeError, ConnectionResetError):
                pass  # kefu timed out and hung up, as it should

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/kefu/outbound"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def im_reply(
    platform: Platform,
    make_team: Any,
    make_user: Any,
    make_channel: Any,
    django_capture_on_commit_callbacks: Any,
) -> Any:
    """A WeChat conversation with one agent reply waiting to be delivered."""
    team = make_team()
    agent = make_user(teams=(team,), status=AgentStatus.ONLINE, display_name="小美")
    channel = make_channel("im", team=team, outbound_url=platform.url)
    incoming, _ = do_receive_platform_message(
        channel=channel,
        delivery_id="d-1",
        incoming=PlatformMessage(
            sender_id="wx-openid-9", sender_name="小王", message_id="pm-1", text="在吗？"
        ),
    )
    with django_capture_on_commit_callbacks(execute=True):
        reply, _ = do_send_agent_message(
            agent=agent, conversation_id=incoming.conversation_id, text="您好，在的。"
        )
    return OutboundDelivery.objects.select_related("message__conversation__channel").get(message=reply)


def _time_passes(delivery: OutboundDelivery) -> None:
    """Make the scheduled retry due, as the worker would find it later."""
    OutboundDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


@pytest.mark.django_db
def test_failed_post_is_retried_with_backoff_then_delivered_signed(
    im_reply: OutboundDelivery, platform: Platform, django_capture_on_commit_callbacks: Any
) -> None:
    from django_tasks_db.models import DBTaskResult

    platform.statuses = [503]
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        send_outbound.call(im_reply.pk)

    im_reply.refresh_from_db()
    assert (im_reply.status, im_reply.attempts) == ("pending", 1)
    assert "HTTP 503" in im_reply.last_error
    assert im_reply.next_attempt_at >= before + retry_delay(1)
    retry = DBTaskResult.objects.filter(task_path="kefu.channels.outbound.send_outbound").latest(
        "enqueued_at"
    )
    assert retry.args_kwargs["args"] == [im_reply.pk]
    assert retry.run_after == im_reply.next_attempt_at

    _time_passes(im_reply)
    send_outbound.call(im_reply.pk)

    im_reply.refresh_from_db()
    assert (im_reply.status, im_reply.attempts, im_reply.last_error) == ("sent", 2, "")
    assert im_reply.sent_at is not None
    assert len(platform.requests) == 2
    headers, body = platform.requests[-1]
    channel = im_reply.message.conversation.channel
    check_signature(
        channel.secret,
        timestamp=headers["X-Kefu-Timestamp"],
        delivery=headers["X-Kefu-Delivery"],
        signature=headers["X-Kefu-Signature"],
        body=body,
    )
    sent = json.loads(body)
    assert sent["conversation_id"] == im_reply.message.conversation_id
    assert sent["message_id"] == im_reply.message_id
    assert sent["recipient"] == {"kind": "wechat", "id": "wx-openid-9"}
    assert sent["text"] == "您好，在的。"
    assert platform.requests[0][0]["X-Kefu-Delivery"] != headers["X-Kefu-Delivery"]  # unique per attempt


@pytest.mark.django_db
def test_backoff_doubles_between_attempts(settings: Any) -> None:
    settings.KEFU_OUTBOUND_RETRY_SECONDS = 30
    assert [retry_delay(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]


@pytest.mark.django_db
def test_delivery_fails_after_the_last_attempt_and_the_desk_is_told(
    im_reply: OutboundDelivery,
    platform: Platform,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.KEFU_OUTBOUND_MAX_ATTEMPTS = 2
    platform.statuses = [500, 500]
    events: list[tuple[str, dict]] = []
    monkeypatch.setattr(
        "kefu.channels.outbound.publish", lambda event, data, **kw: events.append((event, data))
    )

    send_outbound.call(im_reply.pk)
    _time_passes(im_reply)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        send_outbound.call(im_reply.pk)

    im_reply.refresh_from_db()
    assert (im_reply.status, im_reply.attempts) == ("failed", 2)
    assert im_reply.next_attempt_at is None
    assert not callbacks  # no further retry scheduled
    [(event, data)] = events
    assert event == "message.delivery_failed"
    assert data["message_id"] == im_reply.message_id and data["attempts"] == 2
    send_outbound.call(im_reply.pk)  # a stray task for a failed delivery does nothing
    assert len(platform.requests) == 2


@pytest.mark.django_db
def test_slow_platform_times_out_and_counts_as_a_failed_attempt(
    im_reply: OutboundDelivery, platform: Platform, settings: Any
) -> None:
    settings.KEFU_OUTBOUND_TIMEOUT = 0.3
    platform.delay = 1.0
    send_outbound.call(im_reply.pk)
    im_reply.refresh_from_db()
    assert (im_reply.status, im_reply.attempts) == ("pending", 1)
    assert "Timeout" in im_reply.last_error


@pytest.mark.django_db
def test_sent_delivery_and_early_duplicate_tasks_do_not_send_again(
    im_reply: OutboundDelivery, platform: Platform
) -> None:
    platform.statuses = [500]
    send_outbound.call(im_reply.pk)
    send_outbound.call(im_reply.pk)  # duplicate task before the retry is due: skipped
    assert len(platform.requests) == 1
    _time_passes(im_reply)
    send_outbound.call(im_reply.pk)
    send_outbound.call(im_reply.pk)  # already sent
    assert len(platform.requests) == 2
    im_reply.refresh_from_db()
    assert im_reply.status == "sent"


@pytest.mark.django_db
def test_notes_and_web_chat_replies_need_no_delivery(im_reply: OutboundDelivery, desk: Any) -> None:
    conversation = im_reply.message.conversation
    agent = im_reply.message.sender
    do_add_note(agent=agent, conversation_id=conversation.pk, text="客户很着急")
    from kefu.conversations.services import do_receive_customer_message

    web_msg, _ = do_receive_customer_message(channel=desk.channel, identities=[("web", "v-1")], text="你好")
    do_send_agent_message(agent=desk.agent, conversation_id=web_msg.conversation_id, text="您好")
    assert OutboundDelivery.objects.count() == 1


@pytest.mark.django_db
def test_platform_without_outbound_url_gets_no_delivery(
    make_channel: Any, make_team: Any, make_user: Any
) -> None:
    team = make_team()
    agent = make_user(teams=(team,))
    channel: Channel = make_channel("social", team=team)
    incoming, _ = do_receive_platform_message(
        channel=channel,
        delivery_id="d-1",
        incoming=PlatformMessage(sender_id="weibo-1", sender_name="", message_id="s-1", text="求助"),
    )
    do_send_agent_message(agent=agent, conversation_id=incoming.conversation_id, text="您好")
    assert Message.objects.filter(direction="outgoing", kind="text").count() == 1
    assert not OutboundDelivery.objects.exists()


@pytest.mark.django_db
def test_stalled_deliveries_are_kicked_once(im_reply: OutboundDelivery, platform: Platform) -> None:
    from django_tasks_db.models import DBTaskResult

    from kefu.channels.outbound import do_kick_stalled_deliveries

    def queued() -> int:
        return DBTaskResult.objects.filter(args_kwargs__args=[im_reply.pk]).count()

    before = queued()
    assert do_kick_stalled_deliveries() == 0  # just created: its own task is on the way

    # The worker died mid-send: the lease it took ran out long ago.
    OutboundDelivery.objects.filter(pk=im_reply.pk).update(
        attempts=1, next_attempt_at=timezone.now() - timedelta(minutes=10)
    )
    assert do_kick_stalled_deliveries() == 1
    assert do_kick_stalled_deliveries() == 0  # marked due: not kicked again while queued
    assert queued() == before + 1

    send_outbound.call(im_reply.pk)
    im_reply.refresh_from_db()
    assert (im_reply.status, im_reply.attempts) == ("sent", 2)


class _Capture:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), envelope.original_content or envelope.content))
        return "250 OK"


@pytest.fixture
def relay() -> Iterator[_Capture]:
    """A real SMTP server on loopback standing in for the outbound relay; MAILERS point at it."""
    from aiosmtpd.controller import Controller

    capture = _Capture()
    port = free_port()
    controller = Controller(capture, hostname="127.0.0.1", port=port)
    controller.start()
    mailers = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": port, "timeout": 5},
        }
    }
    try:
        with override_settings(MAILERS=mailers):
            yield capture
    finally:
        controller.stop()


@pytest.mark.django_db
def test_agent_reply_is_mailed_threaded_under_the_customer_mail_and_the_answer_threads_back(
    desk: Any, email_channel: Channel, relay: _Capture, django_capture_on_commit_callbacks: Any
) -> None:
    first, _ = do_receive_email(make_mail(), rcpt_tos=[SUPPORT])
    second, _ = do_receive_email(
        make_mail(subject="Re: 订单咨询", message_id="<m2@example.com>", references="<m1@example.com>"),
        rcpt_tos=[SUPPORT],
    )
    with django_capture_on_commit_callbacks(execute=True):
        reply, _ = do_send_agent_message(
            agent=desk.agent, conversation_id=first.conversation_id, text="已为您加急发货。"
        )
    delivery = OutboundDelivery.objects.get(message=reply)

    send_outbound.call(delivery.pk)

    delivery.refresh_from_db()
    reply.refresh_from_db()
    assert delivery.status == "sent" and delivery.attempts == 1
    [(rcpt, raw)] = relay.messages
    assert rcpt == ["zhangsan@example.com"]
    sent = email.message_from_bytes(raw, policy=email.policy.default)
    assert sent["Subject"] == "Re: 订单咨询"
    assert sent["In-Reply-To"] == "<m2@example.com>"
    assert sent["References"].split() == ["<m1@example.com>", "<m2@example.com>"]
    assert sent["Message-ID"] == reply.meta["message_id"] == reply.external_id
    assert sent["From"].addresses[0].addr_spec == SUPPORT
    assert sent.get_content().strip() == "已为您加急发货。"

    answer, _ = do_receive_email(
        make_mail(message_id="<m3@example.com>", in_reply_to=sent["Message-ID"], subject="Re: Re: 订单咨询"),
        rcpt_tos=[SUPPORT],
    )
    assert answer.conversation_id == first.conversation_id


@pytest.mark.django_db
def test_unreachable_relay_costs_an_attempt_and_schedules_a_retry(
    desk: Any, email_channel: Channel, django_capture_on_commit_callbacks: Any
) -> None:
    from django_tasks_db.models import DBTaskResult

    first, _ = do_receive_email(make_mail(), rcpt_tos=[SUPPORT])
    reply, _ = do_send_agent_message(agent=desk.agent, conversation_id=first.conversation_id, text="稍等")
    delivery = OutboundDelivery.objects.get(message=reply)
    closed_port = {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {"host": "127.0.0.1", "port": free_port(), "timeout": 2},
    }
    with (
        override_settings(MAILERS={"default": closed_port}),
        django_capture_on_commit_callbacks(execute=True),
    ):
        send_outbound.call(delivery.pk)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert "SMTP" in delivery.last_error
    retry = DBTaskResult.objects.get(
        task_path="kefu.channels.outbound.send_outbound", args_kwargs__args=[delivery.pk]
    )
    assert retry.run_after == delivery.next_attempt_at
