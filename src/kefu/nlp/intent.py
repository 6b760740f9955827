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
from collections.abc import Iterable, Sequence
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

    @property
    def rejection_rule(self) -> str:
        """The don't-know rule in words, with this classifier's numbers."""
        return (
            f"don't know when the best probability is below {self.threshold:.2f} (softmax of the SVM"
            f" margins at temperature {TEMPERATURE:g}) or when under {MIN_KNOWN_FRACTION:.0%} of the"
            " message's features were seen in training"
        )

    def predict(self, text: str) -> IntentPrediction:
        """The most likely intent, or None below the threshold."""
        return self.predict_many([text])[0]

    def predict_many(self, texts: Sequence[str]) -> list[IntentPrediction]:
        """``predict`` for each text, with the model's arithmetic done once for the batch."""
        return self.predict_feature_ids([feature_ids(normalize(text).text) for text in texts])

    def intent_of_feature_ids(self, ids: Sequence[int]) -> str | None:
        """``predict(text).intent`` from one normalised text's sorted feature ids, without the ranking.

        The cheap path for emotion's plain-request check (one text, no top five); ids hashed
        into more buckets are folded as in ``predict_feature_ids``.
        """
        mask = self.model.n_buckets - 1
        if ids and ids[-1] > mask:
            ids = sorted({f & mask for f in ids})
        proba = self.model.proba_ids(ids)
        best = int(np.argmax(proba))
        # Rounded as ``predict`` rounds the confidence it compares with the threshold.
        if (
            round(float(proba[best]), 4) < self.threshold
            or self.model.known_fraction(ids) < MIN_KNOWN_FRACTION
        ):
            return None
        return self.model.classes[best]

    def predict_feature_ids(self, ids: Sequence[Sequence[int]]) -> list[IntentPrediction]:
        """``predict_many`` from each normalised text's sorted feature ids (``features.feature_ids``).

        Ids hashed into more buckets (emotion uses 2^20) are folded into this model's:
        the buckets are powers of two, so ``id & (n - 1)`` is the id hashed into ``n``.
        """
        mask = self.model.n_buckets - 1
        if any(f > mask for i in ids for f in i[-1:]):
            ids = [sorted({f & mask for f in i}) for i in ids]
        counts = np.fromiter((len(i) for i in ids), dtype=np.int64, count=len(ids))
        flat = np.fromiter((f for i in ids for f in i), dtype=np.int64, count=int(counts.sum()))
        model = self.model
        rows = model._lookup[flat]  # type: ignore[attr-defined]
        # float32 like ``LinearModel.proba_ids``, so that rounded probabilities match ``predict``
        # exactly; a text without features gets the bias alone, in float64 as there.
        proba = np.tile(_softmax(model.bias.astype(np.float64)[None, :]), (len(ids), 1))
        known = np.zeros(len(ids))
        filled = counts > 0
        if filled.any():
            starts = (np.cumsum(counts) - counts)[filled]
            sums = np.add.reduceat(model._table[rows], starts, axis=0)  # type: ignore[attr-defined]
            scale = np.sqrt(counts[filled].astype(np.float64)).astype(np.float32)
            proba[filled] = _softmax(sums / scale[:, None] + model.bias)
            known[filled] = np.add.reduceat(rows != 0, starts) / counts[filled]
        order = np.argsort(-proba, axis=1, kind="stable")[:, :RANKED]
        out = []
        for p, top, k in zip(proba, order, known.tolist(), strict=True):
            ranked = [(model.classes[i], round(float(p[i]), 4)) for i in top]
            best, confidence = ranked[0]
            if confidence < self.threshold or k < MIN_KNOWN_FRACTION:
                out.append(IntentPrediction(None, confidence, ranked))
            else:
                out.append(IntentPrediction(best, confidence, ranked))
        return out

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


def _softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, in the input's precision."""
    logits = logits - logits.max(axis=1, keepdims=True)
    expo = np.exp(logits)
    return expo / expo.sum(axis=1, keepdims=True)


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
