"""The web chat page, visitor tokens and image upload."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from kefu.channels.visitor import issue_visitor_token, read_visitor_token
from kefu.conversations.models import Message
from kefu.core.errors import Unauthorized

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


def test_visitor_token_round_trips_and_keeps_visitor_on_reissue():
    token = issue_visitor_token(3)
    visitor = read_visitor_token(token)
    assert visitor.channel_id == 3
    assert visitor.identities == [("web", visitor.visitor_id)]
    assert (
        read_visitor_token(issue_visitor_token(5, visitor_id=visitor.visitor_id)).visitor_id
        == visitor.visitor_id
    )
    assert read_visitor_token(issue_visitor_token(3)).visitor_id != visitor.visitor_id


@pytest.mark.parametrize("token", [None, "", 12, "abc", "x" * 600])
def test_malformed_visitor_token_is_unauthorized(token):
    with pytest.raises(Unauthorized):
        read_visitor_token(token)


def test_visitor_token_signed_with_another_key_is_unauthorized(settings):
    token = issue_visitor_token(1)
    settings.SECRET_KEY = "another-key-" + "x" * 40
    with pytest.raises(Unauthorized):
        read_visitor_token(token)


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
