"""Quality, ground floor: checking a reply, as it is typed and when it is sent.

``access_reply_check`` runs the pure engine (:mod:`kefu.quality.rules`) on a draft with a
``ReplyContext`` built from the conversation: the customer's emotion, whether this is
the first answer or a sign-off, a question that expects a time, and the agent's
authority to grant compensation (:mod:`kefu.complaints.guards`).
``check_reply_before_send`` runs it on a reply about to be sent and refuses one with
high-severity findings unless the agent confirmed them (409 ``findings_unconfirmed``,
the findings in the body); ``do_record_reply_findings`` stores what the engine found in
a reply just sent, with the context that produced it and whether the agent overrode
high findings, inside the sender's transaction.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings

from kefu.accounts.models import Role, User
from kefu.complaints.guards import approved_compensation, authority_limit
from kefu.conversations.models import Conversation, Message
from kefu.conversations.timeline import access_conversation
from kefu.core.errors import Conflict, InvalidInput
from kefu.core.fields import check_text
from kefu.core.transactions import best_effort
from kefu.incidents.facts import statement_texts
from kefu.nlp.emotion import LABELS
from kefu.nlp.normalize import to_simplified
from kefu.nlp.pii import scan_text

from .models import ReplyFindings
from .presenters import finding_dict
from .rules import (
    Finding,
    ReplyContext,
    apply_finding,
    check_reply,
    statement_facts,
)
from .ruleset_store import active_ruleset
from .rulesets import (
    RuleSet,
)

# A customer asking when / about progress expects a concrete time in the answer.
TIME_QUESTION_RE = re.compile(r"何时|什么时候|啥时候|多久|多长时间|进度|几天|几点|哪天")
# The rule set's role_limits name three levels; desk roles map onto them unless a
# supervisor adds the desk role itself to role_limits.
ROLE_LIMIT_KEYS = {
    Role.AGENT: "agent",
    Role.SPECIALIST: "senior_agent",
    Role.TEAM_LEAD: "senior_agent",
    Role.SUPERVISOR: "supervisor",
    Role.MANAGER: "supervisor",
    Role.ADMIN: "supervisor",
}
# The complaints app says None for "no limit"; a stored context must stay JSON (no
# Infinity), so no limit is stored as this many yuan.
NO_LIMIT = 1e12


def compensation_limit_for(user: User) -> float:
    """How much compensation the agent may grant alone, in yuan (complaints' authority table)."""
    value = authority_limit(user)
    return min(float(value), NO_LIMIT) if value is not None else NO_LIMIT


def approved_compensation_for(conversation: Conversation) -> float:
    """What was granted or approved for this conversation, in yuan."""
    return float(approved_compensation(conversation))


def agent_role_key(user: User, ruleset: RuleSet) -> str:
    limits = ruleset.rule("compensation_over_limit").params.get("role_limits", {})
    if user.role in limits:
        return user.role
    if user.role == Role.AGENT and user.is_senior:
        return "senior_agent"
    return ROLE_LIMIT_KEYS.get(Role(user.role), "agent")


def reply_context(
    conversation: Conversation,
    agent: User,
    ruleset: RuleSet,
    *,
    closing: bool = False,
    before_message_id: int | None = None,
) -> ReplyContext:
    """What the engine should know about a reply ``agent`` writes in ``conversation`` now
    (or wrote as the message ``before_message_id``)."""
    messages = conversation.messages.filter(is_private=False)
    if before_message_id is not None:
        messages = messages.filter(id__lt=before_message_id)
    last_customer = (
        messages.filter(direction=Message.Direction.INCOMING)
        .order_by("-id")
        .values_list("text", flat=True)
        .first()
        or ""
    )
    answered = messages.filter(direction=Message.Direction.OUTGOING, sender__isnull=False).exists()
    emotion = conversation.emotion_label if conversation.emotion_label in LABELS else None
    return ReplyContext(
        customer_emotion=emotion,  # type: ignore[arg-type]
        is_first_agent_reply=not answered,
        is_closing=closing,
        customer_last_message=last_customer[-500:],
        expects_time=bool(TIME_QUESTION_RE.search(scan_text(last_customer[-500:]))),
        agent_role=agent_role_key(agent, ruleset),
        compensation_limit=compensation_limit_for(agent),
        approved_compensation=approved_compensation_for(conversation),
        incident_facts=tuple(statement_facts(s, ruleset) for s in statement_texts(conversation.pk)),
    )


def check_draft_text(text: Any) -> str:
    """A draft as typed: not stripped, so the findings' spans match the composer's text."""
    return check_text(
        text, field="text", max_len=settings.KEFU_MAX_MESSAGE_CHARS, required=False, strip=False
    )


@dataclass(frozen=True)
class DraftCheck:
    ruleset_version: int
    context: ReplyContext
    findings: list[Finding]


_SIGN_OFF = re.compile(
    r"再见|拜拜|祝您[^。！!]{0,8}(愉快|顺利|开心)|祝您生活愉快|感谢您的(耐心|支持|理解|配合)[^。]*[。！!]?\s*$"
)


def looks_like_closing(text: str) -> bool:
    """Whether a draft signs off, so the closing question is expected in it."""
    return bool(_SIGN_OFF.search(to_simplified(text)))


def access_reply_check(*, user: User, conversation_id: int, text: Any, closing: bool = False) -> DraftCheck:
    """Findings for a draft reply in a conversation the user may see."""

    text = check_draft_text(text)
    conversation = access_conversation(user, conversation_id)
    ruleset = active_ruleset()
    # A sign-off ("祝您生活愉快", "再见") ends the conversation even if the composer did not say so.
    closing = closing or looks_like_closing(text)
    ctx = reply_context(conversation, user, ruleset, closing=closing)
    findings = check_reply(text, ctx, ruleset) if text.strip() else []
    return DraftCheck(ruleset.version, ctx, findings)


def apply_fix(text: Any, finding: Mapping[str, Any]) -> str:
    """``text`` with a finding's replacement spliced in; the span must still hold the excerpt."""
    text = check_draft_text(text)
    try:
        start, end = int(finding["start"]), int(finding["end"])
        excerpt = str(finding["excerpt"])
        replacement = finding.get("replacement")
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(
            "finding 需要 start、end、excerpt", fields={"finding": "缺少 start/end/excerpt"}
        ) from exc
    if replacement is not None and not isinstance(replacement, str):
        raise InvalidInput("replacement 应为文字", fields={"finding.replacement": "应为文字"})
    if not 0 <= start <= end <= len(text) or text[start:end] != excerpt:
        raise InvalidInput("回复内容已改变，请重新检查", fields={"finding": "与当前内容不一致"})
    f = Finding(str(finding.get("rule", "")), "low", start, end, excerpt, "", None, replacement)
    return apply_finding(text, f)


class FindingsUnconfirmed(Conflict):
    """A reply with high-severity findings that the agent has not confirmed sending."""

    code = "findings_unconfirmed"


def check_reply_before_send(
    *, agent: User, conversation: Conversation, text: str, confirmed: bool
) -> DraftCheck | None:
    """The findings of a reply about to be sent; refused while it has unconfirmed high ones.

    The desk's composer asks before sending such a reply; this is the same rule on the
    server, so no client (the API, a script, an old tab) sends one without saying so
    (``confirm_findings``). The engine failing never keeps the customer from their
    answer: it is logged and the reply goes (``None``). Run inside the send transaction.
    """
    if not text.strip():
        return None
    result = best_effort(
        f"checking a reply in conversation {conversation.pk}", None, _check, agent, conversation, text
    )
    if result is None:
        return None
    high = [f for f in result.findings if f.severity == "high"]
    if high and not confirmed:
        raise FindingsUnconfirmed(
            f"回复中有 {len(high)} 处严重问题，请修改；确认仍要发送时请明确确认（confirm_findings: true）",
            fields={"text": "含有严重问题", "confirm_findings": "确认后仍要发送请设为 true"},
            extra={
                "findings": [finding_dict(f) for f in result.findings],
                "high": len(high),
                "ruleset_version": result.ruleset_version,
            },
        )
    return result


def _check(agent: User, conversation: Conversation, text: str) -> DraftCheck:
    ruleset = active_ruleset()
    ctx = reply_context(conversation, agent, ruleset, closing=looks_like_closing(text))
    return DraftCheck(ruleset.version, ctx, check_reply(text, ctx, ruleset))


def do_record_reply_findings(
    message: Message,
    conversation: Conversation,
    checked: DraftCheck | None = None,
    *,
    confirmed: bool = False,
) -> ReplyFindings | None:
    """Store what the engine finds in a reply just sent (inside the sender's transaction).

    ``checked`` is the check made before sending, if any (else the reply is checked
    now); ``confirmed`` says the agent confirmed its high findings, recorded as an
    override that quality reviewers see. Quality bookkeeping must never cost the
    customer their answer (``best_effort``): a failure is logged and rolled back to a
    savepoint, and the message is sent regardless.
    """
    if message.direction != Message.Direction.OUTGOING or message.sender is None or not message.text:
        return None
    return best_effort(
        f"recording the findings of reply {message.pk}",
        None,
        _record_findings,
        message,
        conversation,
        checked,
        confirmed,
    )


def _record_findings(
    message: Message, conversation: Conversation, checked: DraftCheck | None, confirmed: bool
) -> ReplyFindings:
    assert message.sender is not None
    if checked is None:
        ruleset = active_ruleset()
        ctx = reply_context(conversation, message.sender, ruleset, before_message_id=message.pk)
        checked = DraftCheck(ruleset.version, ctx, check_reply(message.text, ctx, ruleset))
    high = sum(1 for f in checked.findings if f.severity == "high")
    return ReplyFindings.objects.create(
        message=message,
        conversation=conversation,
        agent=message.sender,
        ruleset_version=checked.ruleset_version,
        context=asdict(checked.context),
        findings=[f.to_dict() for f in checked.findings],
        high_count=high,
        overridden=bool(high and confirmed),
    )
