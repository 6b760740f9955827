"""Load at start-up what the first requests would otherwise wait for.

A fresh server process loads jieba's dictionary, OpenCC, the emotion and intent models and
builds the knowledge-base index on first use: one to two seconds on a quiet machine, far
more on a busy one, all of it spent inside the first customer's message or the first
agent's suggestion panel (「正在查找相关答案…」). ``kefu serve`` runs this in a
background thread while it starts listening; a request that arrives first simply does
the same work itself (every loader is safe to call from two threads).
"""

from __future__ import annotations

import logging
import time

from django.db import close_old_connections, connection

from kefu.kb.index import search_index
from kefu.understanding.services import analyze_text

log = logging.getLogger(__name__)

SAMPLE = "你好，我昨天买的保温杯漏水了，可以退货吗？"


def warm_up(*, kb: bool = True) -> float:
    """Load the text models and (``kb``) the KB index; returns the seconds it took (0 if it failed).

    The worker passes ``kb=False``: its tasks read text (incident detection, surveys) but
    do not search the knowledge base, whose index is large on a large shop.
    """
    started = time.monotonic()
    try:
        close_old_connections()
        analyze_text(SAMPLE)
        if kb:
            search_index().search(SAMPLE, limit=3)
    except Exception:  # a server must start even if, say, the database is not up yet
        log.warning("warm-up failed; the first requests load what they need", exc_info=True)
        return 0.0
    finally:
        connection.close()  # this thread's connection is not reused
    took = time.monotonic() - started
    log.info("warm-up: text models%s loaded in %.1f s", " and knowledge-base index" if kb else "", took)
    return took
