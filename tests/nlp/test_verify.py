"""The paraphrase verifier on the bot's top hit: its features and its fit."""

from __future__ import annotations

import numpy as np

from kefu.nlp import verify

SAME = [
    ("花呗怎么还款", "花呗如何还款"),
    ("借呗的额度怎么提升", "怎样提高借呗额度"),
    ("退货运费谁出", "退货的运费由谁承担"),
    ("快递几天能到", "快递要几天才到"),
    ("怎么修改收货地址", "收货地址如何修改"),
    ("发票怎么开", "如何开发票"),
]
DIFFERENT = [
    ("花呗怎么还款", "花呗怎么不能还款"),
    ("借呗的额度怎么提升", "借呗的额度为什么降低了"),
    ("退货运费谁出", "换货运费谁出"),
    ("快递3天能到吗", "快递7天能到吗"),
    ("怎么修改收货地址", "怎么修改登录密码"),
    ("发票怎么开", "发票没有收到"),
]


def test_features_see_negation_and_numbers_on_one_side():
    names = verify.FEATURES
    negated = dict(zip(names, verify.features("花呗怎么还款", "花呗怎么不能还款"), strict=True))
    plain = dict(zip(names, verify.features("花呗怎么还款", "花呗如何还款"), strict=True))
    assert negated["negation_mismatch"] == 1.0 and plain["negation_mismatch"] == 0.0
    numbers = dict(zip(names, verify.features("快递3天能到吗", "快递7天能到吗"), strict=True))
    assert numbers["number_mismatch"] == 1.0
    same = dict(zip(names, verify.features("發票怎麼開", "发票怎么开"), strict=True))
    assert same["identical"] == 1.0 and same["bigram_jaccard"] == 1.0


def test_fitted_verifier_prefers_paraphrases_over_near_misses():
    rows = np.asarray([verify.features(a, b) for a, b in SAME + DIFFERENT] * 5, dtype=float)
    labels = np.asarray(([True] * len(SAME) + [False] * len(DIFFERENT)) * 5)
    verifier = verify.fit(rows, labels, l2=0.1)
    same = [verifier.same_meaning(a, [b]) for a, b in SAME]
    different = [verifier.same_meaning(a, [b]) for a, b in DIFFERENT]
    assert np.mean(same) > np.mean(different) + 0.3
    # The closest of several stored phrasings decides.
    assert verifier.same_meaning("花呗怎么还款", ["花呗怎么不能还款", "花呗如何还款"]) == max(
        verifier.same_meaning("花呗怎么还款", ["花呗怎么不能还款"]),
        verifier.same_meaning("花呗怎么还款", ["花呗如何还款"]),
    )
    assert verifier.same_meaning("花呗怎么还款", []) == 0.0


def test_features_bounded_on_huge_and_odd_input():
    row = verify.features("\x00" * 10 + "退款" * 50_000, "")
    assert len(row) == len(verify.FEATURES) and all(np.isfinite(row))


def test_the_shipped_model_loads_and_ranks_paraphrases_above_near_misses():
    shipped = verify.shipped()
    assert len(shipped.coef) == len(verify.FEATURES)
    same = [shipped.same_meaning(a, [b]) for a, b in SAME]
    different = [shipped.same_meaning(a, [b]) for a, b in DIFFERENT]
    assert np.mean(same) > np.mean(different)


def test_a_saved_verifier_loads_to_the_same_probabilities(tmp_path):
    rows = np.asarray([verify.features(a, b) for a, b in SAME + DIFFERENT], dtype=float)
    verifier = verify.fit(rows, np.asarray([True] * len(SAME) + [False] * len(DIFFERENT)), l2=0.1)
    verifier.save(tmp_path / "v.json")
    again = verify.Verifier.load(tmp_path / "v.json")
    assert np.allclose(again.probability(rows), verifier.probability(rows), atol=1e-6)


def test_the_answer_score_trusts_a_stored_phrasing_and_scales_the_confidence():
    # Folded (Traditional, full-width, punctuation) to a stored phrasing: the confidence itself.
    assert verify.answer_score("發票怎麼開？", 0.86, ["如何开票", "发票怎么开"]) == 0.86
    reworded = verify.answer_score("退货的运费谁承担呀", 0.99, ["退货运费谁承担"])
    assert 0.0 < reworded < 0.99
    assert verify.answer_score("发票怎么开", 0.9, []) == 0.0
