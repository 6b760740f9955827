"""Every desk page, read by a user of each role with odd query strings or posted odd values in
every form field, answers with a page or a redirect or a 4xx — never a 500.

The pages are taken from the URL configuration itself (every pattern outside ``/api/``, which
``tests/api/test_fuzz.py`` covers from the OpenAPI document, and Django's own admin); path
parameters are filled with the demo shop's ids as in ``tests/test_permission_matrix.py``. Each
page is read plainly, then with every query parameter the desk's views read set to odd values
at once: empty, not a number, out of range, a NUL character, an impossible date, a huge string;
then an admin posts odd values in every field name the desk's templates and forms use.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from django.db import connection, transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

# The `world` fixture: the demo shop, a user per role, an id for each path parameter.
from .test_permission_matrix import World, world_fixture  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

# The query parameters the desk's views read (request.GET), each given the same odd value.
PARAMS = (
    "page after before cursor q status team team_id channel vip view priority period days "
    "category year week date date_from date_to from to since until tag state stale stage sort "
    "partial open metric locked link_from key embed edit edit_day customer conversation by actor "
    "action intent agent dimension kind mode limit offset next vt"
).split()
ODD = ["", "abc", "-1", "²", "999999999999999999", "a\x00b", "2026-13-45", "9" * 20_000, "1.5e308"]
ROLES = ("agent", "admin")
# On PostgreSQL (read and posted): what behaves differently from SQLite.
ODD_ON_POSTGRESQL = ["a\x00b", "999999999999999999"]
# Posted to every page as an admin, in every field any form of the desk has.
ODD_POSTED = ["-1", "²", "999999999999999999", "a\x00b", "9" * 20_000]
# KEFU_PAGES_EACH_PARAM=1: also each parameter alone (slow: minutes; not in `make test`).
EACH_PARAM = os.environ.get("KEFU_PAGES_EACH_PARAM") == "1"
EACH_PARAM_ODD = ["a\x00b", "999999999999999999", "²", "9" * 5_000]
SRC = Path(__file__).resolve().parents[1] / "src" / "kefu"


@functools.cache
def form_fields() -> list[str]:
    names = set()
    for path in SRC.rglob("*.html"):
        names.update(re.findall(r'name="([a-z_]+)"', path.read_text(encoding="utf-8")))
    for path in SRC.rglob("*.py"):
        names.update(re.findall(r"^\s+([a-z_]+) = forms\.", path.read_text(encoding="utf-8"), re.M))
    names.discard("csrfmiddlewaretoken")
    return sorted(names)


def _patterns(resolver: URLResolver | None = None, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for entry in (resolver or get_resolver()).url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _patterns(entry, route)
        else:
            yield route, entry


def pages() -> list[str]:
    out = []
    for route, _entry in _patterns():
        if route.startswith(("api/", "admin/", "^", "static/", "media/")) or "(?P" in route:
            continue
        out.append("/" + route)
    return sorted(set(out))


def fill(route: str, world: World) -> str:
    def value(m: re.Match[str]) -> str:
        name = m.group(2)
        if name == "token":
            return "not-a-token"
        if name == "key":
            return "not-a-key"
        if name == "action":
            return "close"
        return str(world.ids.get(name, 999_999))

    return re.sub(r"<(?:(\w+):)?(\w+)>", value, route)


@pytest.mark.parametrize("route", pages())
def test_a_page_never_answers_500(world: World, route: str, django_db_blocker: Any) -> None:
    path = fill(route, world)
    failures = []
    with django_db_blocker.unblock():
        # On PostgreSQL what differs from SQLite: NUL in a string, an integer column's range.
        odd_values = ODD_ON_POSTGRESQL if connection.vendor == "postgresql" else ODD
        for role in (None, *ROLES):
            client = Client(raise_request_exception=False)
            if role is not None:
                client.force_login(world.users[role])
            # Anonymous callers are sent to the login page whatever they ask: one odd query.
            queries = [{p: odd for p in PARAMS} for odd in (odd_values if role else odd_values[:1])]
            if EACH_PARAM and role == "admin":
                # One parameter at a time: an early refusal of one cannot hide a 500 of another.
                queries += [{p: odd} for odd in EACH_PARAM_ODD for p in PARAMS]
            for query in [None, *queries]:
                odd = None if query is None else next(iter(query.values()))
                url = path if query is None else f"{path}?{urlencode(query)}"
                with transaction.atomic():
                    status = client.get(url).status_code
                    transaction.set_rollback(True)
                if status >= 500:
                    failures.append(
                        f"{role or 'anonymous'} GET {path} with {odd!r:.30} ({len(odd or '')} chars): {status}"
                    )
        fields = form_fields()
        for odd in ODD_ON_POSTGRESQL if connection.vendor == "postgresql" else ODD_POSTED:
            client = Client(raise_request_exception=False)
            client.force_login(world.users["admin"])
            with transaction.atomic():
                status = client.post(path, {name: odd for name in fields}).status_code
                transaction.set_rollback(True)
            if status >= 500:
                failures.append(f"admin POST {path} with {odd!r:.30} ({len(odd)} chars): {status}")
    assert not failures, "\n".join(failures)
