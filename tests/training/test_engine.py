"""The virtual customer on its own (no database): what calms it, what angers it, repeatability."""

from __future__ import annotations

import pytest

from kefu.quality.rules import DEFAULT_RULESET, ReplyContext
from kefu.training import engine
from kefu.training.cases import BUILTIN_CASES

LATE = engine.script_from_dict(BUILTIN_CASES["late_order"])
CTX = ReplyContext(
    customer_emotion="dissatisfied",
    customer_last_message=engine.opening_text(LATE),
    expects_time=True,
    compensation_limit=50,
)


def _react(text: str, *, seed: int = 1) -> tuple[engine.Assessment, engine.Reaction]:
    state = engine.start_state(LATE)
    judged = engine.assess(text, LATE, state, CTX, DEFAULT_RULESET)
    return judged, engine.react(LATE, state, judged, seed=seed)


@pytest.mark.parametrize(
    ("reply", "rule"),
    [
        ("您好，这个问题我们会尽快处理的，请您耐心等待。", "promise_without_time"),
        ("您好，这是公司规定，物流的事我们也没办法。", "blame_policy"),
        ("您好，非常抱歉，但是物流的事不归我们管。", "apology_but"),
        ("您好，非常抱歉，我保证明天一定送到，绝对不会再出问题。", "absolute_guarantee"),
        ("您好，物流的问题我帮您看看，可能大概是快递那边的原因吧。", "vague_wording"),
    ],
    ids=["vague-time", "policy-blame", "apology-but", "over-promise", "vague-words"],
)
def test_what_the_rules_flag_makes_the_customer_angrier(reply, rule):
    judged, reaction = _react(reply)
    assert rule in {f.rule for f in judged.findings}
    assert reaction.state.mood > LATE.start_mood


def test_ignoring_the_question_angers_and_is_said_so():
    judged, reaction = _react("您好，请问还有其他可以帮您的吗？")
    assert judged.ignored and reaction.kind == "ignored"
    assert reaction.state.mood > LATE.start_mood


@pytest.mark.parametrize(
    ("reply", "worked"),
    [
        ("您好，非常理解您的心情，物流停了三天确实让人着急。", {"empathy"}),
        ("您好，真的很抱歉，订单物流确实停在了杭州转运中心。", {"apology"}),
        ("您好，已为您联系中通核实，今天18:00前给您回复。", {"solution", "time", "follow_up"}),
    ],
    ids=["empathy", "apology", "solution-time-follow-up"],
)
def test_acknowledging_apologising_and_a_timed_solution_calm(reply, worked):
    judged, reaction = _react(reply)
    assert worked <= set(judged.worked)
    assert reaction.state.mood < LATE.start_mood


def test_a_customer_who_stays_angry_asks_for_a_supervisor_then_threatens():
    state = engine.start_state(LATE)
    kinds = []
    while not state.ended:
        judged = engine.assess("这是公司规定，没办法。", LATE, state, CTX, DEFAULT_RULESET)
        reaction = engine.react(LATE, state, judged, seed=9)
        kinds.append(reaction.kind)
        state = reaction.state
    assert state.outcome == "escalated"
    assert kinds.index("supervisor") < kinds.index("threat") == len(kinds) - 1


def test_the_same_seed_picks_the_same_reply_and_another_seed_may_not():
    replies = {_react("您好，我们尽快处理。", seed=seed)[1].text for seed in range(20)}
    assert _react("您好，我们尽快处理。", seed=3)[1] == _react("您好，我们尽快处理。", seed=3)[1]
    assert len(replies) > 1


def test_a_script_that_cannot_be_played_names_its_part():
    with pytest.raises(engine.ScriptError) as bad:
        engine.script_from_dict({**BUILTIN_CASES["late_order"], "replies": {"happy": ["好"]}})
    assert bad.value.field == "replies.happy"
    with pytest.raises(engine.ScriptError) as bad:
        engine.script_from_dict(
            {**BUILTIN_CASES["late_order"], "escalation": {"supervisor_after": 5, "threat_after": 2}}
        )
    assert bad.value.field == "escalation"
