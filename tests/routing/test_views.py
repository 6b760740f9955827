"""The old supervisor page: it grew into the wallboard (tests/wallboard/test_views.py)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_supervisor_page_leads_to_the_wallboard(client, desk):
    client.force_login(desk.supervisor)
    r = client.get("/desk/supervisor/")
    assert r.status_code == 302 and r["Location"] == "/desk/wallboard/"
