"""A small team for training: two agents in one team, their lead, an agent of another team, a supervisor."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

# Replies a poor trainee gives: policy talk, blame, vague words, nothing about the problem.
POOR_REPLIES = [
    "这是公司规定，没办法，您再耐心等待吧。",
    "我们也没办法，您自己看页面吧。",
    "这个不归我们管。",
    "反正就这样了。",
    "嗯嗯",
]


@pytest.fixture
def team(
    db: Any, make_team: Callable[..., Any], make_user: Callable[..., Any], make_channel: Callable[..., Any]
) -> SimpleNamespace:
    from kefu.accounts.models import Role

    team = make_team("售后服务", is_general=True)
    other = make_team("海外店")
    trainee = make_user("xinren", teams=(team,), display_name="小新")
    peer = make_user("tongshi", teams=(team,), display_name="小同")
    lead = make_user("zuzhang", role=Role.TEAM_LEAD, teams=(team,), display_name="李组长")
    other_lead = make_user("haiwai", role=Role.TEAM_LEAD, teams=(other,), display_name="海外组长")
    supervisor = make_user("zhuguan", role=Role.SUPERVISOR, display_name="王主管")
    admin = make_user("guanli", role=Role.ADMIN, display_name="管理员")
    channel = make_channel("web", team=team, name="官网在线客服")
    return SimpleNamespace(
        team=team,
        other=other,
        trainee=trainee,
        peer=peer,
        lead=lead,
        other_lead=other_lead,
        supervisor=supervisor,
        admin=admin,
        channel=channel,
    )


@pytest.fixture
def case_of() -> Callable[[str], Any]:
    """The built-in case with this key (installed by the data migration)."""
    from kefu.training.models import TrainingCase

    return lambda key: TrainingCase.objects.get(key=key)


@pytest.fixture
def play() -> Callable[..., Any]:
    """``play(trainee, case, replies, seed=…)``: start a session and reply until it ends; returns it."""
    from kefu.training import engine
    from kefu.training.services import do_start_session, do_training_reply, script_of

    def run(trainee: Any, case: Any, replies: list[str] | str, *, seed: int = 7) -> Any:
        session = do_start_session(trainee=trainee, case_id=case.pk, seed=seed)
        script = script_of(case)
        turn = 0
        while session.status == "active":
            if replies == "model":
                text = engine.model_answer(script, turn)
            else:
                text = replies[min(turn, len(replies) - 1)]
            session = do_training_reply(trainee=trainee, session_id=session.pk, text=text)
            turn += 1
        return session

    return run
