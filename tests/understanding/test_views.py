"""Understanding on the desk pages: the intents page, the assist panel, the inbox's emotion badge."""

from __future__ import annotations

import pytest

from kefu.accounts.models import Role
from kefu.conversations.models import Conversation
from kefu.conversations.services import do_receive_customer_message
from kefu.understanding.models import Intent
from kefu.understanding.services import do_install_default_intents

pytestmark = pytest.mark.django_db


def test_intents_page_renders_for_team_leads_and_not_agents(client, desk, make_user):
    do_install_default_intents()
    client.force_login(desk.agent)
    assert client.get("/desk/intents/").status_code == 403
    client.force_login(make_user("lead", role=Role.TEAM_LEAD))
    page = client.get("/desk/intents/")
    assert page.status_code == 200 and "物流延迟/催发货" in page.content.decode()


def test_conversation_page_shows_the_assist_panel(client, desk):
    do_install_default_intents()
    msg, _ = do_receive_customer_message(
        channel=desk.channel, identities=[("web", "p")], text="气死了！！！快递丢了也没人管，我要投诉！"
    )
    client.force_login(desk.supervisor)
    html = client.get(f"/desk/c/{msg.conversation_id}/").content.decode()
    assert 'id="assist-panel"' in html
    assert "应对建议" in html and "物流延迟/催发货" in html


def test_inbox_shows_the_emotion_badge_with_its_trend(client, desk):
    msg, _ = do_receive_customer_message(
        channel=desk.channel, identities=[("web", "tr")], text="快递到哪了？"
    )
    do_receive_customer_message(
        channel=desk.channel, identities=[("web", "tr")], text="都三天了还没到！！！再不处理我就投诉！"
    )
    conv_trend = Conversation.objects.get(pk=msg.conversation_id).emotion_trend
    client.force_login(desk.supervisor)
    html = client.get("/desk/", {"view": "all"}).content.decode()
    assert conv_trend == "rising"
    assert "emotion-" in html and "↑" in html


def test_admin_changes_an_intents_team_on_the_page(client, desk, make_user):
    do_install_default_intents()
    intent = Intent.objects.get(name="发票")
    client.force_login(make_user("admin-page", role=Role.ADMIN))
    r = client.post(
        "/desk/intents/", {"intent_id": intent.pk, "team_id": desk.team.pk, "default_priority": "P2"}
    )
    assert r.status_code == 302
    intent.refresh_from_db()
    assert (intent.team_id, intent.default_priority) == (desk.team.pk, "P2")
    r = client.post("/desk/intents/", {"intent_id": intent.pk, "team_id": "", "default_priority": "P9"})
    assert r.status_code == 400 and "优先级无效" in r.content.decode()


def test_alerts_page_shows_a_complaint_risk_in_red_and_acknowledges_with_who_and_when(
    client, desk, make_user
):
    lead = make_user("zuzhang", role=Role.TEAM_LEAD, teams=(desk.team,), display_name="李组长")
    mild, _ = do_receive_customer_message(
        channel=desk.channel, identities=[("web", "m")], text="质量太差了，很失望，一直在敷衍我！！！"
    )
    risk, _ = do_receive_customer_message(
        channel=desk.channel, identities=[("web", "r")], text="我要去12315投訴你們", customer_name="王女士"
    )
    client.force_login(lead)
    html = client.get("/desk/alerts/").content.decode()
    rows = html[html.index("<tbody>") :]
    assert rows.index("王女士") < rows.index(f"客户#{mild.conversation.customer_id}")  # newest first
    assert '<span class="alert-level alert-level-complaint_risk">投诉风险</span>' in rows
    assert '<span class="alert-level alert-level-emotion">情绪预警</span>' in rows
    from kefu.understanding.models import EmotionAlert

    alert = EmotionAlert.objects.get(conversation_id=risk.conversation_id)
    r = client.post(f"/desk/alerts/{alert.pk}/ack", {"open": "1"})
    assert r.status_code == 302 and r["Location"] == "/desk/alerts/?open=1"
    page = client.get("/desk/alerts/").content.decode()
    assert "李组长 于" in page and "确认" in page
    open_only = client.get("/desk/alerts/?open=1").content.decode()
    assert "王女士" not in open_only.split("<tbody>")[1]


def test_an_agent_who_does_not_own_the_conversation_cannot_acknowledge_from_the_page(client, desk, make_user):
    colleague = make_user("tongshi", teams=(desk.team,))
    msg, _ = do_receive_customer_message(
        channel=desk.channel, identities=[("web", "c")], text="你们什么垃圾服务！！！气死我了"
    )
    from kefu.understanding.models import EmotionAlert

    alert = EmotionAlert.objects.get(conversation_id=msg.conversation_id)
    client.force_login(colleague)
    assert client.post(f"/desk/alerts/{alert.pk}/ack").status_code == 403
    assert client.get(f"/desk/alerts/{alert.pk}/ack").status_code == 405


def test_assist_panel_warns_when_the_customer_is_likely_to_end_dissatisfied(client, desk):
    msg, _ = do_receive_customer_message(
        channel=desk.channel, identities=[("web", "ov")], text="快递丢了也没人管，太差劲了，我要投诉！"
    )
    assert Conversation.objects.get(pk=msg.conversation_id).dissatisfied_probability >= 0.9
    client.force_login(desk.supervisor)
    html = client.get(f"/desk/c/{msg.conversation_id}/").content.decode()
    assert 'class="emotion-outlook warn" data-role="emotion-outlook"' in html and "客户可能不满意结束" in html
