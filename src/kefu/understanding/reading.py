"""Understanding, ground floor: what a customer message says and how the customer feels.

The conversation pipeline calls ``do_understand_customer_message`` for every customer
message (emotion for all, intent for the first), routing asks ``route_by_intent``, and
the knowledge base reads the shop's product names. The desk's intent model (retrained
from agents' corrections into ``var/models``) and the shop dictionary are loaded here,
once per process, and reloaded when another process changed them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from kefu.accounts.models import Role, Team, User
from kefu.conversations.models import Conversation, Message
from kefu.core.events import publish
from kefu.core.transactions import best_effort
from kefu.nlp import segment
from kefu.nlp.emotion import LABEL_NAMES, ConversationEmotion, Turn, analyze_conversation
from kefu.nlp.intent import IntentClassifier, IntentPrediction, default_classifier

from .models import EmotionAlert, Intent, ShopWord

ALERT_LEVEL = 7.0
ALERT_RISE = 3.0
HISTORY = 30


class _WordSync:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.last_id = 0


_words = _WordSync()


def sync_shop_words() -> None:
    """Load shop words added since this process last looked (any process may add them)."""
    with _words.lock:
        new = list(ShopWord.objects.filter(id__gt=_words.last_id).order_by("id").values_list("id", "word"))
        if new:
            segment.add_words(w for _, w in new)
            _words.last_id = new[-1][0]


def product_names() -> list[str]:
    return list(ShopWord.objects.filter(kind=ShopWord.Kind.PRODUCT).values_list("word", flat=True))


def model_path() -> Path:
    return Path(settings.VAR_DIR) / "models" / "intent.npz"


class _ClassifierCache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.model: IntentClassifier | None = None
        self.mtime: float | None = None


_clf = _ClassifierCache()


def classifier() -> IntentClassifier:
    """The retrained model in var/ if there is one (reloaded when it changes), else the seed model."""
    path = model_path()
    try:
        mtime: float | None = path.stat().st_mtime
    except FileNotFoundError:
        mtime = None
    with _clf.lock:
        if _clf.model is None or mtime != _clf.mtime:
            _clf.model = IntentClassifier.load(path) if mtime is not None else default_classifier()
            _clf.mtime = mtime
        return _clf.model


def classify(text: str) -> IntentPrediction:
    sync_shop_words()
    return classifier().predict(text)


@dataclass(frozen=True)
class IntentRoute:
    intent: str | None
    confidence: float
    team: Team | None
    priority: str


def route_for_intent(intent_name: str | None, confidence: float) -> IntentRoute:
    """The team and priority the taxonomy maps an intent to; no team for "don't know"."""
    if not intent_name:
        return IntentRoute(None, confidence, None, "")
    intent = Intent.objects.select_related("team").filter(name=intent_name, is_active=True).first()
    if intent is None:
        return IntentRoute(intent_name, confidence, None, "")
    return IntentRoute(intent_name, confidence, intent.team, intent.default_priority)


def route_by_intent(text: str) -> IntentRoute:
    """Classify ``text`` and map it to a team and priority (for text not yet understood)."""
    prediction = classify(text)
    return route_for_intent(prediction.intent, prediction.confidence)


def conversation_turns(conversation: Conversation) -> list[Turn]:
    rows = list(
        conversation.messages.filter(
            direction__in=(Message.Direction.INCOMING, Message.Direction.OUTGOING), is_private=False
        )
        .exclude(kind=Message.Kind.AUTO)
        .order_by("-id")
        .values_list("direction", "text", "created_at")[:HISTORY]
    )
    rows.reverse()
    return [
        Turn(role="customer" if d == Message.Direction.INCOMING else "agent", text=t or "", at=at)
        for d, t, at in rows
    ]


def signals_as_text(result: ConversationEmotion) -> list[dict[str, Any]]:
    return [{"code": s.code, "text": s.description, "weight": round(s.weight, 1)} for s in result.signals]


def do_update_emotion(conversation: Conversation) -> ConversationEmotion:
    """Recompute the conversation's emotion; alert the agent and team lead on a spike.

    Runs inside the caller's transaction (the message that changed it is stored there).
    """
    result = analyze_conversation(conversation_turns(conversation), now=timezone.now())
    previous = conversation.emotion_score or 0.0
    conversation.emotion_label = result.label
    conversation.emotion_score = result.score
    conversation.emotion_trend = result.trend
    conversation.emotion_signals = signals_as_text(result)
    Conversation.objects.filter(pk=conversation.pk).update(
        emotion_label=result.label,
        emotion_score=result.score,
        emotion_trend=result.trend,
        emotion_signals=conversation.emotion_signals,
    )
    reason = ""
    if result.score >= ALERT_LEVEL > previous:
        reason = f"情绪分达到 {result.score:.1f}"
    elif result.score - previous >= ALERT_RISE:
        reason = f"情绪分上升 {result.score - previous:.1f}（{previous:.1f} → {result.score:.1f}）"
    if reason:
        alert = EmotionAlert.objects.create(
            conversation=conversation,
            score=result.score,
            previous_score=previous,
            label=result.label,
            reason=reason,
        )
        leads = []
        if conversation.team_id:
            leads = list(
                User.objects.filter(
                    teams__id=conversation.team_id, role=Role.TEAM_LEAD, is_active=True
                ).values_list("id", flat=True)
            )
        publish(
            "conversation.emotion_alert",
            {
                "alert_id": alert.pk,
                "conversation_id": conversation.pk,
                "customer_name": conversation.customer.name,
                "label": result.label,
                "label_text": LABEL_NAMES.get(result.label, result.label),
                "score": result.score,
                "reason": reason,
                "signals": conversation.emotion_signals,
            },
            user_ids=[conversation.assignee_id, *leads],
            webhook=False,
        )
    return result


def do_understand_customer_message(conversation: Conversation, message: Message, *, first: bool) -> None:
    """Emotion for every customer message; intent for the first one(s).

    Runs in the message's transaction and never fails it (``best_effort``): a customer's
    message is stored even when understanding it is not.
    """
    best_effort(
        f"text understanding of conversation {conversation.pk}",
        None,
        _understand,
        conversation,
        message,
        first=first,
    )


def _understand(conversation: Conversation, message: Message, *, first: bool) -> None:
    do_update_emotion(conversation)
    if first or not conversation.intent:
        text = message.text
        if text:
            prediction = classify(text)
            if prediction.intent is not None or first:
                conversation.intent = prediction.intent or ""
                conversation.intent_confidence = prediction.confidence
                Conversation.objects.filter(pk=conversation.pk).update(
                    intent=conversation.intent, intent_confidence=prediction.confidence
                )
