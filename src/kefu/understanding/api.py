"""Understanding API: intents (taxonomy, corrections, retraining), emotion, alerts, shop words."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from ninja import Router, Status

from kefu.accounts.models import Role
from kefu.accounts.services import check_role
from kefu.core.apiutil import AuthedRequest, StrictIn
from kefu.core.errors import InvalidInput, NotFound

from . import services
from .models import EmotionAlert, Intent, ShopWord

router = Router(tags=["understanding"])


def intent_dict(i: Intent) -> dict[str, Any]:
    return {
        "id": i.pk,
        "name": i.name,
        "description": i.description,
        "team_id": i.team_id,
        "team": i.team.name if i.team_id and i.team else None,
        "default_priority": i.default_priority,
        "is_active": i.is_active,
    }


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


def _check_intent_fields(data: dict[str, Any]) -> None:
    from kefu.accounts.models import Team

    if "default_priority" in data and data["default_priority"] not in ("P1", "P2", "P3", "P4"):
        raise InvalidInput("优先级无效", fields={"default_priority": "应为 P1–P4"})
    if data.get("team_id") is not None and not Team.objects.filter(pk=data["team_id"]).exists():
        raise InvalidInput("团队不存在", fields={"team_id": "不存在"})
    if "name" in data and (not data["name"].strip() or len(data["name"]) > 32):
        raise InvalidInput("意图名称无效", fields={"name": "必填，最多32个字符"})


@router.post("/intents", response={201: dict})
def create_intent(request: AuthedRequest, payload: IntentIn) -> Status:
    check_role(request.user, Role.ADMIN)
    data = payload.model_dump()
    _check_intent_fields(data)
    if Intent.objects.filter(name=data["name"].strip()).exists():
        raise InvalidInput("意图已存在", fields={"name": "已存在"})
    data["name"] = data["name"].strip()
    return Status(201, intent_dict(Intent.objects.create(**data)))


@router.patch("/intents/{intent_id}")
def update_intent(request: AuthedRequest, intent_id: int, payload: IntentPatch) -> dict[str, Any]:
    check_role(request.user, Role.ADMIN)
    data = payload.model_dump(exclude_unset=True)
    _check_intent_fields(data)
    with transaction.atomic():
        updated = (
            Intent.objects.filter(pk=intent_id).update(**data)
            if data
            else Intent.objects.filter(pk=intent_id).count()
        )
        if not updated:
            raise NotFound(f"意图 {intent_id} 不存在")
    return intent_dict(Intent.objects.select_related("team").get(pk=intent_id))


@router.post("/intents/retrain", response={202: dict})
def retrain(request: AuthedRequest) -> Status:
    check_role(request.user, Role.ADMIN)
    from .tasks import retrain_intents

    result = retrain_intents.enqueue()
    return Status(202, {"task_id": str(result.id)})


class IntentCorrection(StrictIn):
    intent: str


@router.post("/conversations/{conversation_id}/intent")
def correct_intent(request: AuthedRequest, conversation_id: int, payload: IntentCorrection) -> dict[str, Any]:
    c = services.do_correct_intent(actor=request.user, conversation_id=conversation_id, intent=payload.intent)
    return {"conversation_id": c.pk, "intent": c.intent}


@router.get("/conversations/{conversation_id}/emotion")
def conversation_emotion(request: AuthedRequest, conversation_id: int) -> dict[str, Any]:
    from kefu.conversations.services import access_conversation

    c = access_conversation(request.user, conversation_id)
    return {
        "label": c.emotion_label or "calm",
        "label_text": services.EMOTION_LABELS.get(c.emotion_label or "calm"),
        "score": c.emotion_score,
        "trend": c.emotion_trend,
        "trend_text": services.TREND_LABELS.get(c.emotion_trend or "steady"),
        "signals": c.emotion_signals,
        "guidance": services.guidance_for(c.emotion_label),
        "intent": c.intent or None,
        "intent_confidence": c.intent_confidence,
    }


def alert_dict(a: EmotionAlert) -> dict[str, Any]:
    return {
        "id": a.pk,
        "conversation_id": a.conversation_id,
        "customer_name": a.conversation.customer.name,
        "score": a.score,
        "previous_score": a.previous_score,
        "label": a.label,
        "reason": a.reason,
        "created_at": a.created_at.isoformat(),
        "acknowledged": a.acknowledged_at is not None,
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
    from kefu.conversations.services import check_text
    from kefu.nlp.emotion import analyze_message
    from kefu.nlp.normalize import normalize
    from kefu.nlp.segment import cut

    text = check_text(payload.text)
    services.sync_shop_words()
    norm = normalize(text)
    emotion = analyze_message(text)
    intent = services.classify(text)
    return {
        "normalized": norm.text,
        "tokens": cut(norm.text),
        "emotion": {
            "label": emotion.label,
            "score": emotion.score,
            "signals": [{"code": s.code, "text": s.description, "weight": s.weight} for s in emotion.signals],
        },
        "intent": {"intent": intent.intent, "confidence": intent.confidence, "ranked": intent.ranked},
    }
