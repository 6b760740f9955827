"""Complaint pages: the four-step guide, the compensation form, the approvals page."""

from __future__ import annotations

import pytest

from kefu.complaints import compensation, services
from kefu.complaints.models import CompensationRequest

pytestmark = pytest.mark.django_db

INTAKE = {
    "what_happened": "快递员态度恶劣，电话里骂人，还把包裹扔在门口导致保温杯摔坏",
    "customer_request": "要求道歉并换一个新的保温杯",
    "evidence": ["门口包裹照片", "通话录音截图"],
    "contact_preference": "电话，工作日18点后",
}


def test_pages_render_and_guide_with_the_four_steps(client, desk, complaint_conv):
    c = services.do_open_complaint(actor=desk.agent, conversation_id=complaint_conv.pk, data=INTAKE)
    client.force_login(desk.agent)
    html = client.get(f"/desk/complaints/{c.pk}/").content.decode()
    assert "倾听" in html and "安抚" in html and "解释" in html and "解决" in html
    assert client.get("/desk/complaints/").status_code == 200
    assert client.get("/desk/promises/").status_code == 200
    r = client.post(
        f"/desk/complaints/{c.pk}/",
        {"action": "compensation", "kind": "coupon", "amount": "abc", "reason": "x"},
    )
    assert r.status_code == 400 and "金额无效" in r.content.decode()


def test_approval_page_lets_a_supervisor_approve(client, desk, complaint_conv):
    req = compensation.do_request_compensation(
        actor=desk.agent, conversation_id=complaint_conv.pk, kind="refund", amount="150", reason="补偿"
    )
    client.force_login(desk.supervisor)
    assert "150" in client.get("/desk/approvals/").content.decode()
    client.post("/desk/approvals/", {"request_id": req.pk, "decision": "approve", "note": "同意"})
    req.refresh_from_db()
    assert req.status == CompensationRequest.Status.APPROVED
