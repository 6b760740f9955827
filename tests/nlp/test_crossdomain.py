"""Cross-domain splits: the left-out domain is never trained on, metrics and verdicts."""

import numpy as np
import pytest
from sklearn.metrics import f1_score

from kefu.nlp.crossdomain import (
    Example,
    SplitScore,
    macro_f1,
    make_split,
    paired_interval,
    render_cross_domain,
)


def _rows() -> list[Example]:
    rows = []
    for i in range(40):
        for domain, source in (("hotels", "review"), ("food", "review"), ("nlpcc2013", "weibo")):
            label = ("calm", "dissatisfied", "angry", "anxious")[i % 4]
            rows.append(Example(f"{domain}{i}", label, source, domain, heldout=i % 5 == 0))
    rows.append(Example("在吗", "calm", "seed", "seed", heldout=False))
    return rows


def test_left_out_domain_is_not_trained_on_and_held_out_rows_are_tested():
    split = make_split(_rows(), "hotels")
    assert not any(e.domain == "hotels" for e in split.train)
    assert not any(e.heldout for e in split.train)
    assert list(split.test) == ["hotels"]
    assert all(e.heldout for e in split.test["hotels"]) and len(split.test["hotels"]) == 8


def test_dev_split_scores_the_left_out_domains_training_rows():
    split = make_split(_rows(), "hotels", dev=True)
    assert split.test["hotels"] and not any(e.heldout for e in split.test["hotels"])


def test_leaving_out_weibo_leaves_out_every_weibo_set_and_keeps_the_seed():
    split = make_split(_rows(), "weibo")
    assert not any(e.source == "weibo" for e in split.train)
    assert sum(e.domain == "seed" for e in split.train) == 20  # repeated like the committed model


def test_in_domain_split_tests_every_domain_but_the_seed():
    split = make_split(_rows(), None)
    assert set(split.test) == {"hotels", "food", "nlpcc2013"}


def test_training_rows_are_capped_per_domain():
    split = make_split(_rows(), "hotels", train_cap=10)
    assert sum(e.domain == "food" for e in split.train) == 10


def test_macro_f1_matches_scikit_learn_over_present_labels():
    rng = np.random.default_rng(1)
    gold = rng.integers(0, 3, 200)
    pred = rng.integers(0, 4, 200)
    expected = f1_score(gold, pred, labels=[0, 1, 2], average="macro", zero_division=0)
    assert macro_f1(gold, pred) == pytest.approx(expected)


def test_paired_interval_of_a_constant_difference_is_that_constant():
    assert paired_interval(lambda idx: 2.0, 50) == (2.0, 2.0)


def test_verdict_uses_the_goal_of_each_task():
    scores = [
        SplitScore("polarity", "hotels", 100, 50, 0.9, 0.9, 0.88, 2.0, 1.0, 3.0),
        SplitScore("emotion", "nlpcc2013", 100, 50, 0.4, None, 0.38, 2.0, 0.0, 4.0),
        SplitScore("polarity", "in-domain: food", 100, 50, 0.9, 0.9, 0.95, -5.0, -6.0, -4.0),
    ]
    text = render_cross_domain(scores)
    assert "goal +2: met" in text and "goal +3: NOT met" in text and "(in-domain)" in text
    assert "goal met: 1 of 2" in text
