"""The web chat page, the token exchange, image upload and the customer's rating (``POST /chat/rate``)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from kefu.channels.visitor import issue_visitor_token, read_visitor_token
from kefu.conversations.models import Conversation, Message
from kefu.conversations.services import do_receive_customer_message, do_set_status

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_passwords(settings: Any) -> None:
    # The desk fixture creates users; the production hasher costs seconds on a shared CI box.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = tmp_path


def _png(name: str = "photo.png") -> SimpleUploadedFile:
    buf = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buf, format="PNG")
    return SimpleUploadedFile(name, buf.getvalue(), content_type="image/png")


def test_chat_page_defaults_to_first_web_channel_and_may_be_framed(client, desk):
    resp = client.get("/chat?embed=1")
    assert resp.status_code == 200
    assert "X-Frame-Options" not in resp.headers
    html = resp.content.decode()
    assert "在线客服" in html
    assert f'data-channel="{desk.channel.pk}"' in html
    assert "kefu/chat.js" in html
    token = resp.context["token"]
    assert read_visitor_token(token).channel_id == desk.channel.pk


def test_chat_page_for_unknown_channel_is_a_readable_404(client, desk):
    resp = client.get("/chat?channel=9999")
    assert resp.status_code == 404
    assert "该在线客服渠道不存在或已停用" in resp.content.decode()


def test_chat_page_with_non_numeric_channel_is_400(client, desk):
    assert client.get("/chat?channel=abc").status_code == 400


def test_token_exchange_keeps_the_visitor_for_another_channel(client, desk, make_channel):
    other = make_channel("web", team=desk.team)
    kept = issue_visitor_token(desk.channel.pk)
    resp = client.post("/chat/token", {"channel": other.pk, "token": kept})
    assert resp.status_code == 200
    new = read_visitor_token(resp.json()["token"])
    assert new.channel_id == other.pk
    assert new.visitor_id == read_visitor_token(kept).visitor_id


def test_token_exchange_with_a_forged_token_starts_a_new_visitor(client, desk):
    forged = issue_visitor_token(desk.channel.pk)[:-2] + "zz"
    resp = client.post("/chat/token", {"channel": desk.channel.pk, "token": forged})
    assert resp.status_code == 200
    assert read_visitor_token(resp.json()["token"]).channel_id == desk.channel.pk


def test_image_upload_is_stored_as_customer_message(client, desk, django_capture_on_commit_callbacks):
    token = issue_visitor_token(desk.channel.pk)
    with django_capture_on_commit_callbacks(execute=True):
        resp = client.post("/chat/upload", {"token": token, "client_msg_id": "img-1", "image": _png()})
    assert resp.status_code == 201
    body = resp.json()
    message = Message.objects.get(pk=body["message"]["id"])
    assert message.kind == "image"
    assert message.direction == "incoming"
    assert body["message"]["image_url"].startswith("/media/chat/")
    assert message.conversation.customer.identities.get().value == read_visitor_token(token).visitor_id


def test_image_upload_resent_with_same_client_msg_id_is_stored_once(client, desk):
    token = issue_visitor_token(desk.channel.pk)
    first = client.post("/chat/upload", {"token": token, "client_msg_id": "img-1", "image": _png()})
    again = client.post("/chat/upload", {"token": token, "client_msg_id": "img-1", "image": _png()})
    assert again.status_code == 200
    assert again.json()["message"]["id"] == first.json()["message"]["id"]
    assert Message.objects.count() == 1


def test_oversized_image_is_refused_with_readable_json(client, desk, settings):
    settings.KEFU_MAX_IMAGE_BYTES = 10
    resp = client.post(
        "/chat/upload", {"token": issue_visitor_token(desk.channel.pk), "client_msg_id": "i", "image": _png()}
    )
    assert resp.status_code == 400
    assert resp.json()["fields"] == {"image": "文件过大"}
    assert "图片过大" in resp.json()["detail"]
    assert Message.objects.count() == 0


def test_script_renamed_to_png_is_refused(client, desk):
    fake = SimpleUploadedFile("x.png", b"<script>alert(1)</script>", content_type="image/png")
    resp = client.post(
        "/chat/upload", {"token": issue_visitor_token(desk.channel.pk), "client_msg_id": "i", "image": fake}
    )
    assert resp.status_code == 400
    assert resp.json()["detail"] == "文件不是有效的图片"


def test_upload_of_non_image_type_is_refused(client, desk):
    pdf = SimpleUploadedFile("a.pdf", b"%PDF-1.4", content_type="application/pdf")
    resp = client.post(
        "/chat/upload", {"token": issue_visitor_token(desk.channel.pk), "client_msg_id": "i", "image": pdf}
    )
    assert resp.status_code == 400
    assert resp.json()["fields"] == {"image": "类型不支持"}


def test_upload_without_image_or_client_msg_id_names_the_field(client, desk):
    token = issue_visitor_token(desk.channel.pk)
    assert client.post("/chat/upload", {"token": token, "client_msg_id": "i"}).json()["fields"] == {
        "image": "必填"
    }
    resp = client.post("/chat/upload", {"token": token, "image": _png()})
    assert resp.json()["fields"] == {"client_msg_id": "必填"}


def test_upload_with_forged_token_is_401(client, desk):
    resp = client.post("/chat/upload", {"token": "v1:forged", "client_msg_id": "i", "image": _png()})
    assert resp.status_code == 401
    assert resp.json()["error"] == "unauthorized"
    assert Message.objects.count() == 0


def test_upload_needs_post(client, desk):
    assert client.get("/chat/upload").status_code == 405


def _resolved_conversation_of(desk: Any, token: str, *, status: str | None = "resolved") -> Conversation:
    visitor = read_visitor_token(token)
    msg, _ = do_receive_customer_message(channel=desk.channel, identities=visitor.identities, text="杯子漏水")
    if status is not None:
        do_set_status(actor=desk.agent, conversation_id=msg.conversation_id, status=status)
    return Conversation.objects.get(pk=msg.conversation_id)


def _rate(client: Any, body: Any) -> Any:
    return client.post("/chat/rate", body, content_type="application/json")


def test_visitor_rates_their_resolved_conversation(client, desk):
    token = issue_visitor_token(desk.channel.pk)
    conversation = _resolved_conversation_of(desk, token)
    r = _rate(client, {"token": token, "score": 5, "comment": "很耐心"})
    assert r.status_code == 201
    assert r.json() == {"rated": True, "score": 5, "nps": None, "comment": "很耐心"}
    stored = Conversation.objects.get(pk=conversation.pk)
    assert (stored.csat_score, stored.csat_comment) == (5, "很耐心")


def test_another_visitors_token_cannot_rate_the_conversation(client, desk):
    owner = issue_visitor_token(desk.channel.pk)
    conversation = _resolved_conversation_of(desk, owner)
    stranger = issue_visitor_token(desk.channel.pk)
    assert _rate(client, {"token": stranger, "score": 1}).status_code == 404
    # Naming the conversation does not help: it is not theirs.
    r = _rate(client, {"token": stranger, "score": 1, "conversation_id": conversation.pk})
    assert r.status_code == 404
    assert r.json()["fields"] == {"conversation_id": "不存在"}
    assert Conversation.objects.get(pk=conversation.pk).csat_score is None


def test_token_of_another_channel_does_not_reach_the_conversation(client, desk, make_channel):
    token = issue_visitor_token(desk.channel.pk)
    conversation = _resolved_conversation_of(desk, token)
    other = make_channel("web", team=desk.team)
    same_visitor_elsewhere = issue_visitor_token(other.pk, visitor_id=read_visitor_token(token).visitor_id)
    assert _rate(client, {"token": same_visitor_elsewhere, "score": 4}).status_code == 404
    assert Conversation.objects.get(pk=conversation.pk).csat_score is None


@pytest.mark.parametrize("score", [0, 6, "5", 3.5, None, True])
def test_bad_score_is_400_naming_score(client, desk, score):
    token = issue_visitor_token(desk.channel.pk)
    conversation = _resolved_conversation_of(desk, token)
    r = _rate(client, {"token": token, "score": score})
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_input"
    assert list(r.json()["fields"]) == ["score"]
    assert Conversation.objects.get(pk=conversation.pk).csat_score is None


def test_too_long_comment_is_400_naming_comment(client, desk):
    token = issue_visitor_token(desk.channel.pk)
    _resolved_conversation_of(desk, token)
    r = _rate(client, {"token": token, "score": 4, "comment": "长" * 501})
    assert r.status_code == 400
    assert list(r.json()["fields"]) == ["comment"]


def test_an_open_conversation_has_nothing_to_rate(client, desk):
    token = issue_visitor_token(desk.channel.pk)
    _resolved_conversation_of(desk, token, status=None)
    assert _rate(client, {"token": token, "score": 5}).status_code == 404


def test_rating_twice_is_409_already_rated(client, desk):
    token = issue_visitor_token(desk.channel.pk)
    _resolved_conversation_of(desk, token)
    assert _rate(client, {"token": token, "score": 5}).status_code == 201
    again = _rate(client, {"token": token, "score": 1})
    assert again.status_code == 409
    assert again.json()["reason"] == "already_rated"


def test_forged_token_is_401(client, desk):
    token = issue_visitor_token(desk.channel.pk)
    _resolved_conversation_of(desk, token)
    r = _rate(client, {"token": token[:-2] + "zz", "score": 5})
    assert r.status_code == 401
    assert r.json()["error"] == "unauthorized"


@pytest.mark.parametrize("body", ["{not json", "[1, 2]"])
def test_body_that_is_not_a_json_object_is_400(client, desk, body):
    r = client.post("/chat/rate", body, content_type="application/json")
    assert r.status_code == 400
    assert list(r.json()["fields"]) == ["body"]


def test_rate_needs_post_and_no_csrf_token(desk):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    token = issue_visitor_token(desk.channel.pk)
    _resolved_conversation_of(desk, token)
    assert strict.get("/chat/rate").status_code == 405
    assert _rate(strict, {"token": token, "score": 5}).status_code == 201


def test_chat_page_carries_the_rating_widget(client, desk):
    html = client.get("/chat").content.decode()
    assert 'data-rate-url="/chat/rate"' in html
    assert "请为本次服务评分" in html
    assert "感谢您的评价！" in html
    assert html.count('data-score="') == 5
