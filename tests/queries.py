"""Counting the SQL a page costs, for the tests that its queries do not grow with the rows."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext


def page_queries(client: Any, url: str) -> int:
    """Queries of one GET of ``url`` (answered 200), after a first GET that is not counted
    (the session's first touch writes to it)."""
    client.get(url)
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)
