"""Benchmark the reply-quality rules: speed per reply and per-rule precision/recall.

Usage: .venv/bin/python bench/quality.py [--rounds N] [--errors]

Speed is measured over the labelled replies at their real length, each reply
checked once per round with its own context, after one warm-up round (which
compiles the rule set). Precision/recall count, per reply, whether a rule fired at
all against whether the label says it should. Splits: "dev" was used to tune the
phrase lists; "holdout1" was written after the first tuning round and then tuned on
in the second; "holdout2" was written after the second round and never tuned on.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import time
from pathlib import Path

from kefu.nlp.pii import mask_pii
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


def timed(title: str, cases: list[tuple[str, ReplyContext]], rounds: int) -> None:
    """Print throughput and wall-clock and CPU-time percentiles of check_reply over ``cases``."""
    wall: list[float] = []
    cpu: list[float] = []
    started = time.perf_counter()
    for _ in range(rounds):
        for reply, ctx in cases:
            w0, c0 = time.perf_counter_ns(), time.thread_time_ns()
            check_reply(reply, ctx)
            cpu.append((time.thread_time_ns() - c0) / 1000)
            wall.append((time.perf_counter_ns() - w0) / 1000)
    elapsed = time.perf_counter() - started
    wall.sort()
    cpu.sort()
    mean_len = statistics.mean(len(r) for r, _ in cases)
    print(f"\n{title} (mean {mean_len:.0f} chars): {len(wall)} checks, {len(wall) / elapsed:,.0f} checks/s")
    for name, values in (("wall", wall), ("cpu ", cpu)):
        print(
            f"  {name} µs: p50 {percentile(values, 0.50):.0f}  p90 {percentile(values, 0.90):.0f}  "
            f"p99 {percentile(values, 0.99):.0f}  max {values[-1]:.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--errors", action="store_true", help="list every false positive and false negative")
    args = parser.parse_args()
    rows = load()

    for _, reply, ctx, _ in rows:  # warm-up: compiles the matchers
        check_reply(reply, ctx)
    lengths = [len(r) for _, r, _, _ in rows]
    print(
        f"# reply-quality bench, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, rule set {DEFAULT_RULESET.name} v{DEFAULT_RULESET.version}"
    )
    print(
        f"replies: {len(rows)} (length {min(lengths)}–{max(lengths)} chars, mean {statistics.mean(lengths):.0f})"
    )
    cases = [(reply, ctx) for _, reply, ctx, _ in rows]
    timed("labelled replies as written", cases, args.rounds)
    # Long drafts: four labelled replies run together (~110 chars on average).
    long_cases = [("".join(r for r, _ in cases[i : i + 4]), cases[i][1]) for i in range(0, len(cases) - 3)]
    timed("four replies joined", long_cases, max(1, args.rounds // 4))
    texts = [r for r, _ in cases] + [c.customer_last_message for _, c in cases]
    started = time.perf_counter()
    for _ in range(args.rounds):
        for text in texts:
            mask_pii(text)
    elapsed = time.perf_counter() - started
    n = args.rounds * len(texts)
    print(
        f"\nmask_pii over replies and customer messages: {n / elapsed:,.0f} texts/s ({elapsed / n * 1e6:.1f} µs each)"
    )

    errors: list[str] = []
    splits = list(dict.fromkeys(r[0].get("split", "dev") for r in rows))
    for split in [*splits, None]:
        chosen = [r for r in rows if split is None or r[0].get("split", "dev") == split]
        errors += report(chosen, split or "all")
    if args.errors:
        print()
        print("\n".join(sorted(errors)))


if __name__ == "__main__":
    main()
