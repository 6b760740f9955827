"""Fixtures for the channels tests: the shop's email channel."""

from __future__ import annotations

from typing import Any

import pytest

from kefu.channels.models import Channel
from tests.channels.mail import SUPPORT


@pytest.fixture
def email_channel(desk: Any, make_channel: Any) -> Channel:
    return make_channel("email", team=desk.team, name="邮件客服", email_address=SUPPORT)
