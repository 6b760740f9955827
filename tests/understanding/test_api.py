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


# --- alerts: list, acknowledge, permissions ---------------------------------------------


def _alert(desk, visitor: str, text: str, *, assignee=None, customer_name: str = "") -> EmotionAlert:
    from kefu.conversations.models import Conversation

    msg, _ = do_receive_customer_message(
        channel=desk.channel, identities=[("web", visitor)], text=text, customer_name=customer_name
    )
    if assignee is not None:
        Conversation.objects.filter(pk=msg.conversation_id).update(assignee=assignee)
    return EmotionAlert.objects.filter(conversation_id=msg.conversation_id).latest("id")


def test_alerts_are_listed_newest_first_with_the_customer_named_as_everywhere(client, desk):
    named = _alert(desk, "n1", "你们什么垃圾服务！！！气死我了", customer_name="张女士")
    anonymous = _alert(desk, "n2", "不退款我就去12315投诉你们！！")
    client.force_login(desk.supervisor)
    listed = client.get("/api/v1/emotion-alerts").json()
    assert [a["id"] for a in listed] == [anonymous.pk, named.pk]
    assert listed[1]["customer_name"] == "张女士"
    customer = anonymous.conversation.customer
    assert listed[0]["customer_name"] == f"客户#{customer.pk}" == str(customer)
    assert (listed[0]["level"], listed[0]["level_text"]) == ("complaint_risk", "投诉风险")
    assert (listed[1]["level"], listed[1]["level_text"]) == ("emotion", "情绪预警")


def test_acknowledging_records_who_and_when_and_a_second_ack_keeps_the_first(client, desk, make_user):
    lead = make_user("zuzhang", role=Role.TEAM_LEAD, teams=(desk.team,), display_name="李组长")
    alert = _alert(desk, "ack", "垃圾！骗子！我要找媒体曝光你们！", assignee=desk.agent)
    client.force_login(lead)
    body = _post(client, f"/api/v1/emotion-alerts/{alert.pk}/ack", {}).json()
    assert body["acknowledged"] is True
    assert (body["acknowledged_by_id"], body["acknowledged_by_name"]) == (lead.pk, "李组长")
    assert body["acknowledged_at"]
    client.force_login(desk.agent)
    again = _post(client, f"/api/v1/emotion-alerts/{alert.pk}/ack", {})
    assert again.status_code == 200
    assert again.json()["acknowledged_by_id"] == lead.pk
    assert again.json()["acknowledged_at"] == body["acknowledged_at"]
    line = alert.conversation.messages.filter(meta__acknowledged=True).get()
    assert line.text.startswith("李组长 已确认投诉风险")
    assert client.get("/api/v1/emotion-alerts").json() == []  # open only, by default
    closed = client.get("/api/v1/emotion-alerts?open_only=false").json()
    assert [a["id"] for a in closed] == [alert.pk]


def test_only_the_assignee_the_teams_lead_or_a_supervisor_may_acknowledge(client, desk, make_user, make_team):
    colleague = make_user("tongshi", teams=(desk.team,))
    other_lead = make_user("other-lead", role=Role.TEAM_LEAD, teams=(make_team("技术支持"),))
    alert = _alert(desk, "perm", "你们什么垃圾服务！！！气死我了", assignee=desk.agent)
    url = f"/api/v1/emotion-alerts/{alert.pk}/ack"
    client.force_login(colleague)  # sees the team's conversation, does not own it
    refused = _post(client, url, {})
    assert refused.status_code == 403
    assert "组长" in refused.json()["detail"]
    client.force_login(other_lead)  # cannot even see the conversation
    assert _post(client, url, {}).status_code == 403
    assert client.get("/api/v1/emotion-alerts").json() == []
    alert.refresh_from_db()
    assert alert.acknowledged_at is None
    client.force_login(desk.supervisor)
    assert _post(client, url, {}).status_code == 200


def test_acknowledging_a_missing_alert_is_404_naming_it(client, desk):
    client.force_login(desk.supervisor)
    r = _post(client, "/api/v1/emotion-alerts/999999/ack", {})
    assert r.status_code == 404
    assert "alert_id" in r.json().get("fields", {})


def test_alerts_need_a_signed_in_user(client, desk):
    assert client.get("/api/v1/emotion-alerts").status_code == 401
    assert _post(client, "/api/v1/emotion-alerts/1/ack", {}).status_code == 401


def test_emotion_endpoint_says_whether_the_customer_is_likely_to_end_dissatisfied(client, desk):
    client.force_login(desk.agent)
    msg, _ = do_receive_customer_message(
        channel=desk.channel, identities=[("web", "o1")], text="请问这款保温杯有粉色的吗"
    )
    calm = client.get(f"/api/v1/conversations/{msg.conversation_id}/emotion").json()
    msg, _ = do_receive_customer_message(
        channel=desk.channel, identities=[("web", "o2")], text="等了一个星期还没发货，太失望了，客服也不理人"
    )
    do_receive_customer_message(
        channel=desk.channel, identities=[("web", "o2")], text="再不处理我就给差评，以后再也不来你们店了"
    )
    upset = client.get(f"/api/v1/conversations/{msg.conversation_id}/emotion").json()
    assert 0 <= calm["dissatisfied_probability"] < 0.5 and not calm["likely_dissatisfied"]
    assert calm["outlook_text"].startswith("结束时不满意的可能")
    assert upset["dissatisfied_probability"] >= 0.5 and upset["likely_dissatisfied"]
    assert upset["outlook_text"].startswith("客户可能不满意结束")
