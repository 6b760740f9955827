"""Emotion: kefu vs SnowNLP vs cnsenti on held-out review and Weibo rows.

    .venv/bin/python bench/emotion.py [--limit N]

Scores every held-out row by default (about 17,000 rows; a few minutes on a 2-core
machine, SnowNLP and cnsenti being the slow ones). ``--limit N`` takes N rows per
set, spread evenly, for a quick look: with 800 rows one system's accuracy has a
standard error of about a point, so read the margins' intervals.
"""

from __future__ import annotations

import argparse

from kefu.nlp.evaluate import emotion_report, machine_note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=0, help="rows per dataset, 0 = every held-out row")
    args = parser.parse_args()
    print(machine_note())
    print(emotion_report(args.limit or None))


if __name__ == "__main__":
    main()
