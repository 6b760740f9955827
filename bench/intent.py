"""Intent: kefu's IntentClassifier vs TF-IDF 1-NN on SMP2017, BANKING77 and CLINC150.

    .venv/bin/python bench/intent.py [--limit N]

Both systems are trained on each set's training part in the same run. CLINC150's
out-of-scope rows count as correct only when the system says "don't know". The
rejection rule (kefu's don't-know threshold, and the 1-NN's) is printed beside the
table, then ``predict`` against ``predict_many`` on the committed classifier.
"""

from __future__ import annotations

import argparse
import time

from kefu.nlp.evaluate import NN_THRESHOLD, intent_scores, machine_note, realistic_messages, render
from kefu.nlp.intent import default_classifier


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=0, help="test rows per dataset, 0 = all")
    args = parser.parse_args()
    print(machine_note())
    print(render(intent_scores(args.limit or None), title="Intent"))
    classifier = default_classifier()
    print(f"\nrejection rule, kefu: {classifier.rejection_rule}")
    print(
        f"rejection rule, 1-NN tf-idf: don't know when the nearest example's cosine is below {NN_THRESHOLD}"
    )
    texts = realistic_messages() * 10
    start = time.process_time()
    one_by_one = [classifier.predict(t) for t in texts]
    single = len(texts) / (time.process_time() - start)
    start = time.process_time()
    batch = classifier.predict_many(texts)
    many = len(texts) / (time.process_time() - start)
    same = "identical" if batch == one_by_one else "DIFFERENT"
    print(
        f"committed classifier on {len(texts):,} desk-like messages: predict {single:,.0f} msg per CPU-second,"
        f" predict_many {many:,.0f} ({many / single:.1f}x); answers {same}"
    )


if __name__ == "__main__":
    main()
