"""Pre-send quality on the server: a reply with high-severity findings is refused on every
send path unless the agent confirms it, and the override is recorded with its findings."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from kefu.accounts.models import Role
from kefu.conversations.models import Conversation, Message
from kefu.conversations.services import do_receive_customer_message
from kefu.quality.models import ReplyFindings
from kefu.tickets.services import do_create_ticket

pytestmark = pytest.mark.django_db

ANGRY = "你们什么破快递，都一个星期了还没到！什么时候能到？投诉！"
BAD = "这是公司规定，可能明天发货吧，但是我们也没办法"
GOOD = "非常抱歉让您久等了，我马上帮您联系快递核实，今天18:00前给您答复。"


def png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buf, "PNG")
    return buf.getvalue()


def post(client, url, body):
    return client.post(url, data=json.dumps(body), content_type="application/json")


@pytest.fixture
def angry_conv(desk):
    msg, _ = do_receive_customer_message(
        channel=desk.channel, identities=[("web", "angry-zhang")], customer_name="张女士", text=ANGRY
    )
    Conversation.objects.filter(pk=msg.conversation_id).update(emotion_label="angry")
    return Conversation.objects.get(pk=msg.conversation_id)


def sent(conversation):
    return Message.objects.filter(
        conversation=conversation, direction=Message.Direction.OUTGOING, sender__isnull=False
    )


def test_a_reply_with_high_findings_is_refused_with_the_findings_in_the_body(client, desk, angry_conv):
    client.force_login(desk.agent)
    r = post(client, f"/api/v1/conversations/{angry_conv.pk}/messages", {"text": BAD, "client_msg_id": "b1"})
    assert r.status_code == 409, r.content
    body = r.json()
    assert body["error"] == "findings_unconfirmed" and body["high"] >= 2
    assert set(body["fields"]) == {"text", "confirm_findings"}
    high = {f["rule"] for f in body["findings"] if f["severity"] == "high"}
    assert {"blame_policy", "no_empathy"} <= high
    blame = next(f for f in body["findings"] if f["rule"] == "blame_policy")
    assert blame["rule_label"] and BAD[blame["start"] : blame["end"]] == blame["excerpt"]
    assert not sent(angry_conv).exists() and not ReplyFindings.objects.exists()


def test_a_confirmed_reply_is_sent_and_recorded_as_an_override(client, desk, angry_conv):
    client.force_login(desk.agent)
    url = f"/api/v1/conversations/{angry_conv.pk}/messages"
    r = post(client, url, {"text": BAD, "client_msg_id": "b2", "confirm_findings": True})
    assert r.status_code == 201, r.content
    record = ReplyFindings.objects.get(message_id=r.json()["id"])
    assert record.overridden and record.high_count >= 2 and record.agent == desk.agent
    assert {"blame_policy", "no_empathy"} <= {f["rule"] for f in record.findings if f["severity"] == "high"}
    # A resend of the same client_msg_id is the stored message, checked once.
    again = post(client, url, {"text": BAD, "client_msg_id": "b2"})
    assert again.status_code == 200 and again.json()["id"] == r.json()["id"]


def test_a_reply_without_high_findings_needs_no_confirmation(client, desk, angry_conv):
    client.force_login(desk.agent)
    r = post(client, f"/api/v1/conversations/{angry_conv.pk}/messages", {"text": GOOD})
    assert r.status_code == 201
    record = ReplyFindings.objects.get(message_id=r.json()["id"])
    assert not record.overridden and record.high_count == 0


def test_confirm_findings_must_be_a_boolean(client, desk, angry_conv):
    client.force_login(desk.agent)
    r = post(
        client, f"/api/v1/conversations/{angry_conv.pk}/messages", {"text": BAD, "confirm_findings": "yes"}
    )
    assert r.status_code in (400, 422) and not sent(angry_conv).exists()


def test_the_text_of_an_image_message_is_checked_too(client, desk, angry_conv):
    client.force_login(desk.agent)
    url = f"/api/v1/conversations/{angry_conv.pk}/images"
    image = SimpleUploadedFile("box.png", png(), content_type="image/png")
    r = client.post(url, {"image": image, "text": BAD, "client_msg_id": "i1"})
    assert r.status_code == 409 and r.json()["error"] == "findings_unconfirmed"
    image = SimpleUploadedFile("box.png", png(), content_type="image/png")
    r = client.post(url, {"image": image, "text": BAD, "client_msg_id": "i2", "confirm_findings": "true"})
    assert r.status_code == 201, r.content
    assert ReplyFindings.objects.get(message_id=r.json()["id"]).overridden


def test_a_ticket_update_to_the_customer_is_checked_too(client, desk, angry_conv):
    ticket = do_create_ticket(actor=desk.agent, conversation_id=angry_conv.pk, title="快递一周未到")
    client.force_login(desk.agent)
    url = f"/api/v1/tickets/{ticket.pk}/customer-updates"
    r = post(client, url, {"text": "这是公司规定，您自己去找快递公司"})
    assert r.status_code == 409 and r.json()["error"] == "findings_unconfirmed"
    assert not sent(angry_conv).exists() and not ticket.events.filter(kind="customer_update").exists()
    r = post(client, url, {"text": "这是公司规定，您自己去找快递公司", "confirm_findings": True})
    assert r.status_code == 201
    assert ReplyFindings.objects.get(message_id=r.json()["id"]).overridden


def test_the_ticket_page_asks_before_sending_and_sends_when_confirmed(client, desk, angry_conv):
    ticket = do_create_ticket(actor=desk.agent, conversation_id=angry_conv.pk, title="快递一周未到")
    client.force_login(desk.agent)
    action = f"/desk/tickets/{ticket.pk}/customer-update/"
    r = client.post(action, {"text": "没办法，这是公司规定"}, follow=True)
    page = r.content.decode()
    assert "严重问题" in page and "已确认质检提示，仍然发送" in page and not sent(angry_conv).exists()
    assert ">没办法，这是公司规定</textarea>" in page  # the draft comes back
    client.post(action, {"text": "没办法，这是公司规定", "confirm_findings": "on"})
    assert sent(angry_conv).count() == 1
    assert ReplyFindings.objects.get().overridden


def test_the_complaint_page_shows_the_findings_and_keeps_the_draft(client, desk, angry_conv):
    from kefu.complaints.services import do_open_complaint

    complaint = do_open_complaint(
        actor=desk.agent, conversation_id=angry_conv.pk, data={"what_happened": "快递一周未到"}
    )
    client.force_login(desk.agent)
    url = f"/desk/complaints/{complaint.pk}/"
    r = client.post(url, {"action": "progress", "text": "跟我们没关系，您去找快递公司"})
    page = r.content.decode()
    assert r.status_code == 400 and "跟我们没关系" in page and "已确认质检提示，仍然发送" in page
    assert not sent(angry_conv).exists()
    r = client.post(
        url, {"action": "progress", "text": "跟我们没关系，您去找快递公司", "confirm_findings": "on"}
    )
    assert r.status_code == 302 and sent(angry_conv).count() == 1


def test_a_complaint_progress_update_is_checked_too(client, desk, angry_conv):
    from kefu.complaints.services import do_open_complaint

    complaint = do_open_complaint(
        actor=desk.agent, conversation_id=angry_conv.pk, data={"what_happened": "快递一周未到"}
    )
    client.force_login(desk.agent)
    url = f"/api/v1/complaints/{complaint.pk}/progress"
    r = post(client, url, {"text": "快递的问题跟我们没关系"})
    assert r.status_code == 409 and r.json()["error"] == "findings_unconfirmed"
    r = post(client, url, {"text": "快递的问题跟我们没关系", "confirm_findings": True})
    assert r.status_code == 200


def test_overrides_are_listed_for_leads_and_supervisors_not_other_agents(
    client, desk, angry_conv, make_user, make_team
):
    client.force_login(desk.agent)
    post(client, f"/api/v1/conversations/{angry_conv.pk}/messages", {"text": BAD, "confirm_findings": True})
    client.force_login(desk.supervisor)
    items = client.get("/api/v1/quality/overrides").json()["items"]
    assert [i["text"] for i in items] == [BAD] and items[0]["agent"] == desk.agent.name
    assert all(f["severity"] == "high" for f in items[0]["findings"]) and items[0]["findings"]
    page = client.get("/desk/quality/").content.decode()
    assert "确认后仍发送的高风险回复" in page and "这是公司规定" in page
    lead = make_user("lead-b", role=Role.TEAM_LEAD, teams=(make_team("售后组"),))
    client.force_login(lead)
    assert client.get("/api/v1/quality/overrides").json()["items"] == []
    other = make_user("agent-b", teams=(desk.team,))
    client.force_login(other)
    assert client.get("/api/v1/quality/overrides").json()["items"] == []
