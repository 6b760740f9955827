"""kefu's search at another revision against this checkout's, with both bm25s baselines, in one process.

The before/after of a change to ``kefu/nlp/search.py``: the same 10,000-article corpus
and held-out queries as ``bench/kb_search.py``'s latency rows, every engine timed from
the query text and interleaved per query in a rotating order, so the machine's load
hits all alike. The older ``search.py`` is read from git and runs against this
checkout's other modules. Also counts the queries whose top 10 (ids, scores and
confidences to four places) are the same in both.

    .venv/bin/python bench/kb_search_ab.py --old-rev 88356f2 [--docs 10000] [--queries 1000]
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import kb_search as kb
from kefu.nlp.search import SearchIndex


def old_module(rev: str):
    source = subprocess.run(
        ["git", "show", f"{rev}:src/kefu/nlp/search.py"],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parent,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "search_before.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("search_before", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules["search_before"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old-rev", required=True)
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=1000)
    args = parser.parse_args()
    docs, queries = kb.latency_corpus(args.docs, random.Random(20261202))
    queries = queries[: args.queries]
    texts = [f"{d.title} {d.body}" for d in docs]
    kb.tokenizer()
    before = old_module(args.old_rev).SearchIndex()
    before.bulk_load(docs)
    after = SearchIndex()
    after.bulk_load(docs)
    retrievers = {name: kb.bm25s_index(texts, tokens) for name, tokens in kb.BASELINES.items()}
    engines = {
        name: (lambda q, r=retrievers[name], t=tokens: kb.bm25s_search(r, t, q, 10))
        for name, tokens in kb.BASELINES.items()
    }
    engines[f"kefu {args.old_rev}"] = lambda q: before.search(q, limit=10, snippets=False)
    engines["kefu now"] = lambda q: after.search(q, limit=10, snippets=False)

    def top(index, q):
        return [
            (h.doc_id, round(h.score, 4), round(h.confidence, 4)) for h in index.search(q, snippets=False)
        ]

    same = sum(top(before, q) == top(after, q) for q in queries)
    for q in queries[-20:]:  # warm up on queries that are not timed
        for fn in engines.values():
            fn(q)
    cpu: dict[str, list[float]] = {name: [] for name in engines}
    names = list(engines)
    for i, q in enumerate(queries):
        # The order rotates per query: on this machine the engine timed first in a
        # round reads up to 16 % slower (docs/nlp.md).
        for name in names[i % len(names) :] + names[: i % len(names)]:
            c0 = time.process_time()
            engines[name](q)
            cpu[name].append(time.process_time() - c0)
    mean = {name: float(np.mean(v)) * 1000 for name, v in cpu.items()}
    print(f"# kefu search before/after — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {args.docs} articles")
    print(f"# {len(queries)} held-out queries; identical top-10 before and after: {same}")
    print(f"{'engine':<22}{'cpu mean ms':>12}{'/words':>8}{'/chars':>8}")
    for name, ms in mean.items():
        ratios = ""
        if name.startswith("kefu"):
            ratios = f"{ms / mean['bm25s words']:>8.2f}{ms / mean['bm25s chars']:>8.2f}"
        print(f"{name:<22}{ms:>12.3f}{ratios}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
