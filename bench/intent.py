"""Intent: kefu's IntentClassifier vs TF-IDF 1-NN on SMP2017, BANKING77 and CLINC150.

    .venv/bin/python bench/intent.py [--limit N]

Both systems are trained on each set's training part in the same run. CLINC150's
out-of-scope rows count as correct only when the system says "don't know".
"""

from __future__ import annotations

import argparse

from kefu.nlp.evaluate import intent_scores, machine_note, render


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=0, help="test rows per dataset, 0 = all")
    args = parser.parse_args()
    print(machine_note())
    print(render(intent_scores(args.limit or None), title="Intent"))


if __name__ == "__main__":
    main()
