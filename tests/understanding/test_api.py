"""The understanding API: emotion of a conversation, intents, corrections, alerts, shop words, analysis."""

from __future__ import annotations

import json

import pytest

from kefu.accounts.models import Role
from kefu.conversations.services import do_receive_customer_message
from kefu.understanding.models import EmotionAlert, Intent, ShopWord
from kefu.understanding.services import do_install_default_intents

pytestmark = pytest.mark.django_db


def _post(client, url, body):
    return client.post(url, data=json.dumps(body), content_type="application/json")


def test_emotion_endpoint_gives_badge_signals_and_guidance(client, desk):
    msg, _ = do_receive_customer_message(
        channel=desk.channel, identities=[("web", "e")], text="都第三次问了！！！到底什么时候发货？？？"
    )
    client.force_login(desk.agent)
    r = client.get(f"/api/v1/conversations/{msg.conversation_id}/emotion")
    assert r.status_code == 200
    body = r.json()
    assert body["label"] in ("anxious", "dissatisfied", "angry")
    assert body["signals"] and body["guidance"]


def test_agent_of_another_team_cannot_read_the_emotion(client, desk, make_user, make_team):
    other = make_user("other-team-agent", teams=(make_team("技术支持"),))
    msg, _ = do_receive_customer_message(channel=desk.channel, identities=[("web", "f")], text="你好")
    client.force_login(other)
    assert client.get(f"/api/v1/conversations/{msg.conversation_id}/emotion").status_code == 403


def test_intent_correction_rejects_unknown_intents(client, desk):
    do_install_default_intents()
    msg, _ = do_receive_customer_message(
        channel=desk.channel, identities=[("web", "g")], text="发票抬头开错了"
    )
    client.force_login(desk.agent)
    r = _post(client, f"/api/v1/conversations/{msg.conversation_id}/intent", {"intent": "不存在的意图"})
    assert r.status_code == 400 and "intent" in r.json()["fields"]
    r = _post(client, f"/api/v1/conversations/{msg.conversation_id}/intent", {"intent": "发票"})
    assert r.status_code == 200 and r.json()["intent"] == "发票"


def test_only_admins_edit_the_taxonomy_and_dictionary(client, desk, make_user):
    do_install_default_intents()
    intent = Intent.objects.get(name="发票")
    client.force_login(desk.agent)
    assert (
        client.patch(
            f"/api/v1/intents/{intent.pk}",
            data=json.dumps({"default_priority": "P1"}),
            content_type="application/json",
        ).status_code
        == 403
    )
    admin = make_user("admin1", role=Role.ADMIN)
    client.force_login(admin)
    r = client.patch(
        f"/api/v1/intents/{intent.pk}",
        data=json.dumps({"default_priority": "P1"}),
        content_type="application/json",
    )
    assert r.status_code == 200 and r.json()["default_priority"] == "P1"
    r = _post(client, "/api/v1/shop-words", {"words": ["悦家保温杯Pro", "云朵枕"]})
    assert r.status_code == 201
    assert ShopWord.objects.filter(word="云朵枕").exists()


def test_analyze_reports_tokens_emotion_and_intent(client, desk):
    client.force_login(desk.agent)
    r = _post(client, "/api/v1/nlp/analyze", {"text": "我的訂單怎麼還沒到！！！"})
    assert r.status_code == 200
    body = r.json()
    assert body["normalized"].startswith("我的订单怎么还没到")
    assert "订单" in body["tokens"]


def test_alert_is_listed_and_acknowledged(client, desk):
    msg, _ = do_receive_customer_message(
        channel=desk.channel,
        identities=[("web", "h")],
        text="垃圾！骗子！我要去12315投诉你们，还要找媒体曝光！",
    )
    alert = EmotionAlert.objects.get(conversation_id=msg.conversation_id)
    client.force_login(desk.supervisor)
    listed = client.get("/api/v1/emotion-alerts").json()
    assert [a["id"] for a in listed] == [alert.pk]
    assert _post(client, f"/api/v1/emotion-alerts/{alert.pk}/ack", {}).json()["acknowledged"] is True
