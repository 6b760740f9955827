"""Compact storage of the knowledge-base index: postings, vocabularies and texts in numpy arrays.

The index keeps no Python object per term, posting or text: at 100,000 articles those
objects (a string, a dict entry and two ints per term; a string per text) would weigh
more than everything else together.

**Postings** — one CSR block per term, plus a small delta.

Postings live in flat numpy arrays sorted by term (``indptr`` into ``key``, ``kind``,
``tf`` and the cached ``impact``, a uint16 fixed-point number), eight bytes each, with no Python object
per term (term frequencies above 255 count as 255). Postings added since the last merge wait in a small delta (a dict of
``array`` columns per term), so an edit costs appends, and are folded into the flat
arrays when the delta grows past an eighth of them or when removed documents leave too
much behind (``merge``, vectorised: one stable sort of the term column).

**Vocabulary** — 64-bit term keys in a sorted array. **TextStore** — texts packed as
UTF-16 in one bytearray.
"""

from __future__ import annotations

import ctypes
from array import array

import numpy as np

_EMPTY_I32 = np.zeros(0, dtype=np.int32)
_EMPTY_U16 = np.zeros(0, dtype=np.uint16)


class Grow:
    """A numpy array with amortised appends; ``view()`` is the filled part."""

    __slots__ = ("data", "fill", "size")

    def __init__(self, dtype: type | np.dtype, fill: float = 0, capacity: int = 1024) -> None:
        self.data: np.ndarray = np.full(capacity, fill, dtype=dtype)
        self.fill = fill
        self.size = 0

    def _reserve(self, extra: int) -> None:
        need = self.size + extra
        if need > len(self.data):
            new = np.full(max(need, 2 * len(self.data)), self.fill, dtype=self.data.dtype)
            new[: self.size] = self.data[: self.size]
            self.data = new

    def append(self, value: float) -> None:
        if self.size == len(self.data):
            self._reserve(1)
        self.data[self.size] = value
        self.size += 1

    def extend(self, values: np.ndarray | array | list) -> None:
        n = len(values)
        if n:
            self._reserve(n)
            self.data[self.size : self.size + n] = values
            self.size += n

    def view(self) -> np.ndarray:
        return self.data[: self.size]

    def replace(self, values: np.ndarray) -> None:
        """Set the contents (after compaction), keeping some room to grow."""
        self.data = np.full(max(1024, len(values) + len(values) // 8), self.fill, dtype=self.data.dtype)
        self.data[: len(values)] = values
        self.size = len(values)


def gather_ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(s, s + n)`` for each (start, length), without a Python loop."""
    lengths = lengths.astype(np.int64, copy=False)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(lengths)
    offsets = np.repeat(starts.astype(np.int64) - (ends - lengths), lengths)
    return offsets + np.arange(total, dtype=np.int64)


class Postings:
    """One channel's postings on one side of the index (main units or similar questions).

    ``key`` is where a posting's score goes (a document slot, or a similar-question
    unit), ``kind`` the field it came from and ``tf`` the term frequency in that unit.
    """

    __slots__ = ("delta", "delta_rows", "impact", "indptr", "key", "kind", "staged", "tf")

    def __init__(self) -> None:
        self.indptr = np.zeros(1, dtype=np.int64)
        self.key = _EMPTY_I32
        self.kind = np.zeros(0, dtype=np.int8)
        self.tf = np.zeros(0, dtype=np.uint8)
        self.impact = _EMPTY_U16
        self.delta: dict[int, tuple[array, array, array]] = {}
        self.delta_rows = 0
        # Bulk loads stage postings in flat columns (term, key, kind, tf), invisible to
        # searches until merged: no Python object per term while a corpus loads.
        self.staged: tuple[Grow, Grow, Grow, Grow] | None = None

    def __len__(self) -> int:
        return len(self.key) + self.delta_rows + self.staged_rows

    @property
    def staged_rows(self) -> int:
        return 0 if self.staged is None else self.staged[0].size

    def stage(self, tids: list[int], key: int, kind: int, tfs: list[int]) -> None:
        """Stage one unit's postings (bulk loads; searchable after the next merge)."""
        if self.staged is None:
            self.staged = (Grow(np.int32), Grow(np.int32), Grow(np.int8), Grow(np.uint8))
        term, keys, kinds, tf = self.staged
        n = len(tids)
        term.extend(tids)
        keys.extend(np.full(n, key, dtype=np.int32))
        kinds.extend(np.full(n, kind, dtype=np.int8))
        tf.extend(np.minimum(tfs, 255))

    def add(self, tid: int, key: int, kind: int, tf: int) -> None:
        columns = self.delta.get(tid)
        if columns is None:
            columns = self.delta[tid] = (array("i"), array("b"), array("B"))
        columns[0].append(key)
        columns[1].append(kind)
        columns[2].append(min(tf, 255))
        self.delta_rows += 1

    def base(self, tid: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The merged postings of a term: (keys, cached fixed-point impacts), or None."""
        if tid + 1 >= len(self.indptr):
            return None
        start, end = self.indptr[tid], self.indptr[tid + 1]
        if start == end:
            return None
        return self.key[start:end], self.impact[start:end]

    def pending(self, tid: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The term's postings still in the delta: (keys, kinds, tfs), or None."""
        columns = self.delta.get(tid)
        if columns is None:
            return None
        keys, kinds, tfs = columns
        return (
            np.frombuffer(keys, dtype=np.int32),
            np.frombuffer(kinds, dtype=np.int8),
            np.frombuffer(tfs, dtype=np.uint8),
        )

    def merge(self, n_terms: int, keep: np.ndarray | None, remap: np.ndarray | None) -> None:
        """Fold the delta into the flat arrays, drop postings whose key is not kept, renumber keys.

        ``keep`` and ``remap`` are indexed by key. ``impact`` must be recomputed afterwards.
        """
        counts = np.diff(self.indptr)
        terms: list[np.ndarray] = [np.repeat(np.arange(len(counts), dtype=np.int32), counts)]
        keys: list[np.ndarray] = [self.key]
        kinds: list[np.ndarray] = [self.kind]
        tfs: list[np.ndarray] = [self.tf]
        for tid, (k, kd, t) in self.delta.items():
            terms.append(np.full(len(k), tid, dtype=np.int32))
            keys.append(np.frombuffer(k, dtype=np.int32))
            kinds.append(np.frombuffer(kd, dtype=np.int8))
            tfs.append(np.frombuffer(t, dtype=np.uint8))
        if self.staged is not None:
            for column, out in zip(self.staged, (terms, keys, kinds, tfs), strict=True):
                out.append(column.view())
        term = np.concatenate(terms)
        key = np.concatenate(keys)
        kind = np.concatenate(kinds)
        tf = np.concatenate(tfs)
        if keep is not None and len(key):
            alive = keep[key]
            term, key, kind, tf = term[alive], key[alive], kind[alive], tf[alive]
        if remap is not None and len(key):
            key = remap[key].astype(np.int32)
        order = np.argsort(term, kind="stable")
        self.key = np.ascontiguousarray(key[order], dtype=np.int32)
        self.kind = np.ascontiguousarray(kind[order])
        self.tf = np.ascontiguousarray(tf[order])
        self.indptr = np.zeros(n_terms + 1, dtype=np.int64)
        np.cumsum(np.bincount(term, minlength=n_terms), out=self.indptr[1:])
        self.impact = np.zeros(len(self.key), dtype=np.uint16)
        self.delta = {}
        self.delta_rows = 0
        self.staged = None

    def nbytes(self) -> int:
        flat = self.indptr.nbytes + self.key.nbytes + self.kind.nbytes + self.tf.nbytes + self.impact.nbytes
        staged = 0 if self.staged is None else sum(g.data.nbytes for g in self.staged)
        return flat + 9 * self.delta_rows + staged


class Vocabulary:
    """Term keys (64-bit) to ids: a sorted numpy table, plus a dict of the keys added since.

    Twelve bytes a term once consolidated, instead of a dict entry and two int objects
    (about a hundred bytes); ``consolidate`` folds the recent keys in, vectorised.
    """

    __slots__ = ("keys", "recent", "size", "values")

    def __init__(self) -> None:
        self.keys = np.zeros(0, dtype=np.int64)
        self.values = np.zeros(0, dtype=np.int32)
        self.recent: dict[int, int] = {}
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def get(self, key: int) -> int | None:
        tid = self.recent.get(key)
        if tid is not None or not len(self.keys):
            return tid
        at = int(np.searchsorted(self.keys, key))
        if at < len(self.keys) and self.keys[at] == key:
            return int(self.values[at])
        return None

    def get_many(self, keys: list[int]) -> list[int]:
        """Ids of several keys at once (-1 for unknown ones): one search of the table."""
        out = [-1] * len(keys)
        if len(self.keys) and keys:
            wanted = np.asarray(keys, dtype=np.int64)
            at = np.minimum(np.searchsorted(self.keys, wanted), len(self.keys) - 1)
            found = self.keys[at] == wanted
            out = np.where(found, self.values[at], -1).tolist()
        if self.recent:
            for i, key in enumerate(keys):
                if out[i] < 0:
                    out[i] = self.recent.get(key, -1)
        return out

    def add(self, key: int) -> int:
        """The key's id, a new one if it is not known yet."""
        tid = self.get(key)
        if tid is None:
            tid = self.recent[key] = self.size
            self.size += 1
        return tid

    def consolidate(self) -> None:
        if not self.recent:
            return
        keys = np.concatenate((self.keys, np.fromiter(self.recent, dtype=np.int64, count=len(self.recent))))
        values = np.concatenate(
            (self.values, np.fromiter(self.recent.values(), dtype=np.int32, count=len(self.recent)))
        )
        order = np.argsort(keys, kind="stable")
        self.keys, self.values = keys[order], values[order]
        self.recent = {}

    def nbytes(self) -> int:
        return self.keys.nbytes + self.values.nbytes + 100 * len(self.recent)


class TextStore:
    """Texts packed as UTF-16 in one growing bytearray, read back by index."""

    __slots__ = ("buf", "length", "start")

    def __init__(self) -> None:
        self.buf = bytearray()
        self.start = Grow(np.int64)
        self.length = Grow(np.int32)

    def __len__(self) -> int:
        return self.start.size

    def append(self, text: str) -> None:
        data = text.encode("utf-16-le", "surrogatepass")
        self.start.append(len(self.buf))
        self.length.append(len(data))
        self.buf += data

    def get(self, i: int) -> str:
        start = int(self.start.data[i])
        return self.buf[start : start + int(self.length.data[i])].decode("utf-16-le", "surrogatepass")

    def has(self, i: int) -> bool:
        return bool(self.length.data[i])

    def take(self, indices: np.ndarray) -> TextStore:
        """A new store with the given entries, in that order (compaction)."""
        out = TextStore()
        starts, lengths = self.start.data[indices], self.length.data[indices]
        out.buf = bytearray(np.frombuffer(self.buf, dtype=np.uint8)[gather_ranges(starts, lengths)].tobytes())
        out.length.replace(lengths)
        out.start.replace(np.cumsum(lengths, dtype=np.int64) - lengths)
        return out

    def nbytes(self) -> int:
        return len(self.buf) + self.start.data.nbytes + self.length.data.nbytes


def release_free_memory() -> None:
    """Ask the C allocator to give freed heap pages back to the system (glibc; elsewhere a no-op).

    A bulk load allocates and frees several times the index's final size while it
    merges; glibc keeps most of that freed heap mapped, which at 30,000 articles more
    than doubled the process's resident memory (70 MB against 26 MB once trimmed).
    """
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)
