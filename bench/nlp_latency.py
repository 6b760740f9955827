"""Per-message latency of normalise + emotion + intent, and messages per second.

.venv/bin/python bench/nlp_latency.py [--rounds N]
"""

from __future__ import annotations

import argparse

from kefu.nlp.evaluate import latency_scores, machine_note, render_pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="passes over the message set")
    args = parser.parse_args()
    print(machine_note())
    print(render_pairs(latency_scores(args.rounds), title="Latency (normalize + emotion + intent)"))


if __name__ == "__main__":
    main()
