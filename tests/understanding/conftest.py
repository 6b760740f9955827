"""Fixtures for the understanding tests: the shop's four teams with the default intents."""

from __future__ import annotations

import pytest

from kefu.understanding import services


@pytest.fixture
def teams(make_team):
    from kefu.accounts.models import Team

    names = ["售前咨询", "售后服务", "技术支持", "投诉处理"]
    made = {n: Team.objects.get_or_create(name=n, defaults={"is_general": n == "售前咨询"})[0] for n in names}
    services.do_install_default_intents()
    assert Team.objects.count() == 4
    return made
