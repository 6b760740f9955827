"""Benchmark the reply-quality rules: speed per reply and per-rule precision/recall.

Usage: .venv/bin/python bench/quality.py [--rounds N] [--errors]

Speed is measured over the labelled replies at their real length, each reply
checked once per round with its own context, after one warm-up round (which
compiles the rule set). Precision/recall count, per reply, whether a rule fired at
all against whether the label says it should; the "dev" split was used to tune the
phrase lists, the "holdout" split was written afterwards and never tuned on.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import time
from pathlib import Path

from kefu.quality.rules import DEFAULT_RULESET, ReplyContext, check_reply
from kefu.quality.rulesets import RULE_IDS

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "quality_replies.jsonl"


def load() -> list[tuple[dict, str, ReplyContext, set[str]]]:
    rows = []
    with DATA.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                rows.append((row, row["reply"], ReplyContext(**row["context"]), set(row["expect"])))
    return rows


def percentile(sorted_values: list[float], q: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def report(rows: list[tuple[dict, str, ReplyContext, set[str]]], title: str) -> list[str]:
    """Print the per-rule table for ``rows``; return their error lines."""
    tp = dict.fromkeys(RULE_IDS, 0)
    fp = dict.fromkeys(RULE_IDS, 0)
    fn = dict.fromkeys(RULE_IDS, 0)
    errors: list[str] = []
    exact = 0
    for row, reply, ctx, expected in rows:
        fired = {f.rule for f in check_reply(reply, ctx)}
        exact += fired == expected
        for rule in RULE_IDS:
            if rule in fired and rule in expected:
                tp[rule] += 1
            elif rule in fired:
                fp[rule] += 1
                errors.append(f"FP {rule:24} {row['id']} {reply}")
            elif rule in expected:
                fn[rule] += 1
                errors.append(f"FN {rule:24} {row['id']} {reply}")
    print(f"\n## {title}: {len(rows)} replies, {exact} with exactly the labelled rules firing")
    print("\n| rule | labelled | TP | FP | FN | precision | recall |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for rule in RULE_IDS:
        p = f"{tp[rule] / (tp[rule] + fp[rule]):.2f}" if tp[rule] + fp[rule] else "–"
        r = f"{tp[rule] / (tp[rule] + fn[rule]):.2f}" if tp[rule] + fn[rule] else "–"
        print(f"| {rule} | {tp[rule] + fn[rule]} | {tp[rule]} | {fp[rule]} | {fn[rule]} | {p} | {r} |")
    total_tp, total_fp, total_fn = sum(tp.values()), sum(fp.values()), sum(fn.values())
    print(
        f"| **all (micro)** | {total_tp + total_fn} | {total_tp} | {total_fp} | {total_fn} | "
        f"{total_tp / max(1, total_tp + total_fp):.2f} | {total_tp / max(1, total_tp + total_fn):.2f} |"
    )
    return errors if title != "all" else []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--errors", action="store_true", help="list every false positive and false negative")
    args = parser.parse_args()
    rows = load()

    for _, reply, ctx, _ in rows:  # warm-up: compiles the matchers
        check_reply(reply, ctx)
    latencies: list[float] = []
    started = time.perf_counter()
    for _ in range(args.rounds):
        for _, reply, ctx, _ in rows:
            t0 = time.perf_counter_ns()
            check_reply(reply, ctx)
            latencies.append((time.perf_counter_ns() - t0) / 1000)
    elapsed = time.perf_counter() - started
    latencies.sort()
    lengths = [len(r) for _, r, _, _ in rows]

    print(f"# reply-quality bench, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"replies: {len(rows)} (length {min(lengths)}–{max(lengths)} chars, mean {statistics.mean(lengths):.0f})"
    )
    print(f"checks: {len(latencies)} in {elapsed:.2f} s → {len(latencies) / elapsed:,.0f} checks/s")
    print(
        f"latency µs: p50 {percentile(latencies, 0.50):.0f}  p90 {percentile(latencies, 0.90):.0f}  "
        f"p99 {percentile(latencies, 0.99):.0f}  max {latencies[-1]:.0f}"
    )

    errors: list[str] = []
    for split in ("dev", "holdout", None):
        chosen = [r for r in rows if split is None or r[0].get("split", "dev") == split]
        errors += report(chosen, split or "all")
    if args.errors:
        print()
        print("\n".join(sorted(errors)))
    print(f"\nrule set: {DEFAULT_RULESET.name} v{DEFAULT_RULESET.version}")


if __name__ == "__main__":
    main()
