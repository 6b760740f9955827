"""kefu nlp train | evaluate | analyze "text" | retrain-intents"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from kefu.nlp.analyze import analyze_text
from kefu.nlp.evaluate import run_evaluation
from kefu.nlp.train import DATA_DIR, EVALDATA_DIR, train_all
from kefu.understanding.reading import sync_shop_words
from kefu.understanding.services import do_retrain_intents


class Command(BaseCommand):
    help = "Text understanding: train the models, evaluate them, analyse a text, retrain intents with corrections."

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        train = sub.add_parser(
            "train", help="rebuild the committed models from the labelled sets (bit-for-bit)"
        )
        train.add_argument("--out", default=None, help="output folder (default: the package's data folder)")
        train.add_argument(
            "--evaldata", default=None, help="folder of the labelled sets (default: ../shared/evaldata)"
        )
        evaluate = sub.add_parser("evaluate", help="print the accuracy tables")
        evaluate.add_argument(
            "--limit", type=int, default=None, help="rows per set (default: every held-out row)"
        )
        analyze = sub.add_parser("analyze", help="show what kefu understands of a text")
        analyze.add_argument("text")
        sub.add_parser("retrain-intents", help="retrain the intent model with agents' corrections")

    def handle(self, *args: Any, **opts: Any) -> None:
        action = opts["action"]
        if action == "train":
            paths = train_all(opts["out"] or DATA_DIR, opts["evaldata"] or EVALDATA_DIR)
            for p in paths:
                self.stdout.write(f"wrote {p}")
        elif action == "evaluate":
            self.stdout.write(run_evaluation(opts["limit"] or None))
        elif action == "analyze":
            if not opts["text"].strip():
                raise CommandError("text must not be empty")
            try:
                sync_shop_words()
            except Exception:  # no database yet: analyse with the built-in dictionary
                pass
            self.stdout.write(analyze_text(opts["text"]))
        elif action == "retrain-intents":
            self.stdout.write(f"wrote {do_retrain_intents()}")
