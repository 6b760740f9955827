"""Reply quality inside the desk: the pure engine (:mod:`kefu.quality.rules`) wired to
conversations, people and storage.

* Rule sets are rows (``RuleSetVersion``); the newest is active. Each supervisor edit is
  a partial override on top of the active set and becomes the next version.
* Drafts are checked with a ``ReplyContext`` built from the conversation; every sent
  reply's findings are stored with the context that produced them.
* A conversation that is resolved or closed is scored on the rubric by a task queued
  after the commit; scores roll up per agent.
* Supervisors draw samples, review them on the same rubric items, agents appeal, and
  the disagreement report shows where automatic and manual scores part ways.

Who sees what: supervisors and above everything; team leads the agents of their teams
(and themselves); agents only their own scores and reviews. Only supervisors and above
edit rules, draw samples, review and resolve appeals.
"""

from __future__ import annotations

import copy
import functools
import importlib
import logging
import math
import random
import re
import threading
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.apps import apps as django_apps
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from kefu.accounts.access import check_role, team_ids_of
from kefu.accounts.models import Role, User
from kefu.conversations.models import Conversation, Message
from kefu.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from kefu.core.events import publish
from kefu.nlp.normalize import to_simplified
from kefu.nlp.pii import scan_text
from kefu.quality.rules import (
    Finding,
    ReplyContext,
    Turn,
    apply_finding,
    check_reply,
    contexts_for,
    score_conversation,
)
from kefu.quality.rulesets import (
    RULE_IDS,
    SEVERITIES,
    InvalidRuleSet,
    RuleSet,
    cached_ruleset,
    default_ruleset,
)

from .models import QualityScore, ReplyFindings, Review, RuleSetVersion, Sample

log = logging.getLogger(__name__)

REVIEW_ROLE = Role.SUPERVISOR
FINISHED = (Conversation.Status.RESOLVED, Conversation.Status.CLOSED)
EMOTIONS = ("calm", "anxious", "dissatisfied", "angry")
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
RULE_LABELS = {
    "vague_wording": "表达含糊",
    "blame_policy": "推诿指责",
    "apology_but": "道歉后转折",
    "negative_framing": "否定式表达",
    "no_empathy": "缺少安抚",
    "promise_without_time": "承诺无时限",
    "compensation_over_limit": "补偿超权限",
    "absolute_guarantee": "绝对化承诺",
    "pii_exposed": "泄露个人信息",
    "internal_jargon": "内部术语",
    "missing_greeting": "缺少问候",
    "missing_closing": "缺少结束语",
    "slang": "网络用语",
}
SEVERITY_LABELS = {"low": "提示", "medium": "注意", "high": "严重"}
# Rubric items whose points come from one rule; clarity and conduct take theirs from
# the rule set's rubric lists.
ITEM_RULES = {
    "greeting": ("missing_greeting",),
    "empathy": ("no_empathy",),
    "promise": ("promise_without_time",),
    "closing": ("missing_closing",),
}
ITEM_LABELS = {
    "greeting": "问候",
    "listening": "倾听与确认",
    "empathy": "共情安抚",
    "clarity": "表达清晰",
    "promise": "承诺有时限",
    "conduct": "服务规范",
    "closing": "结束语",
    "response_time": "响应时效",
    "kb_correctness": "答复准确（知识库）",
}
# An item "disagrees" when auto and manual differ by this share of its maximum.
ITEM_DISAGREEMENT = 0.3
MAX_COMMENT = 1000


def sample_percent_default() -> float:
    return float(getattr(settings, "KEFU_QUALITY_SAMPLE_PERCENT", 5))


def low_score_threshold() -> int:
    return int(getattr(settings, "KEFU_QUALITY_LOW_SCORE", 60))


# --- rule sets --------------------------------------------------------------------------


class _Active:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.key: tuple[Any, ...] | None = None
        self.ruleset: RuleSet | None = None


_active = _Active()


def active_ruleset() -> RuleSet:
    """The newest stored rule set (the shipped default when none is stored).

    One small query per call; the JSON is read and compiled only when the newest
    version changed (``cached_ruleset`` keeps recent versions compiled).
    """
    head = RuleSetVersion.objects.order_by("-version").values_list("pk", "version", "created_at").first()
    if head is None:
        return default_ruleset()
    with _active.lock:
        if _active.key == head and _active.ruleset is not None:
            return _active.ruleset
    data = RuleSetVersion.objects.filter(pk=head[0]).values_list("data", flat=True).first()
    if data is None:  # deleted under us
        return default_ruleset()
    ruleset = cached_ruleset(data)
    with _active.lock:
        _active.key, _active.ruleset = head, ruleset
    return ruleset


def ruleset_versions() -> QuerySet[RuleSetVersion]:
    return RuleSetVersion.objects.select_related("author").defer("data").order_by("-version")


def _shape_error(value: Any, default: Any, path: str, fields: dict[str, str]) -> None:
    """Record in ``fields`` where ``value`` does not have the shape of the shipped ``default``."""
    if len(fields) >= 20:
        return
    if default is None:
        if value is not None and not isinstance(value, str):
            fields[path] = "应为文字或 null"
    elif isinstance(default, bool):
        if not isinstance(value, bool):
            fields[path] = "应为 true 或 false"
    elif isinstance(default, int | float):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < 0
        ):
            fields[path] = "应为不小于 0 的数字"
    elif isinstance(default, str):
        if not isinstance(value, str) or len(value) > 2000:
            fields[path] = "应为文字（最多2000字）"
    elif isinstance(default, list):
        if not isinstance(value, list) or len(value) > 2000:
            fields[path] = "应为列表（最多2000项）"
            return
        proto = default[0] if default else ""
        for i, entry in enumerate(value):
            _shape_error(entry, proto, f"{path}[{i}]", fields)
    elif isinstance(default, dict):
        if not isinstance(value, dict) or len(value) > 2000:
            fields[path] = "应为对象（最多2000项）"
            return
        proto = next(iter(default.values()), "")
        for key, entry in value.items():
            if not key.strip() or len(key) > 200:
                fields[f"{path}.{key}"] = "键不能为空，最多200个字符"
                continue
            _shape_error(entry, default.get(key, proto), f"{path}.{key}", fields)


def _template_errors(path: str, entries: Any, fields: dict[str, str]) -> None:
    """Regex entries need a pattern, and their rewrite may only refer to groups it has."""
    if not isinstance(entries, list):
        return
    for i, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            continue
        if not isinstance(entry.get("regex"), str) or not entry["regex"]:
            fields[f"{path}[{i}].regex"] = "缺少正则表达式"
            continue
        try:
            groups = re.compile(entry["regex"]).groups
        except re.error as exc:
            fields[f"{path}[{i}].regex"] = f"正则表达式有误：{exc}"
            continue
        dummy = re.compile("()" * groups).match("")
        assert dummy is not None
        for key in ("rewrite", "replacement"):
            template = entry.get(key)
            if isinstance(template, str):
                try:
                    dummy.expand(template)
                except (re.error, IndexError) as exc:
                    fields[f"{path}[{i}].{key}"] = f"改写引用了不存在的分组：{exc}"


def _probe(ruleset: RuleSet) -> None:
    """Run the edited rule set once over texts that wake most rules (raises on a broken edit)."""
    ctx = ReplyContext(
        customer_emotion="angry",
        is_first_agent_reply=True,
        is_closing=True,
        customer_last_message="什么时候发货？投诉！",
        expects_time=True,
    )
    for text in (
        "可能明天吧，这是公司规定，抱歉但是没办法，不能今天发货，SKU 缺货了，尽快给您补偿100元，"
        "保证不会再出现，电话13812345678，亲亲666",
        "您好，理解您的心情，今天18:00前给您回复。还有其他可以帮您的吗？",
    ):
        check_reply(text, ctx, ruleset)
    score_conversation(
        [Turn("customer", "什么时候到？", "angry", 0.0), Turn("agent", "您好，尽快吧。", None, 30.0)],
        ruleset=ruleset,
    )


def check_overrides(base: RuleSet, overrides: Mapping[str, Any]) -> RuleSet:
    """Validate a supervisor's partial edit and build the next rule set from it.

    Errors name the field (``rules.slang.params.terms``) so a page or client can point
    at it; a set that validates but fails on probe texts is refused too.
    """
    if not isinstance(overrides, Mapping):
        raise InvalidInput("修改内容应为对象", fields={"overrides": "应为对象"})
    unknown = set(overrides) - {"rules", "rubric"}
    if unknown:
        raise InvalidInput(
            "未知字段", fields={k: "未知字段（只能修改 rules 与 rubric）" for k in sorted(unknown)}
        )
    if not any(overrides.get(k) for k in ("rules", "rubric")):
        raise InvalidInput("没有任何修改", fields={"rules": "请至少修改一项"})
    fields: dict[str, str] = {}
    shipped = default_ruleset().to_dict()
    current = base.to_dict()
    rules = overrides.get("rules") or {}
    if not isinstance(rules, Mapping):
        fields["rules"] = "应为以规则名为键的对象"
        rules = {}
    for rid, cfg in rules.items():
        path = f"rules.{rid}"
        if rid not in RULE_IDS:
            fields[path] = "未知规则"
            continue
        if not isinstance(cfg, Mapping):
            fields[path] = "应为对象"
            continue
        for key in set(cfg) - {"enabled", "severity", "params"}:
            fields[f"{path}.{key}"] = "未知字段（只能修改 enabled、severity、params）"
        if "enabled" in cfg and not isinstance(cfg["enabled"], bool):
            fields[f"{path}.enabled"] = "应为 true 或 false"
        if "severity" in cfg and cfg["severity"] not in SEVERITIES:
            fields[f"{path}.severity"] = "应为 low、medium、high 之一"
        params = cfg.get("params", {})
        if not isinstance(params, Mapping):
            fields[f"{path}.params"] = "应为对象"
            continue
        known = {**shipped["rules"][rid]["params"], **current["rules"].get(rid, {}).get("params", {})}
        for key, value in params.items():
            if key not in known:
                fields[f"{path}.params.{key}"] = "未知参数"
            else:
                _shape_error(value, known[key], f"{path}.params.{key}", fields)
                _template_errors(f"{path}.params.{key}", value, fields)
    rubric = overrides.get("rubric") or {}
    if not isinstance(rubric, Mapping):
        fields["rubric"] = "应为对象"
        rubric = {}
    known_rubric = {**shipped["rubric"], **current["rubric"]}
    for key, value in rubric.items():
        if key not in known_rubric:
            fields[f"rubric.{key}"] = "未知参数"
        elif key == "weights":
            if not isinstance(value, Mapping):
                fields["rubric.weights"] = "应为对象"
                continue
            for item, w in value.items():
                if item not in ITEM_LABELS:
                    fields[f"rubric.weights.{item}"] = "未知评分项"
                elif isinstance(w, bool) or not isinstance(w, int) or not 0 <= w <= 100:
                    fields[f"rubric.weights.{item}"] = "应为 0–100 的整数"
        elif key in ("clarity_rules", "conduct_rules"):
            if not isinstance(value, list) or any(r not in RULE_IDS for r in value):
                fields[f"rubric.{key}"] = "应为规则名列表"
        else:
            _shape_error(value, known_rubric[key], f"rubric.{key}", fields)
    if fields:
        raise InvalidInput("规则集修改有误", fields=fields)
    try:
        edited = _merge_edit(base, rules, rubric)
    except InvalidRuleSet as exc:
        raise InvalidInput("规则集修改有误", fields={_field_of(str(exc)): str(exc)}) from exc
    try:
        _probe(edited)
    except Exception as exc:
        # Find the rule whose edit breaks the engine, to name it.
        for rid, cfg in rules.items():
            try:
                _probe(_merge_edit(base, {rid: cfg}, {}))
            except Exception:
                raise InvalidInput(
                    "规则集修改后无法运行", fields={f"rules.{rid}": f"运行出错：{exc}"}
                ) from exc
        raise InvalidInput("规则集修改后无法运行", fields={"rubric": f"运行出错：{exc}"}) from exc
    return edited


def _merge_edit(base: RuleSet, rules: Mapping[str, Any], rubric: Mapping[str, Any]) -> RuleSet:
    """The next version: each param given replaces the stored one (a table is sent whole,
    so entries can be removed); switches, severities and rubric weights merge."""
    data = base.to_dict()
    merge: dict[str, Any] = {"rules": {}, "rubric": {}}
    for rid, cfg in rules.items():
        stored = data["rules"].setdefault(rid, {"enabled": False, "severity": "medium", "params": {}})
        for key, value in cfg.get("params", {}).items():
            stored["params"][key] = copy.deepcopy(value)
        switches = {k: v for k, v in cfg.items() if k != "params"}
        if switches:
            merge["rules"][rid] = switches
    for key, value in rubric.items():
        if key == "weights":
            merge["rubric"]["weights"] = value
        else:
            data["rubric"][key] = copy.deepcopy(value)
    return RuleSet.from_dict(data).with_overrides(merge)


def _field_of(message: str) -> str:
    m = re.match(r"rule '([a-z_]+)'", message)
    return f"rules.{m.group(1)}" if m else "rules"


def do_save_ruleset(*, actor: User, overrides: Mapping[str, Any], note: str = "") -> RuleSetVersion:
    """Save the active rule set with ``overrides`` merged in as the next version."""
    check_role(actor, REVIEW_ROLE)
    if not isinstance(note, str) or len(note) > 255:
        raise InvalidInput("备注最多255个字符", fields={"note": "最多255个字符"})
    base = active_ruleset()
    edited = check_overrides(base, overrides)
    try:
        with transaction.atomic():
            row = RuleSetVersion.objects.create(
                version=edited.version, data=edited.to_json(), author=actor, note=note.strip()
            )
    except IntegrityError as exc:
        raise Conflict("规则集刚被他人修改，请刷新后重试") from exc
    publish(
        "quality.ruleset_saved",
        {"version": row.version, "author": actor.name, "note": row.note},
        webhook=False,
    )
    return row


# --- checking drafts ----------------------------------------------------------------------


@functools.cache
def _complaints_module() -> Any:
    # Looked up once per process: a failed import on every keystroke costs file lookups.
    # The module may exist without its app being installed (its models then refuse to load).
    if not django_apps.is_installed("kefu.complaints"):
        return None
    try:
        return importlib.import_module("kefu.complaints.services")
    except Exception:
        log.exception("kefu.complaints.services could not be loaded; using the rule set's role limits")
        return None


def _complaints_hook(name: str) -> Any:
    """A function of the complaints app, if it is installed and exposes it."""
    return getattr(_complaints_module(), name, None)


# The complaints app says None for "no limit"; the engine reads None as "use the rule
# set's role_limits", and a stored context must stay JSON (no Infinity).
NO_LIMIT = 1e12


def compensation_limit_for(user: User) -> float | None:
    """The agent's authority in yuan from the complaints app; None → the rule set's role_limits."""
    fn = _complaints_hook("authority_limit")
    if fn is None:
        return None
    try:
        value = fn(user)
    except Exception:
        log.exception("authority_limit failed for user %s", user.pk)
        return None
    return min(float(value), NO_LIMIT) if value is not None else NO_LIMIT


def approved_compensation_for(conversation: Conversation) -> float | None:
    fn = _complaints_hook("approved_compensation")
    if fn is None:
        return None
    try:
        value = fn(conversation)
    except Exception:
        log.exception("approved_compensation failed for conversation %s", conversation.pk)
        return None
    return float(value) if value is not None and math.isfinite(float(value)) else None


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
    emotion = conversation.emotion_label if conversation.emotion_label in EMOTIONS else None
    return ReplyContext(
        customer_emotion=emotion,  # type: ignore[arg-type]
        is_first_agent_reply=not answered,
        is_closing=closing,
        customer_last_message=last_customer[-500:],
        expects_time=bool(TIME_QUESTION_RE.search(scan_text(last_customer[-500:]))),
        agent_role=agent_role_key(agent, ruleset),
        compensation_limit=compensation_limit_for(agent),
        approved_compensation=approved_compensation_for(conversation),
    )


def check_draft_text(text: Any) -> str:
    if not isinstance(text, str):
        raise InvalidInput("请提供回复内容", fields={"text": "应为文字"})
    if len(text) > settings.KEFU_MAX_MESSAGE_CHARS:
        raise InvalidInput(
            f"内容过长（最多{settings.KEFU_MAX_MESSAGE_CHARS}字）",
            fields={"text": f"最多{settings.KEFU_MAX_MESSAGE_CHARS}个字符"},
        )
    return text


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
    from kefu.conversations.services import access_conversation

    text = check_draft_text(text)
    conversation = access_conversation(user, conversation_id)
    ruleset = active_ruleset()
    # A sign-off ("祝您生活愉快", "再见") ends the conversation even if the composer did not say so.
    closing = closing or looks_like_closing(text)
    ctx = reply_context(conversation, user, ruleset, closing=closing)
    findings = check_reply(text, ctx, ruleset) if text.strip() else []
    return DraftCheck(ruleset.version, ctx, findings)


def finding_dict(f: Finding) -> dict[str, Any]:
    return {
        **f.to_dict(),
        "rule_label": RULE_LABELS.get(f.rule, f.rule),
        "severity_label": SEVERITY_LABELS.get(f.severity, f.severity),
    }


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


# --- findings of sent replies ------------------------------------------------------------


def do_record_reply_findings(message: Message, conversation: Conversation) -> ReplyFindings | None:
    """Store what the engine finds in a reply just sent (inside the sender's transaction).

    Quality bookkeeping must never cost the customer their answer: a failure is logged
    and rolled back to a savepoint, and the message is sent regardless.
    """
    if message.direction != Message.Direction.OUTGOING or message.sender is None or not message.text:
        return None
    try:
        with transaction.atomic():
            ruleset = active_ruleset()
            ctx = reply_context(conversation, message.sender, ruleset, before_message_id=message.pk)
            findings = check_reply(message.text, ctx, ruleset)
            return ReplyFindings.objects.create(
                message=message,
                conversation=conversation,
                agent=message.sender,
                ruleset_version=ruleset.version,
                context=asdict(ctx),
                findings=[f.to_dict() for f in findings],
                high_count=sum(1 for f in findings if f.severity == "high"),
            )
    except Exception:
        log.exception("recording reply findings failed for message %s", message.pk)
        return None


# --- scoring ---------------------------------------------------------------------------------


def do_schedule_scoring(conversation: Conversation) -> None:
    """Queue the rubric score of a conversation that was just resolved or closed (after commit)."""
    from .tasks import score_conversation_task

    conversation_id = conversation.pk

    def _enqueue() -> None:
        try:
            score_conversation_task.enqueue(conversation_id)
        except Exception:
            log.exception("could not enqueue scoring of conversation %s", conversation_id)

    transaction.on_commit(_enqueue)


def _customer_emotion(text: str) -> str | None:
    try:
        from kefu.nlp.emotion import analyze_message

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
    from kefu.kb.models import Article
    from kefu.kb.services import plain_text, search_articles

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
            if emotion not in EMOTIONS:
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


# --- who sees whom ----------------------------------------------------------------------------


def visible_agent_ids(user: User) -> set[int] | None:
    """Agents whose scores and reviews ``user`` may see; None means everyone."""
    if not user.is_authenticated or not user.is_active:
        return set()
    if user.sees_all:
        return None
    if user.has_role_at_least(Role.TEAM_LEAD):
        teams = team_ids_of(user)
        ids = set(User.objects.filter(teams__id__in=teams).values_list("id", flat=True))
        return ids | {user.pk}
    return {user.pk}


def _scope(qs: QuerySet[Any], user: User, field: str = "agent_id") -> QuerySet[Any]:
    ids = visible_agent_ids(user)
    return qs if ids is None else qs.filter(**{f"{field}__in": ids})


def date_bounds(since: date | None, until: date | None) -> tuple[datetime | None, datetime | None]:
    """Inclusive local dates → aware datetimes [start, end)."""
    if since and until and since > until:
        raise InvalidInput("开始日期晚于结束日期", fields={"since": "不能晚于 until"})
    tz = timezone.get_current_timezone()
    start = datetime.combine(since, time.min, tzinfo=tz) if since else None
    end = datetime.combine(until + timedelta(days=1), time.min, tzinfo=tz) if until else None
    return start, end


def _in_range(qs: QuerySet[Any], field: str, since: date | None, until: date | None) -> QuerySet[Any]:
    start, end = date_bounds(since, until)
    if start:
        qs = qs.filter(**{f"{field}__gte": start})
    if end:
        qs = qs.filter(**{f"{field}__lt": end})
    return qs


def access_score(user: User, conversation_id: int) -> QualityScore | None:
    from kefu.conversations.services import access_conversation

    access_conversation(user, conversation_id)
    return QualityScore.objects.filter(conversation_id=conversation_id).select_related("agent").first()


def agent_stats(user: User, *, since: date | None = None, until: date | None = None) -> list[dict[str, Any]]:
    """Average automatic score, count and per-item averages per agent over closing dates."""
    qs = _in_range(_scope(QualityScore.objects.all(), user), "closed_at", since, until).filter(
        agent__isnull=False
    )
    rows = list(qs.values_list("agent_id", "total", "items"))
    reviews = _in_range(_scope(Review.objects.all(), user), "created_at", since, until)
    manual: dict[int, list[int]] = defaultdict(list)
    for agent_id, total, status, original in reviews.values_list(
        "agent_id", "total", "status", "original_items"
    ):
        if agent_id and review_counts(status, original):
            manual[agent_id].append(total)
    per_agent: dict[int, dict[str, Any]] = {}
    for agent_id, total, items in rows:
        a = per_agent.setdefault(agent_id, {"totals": [], "items": defaultdict(list)})
        a["totals"].append(total)
        for item in items:
            a["items"][item["key"]].append((item["points"], item["max_points"]))
    agents = User.objects.in_bulk(set(per_agent) | set(manual))
    out = []
    for agent_id in sorted(set(per_agent) | set(manual), key=lambda i: agents[i].name if i in agents else ""):
        a = per_agent.get(agent_id, {"totals": [], "items": {}})
        totals = a["totals"]
        out.append(
            {
                "agent_id": agent_id,
                "name": agents[agent_id].name if agent_id in agents else str(agent_id),
                "count": len(totals),
                "average": round(sum(totals) / len(totals), 1) if totals else None,
                "items": {
                    key: {
                        "label": ITEM_LABELS.get(key, key),
                        "average": round(sum(p for p, _ in vals) / len(vals), 1),
                        "max_points": vals[0][1],
                        "count": len(vals),
                    }
                    for key, vals in a["items"].items()
                },
                "reviews": len(manual.get(agent_id, [])),
                "review_average": (
                    round(sum(manual[agent_id]) / len(manual[agent_id]), 1) if manual.get(agent_id) else None
                ),
            }
        )
    return out


# --- sampling ---------------------------------------------------------------------------------


def do_draw_samples(
    *,
    actor: User,
    percent: float | None = None,
    since: date | None = None,
    until: date | None = None,
    triggers: bool = True,
    seed: int | None = None,
) -> list[Sample]:
    """Draw finished, scored, not yet sampled conversations for review.

    ``percent`` of them at random, plus (with ``triggers``) every one where a
    high-severity finding was sent, the automatic score is low, or the customer was angry.
    """
    check_role(actor, REVIEW_ROLE)
    percent = sample_percent_default() if percent is None else percent
    if isinstance(percent, bool) or not isinstance(percent, int | float) or not 0 <= percent <= 100:
        raise InvalidInput("抽样比例应为 0–100", fields={"percent": "应为 0–100 的数字"})
    candidates = list(
        _in_range(
            QualityScore.objects.filter(conversation__quality_sample__isnull=True), "closed_at", since, until
        )
        .order_by("conversation_id")
        .values_list("conversation_id", "total", "high_findings", "angry_customer")
    )
    reasons: dict[int, list[str]] = defaultdict(list)
    if triggers:
        low = low_score_threshold()
        for cid, total, high, angry in candidates:
            if high:
                reasons[cid].append(Sample.Reason.HIGH_FINDING)
            if total < low:
                reasons[cid].append(Sample.Reason.LOW_SCORE)
            if angry:
                reasons[cid].append(Sample.Reason.ANGRY_CUSTOMER)
    pool = [cid for cid, *_ in candidates]
    k = math.ceil(len(pool) * percent / 100) if percent else 0
    for cid in random.Random(seed).sample(pool, min(k, len(pool))):
        reasons[cid].insert(0, Sample.Reason.RANDOM)
    created = []
    with transaction.atomic():
        for cid in sorted(reasons):
            try:
                with transaction.atomic():
                    created.append(
                        Sample.objects.create(conversation_id=cid, reasons=list(reasons[cid]), drawn_by=actor)
                    )
            except IntegrityError:
                continue  # drawn by someone else at the same moment
    return created


def access_samples(user: User, *, status: str | None = None) -> QuerySet[Sample]:
    check_role(user, REVIEW_ROLE)
    qs = Sample.objects.select_related(
        "conversation", "conversation__customer", "conversation__quality_score", "conversation__assignee"
    )
    if status:
        if status not in Sample.Status.values:
            raise InvalidInput("未知状态", fields={"status": "应为 pending 或 reviewed"})
        qs = qs.filter(status=status)
    return qs


# --- reviews and appeals ------------------------------------------------------------------------


def review_counts(status: str, original_items: Any) -> bool:
    """An overturned review without a re-scoring no longer counts."""
    return not (status == Review.Status.OVERTURNED and original_items is None)


def _check_items(items: Any, ruleset: RuleSet, *, field: str = "items") -> list[dict[str, Any]]:
    weights = {k: int(w) for k, w in ruleset.rubric.get("weights", {}).items() if int(w) > 0}
    if not isinstance(items, Mapping) or not items:
        raise InvalidInput("请至少为一个评分项打分", fields={field: "应为以评分项为键的对象"})
    fields: dict[str, str] = {}
    out = []
    for key, value in items.items():
        path = f"{field}.{key}"
        if key not in weights:
            fields[path] = "未知评分项"
            continue
        if not isinstance(value, Mapping):
            fields[path] = "应为对象 {points, comment}"
            continue
        points, comment = value.get("points"), value.get("comment", "") or ""
        if isinstance(points, bool) or not isinstance(points, int | float) or not 0 <= points <= weights[key]:
            fields[f"{path}.points"] = f"应为 0–{weights[key]} 的数字"
            continue
        if not isinstance(comment, str) or len(comment) > MAX_COMMENT:
            fields[f"{path}.comment"] = f"最多{MAX_COMMENT}个字符"
            continue
        out.append(
            {
                "key": key,
                "label": ITEM_LABELS.get(key, key),
                "points": round(float(points), 1),
                "max_points": weights[key],
                "comment": comment.strip(),
            }
        )
    if fields:
        raise InvalidInput("评分有误", fields=fields)
    order = list(ITEM_LABELS)
    return sorted(out, key=lambda i: order.index(i["key"]))


def _total(items: Sequence[Mapping[str, Any]]) -> int:
    max_total = sum(i["max_points"] for i in items)
    return round(100 * sum(i["points"] for i in items) / max_total) if max_total else 0


def _check_comment(value: Any, field: str, *, required: bool = False) -> str:
    if not isinstance(value, str) or len(value) > MAX_COMMENT or (required and not value.strip()):
        raise InvalidInput(
            "请填写说明" if required else "说明过长",
            fields={field: f"{'必填，' if required else ''}最多{MAX_COMMENT}个字符"},
        )
    return value.strip()


def do_create_review(*, actor: User, conversation_id: int, items: Any, comment: Any = "") -> Review:
    """A supervisor scores a finished conversation on the rubric items, with comments."""
    from kefu.conversations.services import access_conversation

    check_role(actor, REVIEW_ROLE)
    comment = _check_comment(comment, "comment")
    checked = _check_items(items, active_ruleset())
    with transaction.atomic():
        conversation = access_conversation(actor, conversation_id, for_update=True)
        if conversation.status not in FINISHED:
            raise Conflict("会话尚未结束，不能复核")
        score = QualityScore.objects.filter(conversation=conversation).first()
        agent_id = score.agent_id if score else conversation.assignee_id
        if agent_id is None:
            raise Conflict("该会话没有可复核的客服")
        if Review.objects.filter(conversation=conversation, reviewer=actor).exists():
            raise Conflict("您已复核过该会话")
        review = Review.objects.create(
            conversation=conversation,
            agent_id=agent_id,
            reviewer=actor,
            items=checked,
            total=_total(checked),
            comment=comment,
            auto_total=score.total if score else None,
        )
        Sample.objects.filter(conversation=conversation).update(status=Sample.Status.REVIEWED)
        publish(
            "quality.reviewed",
            {"review_id": review.pk, "conversation_id": conversation.pk, "total": review.total},
            user_ids=[agent_id],
            webhook=False,
        )
    return review


def access_reviews(user: User, *, agent_id: int | None = None, status: str | None = None) -> QuerySet[Review]:
    qs = _scope(
        Review.objects.select_related(
            "agent", "reviewer", "appeal_resolved_by", "conversation", "conversation__customer"
        ),
        user,
    )
    if agent_id is not None:
        qs = qs.filter(agent_id=agent_id)
    if status:
        if status not in Review.Status.values:
            raise InvalidInput("未知状态", fields={"status": f"应为 {', '.join(Review.Status.values)} 之一"})
        qs = qs.filter(status=status)
    return qs


def access_review(user: User, review_id: int, *, for_update: bool = False) -> Review:
    qs = Review.objects.select_related(
        "agent", "reviewer", "appeal_resolved_by", "conversation", "conversation__customer"
    )
    if for_update:
        qs = qs.select_for_update(of=("self",))
    review = qs.filter(pk=review_id).first()
    if review is None:
        raise NotFound(f"复核 {review_id} 不存在")
    ids = visible_agent_ids(user)
    if ids is not None and review.agent_id not in ids:
        raise PermissionDenied("您无权查看该复核")
    return review


def do_appeal(*, actor: User, review_id: int, reason: Any) -> Review:
    """The reviewed agent disputes a review once, with a reason."""
    reason = _check_comment(reason, "reason", required=True)
    with transaction.atomic():
        review = access_review(actor, review_id, for_update=True)
        if review.agent_id != actor.pk:
            raise PermissionDenied("只有被复核的客服本人可以申诉")
        if review.status != Review.Status.FINAL:
            raise Conflict("该复核已申诉过")
        review.status = Review.Status.APPEALED
        review.appeal_reason = reason
        review.appealed_at = timezone.now()
        review.save(update_fields=["status", "appeal_reason", "appealed_at"])
        publish(
            "quality.appealed",
            {"review_id": review.pk, "conversation_id": review.conversation_id, "agent": actor.name},
            user_ids=[review.reviewer_id],
            webhook=False,
        )
    return review


def do_resolve_appeal(
    *, actor: User, review_id: int, decision: Any, comment: Any = "", items: Any = None
) -> Review:
    """A supervisor upholds the review or overturns it (optionally with a re-scoring)."""
    check_role(actor, REVIEW_ROLE)
    if decision not in (Review.Status.UPHELD, Review.Status.OVERTURNED):
        raise InvalidInput("请选择维持或改判", fields={"decision": "应为 upheld 或 overturned"})
    comment = _check_comment(comment, "comment", required=True)
    if items is not None and decision != Review.Status.OVERTURNED:
        raise InvalidInput("维持原判时不能修改评分", fields={"items": "仅在改判时提供"})
    checked = _check_items(items, active_ruleset()) if items is not None else None
    with transaction.atomic():
        review = access_review(actor, review_id, for_update=True)
        if review.status != Review.Status.APPEALED:
            raise Conflict("该复核没有待处理的申诉")
        review.status = decision
        review.appeal_comment = comment
        review.appeal_resolved_by = actor
        review.appeal_resolved_at = timezone.now()
        if checked is not None:
            review.original_items, review.original_total = review.items, review.total
            review.items, review.total = checked, _total(checked)
        review.save()
        publish(
            "quality.appeal_resolved",
            {"review_id": review.pk, "conversation_id": review.conversation_id, "decision": decision},
            user_ids=[review.agent_id],
            webhook=False,
        )
    return review


# --- disagreements -------------------------------------------------------------------------------


def _rules_of_item(key: str, ruleset: RuleSet) -> tuple[str, ...]:
    if key == "clarity":
        return tuple(ruleset.rubric.get("clarity_rules", ()))
    if key == "conduct":
        return tuple(ruleset.rubric.get("conduct_rules", ()))
    return ITEM_RULES.get(key, ())


def disagreement_report(
    user: User, *, since: date | None = None, until: date | None = None, threshold: int = 15
) -> dict[str, Any]:
    """Where manual reviews and automatic scores disagree, per conversation, item and rule.

    A conversation is listed when the totals differ by ``threshold`` points or more, or
    an item differs by 30 % of its maximum. Per rule: how often it fired in reviewed
    conversations and how often the reviewer then gave its item clearly more than the
    engine did (a sign of false alarms); per item: the mean manual − auto difference.
    """
    check_role(user, Role.TEAM_LEAD)
    if isinstance(threshold, bool) or not isinstance(threshold, int) or not 0 <= threshold <= 100:
        raise InvalidInput("阈值应为 0–100", fields={"threshold": "应为 0–100 的整数"})
    ruleset = active_ruleset()
    reviews = [
        r
        for r in _in_range(access_reviews(user), "created_at", since, until).select_related(
            "conversation__quality_score"
        )
        if review_counts(r.status, r.original_items)
    ]
    conversations = []
    items: dict[str, dict[str, Any]] = {}
    rules: dict[str, dict[str, Any]] = {}
    for r in reviews:
        score = getattr(r.conversation, "quality_score", None)
        if score is None:
            continue
        auto = {i["key"]: i for i in score.items}
        counts = score.rule_counts or {}
        diffs = []
        for m in r.items:
            a = auto.get(m["key"])
            if a is None or not m["max_points"]:
                continue
            delta = m["points"] / m["max_points"] * a["max_points"] - a["points"]
            agg = items.setdefault(
                m["key"],
                {
                    "key": m["key"],
                    "label": ITEM_LABELS.get(m["key"], m["key"]),
                    "compared": 0,
                    "disagreements": 0,
                    "auto_harsher": 0,
                    "auto_lenient": 0,
                    "delta_sum": 0.0,
                    "max_points": a["max_points"],
                },
            )
            agg["compared"] += 1
            agg["delta_sum"] += delta
            disagree = abs(delta) >= ITEM_DISAGREEMENT * a["max_points"]
            if disagree:
                agg["disagreements"] += 1
                agg["auto_harsher" if delta > 0 else "auto_lenient"] += 1
                diffs.append(
                    {
                        "key": m["key"],
                        "label": agg["label"],
                        "auto": a["points"],
                        "manual": m["points"],
                        "max_points": m["max_points"],
                    }
                )
            for rule in _rules_of_item(m["key"], ruleset):
                ragg = rules.setdefault(
                    rule,
                    {
                        "rule": rule,
                        "label": RULE_LABELS.get(rule, rule),
                        "item": m["key"],
                        "item_label": ITEM_LABELS.get(m["key"], m["key"]),
                        "reviewed": 0,
                        "fired": 0,
                        "disputed": 0,
                        "missed": 0,
                    },
                )
                ragg["reviewed"] += 1
                fired = counts.get(rule, 0) > 0
                ragg["fired"] += fired
                if disagree and delta > 0 and fired:
                    ragg["disputed"] += 1  # the rule cost points the reviewer gave back
                if disagree and delta < 0 and not fired:
                    ragg["missed"] += 1  # the reviewer took points the engine kept
        gap = r.total - score.total
        if abs(gap) >= threshold or diffs:
            conversations.append(
                {
                    "review_id": r.pk,
                    "conversation_id": r.conversation_id,
                    "agent": r.agent.name if r.agent else "",
                    "auto_total": score.total,
                    "manual_total": r.total,
                    "gap": gap,
                    "items": diffs,
                }
            )
    item_rows = []
    for agg in items.values():
        agg["mean_delta"] = round(agg.pop("delta_sum") / agg["compared"], 1)
        item_rows.append(agg)
    item_rows.sort(key=lambda a: (-a["disagreements"], a["key"]))
    rule_rows = sorted(rules.values(), key=lambda a: (-a["disputed"], -a["missed"], a["rule"]))
    for agg in rule_rows:
        agg["dispute_rate"] = round(agg["disputed"] / agg["fired"], 2) if agg["fired"] else None
    conversations.sort(key=lambda c: -abs(c["gap"]))
    return {
        "threshold": threshold,
        "reviews": len(reviews),
        "conversations": conversations,
        "items": item_rows,
        "rules": rule_rows,
    }


def review_dict(r: Review) -> dict[str, Any]:
    return {
        "id": r.pk,
        "conversation_id": r.conversation_id,
        "agent_id": r.agent_id,
        "agent": r.agent.name if r.agent else None,
        "reviewer": r.reviewer.name if r.reviewer else None,
        "items": r.items,
        "total": r.total,
        "auto_total": r.auto_total,
        "comment": r.comment,
        "status": r.status,
        "status_label": Review.Status(r.status).label,
        "counts": review_counts(r.status, r.original_items),
        "created_at": r.created_at.isoformat(),
        "appeal": (
            {
                "reason": r.appeal_reason,
                "at": r.appealed_at.isoformat(),
                "comment": r.appeal_comment,
                "resolved_by": r.appeal_resolved_by.name if r.appeal_resolved_by else None,
                "resolved_at": r.appeal_resolved_at.isoformat() if r.appeal_resolved_at else None,
                "original_items": r.original_items,
                "original_total": r.original_total,
            }
            if r.appealed_at
            else None
        ),
    }


def score_dict(s: QualityScore) -> dict[str, Any]:
    return {
        "conversation_id": s.conversation_id,
        "agent_id": s.agent_id,
        "total": s.total,
        "items": s.items,
        "rubric_version": s.rubric_version,
        "kb_correctness": s.kb_correctness,
        "high_findings": s.high_findings,
        "angry_customer": s.angry_customer,
        "rule_counts": s.rule_counts,
        "closed_at": s.closed_at.isoformat(),
    }


def sample_dict(s: Sample) -> dict[str, Any]:
    c = s.conversation
    score = getattr(c, "quality_score", None)
    return {
        "id": s.pk,
        "conversation_id": c.pk,
        "customer": c.customer.name if c.customer_id else "",
        "reasons": s.reasons,
        "reason_labels": [Sample.Reason(r).label for r in s.reasons if r in Sample.Reason.values],
        "status": s.status,
        "auto_total": score.total if score else None,
        "drawn_at": s.drawn_at.isoformat(),
    }


def findings_of_conversation(user: User, conversation_id: int) -> list[ReplyFindings]:
    from kefu.conversations.services import access_conversation

    access_conversation(user, conversation_id)
    return list(ReplyFindings.objects.filter(conversation_id=conversation_id).select_related("message"))


__all__ = [
    "access_reply_check",
    "active_ruleset",
    "agent_stats",
    "apply_fix",
    "check_overrides",
    "disagreement_report",
    "do_appeal",
    "do_create_review",
    "do_draw_samples",
    "do_record_reply_findings",
    "do_resolve_appeal",
    "do_save_ruleset",
    "do_schedule_scoring",
    "do_score_conversation",
]
