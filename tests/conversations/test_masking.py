"""Personal data customers type is masked in the desk's API, pages and live events; one message
can be revealed on purpose by an allowed role, in a conversation they may open, and it is audited."""

from __future__ import annotations

from typing import Any

import pytest

from kefu.accounts.models import AgentStatus, AuditLog, Role
from kefu.conversations.models import Conversation, Message
from kefu.conversations.services import do_add_note, do_receive_customer_message

pytestmark = pytest.mark.django_db

PHONE = "13812345678"
ID_CARD = "11010519491231002X"
CARD = "6222021234567890128"
FIRST = f"你好，退款请打到我的卡 {CARD}，有问题打我电话 {PHONE}"


@pytest.fixture
def conv(desk: Any) -> Conversation:
    msg, _ = do_receive_customer_message(
        channel=desk.channel, identities=[("web", "visitor-pii")], text=FIRST, customer_name="陈女士"
    )
    return Conversation.objects.get(pk=msg.conversation_id)


@pytest.fixture
def lead(desk: Any, make_user: Any) -> Any:
    return make_user("zuzhang", role=Role.TEAM_LEAD, teams=(desk.team,), status=AgentStatus.ONLINE)


@pytest.fixture
def other_lead(make_team: Any, make_user: Any) -> Any:
    return make_user("shouhou-lead", role=Role.TEAM_LEAD, teams=(make_team("售后组"),))


def login(client: Any, user: Any) -> Any:
    client.force_login(user)
    return client


def incoming(conv: Conversation) -> Message:
    return conv.messages.filter(direction=Message.Direction.INCOMING).order_by("id").first()


def test_message_text_is_masked_in_the_api_and_flagged(client, desk, conv):
    r = login(client, desk.agent).get(f"/api/v1/conversations/{conv.pk}/messages")
    assert r.status_code == 200
    first = r.json()["items"][0]
    assert first["text"] == "你好，退款请打到我的卡 6222***********0128，有问题打我电话 138****5678"
    assert first["has_pii"] is True
    assert incoming(conv).text == FIRST  # stored as typed


def test_subject_and_preview_are_masked_in_inbox_and_detail(client, desk, conv):
    c = login(client, desk.supervisor)
    item = c.get("/api/v1/conversations?view=all").json()["items"][0]
    assert PHONE not in item["preview"] and CARD not in item["preview"]
    assert "138****5678" in item["preview"]
    assert PHONE not in item["subject"] and CARD not in item["subject"]
    detail = c.get(f"/api/v1/conversations/{conv.pk}").json()
    assert CARD not in detail["subject"]
    assert Conversation.objects.get(pk=conv.pk).subject.startswith(FIRST[:20])


def test_notes_and_later_messages_are_masked_too(client, desk, conv):
    do_add_note(agent=desk.supervisor, conversation_id=conv.pk, text=f"客户身份证 {ID_CARD} 已核对")
    do_receive_customer_message(
        channel=desk.channel, identities=[("web", "visitor-pii")], text="我的手機是１３８１２３４５６７８"
    )
    texts = [
        m["text"]
        for m in login(client, desk.supervisor)
        .get(f"/api/v1/conversations/{conv.pk}/messages")
        .json()["items"]
    ]
    assert "客户身份证 110105********002X 已核对" in texts
    assert "我的手機是１３８****５６７８" in texts


def test_workspace_and_inbox_pages_show_masked_text_and_a_reveal_button_for_leads(client, desk, conv, lead):
    c = login(client, lead)
    page = c.get(f"/desk/c/{conv.pk}/").content.decode()
    assert PHONE not in page and CARD not in page
    assert "138****5678" in page
    assert f'data-reveal-message="{incoming(conv).pk}"' in page
    inbox = c.get("/desk/?view=all&partial=1").content.decode()
    assert PHONE not in inbox and "138****5678" in inbox


def test_agents_get_no_reveal_button(client, desk, conv):
    page = login(client, desk.agent).get(f"/desk/c/{conv.pk}/").content.decode()
    assert "data-reveal-message" not in page
    assert PHONE not in page


def test_lead_reveals_one_message_and_it_is_audited(client, desk, conv, lead):
    m = incoming(conv)
    r = login(client, lead).post(f"/api/v1/conversations/{conv.pk}/messages/{m.pk}/reveal")
    assert r.status_code == 200
    assert r.json() == {"conversation_id": conv.pk, "message_id": m.pk, "text": FIRST}
    row = AuditLog.objects.get(action=AuditLog.Action.REVEAL_PII)
    assert row.actor == lead
    assert (row.target_type, row.target_id) == ("customer", str(conv.customer_id))
    assert row.detail == {"field": "message", "message_id": m.pk, "conversation_id": conv.pk}
    assert row.ip == "127.0.0.1"


def test_agent_may_not_reveal_and_nothing_is_audited(client, desk, conv):
    m = incoming(conv)
    r = login(client, desk.agent).post(f"/api/v1/conversations/{conv.pk}/messages/{m.pk}/reveal")
    assert r.status_code == 403
    assert "查看消息原文" in r.json()["detail"]
    assert not AuditLog.objects.filter(action=AuditLog.Action.REVEAL_PII).exists()


def test_lead_of_another_team_may_not_reveal(client, conv, other_lead):
    m = incoming(conv)
    r = login(client, other_lead).post(f"/api/v1/conversations/{conv.pk}/messages/{m.pk}/reveal")
    assert r.status_code == 403
    assert not AuditLog.objects.filter(action=AuditLog.Action.REVEAL_PII).exists()


def test_reveal_of_a_message_of_another_conversation_is_404(client, desk, conv, lead):
    msg, _ = do_receive_customer_message(
        channel=desk.channel, identities=[("web", "someone-else")], text="尺码偏大"
    )
    r = login(client, lead).post(f"/api/v1/conversations/{conv.pk}/messages/{msg.pk}/reveal")
    assert r.status_code == 404
    assert not AuditLog.objects.filter(action=AuditLog.Action.REVEAL_PII).exists()


def test_logged_out_reveal_is_401(client, conv):
    r = client.post(f"/api/v1/conversations/{conv.pk}/messages/{incoming(conv).pk}/reveal")
    assert r.status_code == 401


def test_live_desk_events_carry_masked_text(desk, monkeypatch, django_capture_on_commit_callbacks):
    import kefu.core.events as core_events

    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(core_events, "_send_many", lambda sends: sent.extend(m for _, m in sends))
    with django_capture_on_commit_callbacks(execute=True):
        do_receive_customer_message(
            channel=desk.channel, identities=[("web", "live-1")], text=f"身份证 {ID_CARD}"
        )
    desk_frames = [m["payload"] for m in sent if m["type"] == "desk.event"]
    created = next(p for p in desk_frames if p["event"] == "message.created")
    assert created["data"]["message"]["text"] == "身份证 110105********002X"
    assert created["data"]["message"]["has_pii"] is True
    assert created["data"]["conversation"]["subject"] == "身份证 110105********002X"
    conv_created = next(p for p in desk_frames if p["event"] == "conversation.created")
    assert ID_CARD not in str(conv_created)
    # The customer's own chat gets their text as typed.
    chat = [m["payload"] for m in sent if m["type"] == "chat.event"]
    assert all(ID_CARD in p["data"]["message"]["text"] for p in chat if p["event"] == "message.created")


def test_customer_timeline_titles_are_masked(client, desk, conv):
    r = login(client, desk.supervisor).get(f"/api/v1/customers/{conv.customer_id}/timeline")
    assert r.status_code == 200
    titles = [e["title"] for e in r.json()["items"]]
    assert titles and all(PHONE not in t and CARD not in t for t in titles)
    assert any("138****5678" in t for t in titles)


def test_transcript_export_is_masked_team_scoped_and_safe_in_a_spreadsheet(client, desk, conv, other_lead):
    import csv
    import io

    do_receive_customer_message(
        channel=desk.channel, identities=[("web", "visitor-pii")], text='=HYPERLINK("http://x.example")'
    )
    r = login(client, desk.supervisor).get(f"/desk/c/{conv.pk}/export.csv")
    assert r.status_code == 200
    assert r["Content-Type"].startswith("text/csv")
    assert f"conversation-{conv.pk}.csv" in r["Content-Disposition"]
    body = r.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == ["时间", "类型", "发送方", "内容", "图片"]
    assert [
        "客户",
        "陈女士",
        "你好，退款请打到我的卡 6222***********0128，有问题打我电话 138****5678",
    ] == rows[1][1:4]
    assert PHONE not in body and CARD not in body
    assert any(row[3].startswith("'=HYPERLINK") for row in rows[1:])
    page = login(client, desk.agent).get(f"/desk/c/{conv.pk}/").content.decode()
    assert f"/desk/c/{conv.pk}/export.csv" in page
    assert login(client, other_lead).get(f"/desk/c/{conv.pk}/export.csv").status_code == 403
