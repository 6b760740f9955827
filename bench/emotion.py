"""Emotion: kefu vs SnowNLP vs cnsenti on held-out review and Weibo rows.

    .venv/bin/python bench/emotion.py [--limit N]

``--limit`` caps the rows scored per dataset (default 800, a few minutes on a
shared 2-core machine; SnowNLP is the slow one). ``--limit 0`` scores every row.
"""

from __future__ import annotations

import argparse

from kefu.nlp.evaluate import DEFAULT_EMOTION_LIMIT, emotion_scores, machine_note, render


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=DEFAULT_EMOTION_LIMIT, help="rows per dataset, 0 = all")
    args = parser.parse_args()
    print(machine_note())
    scores = emotion_scores(args.limit or None)
    print(render(scores, title="Emotion (held-out rows; reviews exclude SnowNLP's training lines)"))
    by = {(s.dataset, s.system): s.accuracy for s in scores}
    print("\nkefu model minus SnowNLP, accuracy points:")
    for dataset in sorted({s.dataset for s in scores}):
        kefu = by.get((dataset, "kefu model"), by.get((dataset, "kefu")))
        snow = by.get((dataset, "SnowNLP"))
        if kefu is not None and snow is not None:
            print(f"  {dataset:<26} {100 * (kefu - snow):+.1f}")
    review_sets = {"online_shopping_10_cats", "chnsenticorp_htl_all", "chnsenticorp"}
    pooled = {}
    for system in ("kefu model", "SnowNLP", "cnsenti"):
        rows = [s for s in scores if s.dataset in review_sets and s.system == system]
        if rows:
            total = sum(s.rows for s in rows)
            pooled[system] = sum((s.accuracy or 0.0) * s.rows for s in rows) / total
    if pooled:
        print("\nreview sets pooled (row-weighted accuracy):")
        for system, acc in pooled.items():
            print(f"  {system:<12} {acc:.3f}")


if __name__ == "__main__":
    main()
