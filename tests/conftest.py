"""Shared fixtures: small factories that go through the real services."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

_seq = itertools.count(1)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """PBKDF2's deliberate slowness buys nothing in tests; production keeps Django's default."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def make_team(db: Any) -> Callable[..., Any]:
    from kefu.accounts.models import Team

    def make(name: str | None = None, *, is_general: bool = False) -> Team:
        return Team.objects.create(name=name or f"团队{next(_seq)}", is_general=is_general)

    return make


@pytest.fixture
def make_user(db: Any) -> Callable[..., Any]:
    from kefu.accounts.models import AgentStatus, Role, User
    from kefu.accounts.services import do_create_user

    def make(
        username: str | None = None,
        *,
        role: str = Role.AGENT,
        teams: tuple[Any, ...] = (),
        status: str = AgentStatus.OFFLINE,
        max_concurrent: int = 5,
        password: str = "kefu-test-pass-2026",
        display_name: str = "",
        is_senior: bool = False,
    ) -> User:
        user = do_create_user(
            username=username or f"agent{next(_seq)}",
            password=password,
            role=role,
            teams=teams,
            display_name=display_name,
            max_concurrent=max_concurrent,
            is_senior=is_senior,
        )
        if status != AgentStatus.OFFLINE:
            User.objects.filter(pk=user.pk).update(status=status)
            user.status = status
        return user

    return make


@pytest.fixture
def make_channel(db: Any) -> Callable[..., Any]:
    from kefu.channels.models import Channel

    def make(kind: str = "web", *, team: Any = None, name: str | None = None, **kw: Any) -> Channel:
        return Channel.objects.create(name=name or f"{kind}-{next(_seq)}", kind=kind, team=team, **kw)

    return make


@pytest.fixture
def desk(
    make_team: Callable[..., Any], make_user: Callable[..., Any], make_channel: Callable[..., Any]
) -> Any:
    """A small desk: one general team, one online agent, a supervisor and a web channel."""
    from types import SimpleNamespace

    from kefu.accounts.models import AgentStatus, Role

    team = make_team("售前咨询", is_general=True)
    agent = make_user("xiaomei", teams=(team,), status=AgentStatus.ONLINE, display_name="小美")
    supervisor = make_user("zhuguan", role=Role.SUPERVISOR, display_name="王主管")
    channel = make_channel("web", team=team, name="官网在线客服")
    return SimpleNamespace(team=team, agent=agent, supervisor=supervisor, channel=channel)
