"""Benchmark kefu's knowledge-base search against plain BM25 (bm25s over characters, and over jieba words).

Ranking: each question-matching set (pairs labelled same / different meaning) becomes a
FAQ. Pairs of the same meaning are joined into clusters (union-find); the member with the
most same-meaning links is the standard question (the indexed document), the other
members are user queries. Questions that only occur in different-meaning pairs are
indexed too, as distractor documents — they are the near misses a FAQ really has. Every
set is indexed on its own (AFQMC dev shares pairs with ATEC, so ATEC is never in the
index when AFQMC is scored). No query text is present in the index.

The "+sq" rows repeat this with one more cluster member stored as a similar question
(相似问法) of the document, and score only the members that remain held out.

Queries are split by a hash of their normalised text: a third (``is_tuning``) is where
kefu's weights and confidence were fitted (``bench/kb_search_fit.py``); the rows below
score only the other two thirds.

Two baselines run in the same process on the same documents: bm25s (default
parameters) over character unigrams + bigrams, and bm25s over jieba words.

Latency: 10,000 and 100,000 documents made from all distinct questions of the five sets
(titles) with an online-shopping review as body; queries are held-out questions. Memory
is the growth of the resident set while one engine's index is built, each in a fresh
process (a process that has freed memory before reuses it and would hide the growth).

    .venv/bin/python bench/kb_search.py [--quick]
"""

from __future__ import annotations

import argparse
import csv
import gc
import os
import random
import re
import subprocess
import sys
import threading
import time
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bm25s
import numpy as np

from kefu.nlp.normalize import normalize
from kefu.nlp.paths import evaldata_dir
from kefu.nlp.search import Document, SearchIndex
from kefu.nlp.segment import tokenizer
from kefu.nlp.store import release_free_memory
from kefu.nlp.train import matching_pairs

DATA = evaldata_dir()
_WORDISH = re.compile(r"\w")
_RUN = re.compile(r"[^\W_]+")


def _read(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8-sig").replace("\ufeff", "").splitlines()


def load_pairs(name: str) -> list[tuple[str, str, bool]]:
    """(sentence 1, sentence 2, same meaning) of one set (``kefu.nlp.train.matching_pairs``)."""
    return matching_pairs(name, DATA)


SETS = ("afqmc", "atec", "atec_ccks", "bq_corpus", "lcqmc")


@dataclass
class Faq:
    docs: list[tuple[str, list[str]]]  # (standard question, similar questions)
    queries: list[tuple[str, int]] = field(default_factory=list)  # (query, index of right doc)


def build_faq(pairs: list[tuple[str, str, bool]], *, similar: int = 0) -> Faq:
    """Clusters of same-meaning questions; see the module docstring."""
    parent: dict[str, str] = {}
    order: dict[str, int] = {}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    degree: dict[str, int] = defaultdict(int)
    for a, b, same in pairs:
        for x in (a, b):
            if x not in parent:
                parent[x] = x
                order[x] = len(order)
        if same and a != b:
            degree[a] += 1
            degree[b] += 1
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[ra] = rb
    clusters: dict[str, list[str]] = defaultdict(list)
    for x in order:
        clusters[find(x)].append(x)
    faq = Faq(docs=[])
    for members in clusters.values():
        members.sort(key=lambda x: (-degree[x], order[x]))
        if len(members) == 1:
            if similar == 0:
                faq.docs.append((members[0], []))
            continue
        if len(members) <= similar + 1:
            faq.docs.append((members[0], members[1:]))  # too small to hold a query out
            continue
        faq.docs.append((members[0], members[1 : 1 + similar]))
        faq.queries.extend((q, len(faq.docs) - 1) for q in members[1 + similar :])
    if similar:
        # Distractors without similar questions as well, so the index is as hard as the plain one.
        clustered = {x for d in faq.docs for x in (d[0], *d[1])} | {q for q, _ in faq.queries}
        faq.docs.extend((x, []) for x in order if x not in clustered)
    return faq


def words(text: str) -> list[str]:
    """bm25s's tokens for the word baseline: jieba words, punctuation dropped, lower-cased.

    jieba's own ``lcut`` (with kefu's shop words and remembered HMM runs), exactly as this
    baseline ran before kefu's search got its faster copy of jieba's segmentation
    (``segment.tokens``, same words): the baseline is measured as it is.
    """
    jieba_words = [w for w in tokenizer().lcut(text.lower(), HMM=True) if not w.isspace()]
    return [w for w in jieba_words if _WORDISH.search(w)]


def chars(text: str) -> list[str]:
    """bm25s's tokens for the character baseline: unigrams and bigrams of each run of letters, digits, ideographs."""
    out: list[str] = []
    for run in _RUN.findall(text.lower()):
        out.extend(run)
        out.extend(run[i : i + 2] for i in range(len(run) - 1))
    return out


BASELINES = {"bm25s chars": chars, "bm25s words": words}


def is_tuning(query: str) -> bool:
    """The third of the queries that kefu's constants were fitted on; never scored below."""
    return zlib.crc32(normalize(query).text.encode()) % 3 == 0


def bm25s_index(texts: list[str], tokens) -> bm25s.BM25:
    retriever = bm25s.BM25()
    retriever.index([tokens(t) or ["\x00"] for t in texts], show_progress=False)
    return retriever


def bm25s_search(retriever: bm25s.BM25, tokens, query: str, k: int) -> list[int]:
    res = retriever.retrieve([tokens(query) or ["\x00"]], k=k, show_progress=False)
    return [int(i) for i in res.documents[0]]


def metrics(ranks: list[int | None]) -> tuple[float, float, float]:
    """Recall@1, Recall@5 and MRR@10 (in %), from 1-based ranks (None = not in top 10)."""
    n = len(ranks)
    r1 = sum(1 for r in ranks if r == 1) / n
    r5 = sum(1 for r in ranks if r is not None and r <= 5) / n
    mrr = sum(1 / r for r in ranks if r is not None) / n
    return 100 * r1, 100 * r5, 100 * mrr


def rank_of(found: list[int], target: int) -> int | None:
    return found.index(target) + 1 if target in found else None


def faq_index(faq: Faq) -> SearchIndex:
    index = SearchIndex()
    index.bulk_load(Document(i, title, similar_questions=sq) for i, (title, sq) in enumerate(faq.docs))
    return index


def held_out(
    faq: Faq, max_queries: int, rng: random.Random, *, tuning: bool = False
) -> list[tuple[str, int]]:
    queries = [(q, t) for q, t in faq.queries if is_tuning(q) == tuning]
    return queries if len(queries) <= max_queries else rng.sample(queries, max_queries)


def reciprocal(ranks: list[int | None]) -> np.ndarray:
    return np.asarray([1 / r if r is not None else 0.0 for r in ranks])


def margin_interval(a: np.ndarray, b: np.ndarray, rng: random.Random) -> tuple[float, float]:
    """95 % paired bootstrap interval of mean(a - b) × 100 (1,000 resamples of the queries)."""
    diff = a - b
    gen = np.random.default_rng(rng.randrange(2**32))
    means = diff[gen.integers(0, len(diff), size=(1000, len(diff)))].mean(axis=1) * 100
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def score_set(faq: Faq, max_queries: int, rng: random.Random) -> dict[str, Any]:
    queries = held_out(faq, max_queries, rng)
    index = faq_index(faq)
    found = index.search_many([q for q, _ in queries], limit=10)
    ranks = {
        "kefu": [rank_of([h.doc_id for h in hits], t) for hits, (_, t) in zip(found, queries, strict=True)]
    }  # type: ignore[misc]
    texts = [" ".join((title, *sq)) for title, sq in faq.docs]
    for name, tokens in BASELINES.items():
        retriever = bm25s_index(texts, tokens)
        ranks[name] = [rank_of(bm25s_search(retriever, tokens, q, 10), t) for q, t in queries]
    res: dict[str, Any] = {name: metrics(r) for name, r in ranks.items()}
    kefu = reciprocal(ranks["kefu"])
    for name in BASELINES:
        res["ci " + name] = margin_interval(kefu, reciprocal(ranks[name]), rng)
    res["n"] = (len(queries), len(faq.docs))
    return res


def latency_corpus(n: int, rng: random.Random) -> tuple[list[Document], list[str]]:
    questions: dict[str, None] = {}
    for name in SETS:
        for a, b, _ in load_pairs(name):
            questions[a] = None
            questions[b] = None
    pool = list(questions)
    rng.shuffle(pool)
    reviews = [
        r[2]
        for r in list(csv.reader(_read(DATA / "online_shopping_10_cats/online_shopping_10_cats.csv")))[1:]
    ]
    titles, held_out = pool[:n], pool[n : n + 2000] or pool[:2000]
    docs = [Document(i, t, body=reviews[i % len(reviews)], category_id=i % 20) for i, t in enumerate(titles)]
    return docs, held_out


def percentile(xs: list[float], p: float) -> float:
    return float(np.percentile(np.asarray(xs), p))


def _timed(fn, arg, wall: list[float], cpu: list[float]) -> None:
    w0, c0 = time.perf_counter(), time.process_time()
    fn(arg)
    cpu.append(time.process_time() - c0)
    wall.append(time.perf_counter() - w0)


def rss_mb() -> float:
    """Resident set of this process in MB (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def build_memory(engine: str, n: int) -> tuple[float, float]:
    """MB the process grows by while building one engine's index of the latency corpus: after, and at peak.

    Run in a fresh process (``--memory-of``), so that memory freed by earlier work
    cannot be reused and hide the growth. Freed heap is returned to the system before
    and after the build for every engine alike (kefu's ``bulk_load`` does it itself),
    and a thread samples the resident set every 5 ms for the peak.
    """
    docs, _ = latency_corpus(n, random.Random(n))
    texts = [f"{d.title} {d.body}" for d in docs]
    tokenizer()
    gc.collect()
    release_free_memory()
    before = rss_mb()
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.005):
            peak[0] = max(peak[0], rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    if engine == "kefu":
        built: object = SearchIndex()
        built.bulk_load(docs)  # type: ignore[attr-defined]
    else:
        built = bm25s_index(texts, BASELINES[engine])
    done.set()
    sampler.join()
    gc.collect()
    release_free_memory()
    after = rss_mb()
    return after - before, max(peak[0], after) - before


def memory_in_fresh_process(engine: str, n: int) -> tuple[float, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--memory-of", engine, str(n)], capture_output=True, text=True, check=True
    )
    after, peak = out.stdout.strip().splitlines()[-1].split()
    return float(after), float(peak)


def time_latency(n: int, n_queries: int, rng: random.Random) -> dict[str, object]:
    docs, queries = latency_corpus(n, rng)
    queries = queries[:n_queries]
    texts = [f"{d.title} {d.body}" for d in docs]
    tokenizer()  # jieba's dictionary is loaded before anything is measured
    c0 = time.process_time()
    index = SearchIndex()
    index.bulk_load(docs)
    load = {"kefu": time.process_time() - c0}
    retrievers = {}
    for name, tokens in BASELINES.items():
        c0 = time.process_time()
        retrievers[name] = bm25s_index(texts, tokens)
        load[name] = time.process_time() - c0
    memory = {name: memory_in_fresh_process(name, n) for name in ("kefu", *BASELINES)}
    engines = {
        name: (lambda q, r=retrievers[name], t=tokens: bm25s_search(r, t, q, 10))
        for name, tokens in BASELINES.items()
    }
    engines["kefu"] = lambda q: index.search(q, limit=10, snippets=False)
    engines["kefu+snippets"] = lambda q: index.search(q, limit=10)
    for q in queries[:20]:  # warm caches of all
        for fn in engines.values():
            fn(q)
    wall: dict[str, list[float]] = {name: [] for name in engines}
    cpu: dict[str, list[float]] = {name: [] for name in engines}
    # Interleaved, so that load from other processes hits all engines alike.
    for q in queries:
        for name, fn in engines.items():
            _timed(fn, q, wall[name], cpu[name])
    c0 = time.process_time()
    index.search_many(queries, limit=10)
    batch_ms = (time.process_time() - c0) / len(queries) * 1000
    # An edit then a search: what an admin saving an article and checking it waits for.
    c0 = time.process_time()
    for i in range(50):
        d = docs[i]
        index.upsert(Document(d.id, d.title + " 更新", body=d.body, category_id=d.category_id))
        index.search(d.title, limit=10)
    edit_ms = (time.process_time() - c0) / 50 * 1000
    ms = {
        name: (
            percentile(wall[name], 50) * 1000,
            percentile(wall[name], 99) * 1000,
            percentile(cpu[name], 50) * 1000,
            percentile(cpu[name], 99) * 1000,
            float(np.mean(cpu[name])) * 1000,
        )
        for name in engines
    }
    return {
        "ms": ms,
        "load": load,
        "memory": memory,
        "arrays": index.memory_bytes() / 1e6,
        "edit_ms": edit_ms,
        "batch_ms": batch_ms,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer queries, 10k latency only")
    parser.add_argument("--no-latency", action="store_true")
    parser.add_argument("--no-ranking", action="store_true")
    parser.add_argument("--memory-of", nargs=2, metavar=("ENGINE", "DOCS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_of:
        print("{:.1f} {:.1f}".format(*build_memory(args.memory_of[0], int(args.memory_of[1]))))
        return 0
    rng = random.Random(20261202)
    max_queries = 300 if args.quick else 2000
    print(f"# kefu knowledge-base search vs plain BM25 — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"# ranking: up to {max_queries} held-out queries per set (none of the tuning third); MRR@10 and R@1 in %"
    )
    print(
        f"{'set':<14}{'queries':>8}{'docs':>7}  {'kefu MRR':>8}{'R@1':>6}  {'chars MRR':>9}{'R@1':>6}"
        f"  {'words MRR':>9}{'R@1':>6}  {'kefu - chars [95 %]':<20} {'kefu - words [95 %]'}"
    )
    wins = True
    for name in () if args.no_ranking else SETS:
        pairs = load_pairs(name)
        for similar in (0, 1):
            faq = build_faq(pairs, similar=similar)
            if len(faq.queries) < 50:  # AFQMC dev has almost no cluster of three
                continue
            res = score_set(faq, max_queries, rng)
            k, c, w = res["kefu"], res["bm25s chars"], res["bm25s words"]
            wins &= k[2] > c[2] and k[2] > w[2]
            label = name + ("+sq" if similar else "")
            (c_lo, c_hi), (w_lo, w_hi) = res["ci bm25s chars"], res["ci bm25s words"]
            print(
                f"{label:<14}{res['n'][0]:>8}{res['n'][1]:>7}  {k[2]:>8.1f}{k[0]:>6.1f}  {c[2]:>9.1f}{c[0]:>6.1f}"
                f"  {w[2]:>9.1f}{w[0]:>6.1f}  {k[2] - c[2]:>+5.1f} [{c_lo:+.1f}, {c_hi:+.1f}]"
                f" {k[2] - w[2]:>+5.1f} [{w_lo:+.1f}, {w_hi:+.1f}]",
                flush=True,
            )
    if not args.no_ranking:
        print(f"# kefu MRR above both bm25s baselines on every row: {'yes' if wins else 'NO'}")
    if args.no_latency:
        return 0
    print("\n# latency per query in ms, top 10, from text (normalisation and tokenisation included for all).")
    print("# 'kefu' ranks only, as bm25s does; '+snippets' also renders ten highlighted snippets.")
    print("# cpu = process CPU time (wall is disturbed by other jobs on this shared machine);")
    print("# ratio = kefu CPU per query (mean) / bm25s words' and chars'; load = index build CPU s;")
    print(
        "# mem = RSS growth once that index alone is built, in a fresh process, MB; peak = its highest RSS growth."
    )
    print(
        f"{'docs':>8}  {'engine':<14}{'wall p50':>9}{'cpu p50':>8}{'p99':>7}{'mean':>7}"
        f"{'/words':>8}{'/chars':>8}{'load s':>8}{'mem MB':>8}{'peak':>8}"
    )
    for n in (10_000,) if args.quick else (10_000, 100_000):
        lat = time_latency(n, 300 if args.quick else 1000, rng)
        ms, load, memory = lat["ms"], lat["load"], lat["memory"]
        for name, (w50, _w99, c50, c99, mean) in ms.items():  # type: ignore[attr-defined]
            ratios = " " * 16
            if name.startswith("kefu"):
                ratios = f"{mean / ms['bm25s words'][4]:>8.2f}{mean / ms['bm25s chars'][4]:>8.2f}"  # type: ignore[index]
            built = (
                f"{load[name]:>8.1f}{memory[name][0]:>8.0f}{memory[name][1]:>8.0f}" if name in load else ""
            )  # type: ignore[operator,index]
            print(
                f"{n:>8}  {name:<14}{w50:>9.2f}{c50:>8.2f}{c99:>7.2f}{mean:>7.2f}{ratios}{built}", flush=True
            )
        print(
            f"{n:>8}  kefu arrays {lat['arrays']:.0f} MB; search_many {lat['batch_ms']:.2f} ms cpu per query;"
            f" edit (upsert + search) {lat['edit_ms']:.2f} ms cpu",
            flush=True,
        )
    print(f"# python {sys.version.split()[0]}, bm25s {bm25s.__version__}, {os.cpu_count()} cores shared")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
