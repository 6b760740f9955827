"""A separate server process for the assignment race test (run with ``python -m``).

Connects to the database named in ``KEFU_DATABASE_URL``, prints ``ready``, waits for a
line on stdin so all workers start together, calls ``do_try_assign`` on every
conversation id (in its own shuffled order, twice over) and prints one JSON line.
"""

from __future__ import annotations

import json
import random
import sys


def main() -> None:
    import django

    django.setup()
    from django.db import connection

    from kefu.routing.assignment import do_try_assign

    ids: list[int] = json.loads(sys.argv[1])
    rng = random.Random(int(sys.argv[2]))
    connection.ensure_connection()
    print("ready", flush=True)
    sys.stdin.readline()
    assigned: list[tuple[int, int]] = []
    errors: list[str] = []
    for _ in range(2):
        order = ids[:]
        rng.shuffle(order)
        for conversation_id in order:
            try:
                agent = do_try_assign(conversation_id)
            except Exception as exc:  # reported to the test, which fails on any
                errors.append(f"{type(exc).__name__}: {exc}")
            else:
                if agent is not None:
                    assigned.append((conversation_id, agent.pk))
    connection.close()
    print(json.dumps({"assigned": assigned, "errors": errors}), flush=True)


if __name__ == "__main__":
    main()
