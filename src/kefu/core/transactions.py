"""Best-effort work inside someone else's transaction.

A customer's message or an agent's reply is stored in one transaction with the
bookkeeping around it: text understanding, the reply's quality findings, the promises
it makes. That bookkeeping must never cost the message. Catching the exception is not
enough on PostgreSQL: a failed statement aborts the whole transaction, and every later
statement (the message's own) fails with it. ``best_effort`` runs the work in a
savepoint, so a failure rolls back to it and the caller's transaction goes on;
``transaction.on_commit`` callbacks the work registered are discarded with it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import transaction

log = logging.getLogger(__name__)


def best_effort[T, **P](what: str, default: T, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``work(*args, **kwargs)`` in a savepoint; on any error, log ``what`` and return ``default``.

    Meant to be called inside the caller's ``transaction.atomic()``.
    """
    try:
        with transaction.atomic():
            return work(*args, **kwargs)
    except Exception:
        log.exception("%s failed; the rest of the transaction goes on", what)
        return default
