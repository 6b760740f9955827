"""The script library over HTTP: the picker, using a reply, and the send API refusing unfilled variables."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.django_db


def test_picker_api_and_use_endpoint(client, desk, library, conversation):
    client.force_login(desk.agent)
    r = client.get("/api/v1/replies", {"q": "hi", "conversation_id": conversation.pk})
    assert r.status_code == 200 and r.json()[0]["title"] == "开场问候"
    r = client.post(
        f"/api/v1/replies/{r.json()[0]['id']}/use",
        data=json.dumps({"conversation_id": conversation.pk}),
        content_type="application/json",
    )
    assert r.status_code == 200 and "王芳" in r.json()["text"]


def test_send_api_refuses_unfilled_variables_with_the_field(client, desk, conversation):
    client.force_login(desk.agent)
    r = client.post(
        f"/api/v1/conversations/{conversation.pk}/messages",
        data=json.dumps({"text": "您的订单预计{预计送达}送达", "client_msg_id": "x1"}),
        content_type="application/json",
    )
    assert r.status_code == 400
    assert "text" in r.json()["fields"]
