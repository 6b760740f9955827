import jieba
import pytest

from kefu.nlp import segment

# Shop questions with dictionary words, shop words, runs jieba leaves to its HMM
# (names, slang), Latin letters and digits, spaces and punctuation.
SENTENCES = [
    "亲，这个保温杯漏水怎么办？",
    "花呗分期还款日可以改吗",
    "借呗逾期了会不会上征信",
    "iPhone 15 Pro Max 256G 有现货吗",
    "运费险怎么理赔，七天无理由退货要自己出运费吗",
    "我昨天在你们店里买的扫地机器人不充电了，找主管！",
    "收到的衣服M码偏大，想换S码",
    "韵达快递三天了物流信息还没更新",
    "老板，有货吗",
    "蚂蚁森林能量被偷了咋整",
    "充电宝 10000mAh 能带上飞机吗?",
    "  前后有空格 \t 和制表符\r\n换行  ",
    "",
    "。。。！！！",
]


@pytest.fixture
def restored_dictionary():
    """The process-wide dictionary as it was before the test (other tests segment with it)."""
    tk = segment.tokenizer()
    freq, total = dict(tk.FREQ), tk.total
    tags = dict(tk.user_word_tag_tab)
    force_split = set(jieba.finalseg.Force_Split_Words)
    yield tk
    tk.FREQ.clear()
    tk.FREQ.update(freq)
    tk.total = total
    tk.user_word_tag_tab.clear()
    tk.user_word_tag_tab.update(tags)
    jieba.finalseg.Force_Split_Words.clear()
    jieba.finalseg.Force_Split_Words.update(force_split)


@pytest.mark.parametrize("text", SENTENCES)
def test_tokens_are_jiebas_own_segmentation(text):
    assert segment.tokens(text) == segment.tokenizer().lcut(text, HMM=True)


def test_cut_drops_whitespace_only():
    words = segment.cut("退款 多久\t到账")
    assert not any(w.isspace() for w in words)
    assert "".join(words) == "退款多久到账"


def test_added_words_are_segmented_like_jieba_does(restored_dictionary):
    assert "喵喵智能猫砂盆" not in segment.tokens("喵喵智能猫砂盆怎么清理")
    segment.add_words(["喵喵智能猫砂盆"])
    text = "喵喵智能猫砂盆怎么清理"
    assert segment.tokens(text) == segment.tokenizer().lcut(text, HMM=True)
    assert "喵喵智能猫砂盆" in segment.tokens(text)


def test_tokens_follow_jieba_when_a_word_is_deleted(restored_dictionary):
    tk = restored_dictionary
    tk.add_word("退货运费补贴", freq=200000)
    assert "退货运费补贴" in segment.tokens("退货运费补贴怎么领")
    tk.del_word("退货运费补贴")
    assert segment.tokens("退货运费补贴怎么领") == tk.lcut("退货运费补贴怎么领", HMM=True)
    assert "退货运费补贴" not in segment.tokens("退货运费补贴怎么领")


def test_default_jieba_is_left_alone():
    # kefu's shop dictionary lives in its own tokenizer, not in jieba's global one.
    assert segment.tokenizer() is not jieba.dt
