"""Admin-set URLs lead only to public addresses unless an admin allows a network (SSRF).

Checked when a webhook endpoint or a channel's outbound URL is saved, and again, after
resolving the name, every time kefu sends to it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from kefu.core import netguard
from kefu.core.events import publish
from kefu.webhooks.delivery import do_send_due_deliveries
from kefu.webhooks.models import WebhookDelivery, WebhookEndpoint

from .server import receiver

pytestmark = pytest.mark.django_db

PRIVATE = [
    "http://169.254.169.254/latest/meta-data/iam/",
    "http://127.0.0.1:8000/api/v1/users",
    "http://localhost:6379/",
    "http://10.0.3.7/hook",
    "http://192.168.1.1/",
    "http://[::1]/hook",
    "http://[::ffff:169.254.169.254]/",
    "http://0.0.0.0:8000/",
]


@pytest.fixture
def no_private_networks(settings: Any) -> None:
    settings.KEFU_ALLOWED_PRIVATE_NETWORKS = ()


@pytest.fixture
def admin_client(make_user: Any) -> Client:
    from kefu.accounts.models import Role

    client = Client()
    client.force_login(make_user("admin-ssrf", role=Role.ADMIN))
    return client


@pytest.mark.parametrize("url", PRIVATE)
def test_a_webhook_to_a_private_or_link_local_address_is_refused_naming_url(
    admin_client: Client, no_private_networks: None, url: str
) -> None:
    response = admin_client.post(
        "/api/v1/webhooks", data=json.dumps({"url": url, "events": []}), content_type="application/json"
    )
    assert response.status_code == 400, response.content
    assert "url" in response.json()["fields"]
    assert not WebhookEndpoint.objects.exists()


def test_an_allowed_network_may_be_used(admin_client: Client, settings: Any) -> None:
    settings.KEFU_ALLOWED_PRIVATE_NETWORKS = ("10.0.0.0/8",)
    response = admin_client.post(
        "/api/v1/webhooks",
        data=json.dumps({"url": "http://10.0.3.7/kefu-hook", "events": []}),
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    refused = admin_client.post(
        "/api/v1/webhooks",
        data=json.dumps({"url": "http://169.254.169.254/", "events": []}),
        content_type="application/json",
    )
    assert refused.status_code == 400


def test_a_public_address_is_accepted(no_private_networks: None) -> None:
    assert netguard.check_public_url("https://1.1.1.1/hook") == "https://1.1.1.1/hook"
    # Documentation ranges (203.0.113.0/24) and multicast are no destinations either.
    assert not netguard.is_allowed(netguard.ipaddress.ip_address("203.0.113.9"))
    assert not netguard.is_allowed(netguard.ipaddress.ip_address("224.0.0.1"))


def test_a_stored_private_url_is_not_called_at_send_time(no_private_networks: None) -> None:
    # Saved before the rule, or a name whose DNS answer changed since: checked again on send.
    with receiver() as hook:
        WebhookEndpoint.objects.create(url=hook.url.replace("127.0.0.1", "localhost"))
        publish("ticket.created", {"ticket": {"id": 1, "title": "发票抬头错了"}})
        result = do_send_due_deliveries()
        assert result.succeeded == 0
        assert hook.requests == []
    delivery = WebhookDelivery.objects.get()
    assert "不允许访问内网或保留地址" in delivery.last_error


def test_a_name_is_sent_to_the_address_that_was_checked_with_its_host_kept() -> None:
    with receiver() as hook:
        url = hook.url.replace("127.0.0.1", "localhost")
        WebhookEndpoint.objects.create(url=url)
        publish("ticket.created", {"ticket": {"id": 2, "title": "尺码换货"}})
        assert do_send_due_deliveries().succeeded == 1
    port = url.split(":")[2].split("/")[0]
    assert hook.requests[0]["headers"]["Host"] == f"localhost:{port}"


def test_a_channel_outbound_url_is_checked_when_saved(make_channel: Any, no_private_networks: None) -> None:
    channel = make_channel("im", name="企业微信", outbound_url="http://169.254.169.254/latest")
    with pytest.raises(ValidationError) as exc:
        channel.full_clean()
    assert "outbound_url" in exc.value.message_dict


def test_a_channel_outbound_url_to_a_private_address_fails_at_once_at_send_time(
    desk: Any, make_channel: Any, no_private_networks: None
) -> None:
    from kefu.channels.models import OutboundDelivery
    from kefu.channels.outbound import do_deliver_outbound
    from kefu.conversations.services import do_receive_customer_message, do_send_agent_message

    channel = make_channel("im", team=desk.team, name="微信客服", outbound_url="http://127.0.0.1:9/out")
    message, _ = do_receive_customer_message(
        channel=channel, identities=[("wechat", "wx-ssrf-1")], text="退货地址是哪里？"
    )
    reply, _ = do_send_agent_message(
        agent=desk.agent, conversation_id=message.conversation_id, text="请寄到上海市浦东新区"
    )
    delivery = OutboundDelivery.objects.get(message=reply)
    do_deliver_outbound(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "failed"
    assert "不允许访问内网或保留地址" in delivery.last_error
