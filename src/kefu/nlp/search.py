"""Knowledge-base search: an in-memory, incrementally updated index of articles and FAQ entries.

Ranking is BM25 over three kinds of terms of the normalised text, added with weights
fitted on customer questions: jieba words, character bigrams and single characters.
Words carry the meaning when segmentation works; bigrams and characters still match
when it does not (misspellings, new product names, words jieba splits differently in
the query and the article, paraphrases that share characters but not words: 还不上 /
还款). Words and bigrams find the candidates; characters re-rank the best
``Ranking.rerank_depth`` of them, so a document sharing only a stray character with
the query is never a hit and a query costs no more than a scan of its words' postings.

A document is several text units: title, body, tags and each similar question (相似问法).
It scores title + body + tags (title strongly, body weakly) plus its best-matching
similar question: similar questions are alternatives of one question, so only the best
one counts and thirty phrasings cannot outweigh one exact match. The caller's helpfulness prior
(``-1..1``, from "was this helpful?" feedback) scales the final score by a few per cent.
Question words (吗, 呢, 怎么, 如何 …) are kept at a lower weight, and skipped when they
are so common that they cannot separate one entry from another.

Queries are widened before scoring: synonym groups (快递 = 物流, 退钱 = 退款 …) add the
other members at a slightly lower weight, and registered product names are recognised
despite a one-character typo or a homophone (保文杯 → 保温杯, by pinyin).

Postings are flat numpy arrays per channel (``store.Postings``) with each posting's
BM25 term-frequency part × field weight cached, so a query costs one multiply per term
and one scatter-add per side into a per-thread buffer over documents, then a partition
for the candidates. Edits append to a small delta that is merged in vectorised steps;
replacing or removing a document leaves dead postings and slots behind until the next
merge drops them and renumbers the slots.

Each hit carries a ``confidence`` in 0..1: a logistic function of how much of the
query's own score the hit reaches and of its lead over the next hit, fitted on held-out
FAQ questions (``bench/kb_search_fit.py``), so a bot can answer only above a threshold.

Writes and searches take one lock, so the index may be shared between threads.
"""

from __future__ import annotations

import html
import math
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import numpy as np
from pypinyin import lazy_pinyin

from kefu.nlp.normalize import normalize_text, to_simplified
from kefu.nlp.segment import cut, tokenizer, tokens
from kefu.nlp.store import Grow, Postings, TextStore, Vocabulary, gather_ranges, release_free_memory

type DocId = int | str

STATUSES: tuple[str, ...] = ("draft", "published", "archived")

# Each group is symmetric: a query with any member also looks for the others.
DEFAULT_SYNONYMS: dict[str, tuple[str, ...]] = {
    "快递": ("物流", "快件", "包裹"),
    "退款": ("退钱", "返款", "退费"),
    "质量问题": ("坏了", "损坏", "破损", "故障", "次品"),
    "发票": ("开票",),
    "多久": ("多长时间", "几天"),
    "人工客服": ("人工", "真人客服"),
    "取消订单": ("撤销订单", "撤单"),
    "修改地址": ("改地址", "更改地址", "换地址"),
    "手机号": ("手机号码", "电话号码"),
    "发货": ("寄出", "出库"),
    "收货": ("签收", "收到货"),
    "优惠券": ("红包", "券"),
    "退货": ("退回", "寄回"),
}

# Words that make a sentence a question rather than say what it is about.
QUESTION_WORDS: frozenset[str] = frozenset(
    """吗 呢 吧 啊 呀 嘛 哦 哈 么 了 的 地 得 着 过 是 我 你 他 她 它 我们 你们 请问 问 问下 问一下 你好 您好
    亲 在吗 怎么 怎么样 怎样 如何 什么 为什么 为啥 啥 咋 咋办 怎么办 可以 能 能不能 可不可以 会 会不会
    要 想 一下 还 就 都 也 在 有 这个 那个 这 那 呗 还是 是不是 有没有 么样 多少 哪里 哪 谁 个 一 和 与
    或""".split()
)

_FIELD_NAMES = ("title", "similar_question", "body", "tags")
_TITLE, _QUESTION, _BODY, _TAGS = 0, 1, 2, 3
_WORDS, _BIGRAMS, _CHARS = 0, 1, 2
_CJK_RUN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_WORDISH_RE = re.compile(r"\w")
_QUERY_CHARS = 200
# Average unit lengths may drift this much (relative) before cached impacts are recomputed.
_AVG_DRIFT = 0.1
# The delta is merged once it holds this many postings plus an eighth of the merged ones.
_DELTA_ROWS = 8192
# bulk_load stages postings in flat columns and merges them at least this many at a time.
_BULK_ROWS = 1 << 18
# Term ids each channel remembers for queries (see ``_Channel.known``), about 1 MB at most.
_KNOWN_TERMS = 8192


@dataclass(frozen=True, slots=True)
class Ranking:
    """Tunable constants of the ranking; weights were fitted on the tuning third of the bench's sets."""

    k1: float = 1.2
    b: tuple[float, float, float, float] = (0.75, 0.75, 0.75, 0.5)
    # title, best similar question, body, tags
    field_weight: tuple[float, float, float, float] = (1.0, 1.0, 0.35, 0.5)
    bigram_weight: float = 0.65
    # Single characters of titles and similar questions, scored for the re-ranked candidates.
    char_weight: float = 2.0
    rerank_depth: int = 50
    question_word_weight: float = 0.6
    # A question word in more than this share of documents is left out of the query.
    common_question_word: float = 0.5
    # Query bigrams that are also query words: keep them (True) or leave words alone.
    bigrams_of_words: bool = True
    synonym_weight: float = 0.8
    product_weight: float = 1.0
    helpfulness_weight: float = 0.05
    snippet_chars: int = 90
    # confidence = sigmoid(a × score / self score + b × lead over the next hit / self score + c)
    confidence: tuple[float, float, float] = (0.66, 5.34, -3.07)


@dataclass(frozen=True, slots=True)
class Document:
    """One article or FAQ entry as the index sees it; ``body`` is plain text."""

    id: DocId
    title: str
    body: str = ""
    similar_questions: Sequence[str] = ()
    category_id: int | str | None = None
    status: str = "published"
    tags: Sequence[str] = ()
    helpfulness: float = 0.0


class Hit(NamedTuple):
    """One search result; ``snippet_html`` is escaped text with ``<mark>`` around matches.

    ``confidence`` (0..1) estimates that this hit answers the query; see ``Ranking.confidence``.
    A named tuple: immutable like the frozen dataclass it was, at a fifth of the cost to
    build (ten per query).
    """

    doc_id: DocId
    score: float
    snippet_html: str
    matched_field: str
    confidence: float = 0.0


@dataclass(slots=True)
class _Query:
    words: dict[str, float]  # term -> weight
    bigrams: dict[str, float]
    chars: dict[str, float]  # characters of the query itself (no expansions) -> weight
    length: tuple[float, float, float]  # words, bigrams, characters of the query


class _Scratch:
    """Per-thread accumulation buffers, kept all-zero between queries."""

    # float32 like the cached impacts: ``np.add.at`` is two orders of magnitude slower
    # when it has to cast.
    def __init__(self) -> None:
        self.totals = np.zeros(0, dtype=np.float32)
        self.best = np.zeros(0, dtype=np.float32)
        self.q_totals = np.zeros(0, dtype=np.float32)
        self.scores = np.zeros(0, dtype=np.float32)

    def fit(self, n_slots: int, n_questions: int) -> None:
        if len(self.totals) < n_slots:
            size = max(1024, 2 * n_slots)
            self.totals = np.zeros(size, dtype=np.float32)
            self.best = np.zeros(size, dtype=np.float32)
            self.scores = np.zeros(size, dtype=np.float32)
        if len(self.q_totals) < n_questions:
            self.q_totals = np.zeros(max(1024, 2 * n_questions), dtype=np.float32)


_NO_UNITS = np.zeros(0, dtype=np.int64)
_NO_UNITS.flags.writeable = False


def _joined(arrays: list[np.ndarray], dtype: type) -> np.ndarray:
    """The arrays end to end as ``dtype``, in one pass (the cast fused into the copy)."""
    return np.concatenate(arrays, dtype=dtype)


def _weighted(values: list[np.ndarray], weights: list[tuple[float, int]]) -> np.ndarray:
    """The concatenated impacts, each term's run multiplied by its weight."""
    w, n = zip(*weights, strict=True)
    out = _joined(values, np.float32)
    out *= np.repeat(np.asarray(w, dtype=np.float32), n)
    return out


def _top(scores: np.ndarray, depth: int | None) -> np.ndarray:
    """Indices of the ``depth`` highest positive scores (all positive ones for None), unordered.

    A threshold at half the best score, lowered until enough pass, leaves a few hundred
    to partition: partitioning all matching documents (most of them, with bodies) costs
    more than the whole rest of a query.
    """
    if depth is None:
        return np.flatnonzero(scores > 0)
    best = float(scores.max()) if len(scores) else 0.0
    if best <= 0:
        return np.zeros(0, dtype=np.int64)
    threshold = best / 2
    for _ in range(6):
        cand = np.flatnonzero(scores >= threshold)
        if len(cand) >= depth:
            break
        threshold /= 4
    else:
        cand = np.flatnonzero(scores > 0)
    if len(cand) > depth:
        cand = cand[np.argpartition(scores[cand], len(cand) - depth)[len(cand) - depth :]]
    return cand


def _impact_scale(r: Ranking) -> float:
    """The value of one unit of a stored (uint16 fixed-point) impact.

    An impact is at most ``field weight × (k1 + 1)``; 65,535 steps of it are finer than
    float16 was near 1, and numpy turns uint16 into float32 ten times faster than float16.
    """
    return (r.k1 + 1.0) * max(r.field_weight) / 65535.0


def _char_scale(r: Ranking) -> float:
    """The value of one unit of a stored character impact (at most ``k1 + 1``)."""
    return (r.k1 + 1.0) / 65535.0


def _to_fixed(impacts: np.ndarray, scale: float) -> np.ndarray:
    return np.clip(np.rint(impacts / scale), 0, 65535).astype(np.uint16)


def _chars(text: str) -> list[str]:
    """Letters, digits and ideographs of normalised text, one per character."""
    return [c for c in text if c.isalnum()]


@lru_cache(maxsize=32)
def _status_table(statuses: tuple[str, ...]) -> np.ndarray:
    """Allowed-status lookup indexed by status code + 1 (code -1 marks a removed document)."""
    table = np.zeros(len(STATUSES) + 1, dtype=np.bool_)
    table[[STATUSES.index(s) + 1 for s in statuses]] = True
    table.flags.writeable = False
    return table


def _terms(text: str, tokens: Sequence[str] | None = None) -> tuple[list[str], list[str]]:
    """Words and character bigrams of normalised text, punctuation dropped.

    ``tokens`` is jieba's segmentation of ``text`` when the caller already has it.
    """
    words = [w for w in (cut(text) if tokens is None else tokens) if _WORDISH_RE.search(w)]
    bigrams: list[str] = []
    for run in _CJK_RUN_RE.findall(text):
        if len(run) == 1:
            bigrams.append(run)
        else:
            bigrams += [run[i : i + 2] for i in range(len(run) - 1)]
    return words, bigrams


def _dictionary_word_spans(tokens: Sequence[str]) -> list[tuple[int, int]]:
    """(start, end) of the dictionary words of two characters or more among a text's ``tokens``.

    ``tokens`` must be the text's whole segmentation, whitespace included, so that
    offsets add up.
    """
    tk = tokenizer()
    spans = []
    at = 0
    for word in tokens:
        if len(word) > 1 and tk.FREQ.get(word, 0) > 0:
            spans.append((at, at + len(word)))
        at += len(word)
    return spans


def _occurs_outside(phrase: str, text: str, words: Sequence[tuple[int, int]]) -> bool:
    """True when ``phrase`` occurs in ``text`` other than strictly inside a longer dictionary word.

    Synonyms are found in the query by substring, so 改地址 inside 修改地址 and 快递 in
    快递员 count; but 券 inside 证券 (securities) or 包裹 inside a longer unrelated
    word must not pull in 优惠券 or 快递 articles.
    """
    start = text.find(phrase)
    while start >= 0:
        end = start + len(phrase)
        if not any(a <= start and end <= b and (a, b) != (start, end) for a, b in words):
            return True
        start = text.find(phrase, start + 1)
    return False


@lru_cache(maxsize=65536)
def _char_pinyin(ch: str) -> str:
    return lazy_pinyin(ch)[0]


def _deletions(s: str) -> set[str]:
    return {s[:i] + s[i + 1 :] for i in range(len(s))}


class _ProductNames:
    """Finds registered product names in a query despite one wrong character or a homophone."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.by_deletion: dict[str, set[str]] = {}
        self.by_pinyin: dict[tuple[str, ...], set[str]] = {}
        self.lengths: set[int] = set()

    def add(self, name: str) -> None:
        name = normalize_text(name)
        if len(name) < 2 or name in self.names:
            return
        self.names.add(name)
        self.lengths.add(len(name))
        self.by_pinyin.setdefault(tuple(_char_pinyin(c) for c in name), set()).add(name)
        # Edit distance 1 only for names of three characters or more: on two characters
        # a single edit leaves too little to recognise.
        if len(name) >= 3:
            for key in _deletions(name) | {name}:
                self.by_deletion.setdefault(key, set()).add(name)

    def find(self, text: str) -> set[str]:
        """Names the text mentions, exactly or nearly."""
        found: set[str] = set()
        if not self.names:
            return found
        n = len(text)
        window_lengths = {m for L in self.lengths for m in (L - 1, L, L + 1) if 2 <= m <= n}
        for m in window_lengths:
            for i in range(n - m + 1):
                w = text[i : i + m]
                if w in self.names:
                    found.add(w)
                    continue
                if m in self.lengths:
                    hits = self.by_pinyin.get(tuple(_char_pinyin(c) for c in w))
                    if hits:
                        found |= hits
                if m >= 2 and (m + 1 in self.lengths or m in self.lengths or m - 1 in self.lengths):
                    for key in _deletions(w) | {w}:
                        hits = self.by_deletion.get(key)
                        if hits:
                            found |= {h for h in hits if abs(len(h) - m) <= 1}
        return found


def _fold_with_offsets(text: str) -> tuple[str, list[int]]:
    """The text folded as the index folds it, and for each folded char its index in ``text``."""
    simplified = to_simplified(text)
    if len(simplified) != len(text):  # a phrase conversion changed the length: go char by char
        simplified = "".join(to_simplified(c) for c in text)
    out: list[str] = []
    offsets: list[int] = []
    for i, ch in enumerate(simplified):
        folded = unicodedata.normalize("NFKC", ch).casefold()
        out.append(folded)
        offsets.extend([i] * len(folded))
    return "".join(out), offsets


def _highlight(text: str, norm: str | None, terms: Sequence[str], *, window: int) -> str:
    """Escape ``text`` (cut to ``window`` chars around the first match) and mark the terms.

    ``norm`` is the unit's normalised text as indexed (None when equal to ``text``). When
    its length differs, positions are mapped by folding the text char by char, and only
    around the first match, so long bodies stay cheap.
    """
    lo_piece = 0
    if norm is None:
        folded: str = text
        offsets: Sequence[int] = range(len(text))
    elif len(norm) == len(text):
        folded, offsets = norm, range(len(text))
    else:
        first = min((i for i in (norm.find(t) for t in terms) if i >= 0), default=0)
        lo_piece = max(0, first - window)
        folded, offsets = _fold_with_offsets(text[lo_piece : first + 2 * window])
    spans: list[tuple[int, int]] = []
    for term in terms:
        start = folded.find(term)
        while start != -1:
            end = start + len(term)
            spans.append((lo_piece + offsets[start], lo_piece + offsets[end - 1] + 1))
            start = folded.find(term, end)
    spans.sort()
    merged: list[list[int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    lo, hi = 0, len(text)
    if len(text) > window:
        first = merged[0][0] if merged else 0
        lo = max(0, first - window // 4)
        hi = min(len(text), lo + window)
        lo = max(0, hi - window)
    parts: list[str] = ["…" if lo > 0 else ""]
    pos = lo
    for s, e in merged:
        if e <= lo or s >= hi:
            continue
        s, e = max(s, lo), min(e, hi)
        parts.append(html.escape(text[pos:s]))
        parts.append(f"<mark>{html.escape(text[s:e])}</mark>")
        pos = e
    parts.append(html.escape(text[pos:hi]))
    if hi < len(text):
        parts.append("…")
    return "".join(parts)


def _term_key(term: str) -> int:
    """A term's 64-bit key in the vocabularies, which keep no string per term.

    The hash of the UTF-8 bytes: ``hash(str)`` hashes the in-memory representation, so
    「欲」 (one two-byte character) and "2k" (two one-byte ones) would collide. Two of
    200,000 terms share a key about once in 10^9 indexes; they would then count as one.
    """
    return hash(term.encode())


class _Channel:
    """Term ids and document frequencies of one kind of term, with postings for both sides."""

    __slots__ = ("df", "ids", "known", "sides")

    def __init__(self) -> None:
        self.ids = Vocabulary()  # _term_key(term) -> id: no string kept per term
        self.df = Grow(np.int32)
        self.sides = (Postings(), Postings())  # main units, similar questions
        # Ids of terms that queries asked for lately. A term's id never changes while
        # the channel lives, and queries repeat their terms (花呗, 怎么, 退款) far more
        # than their texts: a dict hit costs less than hashing the term's bytes and a
        # binary search of the vocabulary's table.
        self.known: dict[str, int] = {}

    def term_id(self, term: str) -> int:
        tid = self.ids.add(_term_key(term))
        if tid == self.df.size:
            self.df.append(0)
        return tid

    def lookup(self, terms: list[str]) -> tuple[list[int], list[int]]:
        """Ids (-1 for unknown terms) and document frequencies (0 for unknown) of terms."""
        known = self.known
        tids = [known.get(term, -1) for term in terms]
        missing = [i for i, tid in enumerate(tids) if tid < 0]
        if missing:
            found = self.ids.get_many([_term_key(terms[i]) for i in missing])
            for i, tid in zip(missing, found, strict=True):
                if tid >= 0:
                    tids[i] = tid
                    if len(known) >= _KNOWN_TERMS:
                        known.clear()
                    known[terms[i]] = tid
        df = self.df.data
        return tids, [int(df[t]) if t >= 0 else 0 for t in tids]


class _Unit:
    """A unit's text and terms, prepared outside the lock."""

    __slots__ = ("bigrams", "chars", "kind", "norm", "text", "words")

    def __init__(self, kind: int, text: str) -> None:
        norm = normalize_text(text)
        words, bigrams = _terms(norm)
        self.kind = kind
        self.text = text
        self.norm = None if norm == text else norm
        self.words = Counter(words)
        # Bigrams of bodies would multiply postings for little gain: a body only
        # supports a match, it rarely carries the misspelt key phrase alone.
        self.bigrams = Counter(bigrams if kind != _BODY else ())
        self.chars = Counter(_chars(norm)) if kind in (_TITLE, _QUESTION) else Counter()


class SearchIndex:
    """The knowledge-base index; see the module docstring for how it ranks."""

    def __init__(
        self,
        synonyms: Mapping[str, Sequence[str]] | None = None,
        *,
        ranking: Ranking | None = None,
    ) -> None:
        self.ranking = ranking or Ranking()
        self._synonyms: dict[str, tuple[str, ...]] = {}
        self._synonyms_by_first: dict[str, tuple[str, ...]] = {}
        self._products = _ProductNames()
        self._category_code: dict[int | str, int] = {}
        self._local = threading.local()
        # Writes and searches exclude each other: a search holds numpy views of postings
        # arrays, which a merge from another thread must not replace under it.
        # Segmentation, the slow part of an upsert, runs outside the lock.
        self._lock = threading.Lock()
        self._bulk = False
        self._reset()
        self.set_synonyms(DEFAULT_SYNONYMS if synonyms is None else synonyms)

    def _reset(self) -> None:
        self._channels = (_Channel(), _Channel())  # words, bigrams
        self._char_ids: dict[str, int] = {}
        self._char_df = Grow(np.int32)
        # Per document slot. Replacing a document gives it a new slot: the old slot's
        # postings then fall away with its status (-1) until the next merge.
        self._slot_of: dict[DocId, int] = {}
        self._slot_id: list[DocId | None] = []
        self._slot_status = Grow(np.int8, fill=-1)
        self._slot_category = Grow(np.int32, fill=-1)
        self._slot_help = Grow(np.float32)
        # Words and bigrams lengths of the main units, 4 per slot (kind 1 unused).
        self._main_len = (Grow(np.float32), Grow(np.float32))
        # Texts of the main units, 4 per slot (4 × slot + kind; "" = none), and their
        # normalised forms ("" = the same as the text).
        self._main_text = TextStore()
        self._main_norm = TextStore()
        # Distinct term ids of the document per channel (to count document frequency
        # down when it goes): flat, with a start per slot.
        self._fwd = (Grow(np.int32), Grow(np.int32))
        self._fwd_start = (Grow(np.int64), Grow(np.int64))
        self._fwd_len = (Grow(np.int32), Grow(np.int32))
        self._slot_title_q = Grow(np.int32, fill=-1)  # question unit of the title, -1 if none
        self._slot_sq_first = Grow(np.int32)
        self._slot_sq_count = Grow(np.int32)
        # Similar questions (side 1 of the postings).
        self._sq_slot = Grow(np.int32)
        self._sq_len = (Grow(np.float32), Grow(np.float32))
        self._sq_q = Grow(np.int32)
        self._sq_text = TextStore()
        self._sq_norm = TextStore()
        # Question units (titles and similar questions): their characters, for re-ranking.
        self._q_slot = Grow(np.int32)
        self._q_kind = Grow(np.int8)
        self._q_start = Grow(np.int64)
        self._q_count = Grow(np.int32)
        self._q_len = Grow(np.float32)
        self._q_chars = Grow(np.int32)
        self._q_tf = Grow(np.uint8)
        # BM25 term-frequency part of each (unit, character), under the current basis.
        self._q_impact = Grow(np.uint16)  # fixed point, steps of _char_scale
        # Live unit count and summed lengths per kind and channel, for average lengths.
        self._kind_units = [0, 0, 0, 0]
        self._kind_len = [[0.0] * 4 for _ in range(3)]
        self._dead_slots = 0
        self._version = 0  # bumped by every edit; keys the filter cache
        self._factor_cache: dict[tuple, tuple[int, Ranking, np.ndarray]] = {}
        self._basis: tuple[Ranking, np.ndarray] | None = None
        self._basis_dirty = True

    # ----------------------------------------------------------------- configuration

    def set_synonyms(self, groups: Mapping[str, Sequence[str]]) -> None:
        """Replace the synonym groups; each key and its values are one symmetric group."""
        table: dict[str, set[str]] = {}
        for head, others in groups.items():
            members = {normalize_text(m) for m in (head, *others)} - {""}
            for m in members:
                table.setdefault(m, set()).update(members - {m})
        self._synonyms = {m: tuple(sorted(alts)) for m, alts in table.items()}
        # A query is checked only for the phrases that start with one of its characters.
        by_first: dict[str, list[str]] = {}
        for phrase in self._synonyms:
            by_first.setdefault(phrase[0], []).append(phrase)
        self._synonyms_by_first = {c: tuple(phrases) for c, phrases in by_first.items()}

    def add_product_names(self, names: Iterable[str]) -> None:
        """Register product names so queries find them despite a typo or a homophone."""
        with self._lock:
            for name in names:
                self._products.add(name)

    # ----------------------------------------------------------------- writes

    def __len__(self) -> int:
        return len(self._slot_of)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._slot_of

    def upsert(self, doc: Document) -> None:
        """Add the document or replace the stored version with the same id."""
        if doc.status not in STATUSES:
            raise ValueError(f"unknown status {doc.status!r}")
        units = [_Unit(kind, text) for kind, text in self._units_of(doc)]
        with self._lock:
            self._remove(doc.id)
            self._place(doc, units)
            self._maybe_merge()

    def bulk_load(self, docs: Iterable[Document]) -> None:
        """Upsert many documents (the start-up rebuild from the database); one merge at the end."""
        self._bulk = True
        try:
            for doc in docs:
                self.upsert(doc)
        finally:
            self._bulk = False
            with self._lock:
                self._maybe_merge()
                self._trim()
            release_free_memory()

    def _trim(self) -> None:
        """Give back the spare capacity that growing arrays keep (after a bulk load)."""
        for value in vars(self).values():
            for item in value if isinstance(value, tuple) else (value,):
                for grow in (item.start, item.length) if isinstance(item, TextStore) else (item,):
                    if isinstance(grow, Grow):
                        grow.replace(grow.view())
        for ch in self._channels:
            ch.df.replace(ch.df.view())
            ch.ids.consolidate()

    def _place(self, doc: Document, units: list[_Unit]) -> None:
        self._version += 1
        slot = len(self._slot_id)
        self._slot_of[doc.id] = slot
        self._slot_id.append(doc.id)
        self._slot_status.append(STATUSES.index(doc.status))
        if doc.category_id is None:
            self._slot_category.append(-1)
        else:
            self._slot_category.append(
                self._category_code.setdefault(doc.category_id, len(self._category_code))
            )
        self._slot_help.append(max(-1.0, min(1.0, float(doc.helpfulness))))
        main_len = [[0.0] * 4, [0.0] * 4]
        main_text = ["", "", "", ""]
        main_norm: list[str | None] = [None, None, None, None]
        seen: tuple[set[int], set[int]] = (set(), set())
        chars_seen: set[int] = set()
        self._slot_title_q.append(-1)
        self._slot_sq_first.append(len(self._sq_text))
        n_sq = 0
        for unit in units:
            kind = unit.kind
            lengths = (float(sum(unit.words.values())), float(sum(unit.bigrams.values())))
            side = 1 if kind == _QUESTION else 0
            key = len(self._sq_text) if side else slot
            for channel, counts in ((_WORDS, unit.words), (_BIGRAMS, unit.bigrams)):
                ch = self._channels[channel]
                postings = ch.sides[side]
                tids = [ch.term_id(term) for term in counts]
                if self._bulk:
                    postings.stage(tids, key, kind, list(counts.values()))
                else:
                    for tid, tf in zip(tids, counts.values(), strict=True):
                        postings.add(tid, key, kind, tf)
                seen[channel].update(tids)
                self._kind_len[channel][kind] += lengths[channel]
            self._kind_units[kind] += 1
            if unit.chars:
                q = self._q_slot.size
                self._q_slot.append(slot)
                self._q_kind.append(kind)
                self._q_start.append(self._q_chars.size)
                self._q_count.append(len(unit.chars))
                clen = float(sum(unit.chars.values()))
                self._q_len.append(clen)
                self._kind_len[_CHARS][kind] += clen
                for c, tf in unit.chars.items():
                    cid = self._char_ids.get(c)
                    if cid is None:
                        cid = self._char_ids[c] = len(self._char_ids)
                        self._char_df.append(0)
                    self._q_chars.append(cid)
                    self._q_tf.append(min(tf, 255))
                    chars_seen.add(cid)
                self._q_impact.extend(
                    self._char_impacts(np.asarray([q])) if self._basis else np.zeros(len(unit.chars))
                )
            else:
                q = -1
            if side:
                n_sq += 1
                self._sq_slot.append(slot)
                self._sq_len[0].append(lengths[0])
                self._sq_len[1].append(lengths[1])
                self._sq_q.append(q)
                self._sq_text.append(unit.text)
                self._sq_norm.append(unit.norm or "")
            else:
                main_len[0][kind], main_len[1][kind] = lengths
                main_text[kind], main_norm[kind] = unit.text, unit.norm
                if kind == _TITLE:
                    self._slot_title_q.data[slot] = q
        self._slot_sq_count.append(n_sq)
        for channel in (_WORDS, _BIGRAMS):
            self._main_len[channel].extend(main_len[channel])
            ids = np.fromiter(seen[channel], dtype=np.int32, count=len(seen[channel]))
            self._fwd_start[channel].append(self._fwd[channel].size)
            self._fwd_len[channel].append(len(ids))
            self._fwd[channel].extend(ids)
            self._channels[channel].df.data[ids] += 1
        for kind in (_TITLE, _QUESTION, _BODY, _TAGS):
            self._main_text.append(main_text[kind])
            self._main_norm.append(main_norm[kind] or "")
        if chars_seen:
            self._char_df.data[np.fromiter(chars_seen, dtype=np.int64, count=len(chars_seen))] += 1
        self._basis_dirty = True

    def set_helpfulness(self, doc_id: DocId, helpfulness: float) -> bool:
        """Update one document's prior in place (feedback votes arrive far more often than edits)."""
        with self._lock:
            slot = self._slot_of.get(doc_id)
            if slot is None:
                return False
            self._slot_help.data[slot] = max(-1.0, min(1.0, float(helpfulness)))
            self._version += 1
            return True

    def set_status(self, doc_id: DocId, status: str) -> bool:
        """Publish, archive or unpublish a document in place, without re-indexing its text."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        with self._lock:
            slot = self._slot_of.get(doc_id)
            if slot is None:
                return False
            self._slot_status.data[slot] = STATUSES.index(status)
            self._version += 1
            return True

    def remove(self, doc_id: DocId) -> bool:
        """Drop the document; returns whether it was indexed."""
        with self._lock:
            removed = self._remove(doc_id)
            self._maybe_merge()
            return removed

    def _question_units(self, slot: int) -> np.ndarray:
        """The question units (title, similar questions) of a slot."""
        sq = np.arange(
            self._slot_sq_first.data[slot], self._slot_sq_first.data[slot] + self._slot_sq_count.data[slot]
        )
        units = self._sq_q.data[sq]
        title = self._slot_title_q.data[slot]
        if title >= 0:
            units = np.concatenate(([title], units))
        return units[units >= 0]

    def _remove(self, doc_id: DocId) -> bool:
        slot = self._slot_of.pop(doc_id, None)
        if slot is None:
            return False
        self._version += 1
        for channel in (_WORDS, _BIGRAMS):
            start = self._fwd_start[channel].data[slot]
            ids = self._fwd[channel].data[start : start + self._fwd_len[channel].data[slot]]
            self._channels[channel].df.data[ids] -= 1
            lengths = self._main_len[channel].data[4 * slot : 4 * slot + 4]
            for kind in (_TITLE, _BODY, _TAGS):
                self._kind_len[channel][kind] -= float(lengths[kind])
        for kind in (_TITLE, _BODY, _TAGS):
            if self._main_text.has(4 * slot + kind):
                self._kind_units[kind] -= 1
        first, count = int(self._slot_sq_first.data[slot]), int(self._slot_sq_count.data[slot])
        for uid in range(first, first + count):
            self._kind_units[_QUESTION] -= 1
            self._kind_len[_WORDS][_QUESTION] -= float(self._sq_len[0].data[uid])
            self._kind_len[_BIGRAMS][_QUESTION] -= float(self._sq_len[1].data[uid])
        chars: set[int] = set()
        for q in self._question_units(slot):
            start = self._q_start.data[q]
            chars.update(self._q_chars.data[start : start + self._q_count.data[q]].tolist())
            self._kind_len[_CHARS][int(self._q_kind.data[q])] -= float(self._q_len.data[q])
        if chars:
            self._char_df.data[np.fromiter(chars, dtype=np.int64, count=len(chars))] -= 1
        self._slot_id[slot] = None
        self._slot_status.data[slot] = -1
        self._dead_slots += 1
        self._basis_dirty = True
        return True

    @staticmethod
    def _units_of(doc: Document) -> Iterable[tuple[int, str]]:
        if doc.title.strip():
            yield _TITLE, doc.title
        seen = {doc.title.strip()}
        for q in doc.similar_questions:
            if q.strip() and q.strip() not in seen:
                seen.add(q.strip())
                yield _QUESTION, q
        if doc.body.strip():
            yield _BODY, doc.body
        tags = " ".join(t for t in doc.tags if t.strip())
        if tags:
            yield _TAGS, tags

    def _maybe_merge(self) -> None:
        n_slots = len(self._slot_id)
        pending = staged = merged = 0
        for ch in self._channels:
            for postings in ch.sides:
                pending += postings.delta_rows
                staged += postings.staged_rows
                merged += len(postings.key)
        if self._bulk:
            # Staged postings are merged each time they outgrow the merged ones: the
            # documents loaded so far become searchable in doubling batches, at twice the
            # cost of one merge in all.
            if staged >= max(_BULK_ROWS, merged):
                self._merge_all()
            return
        if self._dead_slots >= 256 and self._dead_slots * 4 >= n_slots:
            self._compact()
        elif staged or pending > _DELTA_ROWS + merged // 8 or (pending and not merged and n_slots):
            self._merge_all()

    def _merge_all(self) -> None:
        for ch in self._channels:
            ch.ids.consolidate()
            for postings in ch.sides:
                postings.merge(len(ch.ids), None, None)
        self._basis = None  # every merged impact is recomputed on the next search

    def _compact(self) -> None:
        """Drop removed slots and renumber the rest, with every postings list merged."""
        n_slots = len(self._slot_id)
        keep = self._slot_status.view() >= 0
        slot_map = np.cumsum(keep, dtype=np.int64) - 1
        sq_keep = keep[self._sq_slot.view()]
        sq_map = np.cumsum(sq_keep, dtype=np.int64) - 1
        q_keep = keep[self._q_slot.view()]
        q_map = np.cumsum(q_keep, dtype=np.int64) - 1
        for ch in self._channels:
            ch.ids.consolidate()
            ch.sides[0].merge(len(ch.ids), keep, slot_map)
            ch.sides[1].merge(len(ch.ids), sq_keep, sq_map)
        for grow in (self._slot_status, self._slot_category, self._slot_help):
            grow.replace(grow.view()[keep])
        for channel in (_WORDS, _BIGRAMS):
            grow = self._main_len[channel]
            grow.replace(grow.view().reshape(n_slots, 4)[keep].ravel())
            starts, lengths = self._fwd_start[channel].view()[keep], self._fwd_len[channel].view()[keep]
            self._fwd[channel].replace(self._fwd[channel].view()[gather_ranges(starts, lengths)])
            self._fwd_len[channel].replace(lengths)
            self._fwd_start[channel].replace(np.cumsum(lengths, dtype=np.int64) - lengths)
        title_q = self._slot_title_q.view()[keep]
        self._slot_title_q.replace(np.where(title_q >= 0, q_map[title_q], -1).astype(np.int32))
        sq_count = self._slot_sq_count.view()[keep]
        self._slot_sq_count.replace(sq_count)
        self._slot_sq_first.replace((np.cumsum(sq_count, dtype=np.int64) - sq_count).astype(np.int32))
        self._sq_slot.replace(slot_map[self._sq_slot.view()[sq_keep]].astype(np.int32))
        for grow in self._sq_len:
            grow.replace(grow.view()[sq_keep])
        sq_q = self._sq_q.view()[sq_keep]
        self._sq_q.replace(np.where(sq_q >= 0, q_map[sq_q], -1).astype(np.int32))
        starts, counts = self._q_start.view()[q_keep], self._q_count.view()[q_keep]
        rows = gather_ranges(starts, counts)
        self._q_chars.replace(self._q_chars.view()[rows])
        self._q_tf.replace(self._q_tf.view()[rows])
        self._q_impact.replace(self._q_impact.view()[rows])
        self._q_count.replace(counts)
        self._q_start.replace(np.cumsum(counts, dtype=np.int64) - counts)
        self._q_slot.replace(slot_map[self._q_slot.view()[q_keep]].astype(np.int32))
        for grow in (self._q_kind, self._q_len):
            grow.replace(grow.view()[q_keep])
        kept = np.flatnonzero(keep).tolist()
        self._slot_id = [self._slot_id[i] for i in kept]
        main_rows = (4 * np.flatnonzero(keep)[:, None] + np.arange(4)).ravel()
        self._main_text = self._main_text.take(main_rows)
        self._main_norm = self._main_norm.take(main_rows)
        kept_sq = np.flatnonzero(sq_keep)
        self._sq_text = self._sq_text.take(kept_sq)
        self._sq_norm = self._sq_norm.take(kept_sq)
        self._slot_of = {doc_id: i for i, doc_id in enumerate(self._slot_id)}  # type: ignore[misc]
        self._dead_slots = 0
        self._version += 1
        self._factor_cache.clear()
        self._basis = None

    # ----------------------------------------------------------------- reads

    def _parse(self, query: str) -> _Query:
        r = self.ranking
        # Questions are short; a pasted essay is cut rather than turned into hundreds of terms.
        text = normalize_text(query[:_QUERY_CHARS])
        # One jieba pass serves the query's words and the synonym check below.
        segmented = tokens(text)
        words, bigrams = _terms(text, segmented)
        chars = _chars(text)
        length = (float(len(words)), float(len(bigrams)), float(len(chars)))
        # Characters of question words weigh as little as the words themselves.
        quiet = {c for t in segmented if t in QUESTION_WORDS for c in t}
        qc = {c: r.question_word_weight if c in quiet else 1.0 for c in chars}
        qw = {w: r.question_word_weight if w in QUESTION_WORDS else 1.0 for w in words}
        qb = {g: r.question_word_weight if g in QUESTION_WORDS else 1.0 for g in bigrams}
        if not r.bigrams_of_words:
            qb = {g: w for g, w in qb.items() if g not in qw}
        expansions: dict[str, float] = {}
        inside_words: list[tuple[int, int]] | None = None
        by_first = self._synonyms_by_first
        for first in set(text):
            for phrase in by_first.get(first, ()):
                if phrase not in text:
                    continue
                if inside_words is None:
                    inside_words = _dictionary_word_spans(segmented)
                if not _occurs_outside(phrase, text, inside_words):
                    continue
                for alt in self._synonyms[phrase]:
                    expansions[alt] = max(expansions.get(alt, 0.0), r.synonym_weight)
        for name in self._products.find(text):
            expansions[name] = max(expansions.get(name, 0.0), r.product_weight)
        for phrase, weight in expansions.items():
            if phrase in text:
                continue
            pwords, pbigrams = _terms(phrase)
            for w in pwords:
                qw[w] = max(qw.get(w, 0.0), weight / len(pwords))
            for g in pbigrams:
                qb[g] = max(qb.get(g, 0.0), weight / len(pbigrams))
        return _Query(qw, qb, qc, length)

    def _average_lengths(self) -> np.ndarray:
        """Average unit length per kind: words, bigrams and characters in rows 0-2."""
        avg = np.ones((3, 4), dtype=np.float32)
        for k in range(4):
            if self._kind_units[k]:
                for channel in range(3):
                    avg[channel, k] = max(self._kind_len[channel][k] / self._kind_units[k], 1.0)
        return avg

    def _refresh_basis(self) -> np.ndarray:
        """Average lengths as the cached impacts use them; recomputes impacts after a drift."""
        basis = self._basis
        if basis is not None and not self._basis_dirty and basis[0] is self.ranking:
            return basis[1]
        avg = self._average_lengths()
        self._basis_dirty = False
        if (
            basis is None
            or basis[0] != self.ranking
            or np.any(np.abs(avg - basis[1]) > _AVG_DRIFT * basis[1])
        ):
            self._basis = (self.ranking, avg)
            self._q_impact.replace(self._char_impacts(np.arange(self._q_slot.size)))
            for channel, ch in enumerate(self._channels):
                for side, postings in enumerate(ch.sides):
                    if len(postings.key):
                        postings.impact = _to_fixed(
                            self._impacts(side, channel, postings.key, postings.kind, postings.tf),
                            _impact_scale(self.ranking),
                        )
            return avg
        return basis[1]

    def _char_impacts(self, units: np.ndarray) -> np.ndarray:
        """BM25 term-frequency parts of the characters of question ``units``, in storage order (fixed point)."""
        r, avg = self._basis  # type: ignore[misc]
        counts = self._q_count.data[units]
        rows = gather_ranges(self._q_start.data[units], counts)
        owner = np.repeat(units, counts)
        kinds = self._q_kind.data[owner]
        b = np.asarray(r.b, dtype=np.float32)[kinds]
        tf = self._q_tf.data[rows].astype(np.float32)
        norm = r.k1 * (1.0 - b + b * self._q_len.data[owner] / avg[_CHARS][kinds])
        return _to_fixed(tf * (r.k1 + 1.0) / (tf + norm), _char_scale(r))

    def _impacts(
        self, side: int, channel: int, keys: np.ndarray, kinds: np.ndarray, tfs: np.ndarray
    ) -> np.ndarray:
        """``field weight × BM25 term-frequency part`` of postings, under the current basis."""
        r, avg = self._basis  # type: ignore[misc]
        if side == 0:
            lengths = self._main_len[channel].data[keys.astype(np.int64) * 4 + kinds]
        else:
            lengths = self._sq_len[channel].data[keys]
        b = np.asarray(r.b, dtype=np.float32)[kinds]
        tf = tfs.astype(np.float32)
        norm = r.k1 * (1.0 - b + b * lengths / avg[channel][kinds])
        weight = np.asarray(r.field_weight, dtype=np.float32)[kinds]
        return (weight * tf * (r.k1 + 1.0) / (tf + norm)).astype(np.float32)

    def _scratch(self) -> _Scratch:
        scratch: _Scratch | None = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = _Scratch()
        scratch.fit(self._slot_status.size, len(self._sq_text))
        return scratch

    def _first_stage(self, parsed: _Query, scratch: _Scratch, n_docs: int) -> tuple[np.ndarray | None, float]:
        """Scores of words and bigrams into ``scratch`` (totals per slot, q_totals per similar question).

        Returns the similar-question units touched (their ``q_totals`` and the slots'
        ``best`` must be zeroed by the caller), or None when no term is indexed; and the
        words' and bigrams' part of the query's self score (see ``_rank``).
        """
        r = self.ranking
        avg = self._refresh_basis()
        common = r.common_question_word * n_docs
        # Per side: slices of keys and impacts, and each slice's (weight, length).
        parts: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])
        values: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])
        weights: tuple[list[tuple[float, int]], list[tuple[float, int]]] = ([], [])
        self_score = 0.0
        fixed = _impact_scale(r)  # stored impacts are in these units
        log = math.log
        for channel, terms, scale in (
            (_WORDS, parsed.words, 1.0),
            (_BIGRAMS, parsed.bigrams, r.bigram_weight),
        ):
            if not terms:
                continue
            ch = self._channels[channel]
            # A perfect match holds each term once, in a title as long as the query.
            tf_part = (r.k1 + 1.0) / (
                1.0 + r.k1 * (1.0 - r.b[0] + r.b[0] * parsed.length[channel] / float(avg[channel][0]))
            )
            # A query has a dozen or two terms: plain Python beats numpy's per-call cost here.
            tids, dfs = ch.lookup(list(terms))
            own = 0.0
            kept: list[int] = []
            ws: list[float] = []
            for (term, weight), tid, df in zip(terms.items(), tids, dfs, strict=True):
                idf = log(1.0 + (n_docs - df + 0.5) / (df + 0.5))  # an unseen term gets the highest IDF
                if weight >= 1.0:  # question words and expansions are not expected to match
                    own += idf
                if df <= 0 or (weight < 1.0 and df > common and term in QUESTION_WORDS):
                    continue
                kept.append(tid)
                ws.append(fixed * scale * weight * idf)
            self_score += scale * tf_part * own
            if kept:
                for side, postings in enumerate(ch.sides):
                    self._gather(side, channel, postings, kept, ws, parts[side], values[side], weights[side])
        if not parts[0] and not parts[1]:
            return None, self_score
        if parts[0]:
            # intp keys: ``np.add.at`` takes its fast path only for them (int32 keys cost 3x).
            np.add.at(scratch.totals, _joined(parts[0], np.intp), _weighted(values[0], weights[0]))
        touched = _NO_UNITS
        if parts[1]:
            keys = _joined(parts[1], np.intp)
            np.add.at(scratch.q_totals, keys, _weighted(values[1], weights[1]))
            # Similar questions: summed per question, then only each document's best counts.
            touched = np.unique(keys)
            slots = self._sq_slot.data[touched]
            np.maximum.at(scratch.best, slots, scratch.q_totals[touched])
            scratch.totals[slots] += scratch.best[slots]
        return touched, self_score

    def _gather(
        self,
        side: int,
        channel: int,
        postings: Postings,
        tids: list[int],
        ws: list[float],
        parts: list[np.ndarray],
        values: list[np.ndarray],
        weights: list[tuple[float, int]],
    ) -> None:
        """Append the postings of ``tids`` on one side (articles or similar questions), merged and pending."""
        key = postings.key
        if len(key):
            indptr = postings.indptr
            n_terms = len(indptr) - 1
            impact = postings.impact
            for tid, w in zip(tids, ws, strict=True):
                if tid < n_terms:  # terms added since the last merge have only pending postings
                    start, end = indptr[tid : tid + 2].tolist()
                    if end > start:
                        parts.append(key[start:end])
                        values.append(impact[start:end])
                        weights.append((w, end - start))
        if postings.delta_rows:
            for tid, w in zip(tids, ws, strict=True):
                pending = postings.pending(tid)
                if pending is not None:
                    parts.append(pending[0])
                    # In the stored impacts' fixed-point units, like the merged ones.
                    values.append(self._impacts(side, channel, *pending) / _impact_scale(self.ranking))
                    weights.append((w, len(pending[0])))

    def _char_weights(self, parsed: _Query, n_docs: int) -> tuple[np.ndarray, float]:
        """Each character id's query weight × IDF (0 when not in the query), and the characters' self score."""
        r = self.ranking
        avg = self._basis[1][_CHARS]  # type: ignore[index]
        tf_part = (r.k1 + 1.0) / (
            1.0 + r.k1 * (1.0 - r.b[0] + r.b[0] * parsed.length[_CHARS] / float(avg[0]))
        )
        cids: list[int] = []
        weights: list[float] = []
        self_score = 0.0
        log = math.log
        unseen_idf = log(1.0 + (n_docs + 0.5) / 0.5)
        char_ids, df_of = self._char_ids, self._char_df.data
        for c, weight in parsed.chars.items():
            cid = char_ids.get(c)
            df = 0 if cid is None else int(df_of[cid])
            if df > 0:
                idf = log(1.0 + (n_docs - df + 0.5) / (df + 0.5))
                cids.append(cid)  # type: ignore[arg-type]
                weights.append(weight * idf)
            else:
                idf = unseen_idf
            if weight >= 1.0:
                self_score += r.char_weight * idf * tf_part
        table = np.zeros(len(char_ids), dtype=np.float32)
        if cids:
            table[cids] = weights
        return table, self_score

    def _char_scores(self, units: np.ndarray, char_weight: np.ndarray) -> np.ndarray:
        """``char_weight ×`` BM25 of the query's characters in each question unit.

        ``char_weight`` holds each character id's query weight × IDF (0 for the others).
        """
        if not len(units):
            return np.zeros(0, dtype=np.float32)
        # Every question unit has at least one character (units without any get none),
        # so each unit is one non-empty run of rows and ``reduceat`` sums them.
        counts = self._q_count.data[units].astype(np.int64)
        ends = np.cumsum(counts)
        firsts = ends - counts
        rows = np.repeat(self._q_start.data[units] - firsts, counts)
        rows += np.arange(int(ends[-1]))
        part = char_weight[self._q_chars.data[rows]]
        part *= self._q_impact.data[rows]
        scale = self.ranking.char_weight * _char_scale(self.ranking)
        return (scale * np.add.reduceat(part, firsts, dtype=np.float64)).astype(np.float32)

    def _rank(
        self,
        parsed: _Query,
        depth: int | None,
        statuses: Sequence[str],
        category_ids: Iterable[int | str] | None,
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """Slots and final scores, best first, and the query's self score.

        ``depth`` None re-ranks every matching document. The self score is what the
        query would score against itself as a title (each term once, unseen terms at
        the highest IDF): the scale that makes scores of different queries comparable.
        """
        scratch = self._scratch()
        n_docs = max(len(self._slot_of), 1)
        touched, self_score = self._first_stage(parsed, scratch, n_docs)
        char_weight, char_self = self._char_weights(parsed, n_docs)
        self_score += char_self
        if touched is None:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32), self_score
        n = self._slot_status.size
        totals = scratch.totals[:n]
        try:
            factor = self._slot_factor(statuses, category_ids)
            scores = np.multiply(totals, factor, out=scratch.scores[:n])
            cand = _top(scores, depth)
            main = totals[cand] - scratch.best[cand]
            final = self._rerank(cand, main, scratch.q_totals, char_weight) * factor[cand]
        finally:
            totals.fill(0.0)
            if len(touched):
                scratch.best[self._sq_slot.data[touched]] = 0.0
                scratch.q_totals[touched] = 0.0
        order = np.lexsort((cand, -final))
        return cand[order], final[order], self_score

    def _rerank(
        self,
        cand: np.ndarray,
        main: np.ndarray,
        q_totals: np.ndarray,
        char_weight: np.ndarray,
    ) -> np.ndarray:
        """Title + body + tags (``main``) plus characters, plus the best similar question with its characters."""
        final = main.astype(np.float32)
        titles = self._slot_title_q.data[cand]
        if len(titles) and titles.min() >= 0:  # every candidate has a title (the usual case)
            final += self._char_scores(titles, char_weight)
        else:
            has_title = titles >= 0
            if has_title.any():
                final[has_title] += self._char_scores(titles[has_title], char_weight)
        counts = self._slot_sq_count.data[cand]
        if counts.any():
            sq = gather_ranges(self._slot_sq_first.data[cand], counts)
            owner = np.repeat(np.arange(len(cand)), counts)
            q_units = self._sq_q.data[sq]
            sq_scores = q_totals[sq].copy()
            has_q = q_units >= 0
            sq_scores[has_q] += self._char_scores(q_units[has_q].astype(np.int64), char_weight)
            best = np.zeros(len(cand), dtype=np.float32)
            np.maximum.at(best, owner, sq_scores)
            final += best
        return final

    def _slot_factor(self, statuses: Sequence[str], category_ids: Iterable[int | str] | None) -> np.ndarray:
        """Per slot: 0 when filtered out, else the helpfulness multiplier; cached until the next edit."""
        key = (tuple(statuses), None if category_ids is None else frozenset(category_ids))
        cached = self._factor_cache.get(key)
        if cached is not None and cached[0] == self._version and cached[1] is self.ranking:
            return cached[2]
        n = self._slot_status.size
        factor = (1.0 + self.ranking.helpfulness_weight * self._slot_help.data[:n]).astype(np.float32)
        factor *= _status_table(key[0])[self._slot_status.data[:n] + 1]
        if key[1] is not None:
            codes = [self._category_code[c] for c in key[1] if c in self._category_code]
            factor *= np.isin(self._slot_category.data[:n], codes)
        if len(self._factor_cache) >= 32:
            self._factor_cache.clear()
        self._factor_cache[key] = (self._version, self.ranking, factor)
        return factor

    def _confidences(self, scores: list[float], self_score: float) -> list[float]:
        """Each hit's confidence from its share of the self score and its lead over the next hit."""
        a, b, c = self.ranking.confidence
        if self_score <= 0:
            return [0.0] * len(scores)
        out = []
        for i, score in enumerate(scores):
            lead = score - (scores[i + 1] if i + 1 < len(scores) else 0.0)
            z = (a * score + b * lead) / self_score + c
            out.append(1.0 / (1.0 + math.exp(-z)))
        return out

    def search(
        self,
        query: str,
        *,
        limit: int = 10,
        category_ids: Iterable[int | str] | None = None,
        statuses: Sequence[str] = ("published",),
        snippets: bool = True,
    ) -> list[Hit]:
        """The best ``limit`` documents for the query among those passing the filters.

        With ``snippets=False`` hits carry an empty ``snippet_html`` and ``matched_field``
        (for callers that only need ids, such as suggestion counters).
        """
        with self._lock:
            return self._search(query, limit, category_ids, statuses, snippets)

    def search_many(
        self,
        queries: Sequence[str],
        *,
        limit: int = 10,
        category_ids: Iterable[int | str] | None = None,
        statuses: Sequence[str] = ("published",),
        snippets: bool = False,
    ) -> list[list[Hit]]:
        """``search`` for each query, under one lock (evaluation, bots answering a backlog)."""
        categories = None if category_ids is None else list(category_ids)
        with self._lock:
            return [self._search(q, limit, categories, statuses, snippets) for q in queries]

    def scores(
        self,
        query: str,
        *,
        category_ids: Iterable[int | str] | None = None,
        statuses: Sequence[str] = ("published",),
    ) -> dict[DocId, float]:
        """The final score of every document the query matches, every one of them re-ranked."""
        with self._lock:
            if not self._slot_of:
                return {}
            slots, final, _ = self._rank(self._parse(query), None, statuses, category_ids)
            return {self._slot_id[s]: float(v) for s, v in zip(slots.tolist(), final.tolist(), strict=True)}  # type: ignore[misc]

    def _search(
        self,
        query: str,
        limit: int,
        category_ids: Iterable[int | str] | None,
        statuses: Sequence[str],
        snippets: bool,
    ) -> list[Hit]:
        if limit <= 0 or not self._slot_of:
            return []
        parsed = self._parse(query)
        slots, final, self_score = self._rank(
            parsed, max(limit + 1, self.ranking.rerank_depth), statuses, category_ids
        )
        scores = [v for v in final[: limit + 1].tolist() if v > 0]
        confidence = self._confidences(scores, self_score)[:limit]
        top = slots[: len(confidence)].tolist()
        if not snippets:
            return [
                Hit(self._slot_id[s], v, "", "", p)  # type: ignore[arg-type]
                for s, v, p in zip(top, scores, confidence, strict=False)
            ]
        terms = self._highlight_terms(parsed)
        hits = []
        for s, v, p in zip(top, scores, confidence, strict=False):
            snippet, field = self._snippet(s, terms)
            hits.append(Hit(self._slot_id[s], v, snippet, field, p))  # type: ignore[arg-type]
        return hits

    @staticmethod
    def _highlight_terms(parsed: _Query) -> list[str]:
        terms = {t for t in parsed.words if t not in QUESTION_WORDS}
        terms |= {t for t in parsed.bigrams if len(t) == 2 and t not in QUESTION_WORDS}
        return sorted(terms, key=len, reverse=True)

    def _snippet(self, slot: int, terms: list[str]) -> tuple[str, str]:
        """The highlighted text of the document's best-covered unit, and that unit's field."""
        weights = self.ranking.field_weight
        candidates: list[tuple[int, str, str | None]] = []

        def unit(store: TextStore, norms: TextStore, i: int) -> tuple[str, str | None]:
            return store.get(i), norms.get(i) if norms.has(i) else None

        if self._main_text.has(4 * slot):
            candidates.append((_TITLE, *unit(self._main_text, self._main_norm, 4 * slot)))
        first = int(self._slot_sq_first.data[slot])
        for uid in range(first, first + int(self._slot_sq_count.data[slot])):
            candidates.append((_QUESTION, *unit(self._sq_text, self._sq_norm, uid)))
        for kind in (_BODY, _TAGS):
            if self._main_text.has(4 * slot + kind):
                candidates.append((kind, *unit(self._main_text, self._main_norm, 4 * slot + kind)))
        best: tuple[float, str, str | None, int] | None = None
        for kind, text, norm in candidates:
            haystack = text if norm is None else norm
            coverage = sum(len(t) for t in terms if t in haystack) * weights[kind]
            if best is None or coverage > best[0]:
                best = (coverage, text, norm, kind)
        assert best is not None
        _, text, norm, kind = best
        return _highlight(text, norm, terms, window=self.ranking.snippet_chars), _FIELD_NAMES[kind]

    def memory_bytes(self) -> int:
        """Bytes held by the arrays and packed texts of the index (the id dict not included)."""
        total = 0
        for ch in self._channels:
            total += ch.df.data.nbytes + ch.ids.nbytes() + sum(p.nbytes() for p in ch.sides)
        for value in vars(self).values():
            if isinstance(value, Grow):
                total += value.data.nbytes
            elif isinstance(value, TextStore):
                total += value.nbytes()
            elif isinstance(value, tuple):
                total += sum(g.data.nbytes for g in value if isinstance(g, Grow))
        return total
