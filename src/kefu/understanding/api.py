"""Understanding API: intents (taxonomy, corrections, retraining), emotion, alerts, shop words."""

from __future__ import annotations

from typing import Any

from ninja import Router, Status

from kefu.accounts.access import AuthedRequest
from kefu.conversations.timeline import access_conversation
from kefu.core.apiutil import StrictIn
from kefu.nlp.emotion import LABEL_NAMES
from kefu.understanding.presenters import alert_dict, intent_dict

from . import services
from .models import Intent, ShopWord

router = Router(tags=["understanding"])


@router.get("/intents")
def list_intents(request: AuthedRequest) -> list[dict[str, Any]]:
    return [intent_dict(i) for i in Intent.objects.select_related("team")]


class IntentIn(StrictIn):
    name: str
    description: str = ""
    team_id: int | None = None
    default_priority: str = "P4"
    is_active: bool = True


class IntentPatch(StrictIn):
    description: str | None = None
    team_id: int | None = None
    default_priority: str | None = None
    is_active: bool | None = None


@router.post("/intents", response={201: dict})
def create_intent(request: AuthedRequest, payload: IntentIn) -> Status:
    return Status(201, intent_dict(services.do_create_intent(actor=request.user, data=payload.model_dump())))


@router.patch("/intents/{int:intent_id}")
def update_intent(request: AuthedRequest, intent_id: int, payload: IntentPatch) -> dict[str, Any]:
    intent = services.do_update_intent(
        actor=request.user, intent_id=intent_id, data=payload.model_dump(exclude_unset=True)
    )
    return intent_dict(intent)


@router.post("/intents/retrain", response={202: dict})
def retrain(request: AuthedRequest) -> Status:
    return Status(202, {"task_id": services.do_request_retrain(actor=request.user)})


class IntentCorrection(StrictIn):
    intent: str


@router.post("/conversations/{conversation_id}/intent")
def correct_intent(request: AuthedRequest, conversation_id: int, payload: IntentCorrection) -> dict[str, Any]:
    c = services.do_correct_intent(actor=request.user, conversation_id=conversation_id, intent=payload.intent)
    return {"conversation_id": c.pk, "intent": c.intent}


@router.get("/conversations/{conversation_id}/emotion")
def conversation_emotion(request: AuthedRequest, conversation_id: int) -> dict[str, Any]:

    c = access_conversation(request.user, conversation_id)
    return {
        "label": c.emotion_label or "calm",
        "label_text": LABEL_NAMES.get(c.emotion_label or "calm"),
        "score": c.emotion_score,
        "trend": c.emotion_trend,
        "trend_text": services.TREND_LABELS.get(c.emotion_trend or "steady"),
        "signals": c.emotion_signals,
        "guidance": services.guidance_for(c.emotion_label),
        **services.outlook(c.dissatisfied_probability),
        "intent": c.intent or None,
        "intent_confidence": c.intent_confidence,
    }


@router.get("/emotion-alerts")
def alerts(request: AuthedRequest, open_only: bool = True) -> list[dict[str, Any]]:
    return [alert_dict(a) for a in services.access_alerts(request.user, open_only=open_only)]


@router.post("/emotion-alerts/{alert_id}/ack")
def ack_alert(request: AuthedRequest, alert_id: int) -> dict[str, Any]:
    return alert_dict(services.do_acknowledge_alert(actor=request.user, alert_id=alert_id))


class ShopWordsIn(StrictIn):
    words: list[str]
    kind: str = "product"


@router.get("/shop-words")
def shop_words(request: AuthedRequest) -> list[dict[str, Any]]:
    return [{"word": w.word, "kind": w.kind} for w in ShopWord.objects.order_by("word")]


@router.post("/shop-words", response={201: dict})
def add_shop_words(request: AuthedRequest, payload: ShopWordsIn) -> Status:
    created = services.do_add_shop_words(actor=request.user, words=payload.words, kind=payload.kind)
    return Status(201, {"created": [w.word for w in created]})


class AnalyzeIn(StrictIn):
    text: str


@router.post("/nlp/analyze")
def analyze(request: AuthedRequest, payload: AnalyzeIn) -> dict[str, Any]:
    """What kefu understands of a text: for admins tuning the models, and integrations."""
    return services.analyze_text(payload.text)
