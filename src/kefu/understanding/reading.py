"""Understanding, ground floor: what a customer message says and how the customer feels.

The conversation pipeline calls ``do_understand_customer_message`` for every customer
message (emotion for all, intent for the first), routing asks ``route_by_intent``, and
the knowledge base reads the shop's product names. The desk's intent model (retrained
from agents' corrections into ``var/models``) and the shop dictionary are loaded here,
once per process, and reloaded when another process changed them.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from kefu.accounts.models import Role, Team, User
from kefu.conversations.models import Conversation, Message
from kefu.core.events import publish
from kefu.core.transactions import best_effort
from kefu.nlp import segment
from kefu.nlp.emotion import LABEL_NAMES, ConversationEmotion, Turn, analyze_conversation, complaint_risk
from kefu.nlp.intent import IntentClassifier, IntentPrediction, default_classifier

from .models import EmotionAlert, Intent, ShopWord
from .presenters import alert_dict, model_reading_text

log = logging.getLogger(__name__)

ALERT_LEVEL = 7.0
ALERT_RISE = 3.0
# Alerts of conversations that have ended are no longer asked of anyone.
ALERT_STATUSES = Conversation.ACTIVE_STATUSES
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
        # Queue notices are no reply; the bot's answers are (kefu.bot), or every question it
        # answered would count as one left unanswered.
        .exclude(Q(kind=Message.Kind.AUTO) & ~Q(meta__has_key="bot"))
        .order_by("-id")
        .values_list("direction", "text", "created_at")[:HISTORY]
    )
    rows.reverse()
    return [
        Turn(role="customer" if d == Message.Direction.INCOMING else "agent", text=t or "", at=at)
        for d, t, at in rows
    ]


def signals_as_text(result: ConversationEmotion) -> list[dict[str, Any]]:
    signals = [{"code": s.code, "text": s.description, "weight": round(s.weight, 1)} for s in result.signals]
    if not signals and result.label != "calm":
        # The model's reading of the wording alone: the agent still sees why it is not calm.
        signals = [{"code": "model", "text": model_reading_text(result.label), "weight": 0.0}]
    return signals


def do_update_emotion(
    conversation: Conversation, *, result: ConversationEmotion | None = None
) -> EmotionAlert | None:
    """Recompute the conversation's emotion; store the alert it calls for, if any, and return it.

    Runs inside the caller's transaction (the message that changed it is stored there).
    ``result``: the emotion already worked out for the conversation as it is now
    (``read_customer_message``). The alert is not announced here: the pipeline
    publishes it (``publish_alert``) once the conversation's team is known, so it
    reaches the leads of the team that serves it.
    """
    if result is None:
        result = analyze_conversation(conversation_turns(conversation), now=timezone.now())
    previous = conversation.emotion_score or 0.0
    conversation.emotion_label = result.label
    conversation.emotion_score = result.score
    conversation.emotion_trend = result.trend
    conversation.emotion_signals = signals_as_text(result)
    conversation.dissatisfied_probability = result.dissatisfied_probability
    Conversation.objects.filter(pk=conversation.pk).update(
        emotion_label=result.label,
        emotion_score=result.score,
        emotion_trend=result.trend,
        emotion_signals=conversation.emotion_signals,
        dissatisfied_probability=result.dissatisfied_probability,
    )
    level = EmotionAlert.Level.EMOTION
    reason = ""
    risk = complaint_risk(result.signals)
    if (
        risk
        and not EmotionAlert.objects.filter(
            conversation=conversation, level=EmotionAlert.Level.COMPLAINT_RISK
        ).exists()
    ):
        level = EmotionAlert.Level.COMPLAINT_RISK
        reason = f"投诉风险：客户提到「{'、'.join(risk[:4])}」（情绪分 {result.score:.1f}）"
    elif result.score >= ALERT_LEVEL > previous:
        reason = f"情绪分达到 {result.score:.1f}"
    elif result.score - previous >= ALERT_RISE:
        reason = f"情绪分上升 {result.score - previous:.1f}（{previous:.1f} → {result.score:.1f}）"
    if not reason:
        return None
    return EmotionAlert.objects.create(
        conversation=conversation,
        level=level,
        score=result.score,
        previous_score=previous,
        label=result.label,
        reason=reason[:255],
    )


def alert_recipients(conversation: Conversation) -> list[int]:
    """Who an alert is for: the conversation's assignee and the team leads of its team."""
    leads: list[int] = []
    if conversation.team_id:
        leads = list(
            User.objects.filter(
                teams__id=conversation.team_id, role=Role.TEAM_LEAD, is_active=True
            ).values_list("id", flat=True)
        )
    return list(dict.fromkeys([uid for uid in (conversation.assignee_id, *leads) if uid is not None]))


def publish_alert(
    alert: EmotionAlert, conversation: Conversation, *, user_ids: list[int] | None = None
) -> None:
    """Announce ``alert`` to its recipients (``alert_recipients``, or ``user_ids``); never to webhooks.

    ``notify_user_ids`` in the payload names them, so a desk that hears the event
    through ``desk.all`` (supervisors) lists it without raising a toast.
    """
    recipients = alert_recipients(conversation) if user_ids is None else user_ids
    publish(
        "conversation.emotion_alert",
        {
            **alert_dict(alert, conversation),
            "label_text": LABEL_NAMES.get(alert.label, alert.label),
            "signals": conversation.emotion_signals,
            "priority": conversation.priority,
            "notify_user_ids": recipients,
        },
        user_ids=recipients,
        conversation_id=conversation.pk,
        webhook=False,
    )


def do_tell_assignee_of_open_alerts(conversation: Conversation) -> None:
    """Announce the conversation's unacknowledged alerts to its new assignee.

    An alert raised by a first message goes out before routing has found an agent
    (its team's leads hear it then); the agent who is given the conversation hears it
    with the assignment.
    """
    if conversation.assignee_id is None:
        return
    for alert in EmotionAlert.objects.filter(
        conversation=conversation, acknowledged_at__isnull=True
    ).order_by("id")[:5]:
        publish_alert(alert, conversation, user_ids=[conversation.assignee_id])


def open_alerts_for(user: User) -> QuerySet[EmotionAlert]:
    """The unacknowledged alerts ``user`` is asked to act on (the navigation's count).

    Agents and specialists: those of conversations assigned to them. Team leads: also
    those of their teams' conversations. Supervisors and above: all of them.
    """
    qs = EmotionAlert.objects.filter(acknowledged_at__isnull=True, conversation__status__in=ALERT_STATUSES)
    if user.sees_all:
        return qs
    mine = Q(conversation__assignee=user)
    if user.role == Role.TEAM_LEAD:
        mine |= Q(conversation__team_id__in=user.teams.values("id"))
    return qs.filter(mine)


@dataclass(frozen=True)
class Reading:
    """A customer message understood before its transaction, against the conversation as it was read.

    Emotion and intent are CPU work (segmentation, scoring, the classifier) that need
    no lock. Worked out before the message's write transaction (SQLite's BEGIN
    IMMEDIATE holds the one write lock until the commit), the transaction only stores
    them, after checking that the conversation has no message the reading did not
    see; otherwise it works them out again inside, as it always did.
    """

    conversation_id: int | None  # None: the message opens a new conversation
    last_message_id: int  # the conversation's newest message when read (0: none)
    emotion: ConversationEmotion
    prediction: IntentPrediction | None  # None when the conversation needs no intent


def read_customer_message(conversation: Conversation | None, text: str) -> Reading | None:
    """Emotion (and intent, if it lacks one) of ``text`` as ``conversation``'s next customer message.

    ``conversation`` None: the message opens a new one. Read-only; any failure gives
    None (the transaction then works it out itself).
    """
    try:
        now = timezone.now()
        turns: list[Turn] = []
        last_id = 0
        if conversation is not None:
            last_id = conversation.messages.order_by("-id").values_list("id", flat=True).first() or 0
            turns = conversation_turns(conversation)
        turns.append(Turn(role="customer", text=text, at=now))
        needs_intent = conversation is None or not conversation.intent
        return Reading(
            conversation_id=conversation.pk if conversation is not None else None,
            last_message_id=last_id,
            emotion=analyze_conversation(turns[-HISTORY:], now=now),
            prediction=classify(text) if text and needs_intent else None,
        )
    except Exception:
        log.exception("reading a customer message ahead of its transaction failed")
        return None


def _still_current(
    reading: Reading | None, conversation: Conversation, message: Message, first: bool
) -> bool:
    """Whether ``reading`` saw ``conversation`` exactly as it was before ``message`` (one query)."""
    if reading is None:
        return False
    if first:  # opened in this transaction: nothing else is in it
        return reading.conversation_id is None
    if reading.conversation_id != conversation.pk:
        return False
    before = (
        conversation.messages.filter(pk__lt=message.pk).order_by("-id").values_list("id", flat=True).first()
    )
    return (before or 0) == reading.last_message_id


def do_understand_customer_message(
    conversation: Conversation, message: Message, *, first: bool, reading: Reading | None = None
) -> EmotionAlert | None:
    """Emotion for every customer message; intent for the first one(s). Returns the alert raised, unpublished.

    Runs in the message's transaction and never fails it (``best_effort``): a customer's
    message is stored even when understanding it is not. ``reading``, from
    ``read_customer_message`` before the transaction, is stored if it is still current.
    """
    return best_effort(
        f"text understanding of conversation {conversation.pk}",
        None,
        _understand,
        conversation,
        message,
        first=first,
        reading=reading,
    )


def _understand(
    conversation: Conversation, message: Message, *, first: bool, reading: Reading | None
) -> EmotionAlert | None:
    current = reading if _still_current(reading, conversation, message, first) else None
    alert = do_update_emotion(conversation, result=current.emotion if current is not None else None)
    if first or not conversation.intent:
        text = message.text
        if text:
            prediction = (
                current.prediction
                if current is not None and current.prediction is not None
                else classify(text)
            )
            if prediction.intent is not None or first:
                conversation.intent = prediction.intent or ""
                conversation.intent_confidence = prediction.confidence
                Conversation.objects.filter(pk=conversation.pk).update(
                    intent=conversation.intent, intent_confidence=prediction.confidence
                )
    return alert
