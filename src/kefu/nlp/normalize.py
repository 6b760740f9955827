"""One normaliser for every piece of text understanding.

Traditional characters become Simplified (OpenCC ``t2s``), full-width forms become
half-width, Latin letters are case-folded and runs of repeated punctuation are
collapsed to one mark while their lengths are kept as signals: a customer writing
「我的訂單怎麼還沒到！！！」 is understood exactly like 「我的订单怎么还没到!!!」.
Emoji and emoticons are kept in the text and also listed, since they carry feeling.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

import opencc

_EMOTICONS = (
    ":)",
    ":-)",
    ":(",
    ":-(",
    ":D",
    "^_^",
    "^^",
    "T_T",
    "T.T",
    "QAQ",
    "orz",
    "-_-",
    "=_=",
    "(╯‵□′)╯︵┻━┻",
    "囧",
    "[怒]",
    "[哭]",
    "[生气]",
    "[抓狂]",
    "[微笑]",
    "[大哭]",
    "[衰]",
)
_EMOJI_RE = re.compile(
    "[\U0001f300-\U0001faff\U00002600-\U000027bf\U0001f000-\U0001f02f\U0001f900-\U0001f9ff]"
)
_PUNCT_RUN_RE = re.compile(r"([!?.~,。，、…])\1+")
_WS_RE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Normalized:
    """The normalised text plus the surface signals removed or kept along the way."""

    text: str
    original: str
    exclamations: int = 0
    questions: int = 0
    longest_exclamation_run: int = 0
    longest_question_run: int = 0
    emoji: tuple[str, ...] = field(default_factory=tuple)
    was_traditional: bool = False


@lru_cache(maxsize=1)
def _converter() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def _to_halfwidth(text: str) -> str:
    # NFKC maps full-width ASCII (！？ＡＢ１２) to half-width; it also folds a few
    # compatibility ideographs, which is what we want for matching anyway.
    return unicodedata.normalize("NFKC", text)


def to_simplified(text: str) -> str:
    """Traditional → Simplified Chinese; other text passes through unchanged."""
    return _converter().convert(text)


def _folded(simplified: str) -> str:
    """Half-width, case-folded, whitespace collapsed: every step of ``normalize`` but the last."""
    text = _to_halfwidth(simplified)
    # NFKC turns the Chinese ellipsis into three dots; keep punctuation comparable.
    text = text.replace("。。。", "…").replace("...", "…")
    text = text.casefold()
    return _WS_RE.sub(" ", text).strip()


def normalize_text(text: str) -> str:
    """``normalize(text).text`` without the signals (search calls it for every query and unit)."""
    return _PUNCT_RUN_RE.sub(r"\1", _folded(to_simplified(text)))


def normalize(text: str) -> Normalized:
    """Normalise one message; see the module docstring for what changes."""
    original = text
    simplified = to_simplified(text)
    was_traditional = simplified != text
    text = _folded(simplified)
    emoji = tuple(_EMOJI_RE.findall(text)) + tuple(e for e in _EMOTICONS if e.casefold() in text)
    exclamations = text.count("!")
    questions = text.count("?")
    longest_ex = max((len(m) for m in re.findall(r"!+", text)), default=0)
    longest_q = max((len(m) for m in re.findall(r"\?+", text)), default=0)
    text = _PUNCT_RUN_RE.sub(r"\1", text)
    return Normalized(
        text=text,
        original=original,
        exclamations=exclamations,
        questions=questions,
        longest_exclamation_run=longest_ex,
        longest_question_run=longest_q,
        emoji=emoji,
        was_traditional=was_traditional,
    )
