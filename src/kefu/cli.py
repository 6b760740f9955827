"""The ``kefu`` command: Django's management commands with kefu's settings.

kefu serve        migrate-free server (uvicorn, websockets, SMTP listener)
kefu migrate      create or update the database
kefu createuser   add a desk user with a role
kefu demo         load the demo shop
kefu worker       run background tasks and SLA timers
kefu nlp …        train / evaluate / analyze the text models
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu.settings")
    from django.core.management import execute_from_command_line

    args = list(sys.argv[1:] if argv is None else argv)
    execute_from_command_line(["kefu", *args])


if __name__ == "__main__":
    main()
