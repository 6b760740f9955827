"""Public posts, ground floor: negative messages many people can see, flagged for a public reply.

A social post or comment, or a live-stream comment, arrives through the platform webhook
with what the platform knows of its reach (followers, views, likes, shares, comments).
When the customer is negative (kefu's emotion reading: 不满 or 愤怒, or a complaint threat)
and the post is visible (any reach figure at or above its threshold), the channel path
calls ``do_flag_public_post`` in the message's transaction: the post is due for a public
reply within the ``public_post`` SLA policy (30 minutes by default, edited at
``/desk/settings/sla/``). The first public agent reply in the conversation answers it
(``do_answer_public_posts``, from the agent's send path); the worker's sweep
(``incidents.services.do_sweep_public_posts``) warns and escalates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from kefu.channels.models import Channel
from kefu.conversations.models import Conversation, Message
from kefu.conversations.timeline import add_activity
from kefu.core.events import publish
from kefu.nlp.emotion import complaint_risk, message_signals
from kefu.sla.models import SLAPolicy
from kefu.sla.policies import active_policies, find_policy

from .models import PublicPost
from .presenters import REACH_LABELS

PUBLIC_KINDS = (Channel.Kind.SOCIAL, Channel.Kind.LIVE)
REACH_FIELDS = ("followers", "views", "likes", "shares", "comments")
NEGATIVE_LABELS = ("dissatisfied", "angry")
DEFAULT_DUE_SECONDS = 30 * 60


def visibility_thresholds() -> dict[str, int]:
    """The reach at or above which a post counts as visible (settings ``KEFU_PUBLIC_POST_*``)."""
    return dict(settings.KEFU_PUBLIC_POST_THRESHOLDS)


def visible_by(reach: dict[str, int]) -> list[str]:
    """The reach figures that make a post visible (empty: not visible)."""
    limits = visibility_thresholds()
    return [k for k in REACH_FIELDS if k in reach and limits.get(k) and reach[k] >= limits[k]]


def is_negative(conversation: Conversation, message: Message) -> bool:
    if conversation.emotion_label in NEGATIVE_LABELS:
        return True
    return bool(complaint_risk(message_signals(message.text or "")))


def due_seconds(channel_kind: str) -> int:
    """The policy's time for a public reply; only ``public_post`` policies count."""
    policies = [p for p in active_policies() if p.applies_to == SLAPolicy.AppliesTo.PUBLIC_POST]
    policy = find_policy(
        channel_kind=channel_kind,
        want="first_response_seconds",
        target=SLAPolicy.AppliesTo.PUBLIC_POST,
        policies=policies,
    )
    if policy is None or not policy.first_response_seconds:
        return DEFAULT_DUE_SECONDS
    return policy.first_response_seconds


@dataclass(frozen=True, slots=True)
class PostFacts:
    reach: dict[str, int]
    public: bool = True
    post_url: str = ""


def do_flag_public_post(conversation: Conversation, message: Message, facts: PostFacts) -> PublicPost | None:
    """Flag a just-stored customer message when it is public, visible and negative; in its transaction."""
    if conversation.channel.kind not in PUBLIC_KINDS or not facts.public:
        return None
    why = visible_by(facts.reach)
    if not why or not is_negative(conversation, message):
        return None
    now = timezone.now()
    post = PublicPost.objects.create(
        message=message,
        conversation=conversation,
        team_id=conversation.team_id,
        channel_kind=conversation.channel.kind,
        reach=facts.reach,
        post_url=facts.post_url,
        emotion_label=conversation.emotion_label,
        emotion_score=conversation.emotion_score,
        due_at=now + timedelta(seconds=due_seconds(conversation.channel.kind)),
        created_at=now,
    )
    reach_text = "、".join(f"{REACH_LABELS[k]} {facts.reach[k]}" for k in why)
    add_activity(
        conversation,
        f"公开负面帖子（{reach_text}），请于 {timezone.localtime(post.due_at):%H:%M} 前公开回复",
        meta={"public_post": post.pk, "due_at": post.due_at.isoformat()},
    )
    publish(
        "public_post.flagged",
        post_event(post),
        team_id=conversation.team_id,
        user_ids=[conversation.assignee_id],
        conversation_id=conversation.pk,
        webhook=False,
    )
    return post


def do_answer_public_posts(conversation: Conversation, message: Message) -> int:
    """An agent's public reply answers the conversation's open posts; returns how many."""
    if message.is_private or message.sender_id is None or message.direction != Message.Direction.OUTGOING:
        return 0
    now = timezone.now()
    open_posts = PublicPost.objects.filter(conversation=conversation, status=PublicPost.Status.OPEN)
    ids = list(open_posts.values_list("pk", flat=True))
    if not ids:
        return 0
    answered = PublicPost.objects.filter(pk__in=ids, status=PublicPost.Status.OPEN).update(
        status=PublicPost.Status.ANSWERED, answered_at=now, answered_by_id=message.sender_id, answer=message
    )
    if answered:
        publish(
            "public_post.answered",
            {"conversation_id": conversation.pk, "post_ids": ids, "answered_at": now.isoformat()},
            team_id=conversation.team_id,
            conversation_id=conversation.pk,
            webhook=False,
        )
    return answered


def open_post_for(conversation_id: int) -> PublicPost | None:
    """The conversation's earliest-due post still waiting for a public reply (the badge)."""
    return (
        PublicPost.objects.filter(conversation_id=conversation_id, status=PublicPost.Status.OPEN)
        .order_by("due_at", "id")
        .first()
    )


def post_event(post: PublicPost) -> dict[str, Any]:
    return {
        "id": post.pk,
        "conversation_id": post.conversation_id,
        "status": post.status,
        "due_at": post.due_at.isoformat(),
        "reach": post.reach,
    }
