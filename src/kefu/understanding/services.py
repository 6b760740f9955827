"""Understanding the customer inside the desk.

Runs the pure library (:mod:`kefu.nlp`) on every incoming message, synchronously —
it is fast enough (see bench/nlp_latency.py) — and stores what it finds on the
conversation: the emotion badge and trend with its signals, the intent that picks
the queue, and alerts when a customer's feeling crosses a line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.db import transaction
from django.tasks import task
from django.utils import timezone

from kefu.accounts.access import check_role, team_ids_of
from kefu.accounts.models import Role, Team, User
from kefu.conversations.models import Conversation, Message
from kefu.conversations.timeline import access_conversation, add_activity, visible_conversations
from kefu.core.errors import InvalidInput, NotFound, PermissionDenied
from kefu.core.events import publish
from kefu.core.fields import check_message, check_text, check_text_list
from kefu.kb.index import SYNONYMS_CHANGED, note_index_change
from kefu.nlp import segment
from kefu.nlp.emotion import analyze_message
from kefu.nlp.intent import DEFAULT_INTENTS, IntentClassifier
from kefu.nlp.normalize import normalize
from kefu.nlp.train import load_intent_seed
from kefu.understanding.presenters import alert_dict
from kefu.understanding.reading import alert_recipients, classifier, model_path, sync_shop_words

from .models import EmotionAlert, Intent, IntentExample, ShopWord

TREND_LABELS = {"rising": "上升", "falling": "回落", "steady": "平稳", "recovered": "已安抚"}
# The conversation model's P(the customer ends dissatisfied) from which the desk warns.
# At 0.5 it read 79 % of the rated STC-3 helpdesk dialogues right (docs/nlp.md).
LIKELY_DISSATISFIED = 0.5


def outlook(probability: float | None) -> dict[str, Any]:
    """How the conversation is likely to end, for the assist panel and the API.

    ``likely_dissatisfied`` from ``LIKELY_DISSATISFIED``; ``text`` is empty without a
    customer message yet.
    """
    if probability is None:
        return {"dissatisfied_probability": None, "likely_dissatisfied": False, "outlook_text": ""}
    likely = probability >= LIKELY_DISSATISFIED
    percent = round(100 * probability)
    text = f"客户可能不满意结束（{percent}%）" if likely else f"结束时不满意的可能 {percent}%"
    return {
        "dissatisfied_probability": round(probability, 3),
        "likely_dissatisfied": likely,
        "outlook_text": text,
    }


# The handbooks' order for an upset customer: acknowledge the feeling → apologise →
# a concrete solution with a time → follow up.
GUIDANCE: dict[str, list[str]] = {
    "calm": [
        "确认需求：复述客户的问题，确保理解一致",
        "给出明确答复；需要查询时说明多久回复",
        "结束前询问是否还有其他问题",
    ],
    "anxious": [
        "先安抚：理解您着急的心情，我马上为您查询",
        "给出确定的进度与时间点（如“今天18:00前给您回复”）",
        "主动告知下一步，并约定跟进时间",
    ],
    "dissatisfied": [
        "认同感受：非常理解您的心情，换作是我也会不满意",
        "真诚道歉，不要在道歉后接“但是”",
        "给出具体解决方案和完成时间",
        "约定回访，确认问题最终解决",
    ],
    "angry": [
        "先处理情绪：耐心倾听，不打断、不辩解",
        "认同并道歉：非常抱歉给您带来这么不好的体验",
        "给出具体方案与时间，超出权限立即请组长协助",
        "记录承诺并主动跟进，必要时升级处理",
    ],
}


# --- shop dictionary ---------------------------------------------------------------


def do_add_shop_words(*, actor: User, words: list[str], kind: str = ShopWord.Kind.PRODUCT) -> list[ShopWord]:
    check_role(actor, Role.ADMIN)
    if kind not in ShopWord.Kind.values:
        raise InvalidInput("词条类型无效", fields={"kind": "应为 product/term"})
    cleaned = check_text_list(words, field="words", label="词条", max_items=200, max_len=32)
    if not cleaned:
        raise InvalidInput("请填写词条", fields={"words": "不能为空"})
    created = []
    with transaction.atomic():
        for w in dict.fromkeys(cleaned):
            obj, was_new = ShopWord.objects.get_or_create(word=w, defaults={"kind": kind})
            if was_new:
                created.append(obj)

        note_index_change(SYNONYMS_CHANGED)  # the KB index re-reads product names
    transaction.on_commit(sync_shop_words)
    return created


# --- intents -------------------------------------------------------------------------


def do_install_default_intents() -> int:
    """Create the default taxonomy (idempotent) and link intents to teams by name."""
    teams = {t.name: t for t in Team.objects.all()}
    created = 0
    for order, spec in enumerate(DEFAULT_INTENTS):
        intent, was_new = Intent.objects.get_or_create(
            name=spec.name,
            defaults={
                "description": spec.description,
                "team": teams.get(spec.team),
                "default_priority": spec.priority,
                "order": order,
            },
        )
        created += was_new
        if intent.team_id is None and spec.team in teams:
            Intent.objects.filter(pk=intent.pk).update(team=teams[spec.team])
    return created


PRIORITIES = ("P1", "P2", "P3", "P4")


def check_intent_fields(data: dict[str, Any]) -> dict[str, Any]:
    """Validate taxonomy fields (any subset of name, description, team_id, default_priority, is_active)."""
    out = dict(data)
    if "name" in out:
        out["name"] = check_text(out["name"], field="name", label="意图名称", max_len=32)
    if "description" in out:
        out["description"] = check_text(out["description"], field="description", max_len=255, required=False)
    if "default_priority" in out and out["default_priority"] not in PRIORITIES:
        raise InvalidInput("优先级无效", fields={"default_priority": "应为 P1–P4"})
    if out.get("team_id") is not None and not Team.objects.filter(pk=out["team_id"]).exists():
        raise InvalidInput("团队不存在", fields={"team_id": "不存在"})
    return out


def do_create_intent(*, actor: User, data: dict[str, Any]) -> Intent:
    check_role(actor, Role.ADMIN)
    fields = check_intent_fields(data)
    if Intent.objects.filter(name=fields["name"]).exists():
        raise InvalidInput("意图已存在", fields={"name": "已存在"})
    return Intent.objects.create(**fields)


def do_update_intent(*, actor: User, intent_id: int, data: dict[str, Any]) -> Intent:
    check_role(actor, Role.ADMIN)
    fields = check_intent_fields(data)
    qs = Intent.objects.filter(pk=intent_id)
    if not (qs.update(**fields) if fields else qs.exists()):
        raise NotFound(f"意图 {intent_id} 不存在")
    return Intent.objects.select_related("team").get(pk=intent_id)


def training_examples() -> list[tuple[str, str]]:
    """The committed seed (the same loader as ``python -m kefu.nlp.train``) and agents' corrections."""
    return [*load_intent_seed(), *IntentExample.objects.values_list("text", "intent")]


def do_retrain_intents() -> Path:
    """Retrain from the seed plus agents' corrections; written atomically for all processes."""
    model = IntentClassifier.fit(training_examples())
    path = model_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".intent-{os.getpid()}.npz")
    model.save(tmp)
    os.replace(tmp, path)
    return path


def analyze_text(text: str) -> dict[str, Any]:
    """What kefu understands of one text, with the desk's own intent model and shop words."""

    text = check_message(text)
    sync_shop_words()
    norm = normalize(text)
    emotion = analyze_message(text)
    intent = classifier().predict(text)
    return {
        "normalized": norm.text,
        "tokens": segment.cut(norm.text),
        "emotion": {
            "label": emotion.label,
            "score": emotion.score,
            "signals": [{"code": s.code, "text": s.description, "weight": s.weight} for s in emotion.signals],
        },
        "intent": {"intent": intent.intent, "confidence": intent.confidence, "ranked": intent.ranked},
    }


def do_correct_intent(*, actor: User, conversation_id: int, intent: str) -> Conversation:
    """An agent sets the right intent: stored, and kept as a training example."""

    if not Intent.objects.filter(name=intent).exists():
        raise InvalidInput(f"未知意图：{intent}", fields={"intent": "不在意图列表中"})
    with transaction.atomic():
        conversation = access_conversation(actor, conversation_id, for_update=True)
        old = conversation.intent
        if old == intent:
            return conversation
        first = (
            conversation.messages.filter(direction=Message.Direction.INCOMING)
            .exclude(text="")
            .order_by("id")
            .values_list("text", flat=True)[:2]
        )
        text = " ".join(first)[:500]
        if text:
            IntentExample.objects.create(
                text=text, intent=intent, conversation=conversation, created_by=actor
            )
        conversation.intent = intent
        conversation.intent_confidence = 1.0
        conversation.save(update_fields=["intent", "intent_confidence", "updated_at"])
        add_activity(conversation, f"{actor.name} 将意图由「{old or '未识别'}」改为「{intent}」", actor=actor)

        transaction.on_commit(retrain_intents.enqueue)
    return conversation


# --- emotion -------------------------------------------------------------------------


def guidance_for(label: str) -> list[str]:
    return GUIDANCE.get(label or "calm", GUIDANCE["calm"])


ALERTS_LIMIT = 100


def access_alerts(user: User, *, open_only: bool = True, limit: int = ALERTS_LIMIT) -> list[EmotionAlert]:
    """Alerts of the conversations ``user`` may see, newest first."""
    qs = EmotionAlert.objects.filter(conversation__in=visible_conversations(user)).select_related(
        "conversation", "conversation__customer", "acknowledged_by"
    )
    if open_only:
        qs = qs.filter(acknowledged_at__isnull=True)
    return list(qs.order_by("-created_at", "-id")[:limit])


def check_may_acknowledge(user: User, conversation: Conversation) -> None:
    """The conversation's assignee, its team's leads, and supervisors and above acknowledge its alerts."""
    if user.sees_all or conversation.assignee_id == user.pk:
        return
    if user.role == Role.TEAM_LEAD and conversation.team_id in team_ids_of(user):
        return
    raise PermissionDenied("只有负责该会话的客服、所在团队的组长或主管可以确认这条预警")


def do_acknowledge_alert(*, actor: User, alert_id: int) -> EmotionAlert:
    """Record who acknowledged an alert and when (the first one to do it), and tell its recipients.

    Acknowledging it again changes nothing and announces nothing.
    """
    with transaction.atomic():
        alert = EmotionAlert.objects.select_related("conversation__customer").filter(pk=alert_id).first()
        if alert is None:
            raise NotFound("预警不存在", fields={"alert_id": "不存在"})
        conversation = access_conversation(actor, alert.conversation_id)
        if alert.acknowledged_at is not None:
            return EmotionAlert.objects.select_related("conversation__customer", "acknowledged_by").get(
                pk=alert.pk
            )
        check_may_acknowledge(actor, conversation)
        now = timezone.now()
        if EmotionAlert.objects.filter(pk=alert.pk, acknowledged_at__isnull=True).update(
            acknowledged_by=actor, acknowledged_at=now
        ):
            add_activity(
                conversation,
                f"{actor.name} 已确认{alert.get_level_display()}（{now.astimezone(timezone.get_current_timezone()):%H:%M}）",
                actor=actor,
                meta={"alert_id": alert.pk, "acknowledged": True},
            )
            alert = EmotionAlert.objects.select_related("conversation__customer", "acknowledged_by").get(
                pk=alert.pk
            )
            recipients = alert_recipients(conversation)
            publish(
                "conversation.alert_acknowledged",
                {**alert_dict(alert, conversation), "notify_user_ids": recipients},
                user_ids=recipients,
                conversation_id=conversation.pk,
                webhook=False,
            )
        else:  # someone else was a moment quicker
            alert = EmotionAlert.objects.select_related("conversation__customer", "acknowledged_by").get(
                pk=alert.pk
            )
    return alert


@task()
def retrain_intents() -> str:
    """Retrain the desk's intent model (after agents' corrections); returns the model path."""
    return str(do_retrain_intents())


def do_request_retrain(*, actor: User) -> str:
    """An admin asks for the intent model to be retrained now; returns the task id."""
    check_role(actor, Role.ADMIN)
    return str(retrain_intents.enqueue().id)
