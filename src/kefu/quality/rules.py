"""The reply-quality rule engine: pure functions from an agent's draft to findings.

``check_reply`` runs on every keystroke, so each phrase list is compiled once per
rule set into a single alternation (longest phrase first, exclusions included so
「尽可能」 is consumed before 「可能」 can match) and cached on the ``RuleSet``.

Matching happens on the reply converted Traditional → Simplified and full-width →
half-width. Both conversions are done so that the text keeps its length, which lets
every span map 1:1 back onto the original reply the agent is editing.

``score_conversation`` turns a closed conversation into a 100-point rubric.

Longer than most modules on purpose: the fourteen rules share one matching machinery
(the compiled phrase tables, span mapping and rewrites) and one context, and reading
them side by side is how their overlaps are kept consistent; their data lives apart, in
``data/default_rules.json``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any, Literal

import opencc

from kefu.nlp.normalize import to_simplified
from kefu.nlp.numbers import parse_number
from kefu.nlp.pii import find_pii_scanned, mask_match, scan_text
from kefu.quality.rulesets import RuleConfig, RuleSet, Severity, default_ruleset

__all__ = [
    "DEFAULT_RULESET",
    "ITEM_LABELS",
    "Finding",
    "ReplyContext",
    "StatementFacts",
    "RubricItem",
    "RubricScore",
    "Turn",
    "apply_finding",
    "check_reply",
    "contexts_for",
    "rewrite_reply",
    "score_conversation",
    "statement_facts",
]

Emotion = Literal["calm", "anxious", "dissatisfied", "angry"]

DEFAULT_RULESET: RuleSet = default_ruleset()

_SENTENCE_END_RE = re.compile(r"[。！？!?；;\n]")


@dataclass(frozen=True, slots=True)
class StatementFacts:
    """The key facts of an incident's approved statement (统一口径): dates, amounts, remedies."""

    # Sorted tuples, not sets: the context is stored as JSON beside each reply's findings.
    statement: str
    dates: tuple[str, ...] = ()
    durations: tuple[str, ...] = ()
    amounts: tuple[float, ...] = ()
    remedies: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ReplyContext:
    """What the engine knows about the conversation around one draft reply.

    ``compensation_limit`` is the agent's authority in yuan; ``None`` means the rule
    set's ``role_limits[agent_role]`` (or its ``default_limit``) applies.
    ``approved_compensation`` is an amount already granted by an approval, which
    lifts the limit up to that amount.
    """

    customer_emotion: Emotion | None = None
    is_first_agent_reply: bool = False
    is_closing: bool = False
    customer_last_message: str = ""
    expects_time: bool = False
    agent_role: str = "agent"
    compensation_limit: float | None = None
    approved_compensation: float | None = None
    house_style_forbids_slang: bool = True
    # The approved statements of the open incidents the conversation is tagged to.
    incident_facts: tuple[StatementFacts, ...] = ()


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem in a reply, with its span in the original text and a fix if known.

    ``replacement`` replaces ``reply[start:end]``; ``suggestion`` is the whole reply
    rewritten (or advice, when no mechanical rewrite exists).
    """

    rule: str
    severity: Severity
    start: int
    end: int
    excerpt: str
    why: str
    suggestion: str | None = None
    replacement: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- text preparation -------------------------------------------------------


def _sentence_bounds(text: str, pos: int) -> tuple[int, int]:
    """Start and end (after the terminator) of the sentence containing ``pos``."""
    start = 0
    for m in _SENTENCE_END_RE.finditer(text, 0, pos):
        start = m.end()
    after = _SENTENCE_END_RE.search(text, pos)
    return start, (after.end() if after else len(text))


def _splice(text: str, start: int, end: int, new: str) -> str:
    return text[:start] + new + text[end:]


# --- compiled matchers ------------------------------------------------------


def _ascii_bounded(phrase: str) -> str:
    # Latin terms need edges ("hi" must not match inside "this", 666 not inside a
    # phone number); \b would not do, since CJK characters are word characters too.
    pattern = re.escape(phrase)
    if phrase[:1].isascii() and phrase[:1].isalnum():
        pattern = r"(?<![A-Za-z0-9])" + pattern
    if phrase[-1:].isascii() and phrase[-1:].isalnum():
        pattern += r"(?![A-Za-z0-9])"
    if phrase.isascii() and phrase.isdigit():
        # 666 the slang, not 666元 the amount or ¥666 the price.
        pattern = r"(?<![¥￥$.])" + pattern + r"(?![.:：元块个件天号年月日点%])"
    return pattern


class _Phrases:
    """One case-insensitive alternation over a phrase list, honouring exclusions."""

    __slots__ = ("excluded", "regex", "replacements")

    def __init__(
        self, phrases: Mapping[str, str | None] | Iterable[str], exclude: Iterable[str] = ()
    ) -> None:
        table = dict(phrases) if isinstance(phrases, Mapping) else dict.fromkeys(phrases)
        self.replacements = {p.casefold(): r for p, r in table.items() if p}
        self.excluded = {e.casefold() for e in exclude if e} - self.replacements.keys()
        alternatives = sorted(self.replacements.keys() | self.excluded, key=len, reverse=True)
        self.regex = (
            re.compile("|".join(_ascii_bounded(p) for p in alternatives), re.IGNORECASE)
            if alternatives
            else None
        )

    def finditer(self, text: str, pos: int = 0, endpos: int | None = None) -> Iterator[tuple[int, int, str]]:
        """(start, end, phrase) for every non-excluded match."""
        if self.regex is None:
            return
        for m in self.regex.finditer(text, pos, len(text) if endpos is None else endpos):
            key = m.group().casefold()
            if key not in self.excluded:
                yield m.start(), m.end(), key

    def search(self, text: str, pos: int = 0, endpos: int | None = None) -> tuple[int, int, str] | None:
        return next(self.finditer(text, pos, endpos), None)


class _Patterns:
    """Regex entries combined into one alternation; each keeps its own template."""

    __slots__ = ("entries", "regex")

    def __init__(self, entries: Sequence[Mapping[str, Any] | str], template_key: str = "rewrite") -> None:
        self.entries: list[tuple[re.Pattern[str], str | None]] = []
        for entry in entries:
            if isinstance(entry, str):
                self.entries.append((re.compile(entry), None))
            else:
                self.entries.append((re.compile(entry["regex"]), entry.get(template_key)))
        self.regex = (
            re.compile("|".join(f"(?P<_{i}>{rx.pattern})" for i, (rx, _) in enumerate(self.entries)))
            if self.entries
            else None
        )

    def finditer(self, text: str) -> Iterator[tuple[int, int, str | None]]:
        """(start, end, expanded template or None) for every match."""
        for start, end, expanded, _ in self.finditer_entries(text):
            yield start, end, expanded

    def finditer_entries(self, text: str) -> Iterator[tuple[int, int, str | None, int]]:
        """(start, end, expanded template or None, index of the entry) for every match."""
        if self.regex is None:
            return
        for m in self.regex.finditer(text):
            if m.end() == m.start():
                continue
            index = int(m.lastgroup[1:])  # type: ignore[index]
            rx, template = self.entries[index]
            expanded = template
            if template:
                own = rx.fullmatch(text, m.start(), m.end())
                expanded = own.expand(template) if own else template
            yield m.start(), m.end(), expanded, index


def _compiled(ruleset: RuleSet, rule_id: str, build: Callable[[Mapping[str, Any]], Any]) -> Any:
    try:
        return ruleset.cache[rule_id]
    except KeyError:
        value = ruleset.cache[rule_id] = build(ruleset.rule(rule_id).params)
        return value


# --- rules --------------------------------------------------------------------
#
# Each rule takes (text, reply, ctx, cfg, ruleset): ``text`` is the matching text,
# ``reply`` the original with the same length.


def _finding(
    rule: str,
    cfg: RuleConfig,
    reply: str,
    start: int,
    end: int,
    *,
    why: str | None = None,
    severity: Severity | None = None,
    replacement: str | None = None,
    suggestion: str | None = None,
) -> Finding:
    if suggestion is None and replacement is not None:
        suggestion = _splice(reply, start, end, replacement)
    return Finding(
        rule=rule,
        severity=severity or cfg.severity,
        start=start,
        end=end,
        excerpt=reply[start:end],
        why=why or cfg.params.get("why", ""),
        suggestion=suggestion,
        replacement=replacement,
    )


# Where a clause ends: a rewrite that is a whole clause replaces a whole clause, so
# 「但是我们也没办法」 becomes 「我来帮您想想其他办法」, never 「但是我们也我来帮您想想其他办法」.
_CLAUSE_MARK_RE = re.compile(r"[，,。！？!?；;：:\n~…]")


def _clause_start(text: str, start: int) -> int:
    s = start
    while s > 0 and not _CLAUSE_MARK_RE.match(text[s - 1]):
        s -= 1
    while s < start and text[s].isspace():
        s += 1
    return s


def _clause(text: str, start: int, end: int) -> tuple[int, int]:
    """The span of the clause around ``text[start:end]``, without its marks and edge spaces."""
    m = _CLAUSE_MARK_RE.search(text, end)
    e = m.start() if m else len(text)
    while e > end and text[e - 1].isspace():
        e -= 1
    return _clause_start(text, start), e


# A subject and adverbs in front of 「不清楚」/「不确定」, dropped with it by the rewrite.
_SUBJECT_RE = re.compile(r"(?:我们|我|咱们|这边|我这边|客服)?(?:也|都|确实|真的|其实|暂时|目前|还)*$")


def _subject_start(text: str, start: int) -> int:
    m = _SUBJECT_RE.search(text, _clause_start(text, start), start)
    return m.start() if m else start


# Offers to check read alike whatever the verb: 核实一下 / 查一下 / 确认一下.
_CHECK_VERBS_RE = re.compile(r"核实|查询|查|确认")


def _bigrams(clause: str) -> set[str]:
    clause = _CHECK_VERBS_RE.sub("确认", clause)
    return {clause[i : i + 2] for i in range(len(clause) - 1)}


def _said_elsewhere(clause: str, others: Sequence[str]) -> bool:
    """Whether the reply already says ``clause`` (half or more of its character pairs in one clause)."""
    mine = _bigrams(clause)
    return bool(mine) and any(len(mine & b) * 2 >= len(mine | b) for b in map(_bigrams, others))


def _clause_rewrite(
    rule: str, cfg: RuleConfig, reply: str, text: str, start: int, end: int, rewrite: str | None
) -> Finding:
    """A finding whose rewrite replaces the clause ``text[start:end]``.

    Clauses of the rewrite that the rest of the reply already says are left out, so
    「系统就是这样，我也没办法」 does not become 「…我来帮您看看其他办法，我来帮您想想其他办法」;
    when nothing is left, the clause goes with its comma.
    """
    if rewrite is None:
        return _finding(rule, cfg, reply, start, end)
    others = [c for c in _CLAUSE_MARK_RE.split(text[:start] + "，" + text[end:]) if c.strip()]
    kept = [c for c in re.split(r"[，,]", rewrite) if not _said_elsewhere(c, others)]
    if kept or _clause(text, start, end) != (start, end):
        return _finding(rule, cfg, reply, start, end, replacement="，".join(kept) or rewrite)
    before = start - 1 if start > 0 and text[start - 1] in "，," else None
    if before is not None:
        return _finding(rule, cfg, reply, before, end, replacement="")
    if end < len(text) and text[end] in "，,":
        return _finding(rule, cfg, reply, start, end + 1, replacement="")
    return _finding(rule, cfg, reply, start, end, replacement=rewrite)


class _VagueTables:
    __slots__ = ("checks", "hedge_patterns", "phrases", "rewrite", "rewrite_plain", "topics", "unsure")

    def __init__(self, p: Mapping[str, Any]) -> None:
        unsure = dict(p.get("unsure", {}))
        self.phrases = _Phrases({**p.get("hedges", {}), **unsure}, p.get("exclude", ()))
        self.unsure = frozenset(k.casefold() for k in unsure)
        self.checks = _Phrases(p.get("check_promises", ()))
        self.hedge_patterns = _Patterns(p.get("hedge_patterns", ()))
        self.rewrite: str | None = p.get("clause_rewrite")
        self.rewrite_plain: str | None = p.get("clause_rewrite_plain")
        self.topics = [(re.compile(t["regex"]), str(t["topic"])) for t in p.get("topics", ())]

    def clause_rewrite(self, clause: str) -> str | None:
        """The hedged clause said as a promise to check: about its topic when one is named."""
        for rx, topic in self.topics:
            if rx.search(clause) and self.rewrite:
                return self.rewrite.format(topic=topic)
        return self.rewrite_plain


def _vague_wording(text: str, reply: str, ctx: ReplyContext, cfg: RuleConfig, rs: RuleSet) -> list[Finding]:
    t: _VagueTables = _compiled(rs, "vague_wording", _VagueTables)
    out = []
    for start, end, key in t.phrases.finditer(text):
        if key in t.unsure:
            # 「我不确定，我帮您核实一下」 is the honest answer the handbook asks for.
            if t.checks.search(text, end) is not None:
                continue
            # 「物流信息我们也不清楚」 → 「物流信息我帮您查一下」: the subject before goes;
            # after an offer to check, 「…，我也不清楚」 goes altogether.
            start = _subject_start(text, start)
            out.append(
                _clause_rewrite("vague_wording", cfg, reply, text, start, end, t.phrases.replacements[key])
            )
        else:
            start, end = _clause(text, start, end)
            rewrite = t.clause_rewrite(text[start:end])
            out.append(_clause_rewrite("vague_wording", cfg, reply, text, start, end, rewrite))
    taken = [(f.start, f.end) for f in out]
    for s, e, _ in t.hedge_patterns.finditer(text):
        s, e = _clause(text, s, e)
        if all(e <= a or s >= b for a, b in taken):
            taken.append((s, e))
            out.append(_clause_rewrite("vague_wording", cfg, reply, text, s, e, t.clause_rewrite(text[s:e])))
    return _one_per_span(out)


def _one_per_span(findings: list[Finding]) -> list[Finding]:
    """Two hedges in one clause are one finding: the clause is rewritten once."""
    seen: set[tuple[int, int]] = set()
    out = []
    for f in findings:
        if (f.start, f.end) not in seen:
            seen.add((f.start, f.end))
            out.append(f)
    return out


def _add_pattern_hits(
    rule_id: str,
    cfg: RuleConfig,
    reply: str,
    text: str,
    patterns: _Patterns,
    out: list[Finding],
    *,
    whole_clause: bool = False,
) -> list[Finding]:
    """``out`` plus the pattern matches that do not overlap a finding already in it."""
    taken = [(f.start, f.end) for f in out]
    for s, e, replacement in patterns.finditer(text):
        if whole_clause:
            s, e = _clause(text, s, e)
        if all(e <= a or s >= b for a, b in taken):
            taken.append((s, e))
            if whole_clause:
                out.append(_clause_rewrite(rule_id, cfg, reply, text, s, e, replacement))
            else:
                out.append(_finding(rule_id, cfg, reply, s, e, replacement=replacement))
    return out


def _phrase_rule(rule_id: str, table_key: str) -> Callable[..., list[Finding]]:
    """A table of phrases → rewrites, plus regex patterns. With ``clause_level`` in the
    params, a rewrite replaces the phrase's whole clause, except for the phrases listed
    in ``inline`` (a noun for a noun: 公司规定 → 我们的售后政策)."""

    def build(p: Mapping[str, Any]) -> tuple[_Phrases, _Patterns, bool, frozenset[str]]:
        return (
            _Phrases(p.get(table_key, {}), p.get("exclude", ())),
            _Patterns(p.get("patterns", ())),
            bool(p.get("clause_level", False)),
            frozenset(k.casefold() for k in p.get("inline", ())),
        )

    def rule(text: str, reply: str, ctx: ReplyContext, cfg: RuleConfig, rs: RuleSet) -> list[Finding]:
        phrases, patterns, clause_level, inline = _compiled(rs, rule_id, build)
        out = []
        for s, e, k in phrases.finditer(text):
            if clause_level and k not in inline:
                s, e = _clause(text, s, e)
                out.append(_clause_rewrite(rule_id, cfg, reply, text, s, e, phrases.replacements[k]))
            else:
                out.append(_finding(rule_id, cfg, reply, s, e, replacement=phrases.replacements[k]))
        out = _add_pattern_hits(rule_id, cfg, reply, text, patterns, out, whole_clause=clause_level)
        return _one_per_span(out) if clause_level else out

    return rule


def _apology_but(text: str, reply: str, ctx: ReplyContext, cfg: RuleConfig, rs: RuleSet) -> list[Finding]:
    def build(p: Mapping[str, Any]) -> re.Pattern[str] | None:
        apologies = sorted(p.get("apologies", ()), key=len, reverse=True)
        conjunctions = sorted(p.get("conjunctions", ()), key=len, reverse=True)
        if not apologies or not conjunctions:
            return None
        gap = int(p.get("max_gap", 24))
        # 但愿/但凡/不过期/不过敏 are not the "but" that takes the apology back.
        return re.compile(
            f"(?:{'|'.join(map(re.escape, apologies))})[^。！？!?\\n]{{0,{gap}}}?"
            f"(?P<conj>{'|'.join(map(re.escape, conjunctions))})(?![愿凡期敏])"
        )

    regex = _compiled(rs, "apology_but", build)
    if regex is None:
        return []
    out = []
    for m in regex.finditer(text):
        before = reply[m.start() : m.start("conj")].rstrip("，,、 ")
        rest = reply[m.end() :].lstrip("，,、 ")
        end_mark = "" if before.endswith(("。", "！", "!")) else "。"
        suggestion = reply[: m.start()] + before + end_mark + rest
        out.append(
            _finding(
                "apology_but",
                cfg,
                reply,
                m.start(),
                m.end(),
                replacement=before + end_mark,
                suggestion=suggestion,
            )
        )
    return out


def _negative_framing(
    text: str, reply: str, ctx: ReplyContext, cfg: RuleConfig, rs: RuleSet
) -> list[Finding]:
    """Rewrites are whole clauses and replace the clause they match in, except entries
    marked ``inline`` (要等到周一才能 → 周一就可以)."""

    def build(p: Mapping[str, Any]) -> tuple[_Patterns, list[bool]]:
        entries = p.get("rewrites", ())
        return _Patterns(entries, "rewrite"), [
            bool(isinstance(e, Mapping) and e.get("inline")) for e in entries
        ]

    patterns, inline = _compiled(rs, "negative_framing", build)
    out = []
    for s, e, rewrite, index in patterns.finditer_entries(text):
        if inline[index]:
            out.append(_finding("negative_framing", cfg, reply, s, e, replacement=rewrite))
        else:
            s, e = _clause(text, s, e)
            out.append(_clause_rewrite("negative_framing", cfg, reply, text, s, e, rewrite))
    return _one_per_span(out)


def _perceived_emotion(ctx: ReplyContext, anger_cues: _Phrases) -> str | None:
    if ctx.customer_emotion is not None:
        return ctx.customer_emotion
    # No classifier label: fall back to unmistakable complaint words.
    if ctx.customer_last_message and anger_cues.search(scan_text(ctx.customer_last_message)):
        return "dissatisfied"
    return None


def _no_empathy(text: str, reply: str, ctx: ReplyContext, cfg: RuleConfig, rs: RuleSet) -> list[Finding]:
    p = cfg.params

    empathy, anger_cues = _compiled(rs, "no_empathy", _build_empathy)
    emotion = _perceived_emotion(ctx, anger_cues)
    if emotion not in p.get("emotions", ("dissatisfied", "angry")) or not reply.strip():
        return []
    severity = p.get("severity_by_emotion", {}).get(emotion, cfg.severity)
    first = empathy.search(text)
    if first is None:
        _, end = _sentence_bounds(text, 0)
        prefix = p.get("prefix", "")
        return [
            _finding(
                "no_empathy",
                cfg,
                reply,
                0,
                end,
                severity=severity,
                replacement=prefix + reply[:end],
                suggestion=prefix + reply,
            )
        ]
    if len(text) >= 30 and first[0] > float(p.get("late_ratio", 0.6)) * len(text):
        return [
            _finding(
                "no_empathy",
                cfg,
                reply,
                first[0],
                first[1],
                severity="low",
                why=p.get("why_late"),
            )
        ]
    return []


def _build_time(p: Mapping[str, Any]) -> tuple[_Phrases, re.Pattern[str] | None, _Phrases]:
    times = p.get("time_patterns", ())
    return (
        _Phrases(p.get("vague", {}), p.get("exclude", ())),
        re.compile("|".join(f"(?:{t})" for t in times)) if times else None,
        _Phrases(p.get("time_question_cues", ())),
    )


def _build_empathy(p: Mapping[str, Any]) -> tuple[_Phrases, _Phrases]:
    return _Phrases(p.get("phrases", ())), _Phrases(p.get("anger_cues", ()))


def _promise_without_time(
    text: str, reply: str, ctx: ReplyContext, cfg: RuleConfig, rs: RuleSet
) -> list[Finding]:
    vague, concrete, cues = _compiled(rs, "promise_without_time", _build_time)
    hits = list(vague.finditer(text))
    if not hits or (concrete is not None and concrete.search(text)):
        return []
    expected = (
        ctx.expects_time
        or not cfg.params.get("only_when_expected", True)
        or (bool(ctx.customer_last_message) and cues.search(scan_text(ctx.customer_last_message)) is not None)
    )
    if not expected:
        return []
    return [
        _finding("promise_without_time", cfg, reply, s, e, replacement=vague.replacements[k])
        for s, e, k in hits
    ]


_AMOUNT_RE = re.compile(
    r"(?P<num>\d+(?:\.\d+)?|[零〇一二两三四五六七八九十百千万]+)\s*(?:元|块钱|块|rmb|RMB|人民币)(?:钱)?"
)
# An amount that is a spending threshold, not money given: 「满199元可用」, 「订单超过99元包邮」,
# 「199元以上」.
_THRESHOLD_BEFORE = re.compile(r"(?:满|超过|超出|不低于|不少于|高于|达到|达)\s*$")
_THRESHOLD_AFTER = re.compile(r"^\s*(?:以上|起用|起)")


def _compensation_over_limit(
    text: str, reply: str, ctx: ReplyContext, cfg: RuleConfig, rs: RuleSet
) -> list[Finding]:
    p = cfg.params
    comp_words, big_ticket, request_cues = _compiled(
        rs,
        "compensation_over_limit",
        lambda p: (
            _Phrases(p.get("comp_words", ())),
            _Phrases(p.get("big_ticket", ())),
            _Phrases(p.get("request_cues", ())),
        ),
    )
    out: list[Finding] = []
    if ctx.approved_compensation is None:
        for s, e, _ in big_ticket.finditer(text):
            out.append(_finding("compensation_over_limit", cfg, reply, s, e, why=p.get("why_big_ticket")))
    limit = ctx.compensation_limit
    if limit is None:
        limit = p.get("role_limits", {}).get(ctx.agent_role, p.get("default_limit"))
    if limit is None:
        return out
    allowed = max(float(limit), ctx.approved_compensation or 0.0)
    before, after = int(p.get("before_window", 8)), int(p.get("after_window", 5))
    running = 0.0
    for m in _AMOUNT_RE.finditer(text):
        sent_start, sent_end = _sentence_bounds(text, m.start())
        lo, hi = max(sent_start, m.start() - before), min(sent_end, m.end() + after)
        if comp_words.search(text, lo, hi) is None:
            continue
        # 「我为您申请50元补偿」, 「审批通过后给您发50元券」: asked for, not promised.
        if request_cues.search(text, sent_start, sent_end) is not None:
            continue
        if _THRESHOLD_BEFORE.search(text, max(0, m.start() - 4), m.start()) or _THRESHOLD_AFTER.match(
            text[m.end() : m.end() + 3]
        ):
            continue
        amount = parse_number(m.group("num"))
        if amount is None:
            continue
        running += amount
        if running > allowed:
            why = f"{p.get('why', '')}（本条回复承诺共 {running:g} 元，可承诺上限 {allowed:g} 元）"
            out.append(
                _finding(
                    "compensation_over_limit",
                    cfg,
                    reply,
                    m.start(),
                    m.end(),
                    why=why,
                    suggestion=p.get("suggestion"),
                )
            )
    return out


def _absolute_guarantee(
    text: str, reply: str, ctx: ReplyContext, cfg: RuleConfig, rs: RuleSet
) -> list[Finding]:
    patterns = _compiled(rs, "absolute_guarantee", lambda p: _Patterns(p.get("patterns", ())))
    rewrite = cfg.params.get("rewrite")
    out = []
    for s, e, _ in patterns.finditer(text):
        # The rewrite is a whole clause: it replaces the guarantee's clause.
        s, e = _clause(text, s, e)
        out.append(_clause_rewrite("absolute_guarantee", cfg, reply, text, s, e, rewrite))
    return _one_per_span(out)


_DATE_RE = re.compile(r"(?:(?P<month>\d{1,2})\s*月\s*)?(?P<day>\d{1,2})\s*[日号]")
# A relative day said about the remedy itself (「明天就给您发」), not 「今天已为您登记」.
_RELATIVE_DAY_RE = re.compile(
    r"(?:今天|今日|今晚|明天|明日|后天|大后天|本周内?|这周|下周)(?=[^，。！？,.!?]{0,6}?(?:发|到|换|退|恢复|处理|补))"
)
_DURATION_RE = re.compile(
    r"(?P<num>\d+|[一二两三四五六七八九十]+)\s*个?\s*(?P<unit>工作日|个工作日|天|日|小时|周)内"
)


def _durations(text: str) -> list[tuple[int, int, str]]:
    out = []
    for m in _DURATION_RE.finditer(text):
        n = parse_number(m.group("num"))
        if n is not None:
            unit = "工作日" if "工作日" in m.group("unit") else m.group("unit").replace("日", "天")
            out.append((m.start(), m.end(), f"{n:g}{unit}"))
    return out


def _dates(text: str) -> list[tuple[int, int, str]]:
    spans = [(s, e) for s, e, _ in _durations(text)]
    out = []
    for m in _DATE_RE.finditer(text):
        if any(s <= m.start() < e for s, e in spans):
            continue
        out.append((m.start(), m.end(), f"{int(m.group('month') or 0)}-{int(m.group('day'))}"))
    return out


def _remedy_table(rs: RuleSet) -> _Phrases:
    return _compiled(rs, "incident_statement", lambda p: _Phrases(p.get("remedies", ())))


def statement_facts(statement: str, ruleset: RuleSet = DEFAULT_RULESET) -> StatementFacts:
    """The facts a reply must not contradict, read from an approved statement."""
    text = scan_text(to_simplified(statement))
    remedies = _remedy_table(ruleset)
    return StatementFacts(
        statement=statement,
        dates=tuple(sorted({d for _, _, d in _dates(text)})),
        durations=tuple(sorted({d for _, _, d in _durations(text)})),
        amounts=tuple(
            sorted({a for m in _AMOUNT_RE.finditer(text) if (a := parse_number(m.group("num"))) is not None})
        ),
        remedies=tuple(sorted({phrase for _, _, phrase in remedies.finditer(text)})),
    )


def _same_date(reply_date: str, facts: StatementFacts) -> bool:
    month, day = reply_date.split("-")
    for d in facts.dates:
        m, dd = d.split("-")
        if dd == day and (month == "0" or m == "0" or m == month):
            return True
    return False


def _incident_statement(
    text: str, reply: str, ctx: ReplyContext, cfg: RuleConfig, rs: RuleSet
) -> list[Finding]:
    """A reply that says other dates, amounts or remedies than the incident's approved statement."""
    if not ctx.incident_facts:
        return []
    out: list[Finding] = []
    for facts in ctx.incident_facts:
        said = f"{cfg.params.get('why', '')}（口径：{facts.statement[:80]}）"
        spans = _contradicting_spans(text, facts, _remedy_table(rs))
        out.extend(_finding("incident_statement", cfg, reply, s, e, why=said) for s, e in spans)
    return _one_per_span(out)


def _contradicting_spans(text: str, facts: StatementFacts, remedies: _Phrases) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    if facts.dates:
        out += [(s, e) for s, e, d in _dates(text) if not _same_date(d, facts)]
        out += [(m.start(), m.end()) for m in _RELATIVE_DAY_RE.finditer(text)]
    if facts.durations:
        out += [(s, e) for s, e, d in _durations(text) if d not in facts.durations]
    if facts.amounts:
        for m in _AMOUNT_RE.finditer(text):
            amount = parse_number(m.group("num"))
            if amount is not None and amount not in facts.amounts:
                out.append((m.start(), m.end()))
    if facts.remedies:
        out += [(s, e) for s, e, phrase in remedies.finditer(text) if phrase not in facts.remedies]
    return out


def _pii_exposed(text: str, reply: str, ctx: ReplyContext, cfg: RuleConfig, rs: RuleSet) -> list[Finding]:
    kinds = set(cfg.params.get("kinds", ("phone", "id_card", "bank_card", "address")))
    labels = _compiled(rs, "pii_exposed", lambda p: _Phrases(p.get("business_labels", ())))
    matches = [
        m
        for m in find_pii_scanned(text)
        # The shop's own return address is meant to be shown.
        if m.kind in kinds and not (m.kind == "address" and labels.search(text, max(0, m.start - 8), m.start))
    ]
    if not matches:
        return []
    masked = reply
    for m in matches:  # masking keeps length, so spans stay valid while splicing
        masked = _splice(masked, m.start, m.end, mask_match(reply, m))
    return [
        _finding(
            "pii_exposed", cfg, reply, m.start, m.end, replacement=mask_match(reply, m), suggestion=masked
        )
        for m in matches
    ]


def _internal_jargon(text: str, reply: str, ctx: ReplyContext, cfg: RuleConfig, rs: RuleSet) -> list[Finding]:
    glossary, patterns = _compiled(
        rs,
        "internal_jargon",
        lambda p: (_Phrases(p.get("glossary", {})), _Patterns(p.get("patterns", ()), "replacement")),
    )
    out = [
        _finding("internal_jargon", cfg, reply, s, e, replacement=glossary.replacements[k])
        for s, e, k in glossary.finditer(text)
    ]
    return _add_pattern_hits("internal_jargon", cfg, reply, text, patterns, out)


def _missing_greeting(
    text: str, reply: str, ctx: ReplyContext, cfg: RuleConfig, rs: RuleSet
) -> list[Finding]:
    if not ctx.is_first_agent_reply or not reply.strip():
        return []
    greetings = _compiled(rs, "missing_greeting", lambda p: _Phrases(p.get("greetings", ())))
    if greetings.search(text, 0, min(len(text), int(cfg.params.get("window", 20)))):
        return []
    _, end = _sentence_bounds(text, 0)
    prefix = cfg.params.get("prefix", "您好，")
    return [
        _finding(
            "missing_greeting",
            cfg,
            reply,
            0,
            end,
            replacement=prefix + reply[:end],
            suggestion=prefix + reply,
        )
    ]


def _missing_closing(text: str, reply: str, ctx: ReplyContext, cfg: RuleConfig, rs: RuleSet) -> list[Finding]:
    if not ctx.is_closing or not reply.strip():
        return []
    closings = _compiled(rs, "missing_closing", lambda p: _Phrases(p.get("closings", ())))
    if closings.search(text, max(0, len(text) - int(cfg.params.get("window", 40)))):
        return []
    body = reply.rstrip()
    start, _ = _sentence_bounds(text, max(0, len(body) - 1))
    joiner = "" if body.endswith(("。", "！", "？", "!", "?", "~", "～")) else "。"
    suffix = cfg.params.get("suffix", "请问还有其他可以帮您的吗？")
    return [
        _finding(
            "missing_closing",
            cfg,
            reply,
            start,
            len(body),
            replacement=body[start:] + joiner + suffix,
            suggestion=body + joiner + suffix,
        )
    ]


_slang_terms = _phrase_rule("slang", "terms")


def _slang(text: str, reply: str, ctx: ReplyContext, cfg: RuleConfig, rs: RuleSet) -> list[Finding]:
    if not ctx.house_style_forbids_slang:
        return []
    out = []
    for f in _slang_terms(text, reply, ctx, cfg, rs):
        # 「亲亲，这个…」: a slang word that is a clause of its own (a form of address)
        # goes with its comma, or the rewrite would read 「您，这个…」.
        mark = _CLAUSE_MARK_RE.match(text, f.end)
        if _clause(text, f.start, f.end) == (f.start, f.end) and mark and mark.group() in "，,":
            f = _finding("slang", cfg, reply, f.start, mark.end(), replacement="")
        out.append(f)
    return out


_RULES: dict[str, Callable[[str, str, ReplyContext, RuleConfig, RuleSet], list[Finding]]] = {
    "vague_wording": _vague_wording,
    "blame_policy": _phrase_rule("blame_policy", "phrases"),
    "apology_but": _apology_but,
    "negative_framing": _negative_framing,
    "no_empathy": _no_empathy,
    "promise_without_time": _promise_without_time,
    "compensation_over_limit": _compensation_over_limit,
    "absolute_guarantee": _absolute_guarantee,
    "pii_exposed": _pii_exposed,
    "internal_jargon": _internal_jargon,
    "missing_greeting": _missing_greeting,
    "missing_closing": _missing_closing,
    "slang": _slang,
    "incident_statement": _incident_statement,
}


def check_reply(reply: str, context: ReplyContext, ruleset: RuleSet = DEFAULT_RULESET) -> list[Finding]:
    """Every finding for one draft reply, ordered by position (then by rule)."""
    text = scan_text(reply)
    findings: list[Finding] = []
    for rule_id, rule in _RULES.items():
        cfg = ruleset.rule(rule_id)
        if cfg.enabled:
            findings.extend(rule(text, reply, context, cfg, ruleset))
    findings.sort(key=lambda f: (f.start, f.end, f.rule))
    if findings and to_simplified(reply) != reply:
        # A Traditional reply gets its rewrites in Traditional too.
        findings = [_to_traditional(f) for f in findings]
    return findings


@lru_cache(maxsize=1)
def _s2t() -> opencc.OpenCC:
    # Taiwan-standard characters without phrase substitution: 核实 → 核實, not 覈實.
    return opencc.OpenCC("s2tw")


def _to_traditional(f: Finding) -> Finding:
    convert = _s2t().convert
    return Finding(
        f.rule,
        f.severity,
        f.start,
        f.end,
        f.excerpt,
        f.why,
        convert(f.suggestion) if f.suggestion else f.suggestion,
        convert(f.replacement) if f.replacement else f.replacement,
    )


def apply_finding(reply: str, finding: Finding) -> str:
    """``reply`` with the finding's replacement spliced in (unchanged if it has none)."""
    if finding.replacement is None:
        return reply
    return _splice(reply, finding.start, finding.end, finding.replacement)


def rewrite_reply(
    reply: str,
    context: ReplyContext,
    ruleset: RuleSet = DEFAULT_RULESET,
    *,
    severities: Iterable[Severity] = ("high", "medium", "low"),
    max_steps: int = 12,
) -> str:
    """``reply`` with every rewrite of the given severities applied, one at a time.

    Each step re-checks the reply and applies the first finding that has a replacement,
    exactly as an agent pressing 一键改写 on each hint in turn would.
    """
    wanted = frozenset(severities)
    for _ in range(max_steps):
        finding = next(
            (
                f
                for f in check_reply(reply, context, ruleset)
                if f.severity in wanted and f.replacement is not None and f.replacement != f.excerpt
            ),
            None,
        )
        if finding is None:
            break
        reply = apply_finding(reply, finding)
    return reply


# --- conversation rubric ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Turn:
    """One message of a conversation; ``at`` is a timestamp in seconds, if known."""

    role: Literal["customer", "agent"]
    text: str
    emotion: Emotion | None = None
    at: float | None = None


@dataclass(frozen=True, slots=True)
class RubricItem:
    key: str
    label: str
    points: float
    max_points: int
    reason: str


@dataclass(frozen=True, slots=True)
class RubricScore:
    """A conversation's score out of 100 and the items it is made of."""

    total: int
    items: tuple[RubricItem, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total, "items": [asdict(i) for i in self.items]}


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


def contexts_for(turns: Sequence[Turn], **overrides: Any) -> list[ReplyContext]:
    """A ReplyContext for each agent turn, derived from the turns before it."""
    agent_indexes = [i for i, t in enumerate(turns) if t.role == "agent"]
    contexts = []
    last_customer: Turn | None = None
    for i, turn in enumerate(turns):
        if turn.role == "customer":
            last_customer = turn
            continue
        contexts.append(
            ReplyContext(
                customer_emotion=last_customer.emotion if last_customer else None,
                is_first_agent_reply=i == agent_indexes[0],
                is_closing=i == agent_indexes[-1],
                customer_last_message=last_customer.text if last_customer else "",
                **overrides,
            )
        )
    return contexts


def _response_times(turns: Sequence[Turn]) -> list[float]:
    """Seconds from the first unanswered customer message to the agent's reply."""
    times: list[float] = []
    waiting_since: float | None = None
    for t in turns:
        if t.at is None:
            continue
        if t.role == "customer":
            waiting_since = t.at if waiting_since is None else waiting_since
        elif waiting_since is not None:
            times.append(max(0.0, t.at - waiting_since))
            waiting_since = None
    return times


def _penalty_item(
    key: str,
    weight: int,
    rule_ids: Sequence[str],
    findings: Sequence[Sequence[Finding]],
    penalties: Mapping[str, float],
) -> RubricItem:
    relevant = [f for per_reply in findings for f in per_reply if f.rule in rule_ids]
    lost = sum(float(penalties.get(f.severity, 0.3)) for f in relevant)
    points = weight * max(0.0, 1.0 - lost)
    if not relevant:
        return RubricItem(key, ITEM_LABELS[key], float(weight), weight, "未发现问题")
    counts: dict[str, int] = {}
    for f in relevant:
        counts[f.rule] = counts.get(f.rule, 0) + 1
    reason = "；".join(f"{rule}×{n}" for rule, n in sorted(counts.items()))
    return RubricItem(key, ITEM_LABELS[key], round(points, 1), weight, f"发现问题：{reason}")


def score_conversation(
    turns: Sequence[Turn],
    findings_per_reply: Sequence[Sequence[Finding]] | None = None,
    response_times: Sequence[float] | None = None,
    *,
    kb_correctness: float | None = None,
    ruleset: RuleSet = DEFAULT_RULESET,
) -> RubricScore:
    """Score a finished conversation out of 100.

    ``findings_per_reply`` aligns with the agent turns; when omitted the replies are
    checked here with contexts from ``contexts_for``. ``response_times`` (seconds per
    agent reply) default to the turns' timestamps; with neither, and with no
    ``kb_correctness`` (0–1, from a knowledge-base check), those items are left out
    and the total is scaled over the items that remain.
    """
    rubric = ruleset.rubric
    weights: Mapping[str, int] = rubric.get("weights", {})
    agent_turns = [t for t in turns if t.role == "agent"]
    contexts = contexts_for(turns)
    findings = _reply_findings(agent_turns, contexts, findings_per_reply, ruleset)
    texts = [scan_text(t.text) for t in agent_turns]
    scored = (
        _item(weights, "greeting", _greeting(agent_turns, ruleset)),
        _item(weights, "listening", _listening(turns, texts, rubric)),
        _item(weights, "empathy", _empathy(contexts, findings, ruleset)),
        *_penalty_items(weights, rubric, findings),
        _item(weights, "promise", _promise(texts, ruleset)),
        _item(weights, "closing", _closing(texts, ruleset)),
        _item(weights, "response_time", _response_time(turns, response_times, rubric)),
        _item(weights, "kb_correctness", _kb_correctness(kb_correctness)),
    )
    items = tuple(i for i in scored if i is not None)
    max_total = sum(i.max_points for i in items)
    total = round(100 * sum(i.points for i in items) / max_total) if max_total else 0
    return RubricScore(total=total, items=items)


# Each rubric item below is scored as a fraction of its weight and a reason, or None
# when the conversation gives nothing to judge it by (the item is then left out).
_Scored = tuple[float, str] | None


def _item(weights: Mapping[str, int], key: str, scored: _Scored) -> RubricItem | None:
    """The item's points out of its weight (none when left out or weighted 0)."""
    if scored is None:
        return None
    fraction, reason = scored
    w = int(weights.get(key, 0))
    if not w:
        return None
    return RubricItem(key, ITEM_LABELS[key], round(w * max(0.0, min(1.0, fraction)), 1), w, reason)


def _reply_findings(
    agent_turns: Sequence[Turn],
    contexts: Sequence[ReplyContext],
    given: Sequence[Sequence[Finding]] | None,
    ruleset: RuleSet,
) -> Sequence[Sequence[Finding]]:
    """The findings of each agent reply: as given (one list per reply), else checked now."""
    if given is None:
        return [check_reply(t.text, c, ruleset) for t, c in zip(agent_turns, contexts, strict=True)]
    if len(given) != len(agent_turns):
        raise ValueError(f"findings_per_reply has {len(given)} entries for {len(agent_turns)} agent turns")
    return given


def _greeting(agent_turns: Sequence[Turn], ruleset: RuleSet) -> _Scored:
    if not agent_turns:
        return 0, "没有客服回复"
    first = check_reply(agent_turns[0].text, ReplyContext(is_first_agent_reply=True), ruleset)
    greeted = not any(f.rule == "missing_greeting" for f in first)
    return (1, "首次回复有问候") if greeted else (0, "首次回复没有问候")


def _listening(turns: Sequence[Turn], texts: Sequence[str], rubric: Mapping[str, Any]) -> _Scored:
    """Full marks for confirming the question; half for answering its points (3+ shared bigrams)."""
    listening = _Phrases(rubric.get("listening_phrases", ()))
    if any(listening.search(t) for t in texts):
        return 1, "客服复述或确认了顾客的问题"
    customer_bigrams = {
        c[i : i + 2]
        for t in turns
        if t.role == "customer"
        for c in [scan_text(t.text)]
        for i in range(len(c) - 1)
    }
    shared = {
        b for t in texts for i in range(len(t) - 1) if (b := t[i : i + 2]) in customer_bigrams and b.isalnum()
    }
    if len(shared) >= 3:
        return 0.5, "回复回应了顾客的要点，但没有明确确认问题"
    return 0, "没有复述或确认顾客的问题"


def _empathy(
    contexts: Sequence[ReplyContext], findings: Sequence[Sequence[Finding]], ruleset: RuleSet
) -> _Scored:
    """The share of replies to an upset customer that soothed first (a low-severity miss counts as soothed)."""
    emotions = ruleset.rule("no_empathy").params.get("emotions", ("dissatisfied", "angry"))
    needed = handled = 0
    _, anger_cues = _compiled(ruleset, "no_empathy", _build_empathy)
    for ctx, per_reply in zip(contexts, findings, strict=True):
        if _perceived_emotion(ctx, anger_cues) in emotions:
            needed += 1
            handled += not any(f.rule == "no_empathy" and f.severity != "low" for f in per_reply)
    if needed:
        return handled / needed, f"顾客不满的 {needed} 次中，{handled} 次先做了安抚"
    return 1, "顾客情绪平稳，无需安抚"


def _penalty_items(
    weights: Mapping[str, int], rubric: Mapping[str, Any], findings: Sequence[Sequence[Finding]]
) -> list[RubricItem]:
    """Clarity and conduct: their weight less a penalty per finding of their rules."""
    penalties = rubric.get("penalty_per_finding", {"low": 0.15, "medium": 0.3, "high": 0.5})
    items = []
    for key, rules_key in (("clarity", "clarity_rules"), ("conduct", "conduct_rules")):
        w = int(weights.get(key, 0))
        if w:
            items.append(_penalty_item(key, w, rubric.get(rules_key, ()), findings, penalties))
    return items


def _promise(texts: Sequence[str], ruleset: RuleSet) -> _Scored:
    vague_time, concrete_time, _ = _compiled(ruleset, "promise_without_time", _build_time)
    promises = sum(
        1
        for t in texts
        if any(True for _ in vague_time.finditer(t))
        or (concrete_time is not None and concrete_time.search(t))
    )
    untimed = sum(
        1
        for t in texts
        if any(True for _ in vague_time.finditer(t))
        and not (concrete_time is not None and concrete_time.search(t))
    )
    if promises:
        return 1 - untimed / promises, f"{promises} 条承诺中 {untimed} 条没有具体时间"
    return 1, "没有需要给出时间的承诺"


def _closing(texts: Sequence[str], ruleset: RuleSet) -> _Scored:
    """How the last agent reply ends the conversation (left out when no agent replied)."""
    if not texts:
        return None
    last = texts[-1]
    closings = _Phrases(ruleset.rule("missing_closing").params.get("closings", ()))
    farewells = _Phrases(ruleset.rubric.get("closing_farewells", ()))
    if closings.search(last):
        return 1, "结束前询问了是否还有其他需要"
    if farewells.search(last):
        return 0.5, "有致谢或道别，但没有询问是否还有其他需要"
    return 0, "没有结束语"


def _response_time(
    turns: Sequence[Turn], response_times: Sequence[float] | None, rubric: Mapping[str, Any]
) -> _Scored:
    """The mean band score of the replies' waits (left out when no time is known)."""
    times = list(response_times) if response_times is not None else _response_times(turns)
    if not times:
        return None
    bands = [(float(limit), float(frac)) for limit, frac in rubric.get("response_time_bands", ())]
    scores = [next((frac for limit, frac in bands if t <= limit), 0.0) for t in times]
    slowest = max(times)
    return (
        sum(scores) / len(scores),
        f"{len(times)} 次回复，平均 {sum(times) / len(times):.0f} 秒，最慢 {slowest:.0f} 秒",
    )


def _kb_correctness(kb_correctness: float | None) -> _Scored:
    if kb_correctness is None:
        return None
    return kb_correctness, f"与知识库核对的准确度 {kb_correctness:.0%}"
