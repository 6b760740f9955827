"""The bench's comparison logic: held-out rows, paired margins and the review-set goal."""

import numpy as np
import pytest

from kefu.nlp.evaluate import (
    Score,
    _stretch_keys,
    margins,
    render_margins,
    review_rows_for_eval,
    shares_stretch,
)
from kefu.nlp.train import EVALDATA_DIR, Row, emotion_training_rows, is_heldout_row


def _score(system: str, dataset: str, correct: list[bool]) -> Score:
    return Score(
        system, dataset, len(correct), sum(correct) / len(correct), None, None, correct=tuple(correct)
    )


def test_margin_is_the_paired_difference_with_an_interval_around_it():
    kefu = [True] * 95 + [False] * 5
    snow = [True] * 80 + [False] * 20
    scores = [
        _score("kefu model", "online_shopping_10_cats", kefu),
        _score("SnowNLP", "online_shopping_10_cats", snow),
    ]
    [m] = margins(scores)
    assert m.points == pytest.approx(15.0)
    assert m.low < 15.0 < m.high
    assert m.low > 0  # 15 rows kefu alone got right, none the other way round
    assert "goal +10: met" in render_margins(scores, [m])


def test_identical_systems_have_a_zero_width_interval_and_miss_the_goal():
    right = [True, False] * 50
    scores = [_score("kefu model", "chnsenticorp", right), _score("SnowNLP", "chnsenticorp", right)]
    [m] = margins(scores)
    assert (m.points, m.low, m.high) == (0.0, 0.0, 0.0)
    text = render_margins(scores, [m])
    assert "goal +10: NOT met" in text
    assert "best published 0.958" in text  # the goal there would need 0.600 + 0.1, reachable


def test_weibo_sets_compare_the_desk_label_and_carry_no_review_goal():
    scores = [
        _score("kefu", "nlpcc2013", [True, True, False, True]),
        _score("SnowNLP", "nlpcc2013", [False] * 4),
    ]
    [m] = margins(scores)
    assert m.system == "kefu" and m.points == pytest.approx(75.0)
    assert "goal" not in render_margins(scores, [m])


def test_no_baseline_no_margin():
    assert margins([_score("kefu", "nlpcc2013", [True])]) == []
    assert "not installed" in render_margins([], [])


def test_chnsenticorp_dev_is_evaluation_only():
    row = Row("chnsenticorp", 0, "房间很干净，服务也好", "1")
    assert is_heldout_row(row)


@pytest.mark.skipif(not EVALDATA_DIR.exists(), reason="needs the labelled sets")
def test_no_evaluated_review_text_is_trained_on():
    trained = {text for text, _, _ in emotion_training_rows(limit=3000)}
    from kefu.nlp.normalize import normalize

    for rows in review_rows_for_eval(limit=300).values():
        for r in rows:
            assert normalize(r.text).text not in trained


def test_a_set_with_few_rows_gets_no_verdict():
    scores = [
        _score("kefu model", "chnsenticorp", [True] * 24),
        _score("SnowNLP", "chnsenticorp", [False] * 24),
    ]
    text = render_margins(scores, margins(scores))
    assert "+100.0" in text and "too few rows" in text and "goal +10" not in text


def test_a_review_sharing_a_long_stretch_with_a_training_line_counts_as_trained_on():
    line = "这间酒店环境和服务态度亦算不错,但房间空间太小,不宜容纳太大件行李"
    keys = np.unique(_stretch_keys(line))
    # SnowNLP's line is the first sentence of the review, reflowed with spaces.
    assert shares_stretch(
        "这间酒店环境和服务态度亦算不错, 但房间空间太小,不宜容纳太大件行李。中餐厅的点心不太好吃", keys
    )
    assert not shares_stretch("这间酒店环境不错,但房间太小,早餐的点心不太好吃,价格还算便宜", keys)
    assert not shares_stretch("太短了", keys)


@pytest.mark.skipif(not EVALDATA_DIR.exists(), reason="needs the labelled sets")
def test_desk_questions_are_split_and_carry_no_signal():
    from kefu.nlp.emotion import message_signals
    from kefu.nlp.evaluate import desk_rows_for_eval
    from kefu.nlp.train import desk_questions

    trained = set(desk_questions(heldout=False))
    scored = desk_rows_for_eval(limit=500)
    assert len(scored) == 500 and all(r.label == "1" for r in scored)
    assert not {r.text for r in scored} & trained
    assert not any(message_signals(r.text) for r in scored)


def test_cross_domain_report_scores_dev_rows_of_the_named_splits_when_asked(monkeypatch):
    from kefu.nlp import crossdomain
    from kefu.nlp.evaluate import cross_domain_report

    asked = {}

    def fake_scores(evaldata, **kwargs):
        asked.update(kwargs)
        return [crossdomain.SplitScore("polarity", "hotels", 100, 50, 0.83, 0.84, 0.80, 3.0, 1.0, 5.0)]

    monkeypatch.setattr(crossdomain, "cross_domain_scores", fake_scores)
    text = cross_domain_report(dev=True, splits=["hotels"])
    assert asked["dev"] is True and asked["splits"] == ["hotels"]
    assert "training rows of the left-out domain (dev)" in text
    assert "held-out rows of the left-out domain" in cross_domain_report(splits=["hotels"])
