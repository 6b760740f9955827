"""Public posts: negative, visible social and live-stream messages flagged for a public reply.

Through the signed platform webhook, the agent's reply, the worker's sweep and the
supervisors' list (API and page).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from kefu.conversations.models import Message
from kefu.conversations.services import do_add_note, do_send_agent_message
from kefu.core.signing import signed_headers
from kefu.incidents.models import PublicPost
from kefu.incidents.services import do_sweep_public_posts
from kefu.sla.models import SLAPolicy

pytestmark = pytest.mark.django_db

ANGRY = "你们家的保温杯漏水烫伤了我孩子，客服一直不回复，太气人了！大家千万别买！"
CALM = "请问这款保温杯有粉色吗？"

_n = iter(range(1, 10_000))


def inbound(channel: Any, text: str, *, reach: dict[str, Any] | None = None, **message: Any) -> Any:
    n = next(_n)
    body: dict[str, Any] = {
        "sender": {"id": f"weibo-{n}", "name": f"微博用户{n}"},
        "message": {"id": f"post-{n}", "text": text, **message},
    }
    if reach is not None:
        body["reach"] = reach
    raw = json.dumps(body, ensure_ascii=False).encode()
    return Client().post(
        f"/api/v1/channels/{channel.pk}/inbound",
        data=raw,
        content_type="application/json",
        headers=signed_headers(channel.secret, raw),
    )


@pytest.fixture
def weibo(shop: Any, make_channel: Any) -> Any:
    return make_channel("social", team=shop.team, name="官方微博")


@pytest.fixture
def live(shop: Any, make_channel: Any) -> Any:
    return make_channel("live", team=shop.team, name="抖音直播间")


def test_an_angry_post_with_many_followers_is_flagged_due_in_thirty_minutes(weibo: Any) -> None:
    before = timezone.now()
    r = inbound(weibo, ANGRY, reach={"followers": 52000, "likes": 12}, url="https://weibo.com/1/abc")
    assert r.status_code == 201, r.content
    post = PublicPost.objects.get()
    message = Message.objects.get(pk=r.json()["message_id"])
    assert post.message == message
    assert post.status == PublicPost.Status.OPEN
    assert post.reach == {"followers": 52000, "likes": 12}
    assert message.meta["reach"] == {"followers": 52000, "likes": 12}
    assert post.post_url == "https://weibo.com/1/abc"
    assert post.emotion_label in ("dissatisfied", "angry")
    assert before + timedelta(minutes=30) <= post.due_at <= timezone.now() + timedelta(minutes=30)
    assert message.conversation.messages.filter(meta__public_post=post.pk).exists()


def test_a_calm_post_or_a_small_reach_or_a_private_message_is_not_flagged(weibo: Any, live: Any) -> None:
    assert inbound(weibo, CALM, reach={"followers": 52000}).status_code == 201
    assert inbound(weibo, ANGRY, reach={"followers": 80, "views": 30}).status_code == 201
    assert inbound(weibo, ANGRY).status_code == 201
    assert inbound(weibo, ANGRY, reach={"followers": 52000}, public=False).status_code == 201
    assert not PublicPost.objects.exists()
    assert inbound(live, ANGRY, reach={"views": 3000}).status_code == 201
    assert PublicPost.objects.get().channel_kind == "live"


def test_im_messages_are_never_public_posts(shop: Any, make_channel: Any) -> None:
    im = make_channel("im", team=shop.team, name="企业微信")
    assert inbound(im, ANGRY, reach={"followers": 52000}).status_code == 201
    assert not PublicPost.objects.exists()


@pytest.mark.parametrize(
    "reach, field",
    [
        ({"followers": -1}, "followers"),
        ({"views": "很多"}, "views"),
        ({"likes": 1.5}, "likes"),
        ({"fans": 10}, "fans"),
    ],
)
def test_bad_reach_is_a_400_naming_the_field_and_nothing_is_stored(
    weibo: Any, reach: Any, field: str
) -> None:
    r = inbound(weibo, ANGRY, reach=reach)
    assert r.status_code in (400, 422)
    assert field in r.content.decode()
    assert not Message.objects.exists()


def test_a_post_url_that_is_not_http_is_refused(weibo: Any) -> None:
    r = inbound(weibo, ANGRY, reach={"followers": 52000}, url="javascript:alert(1)")
    assert r.status_code in (400, 422)
    assert "url" in r.content.decode()


def test_the_sla_policy_sets_the_time_for_a_public_reply(weibo: Any) -> None:
    SLAPolicy.objects.filter(applies_to="public_post").update(first_response_seconds=600)
    inbound(weibo, ANGRY, reach={"followers": 52000})
    post = PublicPost.objects.get()
    assert timedelta(seconds=590) < post.due_at - post.created_at <= timedelta(seconds=600)


def test_a_public_agent_reply_clears_the_flag_but_a_note_does_not(shop: Any, weibo: Any) -> None:
    r = inbound(weibo, ANGRY, reach={"followers": 52000})
    conversation_id = r.json()["conversation_id"]
    do_add_note(agent=shop.agent, conversation_id=conversation_id, text="先别回，等主管口径")
    assert PublicPost.objects.get().status == PublicPost.Status.OPEN
    do_send_agent_message(
        agent=shop.agent,
        conversation_id=conversation_id,
        text="非常抱歉给您和孩子带来伤害，我们已私信您，今天18:00前专人联系您处理。",
    )
    post = PublicPost.objects.get()
    assert post.status == PublicPost.Status.ANSWERED
    assert post.answered_by == shop.agent
    assert post.answer is not None and post.answer.sender == shop.agent


def test_the_sweep_warns_then_escalates_to_the_team_lead_once(shop: Any, weibo: Any) -> None:
    inbound(weibo, ANGRY, reach={"followers": 52000})
    post = PublicPost.objects.get()
    assert do_sweep_public_posts(post.created_at + timedelta(minutes=5)) == 0
    assert do_sweep_public_posts(post.created_at + timedelta(minutes=25)) == 1
    post.refresh_from_db()
    assert post.warned_at is not None and post.breached_at is None
    late = post.due_at + timedelta(seconds=1)
    assert do_sweep_public_posts(late) == 1
    assert do_sweep_public_posts(late) == 0
    post.refresh_from_db()
    assert post.breached_at == late
    assert [u["id"] for u in post.escalated_to] == [shop.lead.pk]
    line = Message.objects.get(
        conversation=post.conversation, meta__sla="breached", meta__public_post=post.pk
    )
    assert "李组长" in line.text


def test_an_answered_post_is_not_escalated(shop: Any, weibo: Any) -> None:
    r = inbound(weibo, ANGRY, reach={"followers": 52000})
    do_send_agent_message(
        agent=shop.agent, conversation_id=r.json()["conversation_id"], text="您好，已为您处理。"
    )
    post = PublicPost.objects.get()
    assert do_sweep_public_posts(post.due_at + timedelta(minutes=1)) == 0


def test_leads_list_their_teams_posts_most_urgent_first_and_agents_may_not(
    client: Any, shop: Any, weibo: Any, make_channel: Any
) -> None:
    inbound(weibo, ANGRY, reach={"followers": 52000})
    inbound(weibo, "差评！质量太差了，退款还拖着不给，气死了！", reach={"views": 9000})
    other = make_channel("social", team=shop.other, name="海外微博")
    inbound(other, ANGRY, reach={"followers": 52000})
    first = PublicPost.objects.filter(team=shop.team).order_by("id").first()
    assert first is not None
    PublicPost.objects.filter(pk=first.pk).update(due_at=timezone.now() + timedelta(minutes=1))

    client.force_login(shop.lead)
    r = client.get("/api/v1/public-posts")
    assert r.status_code == 200
    items = r.json()["items"]
    assert [i["id"] for i in items][0] == first.pk
    assert {i["team_id"] for i in items} == {shop.team.pk}
    assert r.json()["count"] == 2
    assert items[0]["reach"] == {"followers": 52000}

    client.force_login(shop.supervisor)
    assert client.get("/api/v1/public-posts").json()["count"] == 3

    client.force_login(shop.agent)
    assert client.get("/api/v1/public-posts").status_code == 403
    bad = client.get("/api/v1/public-posts?status=whatever")
    assert bad.status_code in (400, 403)


def test_the_desk_page_lists_open_posts_and_the_conversation_shows_the_badge(
    client: Any, shop: Any, weibo: Any
) -> None:
    r = inbound(weibo, ANGRY, reach={"followers": 52000, "views": 180000})
    conversation_id = r.json()["conversation_id"]
    client.force_login(shop.lead)
    page = client.get("/desk/incidents/public-posts/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f'href="/desk/c/{conversation_id}/"' in html
    assert "粉丝 52000" in html and "浏览 180000" in html
    assert "公开负面帖子" in client.get("/desk/incidents/").content.decode()

    client.force_login(shop.agent)
    conv = client.get(f"/desk/c/{conversation_id}/").content.decode()
    assert 'id="kefu-public-post-badge"' in conv
    api = client.get(f"/api/v1/conversations/{conversation_id}/public-post").json()
    assert api["public_post"]["reach"]["followers"] == 52000
    do_send_agent_message(agent=shop.agent, conversation_id=conversation_id, text="您好，已为您处理。")
    conv = client.get(f"/desk/c/{conversation_id}/").content.decode()
    assert 'id="kefu-public-post-badge"' not in conv
    assert client.get(f"/api/v1/conversations/{conversation_id}/public-post").json() == {"public_post": None}
    assert client.get("/desk/incidents/public-posts/").status_code == 403
