"""Rule sets as data (kefu.quality.rulesets): every rule configured, JSON, overrides, validation."""

from __future__ import annotations

import pytest

from kefu.quality.rules import DEFAULT_RULESET, ReplyContext, check_reply
from kefu.quality.rulesets import RULE_IDS, InvalidRuleSet, RuleSet, cached_ruleset

CALM = ReplyContext()


def fired(reply: str, ctx: ReplyContext = CALM, ruleset: RuleSet = DEFAULT_RULESET) -> set[str]:
    return {f.rule for f in check_reply(reply, ctx, ruleset)}


def test_default_ruleset_configures_every_rule() -> None:
    assert set(DEFAULT_RULESET.rules) == set(RULE_IDS)


def test_ruleset_round_trips_through_json() -> None:
    again = RuleSet.from_json(DEFAULT_RULESET.to_json())
    assert again.to_dict() == DEFAULT_RULESET.to_dict()


def test_cached_ruleset_reuses_one_object_per_stored_text() -> None:
    text = DEFAULT_RULESET.with_overrides({}).to_json()
    assert cached_ruleset(text) is cached_ruleset(text)
    assert cached_ruleset(text).version == DEFAULT_RULESET.version + 1


def test_with_overrides_bumps_version_and_merges_params() -> None:
    edited = DEFAULT_RULESET.with_overrides({"rules": {"slang": {"params": {"terms": {"老铁": "您"}}}}})
    assert edited.version == DEFAULT_RULESET.version + 1
    assert "老铁" in edited.rule("slang").params["terms"]
    assert "亲亲" in edited.rule("slang").params["terms"]  # dicts merge key by key
    assert "slang" in fired("老铁，放心", CALM, edited)


@pytest.mark.parametrize(
    "data",
    [
        {"version": 1, "rules": {"no_such_rule": {}}},
        {"version": 1, "rules": {"slang": {"severity": "critical"}}},
        {
            "version": 1,
            "rules": {"negative_framing": {"params": {"rewrites": [{"regex": "(", "rewrite": "x"}]}}},
        },
        {
            "version": 1,
            "rules": {"negative_framing": {"params": {"rewrites": [{"regex": "(?P<a>x)", "rewrite": ""}]}}},
        },
        {"version": "one", "rules": {}},
    ],
)
def test_invalid_ruleset_is_refused(data: dict) -> None:
    with pytest.raises(InvalidRuleSet):
        RuleSet.from_dict(data)
