"""What the customer wants: an intent from the desk's taxonomy, or "don't know".

``IntentClassifier`` is a linear SVM over hashed character n-grams and Latin
words (``features.py``), trained from ``(text, intent)`` pairs. The desk retrains it
from the seed examples plus the corrections agents make, so ``fit`` takes plain
pairs and nothing here touches a database. The prediction is ``None`` when the
best intent's probability is below ``threshold`` or when too few of the message's
features were ever seen in training (gibberish, another language, another domain):
routing a message to the wrong team costs more than asking a human.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kefu.nlp.features import LinearModel, feature_ids, fit_linear, save_arrays
from kefu.nlp.normalize import normalize

MODEL_PATH = Path(__file__).resolve().parent / "data" / "intent.npz"
DEFAULT_THRESHOLD = 0.5
# Softmax temperature over the SVM margins, and the threshold above, were chosen on
# CLINC150's validation part (in-scope accuracy against out-of-scope recall).
TEMPERATURE = 5.0
SVM_C = 1.0
MIN_KNOWN_FRACTION = 0.3
RANKED = 5


@dataclass(frozen=True, slots=True)
class IntentSpec:
    """One intent of the default taxonomy; the desk stores its own copy in the database."""

    name: str
    description: str
    team: str
    priority: str


DEFAULT_INTENTS: tuple[IntentSpec, ...] = (
    IntentSpec("售前咨询", "购买前咨询商品参数、库存、尺码、价格与优惠活动", "售前咨询", "P3"),
    IntentSpec("下单与支付", "下单失败、支付异常、优惠券使用、修改或取消未发货订单", "售前咨询", "P2"),
    IntentSpec("物流查询", "查询快递进度、单号、配送方式与收货地点", "售后服务", "P3"),
    IntentSpec("物流延迟/催发货", "超时未发货、物流停滞、超时未送达、要求加急", "售后服务", "P2"),
    IntentSpec("退换货与退款", "申请退货、换货、退款及进度，运费险", "售后服务", "P2"),
    IntentSpec("商品质量问题", "破损、故障、错发漏发、与描述不符、疑似假货或变质", "售后服务", "P2"),
    IntentSpec("服务态度投诉", "投诉客服或快递员态度、要求主管、威胁投诉与曝光", "投诉处理", "P1"),
    IntentSpec("账户与技术问题", "登录、验证码、App 或网页故障、账号安全与注销", "技术支持", "P3"),
    IntentSpec("发票", "开具、修改、补开发票，抬头与税号", "售后服务", "P4"),
    IntentSpec("转人工", "要求人工客服或真人服务", "售后服务", "P2"),
    IntentSpec("其他", "寒暄、致谢、合作与其他无法归类的消息", "售前咨询", "P4"),
)


@dataclass(frozen=True, slots=True)
class IntentPrediction:
    """``intent`` is None when the classifier does not know; ``ranked`` is best first."""

    intent: str | None
    confidence: float
    ranked: list[tuple[str, float]]


class IntentClassifier:
    """Intent classifier; build with ``fit`` or ``load``."""

    def __init__(self, model: LinearModel, *, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.model = model
        self.threshold = threshold

    @property
    def intents(self) -> tuple[str, ...]:
        return self.model.classes

    @classmethod
    def fit(
        cls, examples: Iterable[tuple[str, str]], *, threshold: float = DEFAULT_THRESHOLD
    ) -> IntentClassifier:
        """Train from (text, intent) pairs; the order of pairs does not matter."""
        pairs = sorted({(normalize(text).text, intent) for text, intent in examples if text.strip()})
        model = fit_linear(
            [text for text, _ in pairs],
            [intent for _, intent in pairs],
            method="svm",
            c=SVM_C,
            temperature=TEMPERATURE,
            prune=0.0,
        )
        return cls(model, threshold=threshold)

    def predict(self, text: str) -> IntentPrediction:
        """The most likely intent, or None below the threshold."""
        ids = feature_ids(normalize(text).text)
        proba = self.model.proba_ids(ids)
        order = np.argsort(-proba, kind="stable")[:RANKED]
        ranked = [(self.model.classes[i], round(float(proba[i]), 4)) for i in order]
        best, confidence = ranked[0]
        if confidence < self.threshold or self.model.known_fraction(ids) < MIN_KNOWN_FRACTION:
            return IntentPrediction(None, confidence, ranked)
        return IntentPrediction(best, confidence, ranked)

    def save(self, path: str | Path) -> None:
        """Write the classifier; the same classifier always gives the same bytes."""
        save_arrays(
            path,
            classes=np.asarray(self.model.classes, dtype=np.str_),
            buckets=self.model.buckets.astype(np.int32),
            weights=self.model.weights.astype(np.float16),
            bias=self.model.bias.astype(np.float32),
            threshold=np.asarray([self.threshold], dtype=np.float64),
        )

    @classmethod
    def load(cls, path: str | Path) -> IntentClassifier:
        with np.load(path, allow_pickle=False) as npz:
            threshold = float(npz["threshold"][0])
        return cls(LinearModel.load(path), threshold=threshold)


_lock = threading.Lock()
_default: IntentClassifier | None = None


def default_classifier() -> IntentClassifier:
    """The committed classifier trained on the seed examples, loaded once per process."""
    global _default
    if _default is None:
        with _lock:
            if _default is None:
                _default = IntentClassifier.load(MODEL_PATH)
    return _default
