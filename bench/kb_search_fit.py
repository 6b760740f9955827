"""Fit kefu's search weights and its confidence on the tuning third of the question-matching sets.

The same FAQs as ``bench/kb_search.py``, but only the queries that bench never scores
(``is_tuning``). Prints mean MRR@10 for a grid of bigram and character weights, then a
logistic regression of "the top hit is right" on the top hit's share of the query's
own score and its lead over the second hit: the ``Ranking.confidence`` constants. Each
tuning query counts twice for that fit, with its answer in the FAQ and with it
unpublished, so the confidence also learns what an unanswerable question looks like.

    .venv/bin/python bench/kb_search_fit.py [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kb_search import SETS, build_faq, faq_index, held_out, load_pairs, metrics, rank_of
from kefu.nlp.search import Ranking


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 tuning queries per set")
    parser.add_argument("--bigram", type=float, nargs="*", default=[0.3, 0.65, 1.0])
    parser.add_argument("--char", type=float, nargs="*", default=[2.0, 3.0, 4.0, 6.0])
    args = parser.parse_args(argv)
    rng = random.Random(20261202)
    max_queries = 300 if args.quick else 1000
    grid = [(b, c) for b in args.bigram for c in args.char]
    mrr: dict[tuple[float, float], list[float]] = {g: [] for g in grid}
    rows = []
    for name in SETS:
        pairs = load_pairs(name)
        for similar in (0, 1):
            faq = build_faq(pairs, similar=similar)
            if len(faq.queries) < 50:
                continue
            queries = held_out(faq, max_queries, rng, tuning=True)
            index = faq_index(faq)
            rows.append((name + ("+sq" if similar else ""), index, queries))
            for b, c in grid:
                index.ranking = dataclasses.replace(Ranking(), bigram_weight=b, char_weight=c)
                found = index.search_many([q for q, _ in queries], limit=10)
                ranks = [
                    rank_of([h.doc_id for h in hits], t) for hits, (_, t) in zip(found, queries, strict=True)
                ]
                mrr[(b, c)].append(metrics(ranks)[2])
            print(rows[-1][0], len(queries), file=sys.stderr, flush=True)
    print("bigram  char   mean MRR  " + " ".join(f"{r[0][:9]:>9}" for r in rows))
    for (b, c), values in mrr.items():
        print(f"{b:>6}{c:>6}{np.mean(values):>11.2f}  " + " ".join(f"{v:>9.1f}" for v in values))
    # Confidence, with the shipped ranking: top-1 share of the query's self score and lead.
    # Every tuning query is asked twice: as it is (its answer is indexed; the label is
    # whether the top hit is it), and with its answer unpublished (any top hit is wrong),
    # so that the fit also learns what a question the FAQ cannot answer looks like.
    x, y = [], []
    for _, index, queries in rows:
        index.ranking = Ranking()
        for q, t in queries:
            for answerable in (True, False):
                if not answerable:
                    index.set_status(t, "draft")
                with index._lock:  # the fit reads the same numbers the index computes per search
                    parsed = index._parse(q)
                    slots, final, self_score = index._rank(
                        parsed, index.ranking.rerank_depth, ("published",), None
                    )
                if not answerable:
                    index.set_status(t, "published")
                if not len(final) or self_score <= 0:
                    continue
                second = float(final[1]) if len(final) > 1 else 0.0
                x.append((float(final[0]) / self_score, (float(final[0]) - second) / self_score))
                y.append(answerable and index._slot_id[int(slots[0])] == t)
    model = LogisticRegression(C=100.0).fit(np.asarray(x), np.asarray(y))
    a, b = model.coef_[0]
    print(
        f"confidence = sigmoid({a:.2f} × share + {b:.2f} × lead + {model.intercept_[0]:.2f}) on {len(y)} top hits"
    )
    p = model.predict_proba(np.asarray(x))[:, 1]
    for lo in np.arange(0.0, 1.0, 0.1):
        sel = (p >= lo) & (p < lo + 0.1)
        if sel.any():
            print(
                f"  predicted {lo:.1f}-{lo + 0.1:.1f}: {sel.sum():>5} hits, right {np.mean(np.asarray(y)[sel]):.2f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
