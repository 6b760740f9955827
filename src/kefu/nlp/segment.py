"""Chinese word segmentation with jieba and the shop dictionary.

The jieba tokenizer and the dictionary load once per process (jieba itself is lazy;
``tokenizer()`` forces the load so the first customer message does not pay for it).
Admins extend the dictionary at run time with ``add_words``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from functools import lru_cache

import jieba
import jieba.finalseg

jieba.setLogLevel(logging.WARNING)

# Terms of e-commerce service that jieba's general dictionary splits wrongly.
SHOP_WORDS: tuple[str, ...] = (
    "运费险",
    "七天无理由",
    "七天无理由退货",
    "顺丰",
    "京东物流",
    "中通",
    "圆通",
    "申通",
    "韵达",
    "极兔",
    "菜鸟驿站",
    "快递柜",
    "丰巢",
    "退换货",
    "退货退款",
    "仅退款",
    "换货",
    "补发",
    "催发货",
    "物流信息",
    "物流单号",
    "快递单号",
    "运单号",
    "订单号",
    "优惠券",
    "满减",
    "包邮",
    "到货",
    "发货",
    "签收",
    "拒收",
    "售后",
    "保修",
    "质保",
    "以旧换新",
    "价保",
    "保价",
    "开发票",
    "电子发票",
    "增值税发票",
    "客服",
    "人工客服",
    "转人工",
    "差评",
    "好评",
    "投诉",
    "12315",
    "消协",
    "工商局",
    "退款",
    "退钱",
    "漏水",
    "破损",
    "少发",
    "错发",
    "漏发",
    "尺码",
    "偏大",
    "偏小",
    "续航",
    "充电宝",
    "蓝牙耳机",
    "保温杯",
    "扫地机器人",
    "空气炸锅",
    "再也不买",
    "找主管",
    "你们领导",
)

_lock = threading.Lock()

# jieba hands every run of characters its dictionary does not join to an HMM
# (``jieba.finalseg.cut``), a Viterbi pass in pure Python that took about two fifths of
# a search query's segmentation. The same runs recur all the time (花呗, 借呗 and shop
# names are not in jieba's dictionary), and the HMM's answer depends on the run alone,
# so it is remembered. jieba looks ``finalseg.cut`` up on every call; the cache is
# keyed by the force-split words as well, which jieba changes when a word is deleted.
_hmm_cut = jieba.finalseg.cut


@lru_cache(maxsize=4096)
def _hmm_words(run: str, force_split: int) -> tuple[str, ...]:
    return tuple(_hmm_cut(run))


def _cached_hmm_cut(sentence: str) -> Iterator[str]:
    yield from _hmm_words(sentence, len(jieba.finalseg.Force_Split_Words))


jieba.finalseg.cut = _cached_hmm_cut


@lru_cache(maxsize=1)
def tokenizer() -> jieba.Tokenizer:
    """The process-wide tokenizer with the shop dictionary loaded."""
    tk = jieba.Tokenizer()
    tk.initialize()
    for word in SHOP_WORDS:
        tk.add_word(word, freq=200000)
    return tk


def add_words(words: Iterable[str]) -> None:
    """Add admin-defined words (product names, brands) to the running dictionary."""
    tk = tokenizer()
    with _lock:
        for word in words:
            word = word.strip()
            if word:
                tk.add_word(word, freq=200000)


def cut(text: str) -> list[str]:
    """Segment already-normalised text into words, dropping pure whitespace."""
    return [w for w in tokenizer().lcut(text, HMM=True) if not w.isspace()]
