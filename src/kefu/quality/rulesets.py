"""Rule sets for the reply-quality engine: plain data that supervisors can edit.

A ``RuleSet`` is a name, a version, one ``RuleConfig`` per rule (on/off, severity,
phrase lists and rewrite tables in ``params``) and the rubric weights. It round-trips
through ``to_dict``/``from_dict`` so the Django side can keep every edited version as
JSON; ``with_overrides`` applies a supervisor's partial edit on top of a base set.

Exceptions::

    ValueError
     └── InvalidRuleSet   the data cannot be used (unknown rule, bad severity, bad regex)
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources
from typing import Any, Literal

Severity = Literal["low", "medium", "high"]
SEVERITIES: tuple[Severity, ...] = ("low", "medium", "high")

RULE_IDS: tuple[str, ...] = (
    "vague_wording",
    "blame_policy",
    "apology_but",
    "negative_framing",
    "no_empathy",
    "promise_without_time",
    "compensation_over_limit",
    "absolute_guarantee",
    "pii_exposed",
    "internal_jargon",
    "missing_greeting",
    "missing_closing",
    "slang",
    "incident_statement",
)

# Params whose values are regular expressions (a list of strings, or a list of
# {"regex": ...} entries); they are compiled on load so a bad edit fails early.
_REGEX_PARAMS = frozenset({"time_patterns", "patterns", "rewrites", "hedge_patterns", "topics"})


class InvalidRuleSet(ValueError):
    """The rule-set data cannot be used."""


@dataclass(frozen=True)
class RuleConfig:
    """One rule's switch, severity and data (phrase lists, rewrites, messages)."""

    enabled: bool = True
    severity: Severity = "medium"
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class RuleSet:
    """A versioned, named set of rule configurations plus rubric settings.

    Compared by identity, since each object carries its own compiled matchers;
    compare ``to_dict()`` for equal content.
    """

    name: str
    version: int
    rules: Mapping[str, RuleConfig]
    rubric: Mapping[str, Any] = field(default_factory=dict)
    # Compiled matchers, filled lazily by kefu.quality.rules; never serialised.
    cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def rule(self, rule_id: str) -> RuleConfig:
        """The configuration of ``rule_id``; a rule absent from the set is disabled."""
        return self.rules.get(rule_id) or RuleConfig(enabled=False)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict that ``from_dict`` turns back into an equal rule set."""
        return {
            "name": self.name,
            "version": self.version,
            "rules": {
                rid: {
                    "enabled": cfg.enabled,
                    "severity": cfg.severity,
                    "params": copy.deepcopy(dict(cfg.params)),
                }
                for rid, cfg in self.rules.items()
            },
            "rubric": copy.deepcopy(dict(self.rubric)),
        }

    def to_json(self) -> str:
        """``to_dict`` as JSON text, Chinese kept readable."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)

    def with_overrides(self, overrides: Mapping[str, Any], *, version: int | None = None) -> RuleSet:
        """A new set with ``overrides`` (same shape as ``to_dict``, any subset) merged in.

        Dicts merge key by key; lists and scalars replace. ``version`` defaults to
        this set's version plus one.
        """
        data = _deep_merge(self.to_dict(), overrides)
        data["version"] = version if version is not None else self.version + 1
        return RuleSet.from_dict(data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RuleSet:
        """Build and validate a rule set from its dict form."""
        try:
            name = str(data.get("name", "custom"))
            version = int(data.get("version", 1))
            raw_rules = data["rules"]
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidRuleSet(f"rule set needs 'rules' and an integer 'version': {exc}") from exc
        if not isinstance(raw_rules, Mapping):
            raise InvalidRuleSet("'rules' must be an object keyed by rule id")
        rules: dict[str, RuleConfig] = {}
        for rid, raw in raw_rules.items():
            if rid not in RULE_IDS:
                raise InvalidRuleSet(f"unknown rule {rid!r}")
            if not isinstance(raw, Mapping):
                raise InvalidRuleSet(f"rule {rid!r} must be an object")
            severity = raw.get("severity", "medium")
            if severity not in SEVERITIES:
                raise InvalidRuleSet(f"rule {rid!r}: severity must be one of {SEVERITIES}, not {severity!r}")
            params = raw.get("params", {})
            if not isinstance(params, Mapping):
                raise InvalidRuleSet(f"rule {rid!r}: params must be an object")
            _check_regexes(rid, params)
            rules[rid] = RuleConfig(enabled=bool(raw.get("enabled", True)), severity=severity, params=params)
        rubric = data.get("rubric", {})
        if not isinstance(rubric, Mapping):
            raise InvalidRuleSet("'rubric' must be an object")
        return cls(name=name, version=version, rules=rules, rubric=rubric)

    @classmethod
    def from_json(cls, text: str) -> RuleSet:
        """Parse JSON text into a validated rule set."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidRuleSet(f"not valid JSON: {exc}") from exc
        if not isinstance(data, Mapping):
            raise InvalidRuleSet("a rule set is a JSON object")
        return cls.from_dict(data)


def _check_regexes(rid: str, params: Mapping[str, Any]) -> None:
    for key in _REGEX_PARAMS & params.keys():
        for entry in params[key]:
            pattern = entry.get("regex") if isinstance(entry, Mapping) else entry
            if pattern is None:
                continue
            try:
                # Wrapped as it will be combined, so global flags mid-pattern fail here too.
                compiled = re.compile(f"(?:{pattern})|$")
            except (re.error, TypeError) as exc:
                raise InvalidRuleSet(f"rule {rid!r}: bad regex {pattern!r}: {exc}") from exc
            # Entries are combined into one alternation per list, where named
            # groups would clash and backreferences would point at other entries.
            if compiled.groupindex or re.search(r"\\[1-9]|\(\?P=", pattern):
                raise InvalidRuleSet(
                    f"rule {rid!r}: regex {pattern!r} may not use named groups or backreferences"
                )


def _deep_merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@lru_cache(maxsize=32)
def cached_ruleset(text: str) -> RuleSet:
    """``RuleSet.from_json`` memoised on the JSON text.

    Compiling a rule set's matchers takes tens of milliseconds on first use; a
    stored version loaded per request through here is compiled once per process.
    """
    return RuleSet.from_json(text)


@cache
def default_ruleset() -> RuleSet:
    """The rule set shipped with kefu (``data/default_rules.json``)."""
    text = resources.files("kefu.quality").joinpath("data/default_rules.json").read_text(encoding="utf-8")
    return RuleSet.from_json(text)
