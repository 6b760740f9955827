"""Quality, ground floor: the rubric score of a finished conversation.

When a conversation is resolved or closed, ``do_schedule_scoring`` queues
``score_conversation_task`` after the commit; ``do_score_conversation`` replays the
replies through the active rule set (with the context stored when each was sent) and
checks answers against the knowledge base. The task sits beside the work it runs.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict

from django.db import transaction
from django.tasks import task
from django.utils import timezone

from kefu.conversations.models import Conversation, Message
from kefu.kb.index import search_articles
from kefu.kb.markdown import plain_text
from kefu.kb.models import Article
from kefu.nlp.emotion import LABELS, analyze_message
from kefu.nlp.pii import scan_text

from .models import QualityScore, ReplyFindings
from .rules import (
    ReplyContext,
    Turn,
    check_reply,
    contexts_for,
    score_conversation,
)
from .ruleset_store import active_ruleset

log = logging.getLogger(__name__)

FINISHED = (Conversation.Status.RESOLVED, Conversation.Status.CLOSED)


def do_schedule_scoring(conversation: Conversation) -> None:
    """Queue the rubric score of a conversation that was just resolved or closed (after commit)."""

    conversation_id = conversation.pk

    def _enqueue() -> None:
        try:
            score_conversation_task.enqueue(conversation_id)
        except Exception:
            log.exception("could not enqueue scoring of conversation %s", conversation_id)

    transaction.on_commit(_enqueue)


def _customer_emotion(text: str) -> str | None:
    try:
        return analyze_message(text).label
    except Exception:
        log.exception("emotion analysis failed while scoring")
        return None


_CONTENT_RE = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]")


def _bigrams(text: str) -> set[str]:
    chars = "".join(ch for ch in scan_text(text) if _CONTENT_RE.match(ch))
    return {chars[i : i + 2] for i in range(len(chars) - 1)}


def kb_match(reply: str, answer: str) -> float:
    """How well a reply carries a KB answer: the larger of answer recall and reply precision on bigrams."""
    a, r = _bigrams(answer), _bigrams(reply)
    if not a or not r:
        return 0.0
    shared = len(a & r)
    return max(shared / len(a), shared / len(r))


KB_MATCH_THRESHOLD = 0.5


def kb_correctness_for(turns: Sequence[Turn]) -> float | None:
    """Share of agent replies that agree with the KB's top answer to the question they answer.

    Only replies after a customer question the published KB has an answer for count;
    None when there are none (the rubric then leaves the item out).
    """

    if not Article.objects.filter(status=Article.Status.PUBLISHED).exists():
        return None
    checked = matched = 0
    question = ""
    for t in turns:
        if t.role == "customer":
            question = t.text
            continue
        if len(scan_text(question).strip()) < 4 or len(t.text) < 6:
            continue
        results = search_articles(question[-200:], limit=1)
        question = ""
        if not results:
            continue
        article = results[0].article
        answer = article.answer or plain_text(article.body)
        checked += 1
        matched += kb_match(t.text, answer) >= KB_MATCH_THRESHOLD
    return matched / checked if checked else None


def _conversation_turns(conversation: Conversation) -> tuple[list[Turn], list[Message]]:
    rows = list(
        conversation.messages.filter(
            direction__in=(Message.Direction.INCOMING, Message.Direction.OUTGOING), is_private=False
        )
        .exclude(kind=Message.Kind.AUTO)
        .exclude(text="")
        .select_related("quality")
        .order_by("id")
    )
    stored: dict[int, ReplyFindings] = {
        m.pk: q for m in rows if (q := getattr(m, "quality", None)) is not None
    }
    turns: list[Turn] = []
    for i, m in enumerate(rows):
        if m.direction == Message.Direction.INCOMING:
            # The emotion the agent saw when answering, if the answer was recorded.
            nxt = next((r for r in rows[i + 1 :] if r.direction == Message.Direction.OUTGOING), None)
            emotion = stored[nxt.pk].context.get("customer_emotion") if nxt and nxt.pk in stored else None
            if emotion not in LABELS:
                emotion = _customer_emotion(m.text)
            turns.append(Turn("customer", m.text, emotion, m.created_at.timestamp()))  # type: ignore[arg-type]
        else:
            turns.append(Turn("agent", m.text, None, m.created_at.timestamp()))
    return turns, rows


def do_score_conversation(conversation_id: int) -> QualityScore | None:
    """Score a finished conversation on the active rubric and store it (replacing an older score)."""
    conversation = Conversation.objects.filter(pk=conversation_id).first()
    if conversation is None or conversation.status not in FINISHED:
        return None
    ruleset = active_ruleset()
    turns, rows = _conversation_turns(conversation)
    agent_rows = [m for m in rows if m.direction == Message.Direction.OUTGOING]
    if not agent_rows:
        return None
    base_contexts = contexts_for(turns)
    contexts: list[ReplyContext] = []
    for i, (m, base) in enumerate(zip(agent_rows, base_contexts, strict=True)):
        stored = getattr(m, "quality", None)  # select_related; None when not recorded
        if stored is not None and stored.context:
            known = {k: v for k, v in stored.context.items() if k in ReplyContext.__dataclass_fields__}
            ctx = ReplyContext(
                **{**known, "is_first_agent_reply": i == 0, "is_closing": i == len(agent_rows) - 1}
            )
        else:
            ctx = base
        contexts.append(ctx)
    findings = [check_reply(m.text, c, ruleset) for m, c in zip(agent_rows, contexts, strict=True)]
    try:
        kb = kb_correctness_for(turns)
    except Exception:
        log.exception("kb correctness failed for conversation %s", conversation_id)
        kb = None
    result = score_conversation(turns, findings, kb_correctness=kb, ruleset=ruleset)
    senders = Counter(m.sender_id for m in agent_rows if m.sender_id)
    agent_id = senders.most_common(1)[0][0] if senders else conversation.assignee_id
    high_sent = ReplyFindings.objects.filter(conversation=conversation, high_count__gt=0).count()
    angry = conversation.emotion_label == "angry" or any(
        t.role == "customer" and t.emotion == "angry" for t in turns
    )
    rule_counts = Counter(f.rule for per_reply in findings for f in per_reply)
    with transaction.atomic():
        score, _ = QualityScore.objects.update_or_create(
            conversation=conversation,
            defaults={
                "agent_id": agent_id,
                "total": result.total,
                "items": [asdict(i) for i in result.items],
                "rubric_version": ruleset.version,
                "kb_correctness": kb,
                "high_findings": high_sent,
                "angry_customer": angry,
                "rule_counts": dict(rule_counts),
                "closed_at": conversation.resolved_at or timezone.now(),
            },
        )
    return score


@task()
def score_conversation_task(conversation_id: int) -> int | None:
    """Score a finished conversation on the rubric; returns the total (None if not scorable)."""
    score = do_score_conversation(conversation_id)
    return score.total if score else None
