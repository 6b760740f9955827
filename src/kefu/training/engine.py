"""The virtual customer of a training case: pure functions from a trainee's reply to the
customer's next message.

A case (``CaseScript``) is data: a persona, the facts, the customer's goal, an opening
message, reply templates per state and escalation rules. The customer's state is a mood
(0 calm … 10 furious), how many replies in a row left them angry, and what the trainee
has given them so far (an acknowledged feeling, an apology, a solution, a time, a
follow-up).

A reply is judged with kefu's own reply-quality machinery (``kefu.quality.rules``): the
rule engine's findings raise the mood (blame, policy talk, vague words, a promise
without a time, over-promising, no empathy for an upset customer …), and the same rule
set's phrase tables tell what calms (its empathy phrases, apologies, time patterns,
remedies and listening phrases). A reply that touches none of the case's topic is an
ignored question. The next message is a template chosen by the new state; the choice
and a small jitter come from ``random.Random`` seeded with the session's seed and the
turn, so a session replays identically. No model is asked anything.

    mood ≤ resolve_below and every need met   → resolved (the session ends)
    angry (≥ 7) for supervisor_after replies  → asks for a supervisor
    angry (≥ 7) for threat_after replies      → threatens (差评 / 12315): escalated, ends
    max_turns replies without resolution      → the customer leaves angry
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from typing import Any, Literal

import opencc

from kefu.nlp.normalize import to_simplified
from kefu.nlp.pii import scan_text
from kefu.quality.rules import Finding, ReplyContext, check_reply, statement_facts
from kefu.quality.rulesets import RuleSet

Stage = Literal["open", "supervisor", "resolved", "escalated", "left_angry"]
Outcome = Literal["resolved", "escalated", "left_angry"]
Emotion = Literal["calm", "anxious", "dissatisfied", "angry"]

CATEGORIES = {
    "presale": "售前咨询",
    "orders": "订单与物流",
    "returns": "退换货",
    "complaints": "投诉处理",
}
OUTCOME_LABELS = {
    "resolved": "已解决",
    "escalated": "已升级（要求主管/威胁投诉）",
    "left_angry": "顾客不满离开",
}
NEEDS = ("empathy", "apology", "solution", "time", "follow_up")
NEED_LABELS = {
    "empathy": "回应了顾客的感受",
    "apology": "真诚道歉",
    "solution": "给出了具体解决方案",
    "time": "给出了具体时间",
    "follow_up": "承诺跟进并回复",
    "listening": "复述或确认了顾客的问题",
}

ANGRY_FROM = 7.0
# How much one reply may calm: a furious customer needs more than one good sentence.
MAX_CALM_PER_REPLY = 4.0
GAINS = {"empathy": 1.5, "apology": 1.0, "solution": 1.5, "time": 1.0, "follow_up": 0.5, "listening": 0.5}
# What each rule's finding costs, by severity where it matters (kefu.quality.rules ids).
PENALTIES: dict[str, float] = {
    "blame_policy": 2.5,
    "vague_wording": 1.0,
    "promise_without_time": 1.2,
    "apology_but": 1.0,
    "negative_framing": 0.6,
    "absolute_guarantee": 1.5,
    "compensation_over_limit": 1.5,
    "internal_jargon": 0.6,
    "slang": 0.8,
    "pii_exposed": 0.5,
    "missing_greeting": 0.2,
}
NO_EMPATHY_PENALTY = {"high": 2.0, "medium": 1.2, "low": 0.3}
IGNORED_PENALTY = 2.0
PATIENCE = {"low": 1.3, "normal": 1.0, "high": 0.8}
JITTER = 0.25
# What a customer hears as "someone will come back to me" (no rule of the engine has it).
FOLLOW_UP_PHRASES = (
    "跟进",
    "回复您",
    "联系您",
    "通知您",
    "告知您",
    "同步给您",
    "回电",
    "给您回",
    "反馈给您",
    "随时联系我",
    "持续关注",
    "盯着",
)

# Templates every case may override; {name} fields are filled from the case's facts.
DEFAULT_REPLIES: dict[str, tuple[str, ...]] = {
    "calm": ("好的，那就麻烦你了。", "嗯，明白了。"),
    "anxious": ("那到底要多久？我还是有点担心。", "你们能确定吗？我不想再等了。"),
    "dissatisfied": ("你说的这些解决不了我的问题。", "就这样？我要的是一个明确的处理办法。"),
    "angry": ("你们到底怎么回事！！说了半天等于没说！", "我已经很生气了，别再敷衍我！"),
    "need_solution": ("那你们打算怎么处理？给我个具体办法。",),
    "need_time": ("那具体什么时候能处理好？给我个准确时间。",),
    "need_follow_up": ("处理好了会主动告诉我吗？我不想再来问一遍。",),
    "need_apology": ("出了这种事，你们连句道歉都没有吗？",),
    "need_empathy": ("你们能不能站在我的角度想一想？",),
    "ignored": ("你根本没回答我的问题！", "我问的不是这个，你有没有在看我说什么？"),
    "blamed": ("凭什么说是我的问题？你们的规定关我什么事！",),
    "supervisor": ("你解决不了就叫你们主管来！", "我不想跟你说了，让你们领导来处理。"),
    "threat": ("再不给我解决，我就去 12315 投诉你们，还要给差评！",),
    "resolved": ("好的，那就按你说的办，谢谢。", "行，这样可以，谢谢你。"),
    "leave": ("算了，不想跟你们说了，差评！",),
}


@dataclass(frozen=True, slots=True)
class Escalation:
    supervisor_after: int = 2
    threat_after: int = 3
    resolve_below: float = 3.0


@dataclass(frozen=True, slots=True)
class CaseScript:
    """One training case, as stored in ``TrainingCase.script``."""

    title: str
    category: str
    persona: Mapping[str, Any]
    facts: Mapping[str, str]
    goal: str
    opening: str
    start_mood: float = 6.0
    needs: tuple[str, ...] = ("solution", "time")
    topic_words: tuple[str, ...] = ()
    solution_words: tuple[str, ...] = ()
    replies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    model_answers: tuple[str, ...] = ()
    escalation: Escalation = field(default_factory=Escalation)
    max_turns: int = 6
    traditional: bool = False

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["persona"] = dict(self.persona)
        out["facts"] = dict(self.facts)
        out["replies"] = {k: list(v) for k, v in self.replies.items()}
        for key in ("needs", "topic_words", "solution_words", "model_answers"):
            out[key] = list(out[key])
        return out


class ScriptError(ValueError):
    """A case script that cannot be played; ``field`` names the part."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _texts(value: Any, field: str, *, max_items: int = 40, max_len: int = 500) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ScriptError(field, "应为文字列表")
    cleaned = tuple(v.strip() for v in value if v.strip())
    if len(cleaned) > max_items or any(len(v) > max_len for v in cleaned):
        raise ScriptError(field, f"最多 {max_items} 项，每项最多 {max_len} 字")
    return cleaned


def _text(data: Mapping[str, Any], key: str, *, required: bool = True, max_len: int = 1000) -> str:
    value = data.get(key, "")
    if not isinstance(value, str):
        raise ScriptError(key, "应为文字")
    value = value.strip()
    if required and not value:
        raise ScriptError(key, "不能为空")
    if len(value) > max_len:
        raise ScriptError(key, f"最多 {max_len} 字")
    return value


def _people(data: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    persona = data.get("persona") or {}
    facts = data.get("facts") or {}
    for key, value in (("persona", persona), ("facts", facts)):
        if not isinstance(value, Mapping):
            raise ScriptError(key, "应为对象")
        if not all(isinstance(k, str) and isinstance(v, (str, int)) for k, v in value.items()):
            raise ScriptError(key, "键和值应为文字")
        if len(value) > 30 or any(len(str(v)) > 200 or len(k) > 40 for k, v in value.items()):
            raise ScriptError(key, "最多 30 项，每项最多 200 字")
    if persona.get("patience", "normal") not in PATIENCE:
        raise ScriptError("persona.patience", "应为 low/normal/high")
    return {k: str(v) for k, v in persona.items()}, {k: str(v) for k, v in facts.items()}


def _numbers(data: Mapping[str, Any]) -> tuple[float, int]:
    try:
        start_mood = float(data.get("start_mood", 6.0))
    except (TypeError, ValueError) as exc:
        raise ScriptError("start_mood", "应为数字") from exc
    try:
        max_turns = int(data.get("max_turns", 6))
    except (TypeError, ValueError) as exc:
        raise ScriptError("max_turns", "应为整数") from exc
    if not 0 <= start_mood <= 10:
        raise ScriptError("start_mood", "应在 0–10 之间")
    if not 1 <= max_turns <= 20:
        raise ScriptError("max_turns", "应在 1–20 之间")
    return start_mood, max_turns


def _replies(data: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    raw = data.get("replies") or {}
    if not isinstance(raw, Mapping):
        raise ScriptError("replies", "应为对象")
    replies = {}
    for key, value in raw.items():
        if key not in DEFAULT_REPLIES:
            raise ScriptError(f"replies.{key}", "未知的状态")
        replies[key] = _texts(value, f"replies.{key}", max_items=10)
    return replies


def _escalation(data: Mapping[str, Any]) -> Escalation:
    esc = data.get("escalation") or {}
    if not isinstance(esc, Mapping):
        raise ScriptError("escalation", "应为对象")
    try:
        escalation = Escalation(
            supervisor_after=int(esc.get("supervisor_after", 2)),
            threat_after=int(esc.get("threat_after", 3)),
            resolve_below=float(esc.get("resolve_below", 3.0)),
        )
    except (TypeError, ValueError) as exc:
        raise ScriptError("escalation", "应为数字") from exc
    if not 1 <= escalation.supervisor_after <= escalation.threat_after <= 20:
        raise ScriptError("escalation", "要求主管的次数应不多于威胁投诉的次数（1–20）")
    if not 0 <= escalation.resolve_below <= 10:
        raise ScriptError("escalation.resolve_below", "应在 0–10 之间")
    return escalation


def script_from_dict(data: Mapping[str, Any]) -> CaseScript:
    """A script from stored or submitted data; ``ScriptError`` names what is wrong."""
    if not isinstance(data, Mapping):
        raise ScriptError("script", "应为对象")
    title = _text(data, "title", max_len=100)
    category = _text(data, "category")
    goal = _text(data, "goal", max_len=500)
    opening = _text(data, "opening", max_len=1000)
    if category not in CATEGORIES:
        raise ScriptError("category", "应为 " + "/".join(CATEGORIES))
    persona, facts = _people(data)
    start_mood, max_turns = _numbers(data)
    needs = _texts(data.get("needs", ["solution", "time"]), "needs")
    if any(n not in NEEDS for n in needs):
        raise ScriptError("needs", "应为 " + "/".join(NEEDS))
    model_answers = _texts(data.get("model_answers"), "model_answers", max_items=20)
    if not model_answers:
        raise ScriptError("model_answers", "至少一条参考答案")
    return CaseScript(
        title=title,
        category=category,
        persona=persona,
        facts=facts,
        goal=goal,
        opening=opening,
        start_mood=start_mood,
        needs=needs,
        topic_words=_texts(data.get("topic_words"), "topic_words", max_items=40, max_len=20),
        solution_words=_texts(data.get("solution_words"), "solution_words", max_items=40, max_len=20),
        replies=_replies(data),
        model_answers=model_answers,
        escalation=_escalation(data),
        max_turns=max_turns,
        traditional=bool(data.get("traditional", False)),
    )


@dataclass(frozen=True, slots=True)
class CustomerState:
    """Where the virtual customer is after ``turn`` trainee replies."""

    mood: float
    turn: int = 0
    angry_streak: int = 0
    got: tuple[str, ...] = ()
    stage: Stage = "open"

    @property
    def ended(self) -> bool:
        return self.stage in ("resolved", "escalated", "left_angry")

    @property
    def outcome(self) -> Outcome | None:
        return self.stage if self.stage in ("resolved", "escalated", "left_angry") else None  # type: ignore[return-value]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "got": list(self.got)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CustomerState:
        return cls(
            mood=float(data["mood"]),
            turn=int(data.get("turn", 0)),
            angry_streak=int(data.get("angry_streak", 0)),
            got=tuple(data.get("got", ())),
            stage=data.get("stage", "open"),
        )


@dataclass(frozen=True, slots=True)
class Assessment:
    """What one trainee reply did: what worked, what the rules flagged, and the mood change."""

    findings: tuple[Finding, ...]
    worked: tuple[str, ...]
    ignored: bool
    delta: float


@dataclass(frozen=True, slots=True)
class Reaction:
    state: CustomerState
    kind: str
    text: str


def mood_label(mood: float) -> Emotion:
    """The engine's mood on the emotion labels' scale (kefu.nlp.emotion's thresholds)."""
    if mood < 2.5:
        return "calm"
    if mood < 5.0:
        return "anxious"
    if mood < 7.5:
        return "dissatisfied"
    return "angry"


def start_state(script: CaseScript) -> CustomerState:
    return CustomerState(mood=script.start_mood)


@lru_cache(maxsize=1)
def _s2t() -> opencc.OpenCC:
    return opencc.OpenCC("s2t")


class _Facts(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def fill(template: str, script: CaseScript) -> str:
    """A template with the case's facts filled in, in the customer's script."""
    text = template.format_map(_Facts({**script.persona, **script.facts}))
    return _s2t().convert(text) if script.traditional else text


def opening_text(script: CaseScript) -> str:
    # The opening is written by the author as the customer writes it (already Traditional).
    return script.opening.format_map(_Facts({**script.persona, **script.facts}))


def model_answer(script: CaseScript, turn: int) -> str:
    """The case's reference answer for the trainee's reply number ``turn`` (0-based)."""
    answers = script.model_answers
    return answers[min(turn, len(answers) - 1)].format_map(_Facts({**script.persona, **script.facts}))


def _phrases_in(text: str, phrases: Sequence[str]) -> bool:
    return any(p and p in text for p in phrases)


@lru_cache(maxsize=8)
def _time_re(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    return re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None


def assess(
    reply: str, script: CaseScript, state: CustomerState, ctx: ReplyContext, ruleset: RuleSet
) -> Assessment:
    """Judge one reply with the rule set: its findings, what calmed, whether it ignored the customer."""
    findings = tuple(check_reply(reply, ctx, ruleset))
    flagged = {f.rule for f in findings}
    text = scan_text(to_simplified(reply))
    apologies = tuple(ruleset.rule("apology_but").params.get("apologies", ()))
    empathy_phrases = tuple(
        p for p in ruleset.rule("no_empathy").params.get("phrases", ()) if p not in apologies
    )
    time_re = _time_re(tuple(ruleset.rule("promise_without_time").params.get("time_patterns", ())))
    facts = statement_facts(reply, ruleset)
    worked: list[str] = []
    if _phrases_in(text, empathy_phrases):
        worked.append("empathy")
    if _phrases_in(text, apologies) and "apology_but" not in flagged:
        worked.append("apology")
    if facts.remedies or _phrases_in(text, script.solution_words):
        worked.append("solution")
    # A time inside an absolute guarantee (保证明天一定送到) is an over-promise, not a plan.
    if (
        time_re is not None
        and time_re.search(text)
        and not {"promise_without_time", "absolute_guarantee"} & flagged
    ):
        worked.append("time")
    if _phrases_in(text, FOLLOW_UP_PHRASES):
        worked.append("follow_up")
    if _phrases_in(text, ruleset.rubric.get("listening_phrases", ())):
        worked.append("listening")
    topic = tuple(to_simplified(w) for w in script.topic_words)
    # Giving a time or a follow-up answers "when" and "who": only a reply with none of
    # these and none of the case's words has ignored what the customer asked.
    answered = {"solution", "listening", "time", "follow_up"} & set(worked)
    ignored = bool(text.strip()) and not (_phrases_in(text, topic) or answered)
    # A repeated gesture counts half: saying sorry again does not calm as much as the first time.
    gain = sum(GAINS[w] * (0.5 if w in state.got else 1.0) for w in worked)
    gain = min(gain, MAX_CALM_PER_REPLY)
    cost = 0.0
    for f in findings:
        if f.rule == "no_empathy":
            cost += NO_EMPATHY_PENALTY.get(f.severity, 1.0)
        else:
            cost += PENALTIES.get(f.rule, 0.0)
    if ignored:
        cost += IGNORED_PENALTY
    cost *= PATIENCE.get(str(script.persona.get("patience", "normal")), 1.0)
    return Assessment(findings, tuple(worked), ignored, round(cost - gain, 2))


def _rng(seed: int, turn: int) -> random.Random:
    # A string seed is hashed with SHA-512 by random.Random: the same in every process.
    return random.Random(f"kefu-training:{seed}:{turn}")


def _template(script: CaseScript, kind: str, rng: random.Random) -> tuple[str, str]:
    choices = script.replies.get(kind) or DEFAULT_REPLIES.get(kind) or DEFAULT_REPLIES["dissatisfied"]
    return kind, fill(rng.choice(choices), script)


def react(script: CaseScript, state: CustomerState, assessment: Assessment, *, seed: int) -> Reaction:
    """The customer's next state and message after a reply judged as ``assessment``."""
    rng = _rng(seed, state.turn)
    jitter = rng.uniform(-JITTER, JITTER)
    mood = round(max(0.0, min(10.0, state.mood + assessment.delta + jitter)), 2)
    got = tuple(dict.fromkeys((*state.got, *assessment.worked)))
    turn = state.turn + 1
    streak = state.angry_streak + 1 if mood >= ANGRY_FROM else 0
    nxt = replace(state, mood=mood, turn=turn, angry_streak=streak, got=got)
    esc = script.escalation
    missing = [n for n in script.needs if n not in got]
    if mood <= esc.resolve_below and not missing:
        kind, text = _template(script, "resolved", rng)
        return Reaction(replace(nxt, stage="resolved"), kind, text)
    if streak >= esc.threat_after:
        kind, text = _template(script, "threat", rng)
        return Reaction(replace(nxt, stage="escalated"), kind, text)
    if turn >= script.max_turns:
        kind, text = _template(script, "leave", rng)
        return Reaction(replace(nxt, stage="left_angry"), kind, text)
    if streak >= esc.supervisor_after:
        kind, text = _template(script, "supervisor", rng)
        return Reaction(replace(nxt, stage="supervisor"), kind, text)
    flagged = {f.rule for f in assessment.findings}
    if "blame_policy" in flagged:
        kind = "blamed"
    elif assessment.ignored:
        kind = "ignored"
    elif mood_label(mood) in ("calm", "anxious") and missing:
        kind = f"need_{missing[0]}" if f"need_{missing[0]}" in DEFAULT_REPLIES else mood_label(mood)
    else:
        kind = mood_label(mood)
    kind, text = _template(script, kind, rng)
    return Reaction(replace(nxt, stage="open"), kind, text)
