"""Fixtures shared by the fault tests: a private Redis (never the machine's own)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .instances import PrivateRedis, unavailable_reason


@pytest.fixture(scope="module")
def redis() -> Iterator[PrivateRedis]:
    """A Redis of the module's own, started; stopping and starting it touches nobody else."""
    if reason := unavailable_reason():
        pytest.skip(reason)
    with PrivateRedis() as r:
        yield r.start()
