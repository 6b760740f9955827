import random

import pytest

from kefu.nlp import intent
from kefu.nlp.intent import DEFAULT_INTENTS, IntentClassifier, default_classifier
from kefu.nlp.train import load_intent_seed


def test_default_taxonomy_matches_the_committed_classifier():
    assert {spec.name for spec in DEFAULT_INTENTS} == set(default_classifier().intents)
    assert {spec.team for spec in DEFAULT_INTENTS} <= {"售前咨询", "售后服务", "技术支持", "投诉处理"}
    assert {spec.priority for spec in DEFAULT_INTENTS} <= {"P1", "P2", "P3", "P4"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("能开发票吗，抬头写公司", "发票"),
        ("我要退货，怎么申请", "退换货与退款"),
        ("我的訂單怎麼還沒到！！！", "物流延迟/催发货"),
        ("转人工", "转人工"),
        ("收不到验证码登录不了", "账户与技术问题"),
    ],
)
def test_default_classifier_recognises_common_requests(text, expected):
    assert default_classifier().predict(text).intent == expected


@pytest.mark.parametrize("text", ["asdkjh qwpoeiru zmxncb", "ζξψω ϋϊ", "%%%###@@@"])
def test_gibberish_is_dont_know(text):
    prediction = default_classifier().predict(text)
    assert prediction.intent is None
    assert prediction.ranked  # the ranking is still there for the agent to pick from


def test_out_of_domain_question_is_dont_know():
    assert default_classifier().predict("今天股市怎么样").intent is None


def test_ranked_is_sorted_and_sums_below_one():
    ranked = default_classifier().predict("快递到哪了").ranked
    probs = [p for _, p in ranked]
    assert probs == sorted(probs, reverse=True)
    assert sum(probs) <= 1.0001


def test_traditional_and_simplified_predict_the_same():
    assert default_classifier().predict("發票抬頭寫錯了") == default_classifier().predict("发票抬头写错了")


def test_fit_save_load_is_deterministic_and_order_independent(tmp_path):
    seed = load_intent_seed()
    shuffled = seed[:]
    random.Random(7).shuffle(shuffled)
    IntentClassifier.fit(seed).save(tmp_path / "a.npz")
    IntentClassifier.fit(shuffled).save(tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    reloaded = IntentClassifier.load(tmp_path / "a.npz")
    assert reloaded.predict("能开发票吗") == IntentClassifier.fit(seed).predict("能开发票吗")


def test_committed_artefact_is_rebuilt_from_the_seed(tmp_path):
    IntentClassifier.fit(load_intent_seed()).save(tmp_path / "intent.npz")
    assert (tmp_path / "intent.npz").read_bytes() == intent.MODEL_PATH.read_bytes()


def test_agent_corrections_teach_a_new_intent():
    corrections = [
        (f"积分商城兑换{x}怎么操作", "积分兑换") for x in ("礼品", "优惠券", "话费", "会员", "抽奖")
    ]
    classifier = IntentClassifier.fit(load_intent_seed() + corrections * 3)
    assert "积分兑换" in classifier.intents
    assert classifier.predict("积分商城兑换东西怎么操作").intent == "积分兑换"


def test_threshold_one_always_says_dont_know():
    classifier = IntentClassifier.fit(load_intent_seed(), threshold=1.01)
    assert classifier.predict("能开发票吗").intent is None


def test_analyze_report_shows_emotion_signals_and_intent():
    from kefu.nlp.analyze import analyze_text

    report = analyze_text("我的訂單怎麼還沒到！！！")
    assert "我的订单怎么还没到!" in report
    assert "感叹号 ×3" in report
    assert "物流延迟/催发货" in report


def test_predict_many_gives_what_predict_gives_for_each_text():
    classifier = default_classifier()
    texts = [text for text, _ in load_intent_seed()] + ["", "！！！", "asdkjh qwe", "我要退款，马上！"]
    assert classifier.predict_many(texts) == [classifier.predict(t) for t in texts]
    assert classifier.predict_many([]) == []


def test_rejection_rule_states_the_threshold_and_the_unseen_feature_rule():
    rule = default_classifier().rejection_rule
    assert "0.50" in rule and "30%" in rule


def test_predict_feature_ids_folds_emotions_wider_hashing_into_the_intent_buckets():
    from kefu.nlp.emotion import emotion_model
    from kefu.nlp.normalize import normalize

    classifier = default_classifier()
    texts = ["老板，有货吗", "發票能開專票嗎", "我要投诉你们的快递员", ""]
    wide = [emotion_model().feature_ids(normalize(t).text) for t in texts]
    assert classifier.predict_feature_ids(wide) == classifier.predict_many(texts)


def test_intent_of_feature_ids_gives_what_predict_gives():
    from kefu.nlp.emotion import emotion_model
    from kefu.nlp.normalize import normalize

    classifier = default_classifier()
    texts = [text for text, _ in load_intent_seed()] + ["", "asdkjh qwe", "發票能開專票嗎"]
    for text in texts:
        ids = emotion_model().feature_ids(normalize(text).text)
        assert classifier.intent_of_feature_ids(ids) == classifier.predict(text).intent, text
