"""Knowledge-base search: an in-memory, incrementally updated index of articles and FAQ entries.

Ranking is BM25 computed from postings stored as flat arrays, so an edit (``upsert`` /
``remove``) is visible to the very next search and nothing is rebuilt. Two channels are
scored and added: jieba words of the normalised text and, on titles, similar questions
and tags, character bigrams. Words carry the meaning when segmentation works; bigrams
still match when it does not (misspellings, new product names, words jieba splits
differently in the query and the article). Question words (吗, 呢, 怎么, 如何 …) are kept
at a lower weight, and skipped when they are so common that they cannot separate one
entry from another.

A document is several text units: title, body, tags and each similar question (相似问法).
It scores title + body + tags (title strongly, body weakly) plus its best-matching
similar question: similar questions are alternatives of one question, so only the best
one counts and thirty phrasings cannot outweigh one exact match. The caller's helpfulness prior
(``-1..1``, from "was this helpful?" feedback) scales the final score by a few per cent.

Queries are widened before scoring: synonym groups (快递 = 物流, 退钱 = 退款 …) add the
other members at a slightly lower weight, and registered product names are recognised
despite a one-character typo or a homophone (保文杯 → 保温杯, by pinyin).

Each posting's term-frequency part of BM25 (× field weight) is cached per term and
filled lazily, so a query costs one multiply and one scatter-add per term into a
per-thread buffer over documents, then a partition for the top k. The cache is
recomputed when average lengths drift by more than 10 %. Replacing or removing a document leaves
dead postings behind; once they are a quarter of all, the postings are rebuilt from the
stored term counts (no re-segmentation).

Writes and searches take one lock, so the index may be shared between threads.
"""

from __future__ import annotations

import html
import math
import re
import threading
import unicodedata
from array import array
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from pypinyin import lazy_pinyin

from kefu.nlp.normalize import normalize, to_simplified
from kefu.nlp.segment import cut, tokenizer

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
_CJK_RUN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_WORDISH_RE = re.compile(r"\w")
_EMPTY_IMPACT = np.zeros(0, dtype=np.float32)
_EMPTY_KEYS = np.zeros(0, dtype=np.int32)
_NO_POSTINGS = array("i")  # never appended to
_QUERY_CHARS = 200
# Average unit lengths may drift this much (relative) before cached impacts are recomputed.
_AVG_DRIFT = 0.1


@dataclass(frozen=True, slots=True)
class Ranking:
    """Tunable constants of the ranking; the defaults were chosen on the bench's dev sets."""

    k1: float = 1.2
    b: tuple[float, float, float, float] = (0.75, 0.75, 0.75, 0.5)
    # title, best similar question, body, tags
    field_weight: tuple[float, float, float, float] = (1.0, 1.0, 0.35, 0.5)
    bigram_weight: float = 0.3
    question_word_weight: float = 0.6
    # A question word in more than this share of documents is left out of the query.
    common_question_word: float = 0.5
    # Query bigrams that are also query words: keep them (True) or leave words alone.
    bigrams_of_words: bool = True
    synonym_weight: float = 0.8
    product_weight: float = 1.0
    helpfulness_weight: float = 0.05
    snippet_chars: int = 90


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


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result; ``snippet_html`` is escaped text with ``<mark>`` around matches."""

    doc_id: DocId
    score: float
    snippet_html: str
    matched_field: str


@dataclass(slots=True)
class _Query:
    words: dict[str, float]  # term -> weight
    bigrams: dict[str, float]


class _Growable:
    """A numpy array with amortised appends."""

    __slots__ = ("data", "fill", "size")

    def __init__(self, dtype: type, fill: float = 0) -> None:
        self.data: np.ndarray = np.full(1024, fill, dtype=dtype)
        self.fill = fill
        self.size = 0

    def append(self, value: float) -> None:
        if self.size == len(self.data):
            new = np.full(2 * len(self.data), self.fill, dtype=self.data.dtype)
            new[: self.size] = self.data
            self.data = new
        self.data[self.size] = value
        self.size += 1


class _Units:
    """The text units of one side: main (title, body, tags) or similar questions."""

    def __init__(self) -> None:
        self.slot = _Growable(np.int32)
        self.kind = _Growable(np.int8)
        self.wlen = _Growable(np.float32)
        self.blen = _Growable(np.float32)
        self.text: list[str] = []
        self.norm: list[str | None] = []  # normalised text when it differs from the text
        # Term ids and frequencies per unit, kept to rebuild postings without re-segmenting.
        self.terms: list[tuple[array, array, array, array]] = []

    def __len__(self) -> int:
        return len(self.text)


class _Postings:
    """Per term id: unit ids and frequencies (append-only arrays) and the cached impacts.

    ``keys`` caches, parallel to ``impact``, where each posting's score goes: the document
    slot for main units, the unit id for similar questions.
    """

    __slots__ = ("impact", "impact_gen", "keys", "tfs", "units")

    def __init__(self) -> None:
        self.units: list[array] = []
        self.tfs: list[array] = []
        self.impact: list[np.ndarray] = []
        self.keys: list[np.ndarray] = []
        self.impact_gen: list[int] = []

    def grow(self) -> None:
        # Shared empty placeholders: most terms never occur on one of the two sides, and
        # two array objects per term and side would dominate the index's memory.
        self.units.append(_NO_POSTINGS)
        self.tfs.append(_NO_POSTINGS)
        self.impact.append(_EMPTY_IMPACT)
        self.keys.append(_EMPTY_KEYS)
        self.impact_gen.append(-1)


class _Vocab:
    """Term ids and document frequencies of one channel, with postings for both sides."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.terms: list[str] = []
        self.df: list[int] = []
        self.sides = (_Postings(), _Postings())

    def term_id(self, term: str) -> int:
        tid = self.ids.get(term)
        if tid is None:
            tid = self.ids[term] = len(self.terms)
            self.terms.append(term)
            self.df.append(0)
            for side in self.sides:
                side.grow()
        return tid

    def clear_postings(self) -> None:
        self.sides = (_Postings(), _Postings())
        for _ in self.terms:
            for side in self.sides:
                side.grow()


@lru_cache(maxsize=32)
def _status_table(statuses: tuple[str, ...]) -> np.ndarray:
    """Allowed-status lookup indexed by status code + 1 (code -1 marks a removed document)."""
    table = np.zeros(len(STATUSES) + 1, dtype=np.bool_)
    table[[STATUSES.index(s) + 1 for s in statuses]] = True
    table.flags.writeable = False
    return table


class _Scratch:
    """Per-thread accumulation buffers, kept all-zero between queries."""

    # float32 like the cached impacts: ``np.add.at`` is two orders of magnitude slower
    # when it has to cast.
    def __init__(self) -> None:
        self.totals = np.zeros(0, dtype=np.float32)
        self.best = np.zeros(0, dtype=np.float32)
        self.q_totals = np.zeros(0, dtype=np.float32)
        self.scores = np.zeros(0, dtype=np.float32)
        self.kth = np.zeros(0, dtype=np.float32)

    def fit(self, n_slots: int, n_questions: int) -> None:
        if len(self.totals) < n_slots:
            size = max(1024, 2 * n_slots)
            self.totals = np.zeros(size, dtype=np.float32)
            self.best = np.zeros(size, dtype=np.float32)
            self.scores = np.zeros(size, dtype=np.float32)
            self.kth = np.zeros(size, dtype=np.float32)
        if len(self.q_totals) < n_questions:
            size = max(1024, 2 * n_questions)
            self.q_totals = np.zeros(size, dtype=np.float32)


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
            bigrams.extend(run[i : i + 2] for i in range(len(run) - 1))
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
        name = normalize(name).text
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


class SearchIndex:
    """The knowledge-base index; see the module docstring for how it ranks."""

    def __init__(
        self,
        synonyms: Mapping[str, Sequence[str]] | None = None,
        *,
        ranking: Ranking | None = None,
    ) -> None:
        self.ranking = ranking or Ranking()
        self._words = _Vocab()
        self._bigrams = _Vocab()
        self._synonyms: dict[str, tuple[str, ...]] = {}
        self._products = _ProductNames()
        self._category_code: dict[int | str, int] = {}
        self._local = threading.local()
        # Writes and searches exclude each other: a search holds numpy views of postings
        # arrays, which an append from another thread must not resize under it.
        # Segmentation, the slow part of an upsert, runs outside the lock.
        self._lock = threading.Lock()
        self._reset_units()
        self.set_synonyms(DEFAULT_SYNONYMS if synonyms is None else synonyms)

    def _reset_units(self) -> None:
        self._sides = (_Units(), _Units())  # main, similar questions
        # Live unit count and summed lengths per kind, for average lengths.
        self._kind_units = [0, 0, 0, 0]
        self._kind_wlen = [0.0, 0.0, 0.0, 0.0]
        self._kind_blen = [0.0, 0.0, 0.0, 0.0]
        self._dead_units = 0
        # Per document slot. Replacing a document gives it a new slot: the old slot's
        # postings then fall away with its status (-1), with no search through postings.
        self._slot_of: dict[DocId, int] = {}
        self._slot_id: list[DocId | None] = []
        self._slot_units: list[list[tuple[int, int]]] = []  # (side, unit id)
        self._slot_status = _Growable(np.int8, fill=-1)
        self._slot_category = _Growable(np.int32, fill=-1)
        self._slot_help = _Growable(np.float32)
        self._version = 0  # bumped by every edit; keys the filter cache
        self._factor_cache: dict[tuple, tuple[int, Ranking, np.ndarray]] = {}
        self._impact_gen = 0
        self._impact_basis: tuple[Ranking, np.ndarray] | None = None
        self._basis_dirty = True

    # ----------------------------------------------------------------- configuration

    def set_synonyms(self, groups: Mapping[str, Sequence[str]]) -> None:
        """Replace the synonym groups; each key and its values are one symmetric group."""
        table: dict[str, set[str]] = {}
        for head, others in groups.items():
            members = {normalize(m).text for m in (head, *others)} - {""}
            for m in members:
                table.setdefault(m, set()).update(members - {m})
        self._synonyms = {m: tuple(sorted(alts)) for m, alts in table.items()}

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
        units = []
        for kind, text in self._units_of(doc):
            norm = normalize(text).text
            words, bigrams = _terms(norm)
            # Bigrams of bodies would multiply postings for little gain: a body only
            # supports a match, it rarely carries the misspelt key phrase alone.
            units.append(
                (
                    kind,
                    text,
                    None if norm == text else norm,
                    Counter(words),
                    Counter(bigrams if kind != _BODY else ()),
                )
            )
        with self._lock:
            self._remove(doc.id)
            self._place(doc, units)

    def _place(self, doc: Document, units: list) -> None:
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
        placed = []
        for kind, text, norm, words, bigrams in units:
            wids = array("i", (self._words.term_id(t) for t in words))
            bids = array("i", (self._bigrams.term_id(t) for t in bigrams))
            terms = (wids, array("f", words.values()), bids, array("f", bigrams.values()))
            placed.append(self._add_unit(slot, kind, text, norm, terms))
        self._slot_units.append(placed)
        self._count_df(slot, +1)

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

    def bulk_load(self, docs: Iterable[Document]) -> None:
        """Upsert many documents (the start-up rebuild from the database)."""
        for doc in docs:
            self.upsert(doc)

    def remove(self, doc_id: DocId) -> bool:
        """Drop the document; returns whether it was indexed."""
        with self._lock:
            return self._remove(doc_id)

    def _remove(self, doc_id: DocId) -> bool:
        slot = self._slot_of.pop(doc_id, None)
        if slot is None:
            return False
        self._version += 1
        self._count_df(slot, -1)
        for side, uid in self._slot_units[slot]:
            units = self._sides[side]
            kind = int(units.kind.data[uid])
            self._kind_units[kind] -= 1
            self._kind_wlen[kind] -= float(units.wlen.data[uid])
            self._kind_blen[kind] -= float(units.blen.data[uid])
            self._dead_units += 1
        self._slot_id[slot] = None
        self._slot_status.data[slot] = -1
        self._basis_dirty = True
        self._maybe_compact()
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

    def _add_unit(
        self, slot: int, kind: int, text: str, norm: str | None, terms: tuple[array, array, array, array]
    ) -> tuple[int, int]:
        side = 1 if kind == _QUESTION else 0
        units = self._sides[side]
        uid = len(units)
        wids, wtfs, bids, btfs = terms
        wlen, blen = float(sum(wtfs)), float(sum(btfs))
        units.slot.append(slot)
        units.kind.append(kind)
        units.wlen.append(wlen)
        units.blen.append(blen)
        units.text.append(text)
        units.norm.append(norm)
        units.terms.append(terms)
        for vocab, ids, tfs in ((self._words, wids, wtfs), (self._bigrams, bids, btfs)):
            postings = vocab.sides[side]
            for tid, tf in zip(ids, tfs, strict=True):
                units_of_term = postings.units[tid]
                if units_of_term is _NO_POSTINGS:
                    units_of_term = postings.units[tid] = array("i")
                    postings.tfs[tid] = array("f")
                units_of_term.append(uid)
                postings.tfs[tid].append(tf)
        self._kind_units[kind] += 1
        self._kind_wlen[kind] += wlen
        self._kind_blen[kind] += blen
        self._basis_dirty = True
        return side, uid

    def _count_df(self, slot: int, delta: int) -> None:
        # Document frequency counts documents, not units: a word in the title and the
        # body of one article is one occurrence for IDF.
        wset: set[int] = set()
        bset: set[int] = set()
        for side, uid in self._slot_units[slot]:
            wids, _, bids, _ = self._sides[side].terms[uid]
            wset.update(wids)
            bset.update(bids)
        for tid in wset:
            self._words.df[tid] += delta
        for tid in bset:
            self._bigrams.df[tid] += delta

    def _maybe_compact(self) -> None:
        total = len(self._sides[0]) + len(self._sides[1])
        if self._dead_units < 1024 or self._dead_units * 4 < total:
            return
        old_sides, old_ids, old_units = self._sides, self._slot_id, self._slot_units
        old_status, old_category, old_help = self._slot_status, self._slot_category, self._slot_help
        self._reset_units()
        self._words.clear_postings()
        self._bigrams.clear_postings()
        for old_slot, doc_id in enumerate(old_ids):
            if doc_id is None:
                continue
            slot = len(self._slot_id)
            self._slot_of[doc_id] = slot
            self._slot_id.append(doc_id)
            self._slot_status.append(old_status.data[old_slot])
            self._slot_category.append(old_category.data[old_slot])
            self._slot_help.append(old_help.data[old_slot])
            placed = []
            for side, uid in old_units[old_slot]:
                units = old_sides[side]
                placed.append(
                    self._add_unit(
                        slot, int(units.kind.data[uid]), units.text[uid], units.norm[uid], units.terms[uid]
                    )
                )
            self._slot_units.append(placed)

    # ----------------------------------------------------------------- reads

    def _parse(self, query: str) -> _Query:
        r = self.ranking
        # Questions are short; a pasted essay is cut rather than turned into hundreds of terms.
        text = normalize(query[:_QUERY_CHARS]).text
        # One jieba pass serves the query's words and the synonym check below.
        tokens = tokenizer().lcut(text, HMM=True)
        words, bigrams = _terms(text, tokens)
        qw = {w: r.question_word_weight if w in QUESTION_WORDS else 1.0 for w in words}
        qb = {g: r.question_word_weight if g in QUESTION_WORDS else 1.0 for g in bigrams}
        if not r.bigrams_of_words:
            qb = {g: w for g, w in qb.items() if g not in qw}
        expansions: dict[str, float] = {}
        inside_words: list[tuple[int, int]] | None = None
        for phrase, alts in self._synonyms.items():
            if phrase in text:
                if inside_words is None:
                    inside_words = _dictionary_word_spans(tokens)
                if not _occurs_outside(phrase, text, inside_words):
                    continue
                for alt in alts:
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
        return _Query(qw, qb)

    def _average_lengths(self) -> np.ndarray:
        """Average unit length per kind: words in row 0, bigrams in row 1."""
        avg = np.ones((2, 4), dtype=np.float32)
        for k in range(4):
            if self._kind_units[k]:
                avg[0, k] = max(self._kind_wlen[k] / self._kind_units[k], 1.0)
                avg[1, k] = max(self._kind_blen[k] / self._kind_units[k], 1.0)
        return avg

    def _refresh_impact_basis(self) -> None:
        basis = self._impact_basis
        if basis is not None and not self._basis_dirty and basis[0] is self.ranking:
            return
        avg = self._average_lengths()
        self._basis_dirty = False
        if (
            basis is None
            or basis[0] != self.ranking
            or np.any(np.abs(avg - basis[1]) > _AVG_DRIFT * basis[1])
        ):
            self._impact_basis = (self.ranking, avg)
            self._impact_gen += 1

    def _cached(
        self, postings: _Postings, side: int, tid: int, channel: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The term's posting keys and cached ``field weight × BM25 tf part`` impacts."""
        ids_array = postings.units[tid]
        cached = postings.impact[tid]
        start = len(cached) if postings.impact_gen[tid] == self._impact_gen else 0
        if start == len(ids_array):
            return postings.keys[tid], cached
        r, avg = self._impact_basis  # type: ignore[misc]
        units = self._sides[side]
        ids = np.frombuffer(ids_array, dtype=np.int32)[start:]
        tf = np.frombuffer(postings.tfs[tid], dtype=np.float32)[start:]
        kind = units.kind.data[ids]
        lengths = (units.wlen if channel == 0 else units.blen).data[ids]
        b = np.asarray(r.b, dtype=np.float32)[kind]
        norm = r.k1 * (1.0 - b + b * lengths / avg[channel][kind])
        weight = np.asarray(r.field_weight, dtype=np.float32)[kind]
        fresh = (weight * tf * (r.k1 + 1.0) / (tf + norm)).astype(np.float32)
        keys = units.slot.data[ids] if side == 0 else ids.copy()
        if start:
            fresh = np.concatenate((cached, fresh))
            keys = np.concatenate((postings.keys[tid], keys))
        postings.impact[tid] = fresh
        postings.keys[tid] = keys
        postings.impact_gen[tid] = self._impact_gen
        return keys, fresh

    def _scratch(self) -> _Scratch:
        scratch: _Scratch | None = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = _Scratch()
        scratch.fit(self._slot_status.size, len(self._sides[1]))
        return scratch

    def _scores(self, parsed: _Query) -> np.ndarray | None:
        """Every slot's score (a view of this thread's buffer), or None if no term is indexed.

        The caller must ``fill(0)`` the returned view when done: scores accumulate into
        per-thread buffers so that a query allocates no array of the index's size
        (fresh large arrays cost page faults on every query).
        """
        r = self.ranking
        self._refresh_impact_basis()
        n_docs = max(len(self._slot_of), 1)
        common = r.common_question_word * n_docs
        sides = (0, 1) if len(self._sides[1]) else (0,)
        scratch = self._scratch()
        totals, q_totals = scratch.totals, scratch.q_totals
        any_term = any_question = False
        for channel, vocab, terms, scale in (
            (0, self._words, parsed.words, 1.0),
            (1, self._bigrams, parsed.bigrams, r.bigram_weight),
        ):
            for term, weight in terms.items():
                tid = vocab.ids.get(term)
                if tid is None:
                    continue
                df = vocab.df[tid]
                if df <= 0 or (weight < 1.0 and df > common and term in QUESTION_WORDS):
                    continue
                w = np.float32(scale * weight * math.log(1.0 + (n_docs - df + 0.5) / (df + 0.5)))
                for side in sides:
                    postings = vocab.sides[side]
                    if not postings.units[tid]:
                        continue
                    keys, impact = self._cached(postings, side, tid, channel)
                    if side == 0:
                        np.add.at(totals, keys, impact * w)
                        any_term = True
                    else:
                        np.add.at(q_totals, keys, impact * w)
                        any_question = True
        if any_question:
            # Similar questions: summed per question, then only each document's best counts.
            matched = np.flatnonzero(q_totals[: len(self._sides[1])] > 0)  # a bool mask scans far faster
            slots = self._sides[1].slot.data[matched]
            best = scratch.best
            np.maximum.at(best, slots, q_totals[matched])
            q_totals[matched] = 0.0
            totals[slots] += best[slots]
            best[slots] = 0.0
        if not any_term and not any_question:
            return None
        return totals[: self._slot_status.size]

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
        totals = self._scores(parsed)
        if totals is None:
            return []
        # Dense over all slots: with long postings most documents are touched, and
        # ``flatnonzero`` on a dense random pattern costs more than a multiply and a partition.
        scratch = self._local.scratch
        n = len(totals)
        try:
            scores = np.multiply(totals, self._slot_factor(statuses, category_ids), out=scratch.scores[:n])
        finally:
            totals.fill(0.0)
        if n > limit:
            kth_buffer = scratch.kth[:n]
            np.copyto(kth_buffer, scores)
            kth_buffer.partition(n - limit)
            kth = kth_buffer[n - limit]
            cand = np.flatnonzero(scores >= kth) if kth > 0 else np.flatnonzero(scores > 0)
        else:
            cand = np.flatnonzero(scores > 0)
        cand = cand[np.lexsort((cand, -scores[cand]))][:limit]
        if not len(cand):
            return []
        scores = scores[cand]
        top = range(len(cand))
        if not snippets:
            return [Hit(self._slot_id[cand[i]], float(scores[i]), "", "") for i in top]  # type: ignore[arg-type]
        terms = self._highlight_terms(parsed)
        hits = []
        for i in top:
            slot = int(cand[i])
            snippet, field = self._snippet(slot, terms)
            hits.append(Hit(self._slot_id[slot], float(scores[i]), snippet, field))  # type: ignore[arg-type]
        return hits

    @staticmethod
    def _highlight_terms(parsed: _Query) -> list[str]:
        terms = {t for t in parsed.words if t not in QUESTION_WORDS}
        terms |= {t for t in parsed.bigrams if len(t) == 2 and t not in QUESTION_WORDS}
        return sorted(terms, key=len, reverse=True)

    def _snippet(self, slot: int, terms: list[str]) -> tuple[str, str]:
        """The highlighted text of the document's best-covered unit, and that unit's field."""
        weights = self.ranking.field_weight
        best: tuple[float, str, str | None, int] | None = None
        for side, uid in self._slot_units[slot]:
            units = self._sides[side]
            kind = int(units.kind.data[uid])
            text, norm = units.text[uid], units.norm[uid]
            haystack = text if norm is None else norm
            coverage = sum(len(t) for t in terms if t in haystack) * weights[kind]
            if best is None or coverage > best[0]:
                best = (coverage, text, norm, kind)
        assert best is not None
        _, text, norm, kind = best
        return _highlight(text, norm, terms, window=self.ranking.snippet_chars), _FIELD_NAMES[kind]
