"""How alike two short customer messages are: character bigrams over normalised text.

Incident detection asks "are these customers writing about the same thing?" many
times per tick, so the signature of a text is computed once (``signature``) and
compared cheaply (``signature_similarity``). Text is normalised first (Traditional →
Simplified, full-width → half-width), so 「保溫杯漏水」 and 「保温杯漏水」 are the same
text; digits are folded to one mark so order numbers and dates do not decide it.
Filler characters that every message shares (您好、请问、了、吗 …) are dropped, or two
unrelated questions would look alike through their politeness alone.
"""

from __future__ import annotations

import re

from kefu.nlp.normalize import normalize_text

__all__ = ["signature", "signature_similarity", "text_similarity"]

_FILLER_RE = re.compile(
    r"你好|您好|请问|麻烦|谢谢|一下|怎么回事|怎么|为什么|什么|还没|没有|已经|我的|我们|你们|"
    r"[的了吗呢啊呀吧哦嘛是我你他她它在有这那就都也还又和与及]"
)
_KEEP_RE = re.compile(r"[0-9a-z\u4e00-\u9fff]+")
_DIGITS_RE = re.compile(r"[0-9]+")


def signature(text: str) -> frozenset[str]:
    """The set of character bigrams (and single characters of one-character runs) of a message."""
    folded = _DIGITS_RE.sub("#", normalize_text(text[:2000]))
    folded = _FILLER_RE.sub(" ", folded)
    grams: set[str] = set()
    for run in _KEEP_RE.findall(folded.replace("#", "0")):
        if len(run) == 1:
            grams.add(run)
        else:
            grams.update(run[i : i + 2] for i in range(len(run) - 1))
    return frozenset(grams)


def signature_similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """Cosine of two signatures as sets, in 0..1.

    Cosine rather than Jaccard: a customer who adds a sentence about her wait to the
    same leaking cup loses less of the match, while two one-line questions that share a
    single word stay apart.
    """
    if not a or not b:
        return 0.0
    return len(a & b) / (len(a) * len(b)) ** 0.5


def text_similarity(a: str, b: str) -> float:
    """``signature_similarity`` of two texts."""
    return signature_similarity(signature(a), signature(b))
