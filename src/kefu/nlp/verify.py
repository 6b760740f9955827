"""Does this stored question mean what the customer asked? A small paraphrase check on the top hit.

The search ranks articles by shared words, and its ``confidence`` says how much of the
best hit's own score the query reaches and how far it leads the next hit. Near-miss
questions defeat that: 「花呗怎么还款」 and 「花呗怎么不能还款」 share almost every word and
differ in meaning. The verifier looks at the pair itself: character and word overlap
both ways, length ratio, numbers present on one side only or different, negation
(不/没/无/未/别/非) on one side only, and the characters left unmatched on each side, and
turns them into the probability that the two questions mean the same (logistic
regression, ``fit``).

The bot answers with its top knowledge-base hit only when ``answer_score`` — the search's
confidence times the verifier's probability — reaches its threshold (``ANSWER_THRESHOLD``
by default). The shipped model (``data/verifier.json``, 16 weights) is fitted by
``python -m kefu.nlp.train`` on the same-meaning / different-meaning pairs of the
question-matching sets in ``../shared/evaldata``; ``bench/bot.py`` scores this same
``answer_score`` with the same recipe fitted leaving the scored set's domain out, and
chooses ``ANSWER_THRESHOLD`` on its tuning split (docs/bot.md, "Measured"). Nothing is
downloaded.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from difflib import SequenceMatcher
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from kefu.nlp.normalize import normalize_text
from kefu.nlp.segment import cut

__all__ = ["ANSWER_THRESHOLD", "FEATURES", "Verifier", "answer_score", "features", "fit", "shipped"]

MAX_CHARS = 200
MODEL_PATH = Path(__file__).resolve().parent / "data" / "verifier.json"
# The bot's default threshold on ``answer_score``: the lowest of bench/bot.py's grid whose
# wrong answers stay under 5 % of the answered on the tuning split of every set (2026-12-03,
# docs/bot.md). A change of the model or the features needs a new run of the bench.
ANSWER_THRESHOLD = 0.75

FEATURES = (
    "bigram_jaccard",
    "bigram_q_in_d",
    "bigram_d_in_q",
    "char_q_in_d",
    "char_d_in_q",
    "word_jaccard",
    "word_q_in_d",
    "word_d_in_q",
    "sequence_ratio",
    "length_ratio",
    "log_unmatched_q",
    "log_unmatched_d",
    "number_mismatch",
    "number_one_side",
    "negation_mismatch",
    "identical",
)

_KEEP_RE = re.compile(r"[0-9a-z\u4e00-\u9fff]")
_NUMBER_RE = re.compile(r"[0-9]+|[一二两三四五六七八九十百千万]+(?=[天个次年月日号元块张笔期])")
_NEGATION_RE = re.compile(r"[不没无未别非]|不能|不了")
_FILLER = set("的了吗呢啊呀吧哦嘛么")


def _clean(text: str) -> str:
    return "".join(_KEEP_RE.findall(normalize_text(text[:MAX_CHARS])))


def _bigrams(s: str) -> set[str]:
    return {s[i : i + 2] for i in range(len(s) - 1)} or ({s} if s else set())


def _share(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a) if a else 0.0


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


@lru_cache(maxsize=8192)
def _words(s: str) -> frozenset[str]:
    return frozenset(w for w in cut(s) if w.strip() and w not in _FILLER)


def features(query: str, stored: str) -> list[float]:
    """The verifier's features of one (customer question, stored question) pair, in ``FEATURES`` order."""
    q, d = _clean(query), _clean(stored)
    qb, db = _bigrams(q), _bigrams(d)
    qc, dc = set(q) - _FILLER, set(d) - _FILLER
    qw, dw = _words(q), _words(d)
    qn, dn = set(_NUMBER_RE.findall(q)), set(_NUMBER_RE.findall(d))
    neg_q, neg_d = len(_NEGATION_RE.findall(q)), len(_NEGATION_RE.findall(d))
    return [
        _jaccard(qb, db),
        _share(qb, db),
        _share(db, qb),
        _share(qc, dc),
        _share(dc, qc),
        _jaccard(set(qw), set(dw)),
        _share(set(qw), set(dw)),
        _share(set(dw), set(qw)),
        SequenceMatcher(None, q, d, autojunk=False).ratio() if q and d else 0.0,
        min(len(q), len(d)) / max(len(q), len(d), 1),
        math.log1p(len(qc - dc)),
        math.log1p(len(dc - qc)),
        float(bool(qn) and bool(dn) and qn != dn),
        float(bool(qn) != bool(dn)),
        float((neg_q > 0) != (neg_d > 0)),
        float(q == d),
    ]


class Verifier:
    """Logistic regression over standardised ``features``."""

    def __init__(self, mean: ArrayLike, scale: ArrayLike, coef: ArrayLike, bias: float):
        self.mean = np.asarray(mean, dtype=float)
        self.scale = np.asarray(scale, dtype=float)
        self.coef = np.asarray(coef, dtype=float)
        self.bias = float(bias)

    def probability(self, rows: np.ndarray) -> np.ndarray:
        z = ((rows - self.mean) / self.scale) @ self.coef + self.bias
        return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))

    def same_meaning(self, query: str, stored: Sequence[str]) -> float:
        """The probability that ``query`` means the same as the closest of the ``stored`` phrasings."""
        stored = [s for s in stored if s and s.strip()]
        if not stored:
            return 0.0
        # The same question once folded (Traditional, full-width, punctuation) means the same;
        # the fitted model, which rarely saw identical pairs, says about 0.7 there.
        cleaned = _clean(query)
        if cleaned and any(_clean(s) == cleaned for s in stored):
            return 1.0
        return float(self.probability(np.asarray([features(query, s) for s in stored], dtype=float)).max())

    def to_dict(self) -> dict[str, object]:
        return {
            "features": list(FEATURES),
            "mean": [round(float(x), 8) for x in self.mean],
            "scale": [round(float(x), 8) for x in self.scale],
            "coef": [round(float(x), 8) for x in self.coef],
            "bias": round(self.bias, 8),
        }

    def save(self, path: str | Path) -> None:
        """Write the weights as JSON (a few hundred bytes, the same bytes for the same fit)."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Verifier:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if tuple(data["features"]) != FEATURES:
            raise ValueError(f"{path}: fitted on other features; rebuild it with python -m kefu.nlp.train")
        return cls(data["mean"], data["scale"], data["coef"], data["bias"])


@cache
def shipped() -> Verifier:
    """The committed model (``data/verifier.json``)."""
    return Verifier.load(MODEL_PATH)


def answer_score(
    query: str, confidence: float, phrasings: Sequence[str], *, verifier: Verifier | None = None
) -> float:
    """The bot's score for answering ``query`` with its top hit: the search's ``confidence`` ×
    the probability that ``query`` means the same as the hit's closest phrasing (its title and
    similar questions). The bot answers when it reaches its threshold."""
    if confidence <= 0:
        return 0.0
    return confidence * (verifier or shipped()).same_meaning(query, phrasings)


def fit(rows: np.ndarray, labels: np.ndarray, l2: float = 1.0, steps: int = 30) -> Verifier:
    """Logistic regression by Newton's method (few features, so exact and fast), L2-regularised."""
    mean = rows.mean(axis=0)
    scale = rows.std(axis=0)
    scale[scale == 0] = 1.0
    x = np.hstack([(rows - mean) / scale, np.ones((len(rows), 1))])
    y = labels.astype(float)
    w = np.zeros(x.shape[1])
    reg = np.full(x.shape[1], l2)
    reg[-1] = 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -30, 30)))
        grad = x.T @ (p - y) + reg * w
        hess = (x * (p * (1 - p))[:, None]).T @ x + np.diag(reg) + 1e-9 * np.eye(x.shape[1])
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-6:
            break
    return Verifier(mean, scale, w[:-1], w[-1])
