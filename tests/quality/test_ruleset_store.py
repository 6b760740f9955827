"""Rule-set versions in the database (kefu.quality.ruleset_store): the active set, edits, validation."""

from __future__ import annotations

import pytest

from kefu.core.errors import InvalidInput, PermissionDenied
from kefu.quality import ruleset_store
from kefu.quality.models import RuleSetVersion
from kefu.quality.rulesets import default_ruleset

pytestmark = pytest.mark.django_db


def test_without_stored_versions_the_shipped_rule_set_is_active():
    assert ruleset_store.active_ruleset() is default_ruleset()


def test_saving_an_edit_creates_the_next_version_and_makes_it_active(desk):
    row = ruleset_store.do_save_ruleset(
        actor=desk.supervisor,
        overrides={"rules": {"slang": {"params": {"terms": {"老铁": "您"}}}}},
        note="加入老铁",
    )
    assert row.version == 2 and row.author == desk.supervisor
    active = ruleset_store.active_ruleset()
    assert active.version == 2
    assert active.rule("slang").params["terms"] == {"老铁": "您"}
    again = ruleset_store.do_save_ruleset(
        actor=desk.supervisor, overrides={"rules": {"missing_greeting": {"enabled": False}}}
    )
    assert again.version == 3
    assert ruleset_store.active_ruleset().rule("slang").params["terms"] == {"老铁": "您"}  # kept from v2
    assert not ruleset_store.active_ruleset().rule("missing_greeting").enabled
    assert list(RuleSetVersion.objects.values_list("version", flat=True)) == [3, 2]


def test_agents_may_not_edit_rules(desk):
    with pytest.raises(PermissionDenied):
        ruleset_store.do_save_ruleset(actor=desk.agent, overrides={"rules": {"slang": {"enabled": False}}})


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"rules": {"no_such_rule": {"enabled": False}}}, "rules.no_such_rule"),
        ({"rules": {"slang": {"severity": "fatal"}}}, "rules.slang.severity"),
        ({"rules": {"slang": {"enabled": "yes"}}}, "rules.slang.enabled"),
        ({"rules": {"slang": {"params": {"terms": ["亲亲"]}}}}, "rules.slang.params.terms"),
        ({"rules": {"slang": {"params": {"terms": {"亲亲": 3}}}}}, "rules.slang.params.terms.亲亲"),
        ({"rules": {"slang": {"params": {"typo": {}}}}}, "rules.slang.params.typo"),
        (
            {"rules": {"negative_framing": {"params": {"rewrites": [{"regex": "(", "rewrite": "x"}]}}}},
            "rules.negative_framing.params.rewrites[0].regex",
        ),
        (
            {"rules": {"promise_without_time": {"params": {"time_patterns": ["[0-9"]}}}},
            "rules.promise_without_time",
        ),
        (
            {
                "rules": {
                    "negative_framing": {"params": {"rewrites": [{"regex": "不能(发)", "rewrite": "\\3"}]}}
                }
            },
            "rules.negative_framing.params.rewrites[0].rewrite",
        ),
        ({"rubric": {"weights": {"greeting": -1}}}, "rubric.weights.greeting"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_edits_are_refused_naming_the_field(desk, overrides, field):
    with pytest.raises(InvalidInput) as exc:
        ruleset_store.do_save_ruleset(actor=desk.supervisor, overrides=overrides)
    assert field in exc.value.fields
    assert not RuleSetVersion.objects.exists()
