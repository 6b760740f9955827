"""Emotion: kefu against a plain TF-IDF + logistic regression, each domain left out in turn.

    .venv/bin/python bench/emotion.py [--limit N] [--snownlp]
    .venv/bin/python bench/emotion.py --dev [--splits hotels,weibo] [--limit 5000]

One run prints:

* the cross-domain table: for every split both systems are trained on the same
  rows (one domain left out) and scored on that domain's held-out rows, with the
  margin's 95 % paired bootstrap interval and the issue's goal (polarity +2 points,
  four emotions +3 macro-F1); the in-domain rows come first. About 25 minutes at
  load 5–9 on the shared 2-core machine (each split retrains both systems on ~55,000
  rows, 35,400 of them the repeated seeds); ``--train-rows 1000 --limit 500`` for a
  quicker, noisier look. The row counts are printed;
* customers ending dissatisfied in the STC-3 helpdesk dialogues (5-fold, dev figures);
* the desk fixture: the share of ordinary questions read calm and of complaints read
  not calm (``tests/nlp/data/desk_calm_complaints.jsonl``);
* with ``--snownlp``, the in-domain table against SnowNLP and cnsenti (a few more
  minutes; ``--limit N`` takes N rows per set there and N test rows per split).

``--dev`` prints only the cross-domain table, scored on the left-out domains'
*training* rows: the split to choose a setting on, so that the held-out rows of the
default run never inform a choice. ``--splits`` runs only the named splits.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kefu.nlp.conversation import conversation_report
from kefu.nlp.emotion import analyze_message
from kefu.nlp.evaluate import EVALDATA_DIR, cross_domain_report, machine_note, snownlp_report

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "nlp" / "data" / "desk_calm_complaints.jsonl"


def fixture_rates() -> str:
    rows = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines() if line.strip()]
    ordinary = [r["text"] for r in rows if r["kind"] == "ordinary"]
    complaints = [r["text"] for r in rows if r["kind"] == "complaint"]
    calm = sum(analyze_message(t).label == "calm" for t in ordinary) / len(ordinary)
    flagged = sum(analyze_message(t).label != "calm" for t in complaints) / len(complaints)
    return (
        f"Desk fixture: {len(ordinary)} ordinary questions read calm {calm:.1%} (goal >= 95 %); "
        f"{len(complaints)} complaints read not calm {flagged:.1%} (goal >= 90 %)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=0, help="test rows per split / per set, 0 = default")
    parser.add_argument(
        "--train-rows", type=int, default=0, help="training rows per domain and split, 0 = default (2,500)"
    )
    parser.add_argument("--snownlp", action="store_true", help="also the in-domain table against SnowNLP")
    parser.add_argument(
        "--dev", action="store_true", help="score the left-out domains' training rows (for choosing settings)"
    )
    parser.add_argument(
        "--splits", default="", help="comma-separated splits to run, e.g. in-domain,hotels,weibo"
    )
    args = parser.parse_args()
    print(machine_note(), flush=True)
    progress = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    print(
        cross_domain_report(
            train_cap=args.train_rows or None,
            test_cap=args.limit or None,
            dev=args.dev,
            splits=[s.strip() for s in args.splits.split(",") if s.strip()] or None,
            progress=progress,
        )
    )
    if args.dev:
        return
    print()
    print(conversation_report(EVALDATA_DIR))
    print()
    print(fixture_rates())
    if args.snownlp:
        print()
        print(snownlp_report(args.limit or None))


if __name__ == "__main__":
    main()
