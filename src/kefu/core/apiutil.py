"""Small shared pieces of the REST API: strict input schemas and limit/offset pages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.db.models import QuerySet
from ninja import Schema
from pydantic import ConfigDict

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

T = TypeVar("T")


class StrictIn(Schema):
    """Request bodies refuse unknown fields, so a typo is a 422 naming it, not a silent no-op."""

    model_config = ConfigDict(extra="forbid")


def page(
    qs: QuerySet[Any], *, limit: int, offset: int, present: Callable[[Any], dict[str, Any]]
) -> dict[str, Any]:
    """One page of ``qs``: ``{"count", "limit", "offset", "items"}``."""
    items = [present(obj) for obj in qs[offset : offset + limit]]
    return {"count": qs.count(), "limit": limit, "offset": offset, "items": items}
