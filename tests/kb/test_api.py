"""The knowledge-base API: articles, search, suggestions for a conversation, public feedback, attachments."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kefu.kb import index, services

pytestmark = pytest.mark.django_db


def test_editor_creates_and_searches_articles_over_the_api(client, editor):
    client.force_login(editor)
    r = client.post(
        "/api/v1/kb/articles",
        data=json.dumps({"title": "快递几天能到", "similar_questions": ["多久到货"], "status": "published"}),
        content_type="application/json",
    )
    assert r.status_code == 201, r.content
    r = client.get("/api/v1/kb/search", {"q": "多久能到货"})
    assert r.status_code == 200
    assert r.json()["results"][0]["article"]["title"] == "快递几天能到"


def test_unknown_field_is_refused_with_its_name(client, editor):
    client.force_login(editor)
    r = client.post(
        "/api/v1/kb/articles",
        data=json.dumps({"title": "x", "colour": "red"}),
        content_type="application/json",
    )
    assert r.status_code == 422
    assert "colour" in json.dumps(r.json()["fields"])


def test_anonymous_cannot_list_articles(client):
    assert client.get("/api/v1/kb/articles").status_code == 401


def test_suggestions_follow_the_latest_customer_messages(client, desk, editor):
    from kefu.conversations.services import do_receive_customer_message

    a = services.do_create_article(
        actor=editor,
        data={
            "title": "保温杯漏水处理",
            "answer": "非常抱歉，请拍照发给我们，我们为您免费换新。",
            "status": "published",
        },
    )
    msg, _ = do_receive_customer_message(
        channel=desk.channel, identities=[("web", "cup")], text="你们的保温杯漏水了，怎么处理"
    )
    client.force_login(desk.supervisor)
    r = client.get(f"/api/v1/conversations/{msg.conversation_id}/kb-suggestions")
    assert r.status_code == 200
    first = r.json()["results"][0]["article"]
    assert first["id"] == a.pk and "免费换新" in first["answer"]


def test_help_centre_search_and_feedback_are_public(client, editor):
    a = services.do_create_article(actor=editor, data={"title": "怎么开发票", "status": "published"})
    page = client.get("/help/", {"q": "开发票"})
    assert page.status_code == 200 and "怎么开发票" in page.content.decode()
    r = client.post(
        f"/api/v1/help/articles/{a.pk}/feedback",
        data=json.dumps({"helpful": True}),
        content_type="application/json",
    )
    assert r.status_code == 200 and r.json()["helpful_yes"] == 1


def test_help_feedback_past_the_address_limit_is_429_and_not_counted(client, editor, rate_clock, rate_limits):
    rate_limits(help_feedback_ip="2/1m")
    a = services.do_create_article(actor=editor, data={"title": "怎么开发票", "status": "published"})

    def vote() -> Any:
        return client.post(
            f"/api/v1/help/articles/{a.pk}/feedback",
            data=json.dumps({"helpful": True}),
            content_type="application/json",
        )

    assert [vote().status_code for _ in range(2)] == [200, 200]
    refused = vote()
    assert refused.status_code == 429
    body = refused.json()
    assert body["error"] == "rate_limited" and body["limit"] == "help_feedback_ip"
    assert refused["Retry-After"] == str(body["retry_after"])
    a.refresh_from_db()
    assert a.helpful_yes == 2
    rate_clock.now += body["retry_after"]
    assert vote().json()["helpful_yes"] == 3


def test_image_attachment_upload_and_bad_type(client, editor, tmp_path, settings):
    import io

    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    settings.MEDIA_ROOT = tmp_path
    a = services.do_create_article(actor=editor, data={"title": "包装示意图"})
    client.force_login(editor)
    buf = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buf, format="PNG")
    ok = client.post(
        f"/api/v1/kb/articles/{a.pk}/attachments",
        {"file": SimpleUploadedFile("box.png", buf.getvalue(), content_type="image/png")},
    )
    assert ok.status_code == 201 and ok.json()["url"].endswith(".png")
    bad = client.post(
        f"/api/v1/kb/articles/{a.pk}/attachments",
        {"file": SimpleUploadedFile("x.png", b"<script>", content_type="image/png")},
    )
    assert bad.status_code == 400 and "file" in bad.json()["fields"]


def test_suggestions_leave_out_articles_that_share_only_a_stray_word(client, desk, editor):
    from kefu.conversations.services import do_receive_customer_message

    coupon = services.do_create_article(
        actor=editor,
        data={"title": "优惠券为什么用不了？", "similar_questions": ["券用不了"], "status": "published"},
    )
    services.do_create_article(
        actor=editor,
        data={
            "title": "四件套是纯棉的吗？会起球吗？",
            "body": "纯棉四件套面料为 100% 新疆长绒棉，40 支密度，正常使用不易起球。"
            "首次使用前建议单独冷水洗涤一遍；水温不超过 40°C。",
            "status": "published",
        },
    )
    question = "满300减40的券为什么用不了"
    # Plain search finds both: the bed linen shares 「40」 and 「用不」 with the question.
    assert len(index.search_articles(question)) == 2
    msg, _ = do_receive_customer_message(channel=desk.channel, identities=[("web", "coupon")], text=question)
    client.force_login(desk.supervisor)
    results = client.get(f"/api/v1/conversations/{msg.conversation_id}/kb-suggestions").json()["results"]
    assert [r["article"]["id"] for r in results] == [coupon.pk]
