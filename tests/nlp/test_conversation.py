"""The conversation-level model learned from rated helpdesk dialogues."""

import numpy as np
import pytest

from kefu.nlp import conversation
from kefu.nlp.emotion import Turn, analyze_conversation
from kefu.nlp.train import EVALDATA_DIR


def test_committed_model_holds_weights_and_feature_names_only():
    with np.load(conversation.MODEL_PATH, allow_pickle=False) as npz:
        assert sorted(npz.files) == ["bias", "features", "weights"]
        assert tuple(str(n) for n in npz["features"]) == conversation.FEATURES
    assert conversation.MODEL_PATH.stat().st_size < 20_000


def test_features_have_the_declared_length():
    turns = [Turn("customer", "在吗"), Turn("agent", "您好")]
    assert conversation.conversation_features(turns).shape == (len(conversation.FEATURES),)


def test_an_unresolved_angry_customer_is_likelier_to_end_dissatisfied_than_a_thankful_one():
    angry = analyze_conversation(
        [
            Turn("customer", "快递一个星期了还没到，你们到底管不管"),
            Turn("agent", "您好，请提供订单号"),
            Turn("customer", "早就给过了！你们就是在敷衍，我要投诉！！"),
        ]
    )
    thanked = analyze_conversation(
        [
            Turn("customer", "请问能开发票吗"),
            Turn("agent", "可以的，已为您开好，请查收邮箱"),
            Turn("customer", "好的，谢谢"),
        ]
    )
    assert 0 <= thanked.dissatisfied_probability < angry.dissatisfied_probability <= 1
    assert thanked.clearly_dissatisfied_probability < angry.clearly_dissatisfied_probability


def test_no_customer_turn_no_outcome():
    result = analyze_conversation([Turn("agent", "您好，请问有什么可以帮您")])
    assert result.dissatisfied_probability is None


@pytest.mark.skipif(not (EVALDATA_DIR / "stc3_dch").exists(), reason="needs the STC-3 dialogues")
def test_dialogues_load_with_their_mean_satisfaction():
    dialogues = conversation.load_dialogues(EVALDATA_DIR)
    assert len(dialogues) > 3000
    first = dialogues[0]
    assert first.turns[0].role == "customer" and -2 <= first.satisfaction <= 2
    share = sum(d.satisfaction < 0 for d in dialogues) / len(dialogues)
    assert 0.6 < share < 0.7  # SOURCE.md: 64.9 % below 0
