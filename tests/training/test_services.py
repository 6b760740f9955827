"""Training services: the virtual customer, repeatable sessions, scoring, authoring, certification."""

from __future__ import annotations

import pytest

from kefu.accounts.models import AgentStatus, Role
from kefu.core.errors import Conflict, InvalidInput, PermissionDenied
from kefu.nlp.normalize import to_simplified
from kefu.training import services
from kefu.training.cases import BUILTIN_CASES
from kefu.training.engine import script_from_dict
from kefu.training.models import TrainingCase, TrainingTurn

from .conftest import POOR_REPLIES

pytestmark = pytest.mark.django_db


def _transcript(session):
    return [(t.role, t.text, t.emotion_label, t.mood, t.kind) for t in services.session_turns(session)]


def test_the_seven_cases_of_the_issue_are_installed_and_playable(db):
    cases = {c.key: c for c in TrainingCase.objects.exclude(key=None)}
    assert set(cases) == set(BUILTIN_CASES) and len(cases) == 7
    assert {c.category for c in cases.values()} == {"presale", "orders", "returns", "complaints"}
    for case in cases.values():
        assert case.is_active
        script_from_dict(case.script)


def test_the_same_seed_gives_the_same_transcript_and_score(team, case_of, play):
    replies = ["您好，请您再耐心等待一下，我们尽快处理。", "非常抱歉，我们今天18:00前给您回复。", "好的"]
    first = play(team.trainee, case_of("late_order"), replies, seed=20261203)
    second = play(team.trainee, case_of("late_order"), replies, seed=20261203)
    assert _transcript(first) == _transcript(second)
    assert (first.score, first.outcome, first.rubric) == (second.score, second.outcome, second.rubric)
    assert first.score is not None


@pytest.mark.parametrize("key", sorted(BUILTIN_CASES))
def test_the_case_model_answers_calm_the_customer_until_resolved(team, case_of, play, key):
    session = play(team.trainee, case_of(key), "model")
    moods = [t.mood for t in services.session_turns(session) if t.role == "customer"]
    assert session.outcome == "resolved"
    assert moods[-1] < moods[0]
    assert session.score >= 80


@pytest.mark.parametrize("key", sorted(BUILTIN_CASES))
def test_policy_talk_and_blame_make_the_customer_escalate(team, case_of, play, key):
    session = play(team.trainee, case_of(key), POOR_REPLIES)
    kinds = [t.kind for t in services.session_turns(session) if t.role == "customer"]
    assert session.outcome == "escalated"
    assert kinds[-1] == "threat"
    assert "supervisor" in kinds
    assert session.score < 50


def test_each_reply_gets_what_worked_what_was_flagged_and_the_model_answer(team, case_of):
    case = case_of("leaking_cup")
    session = services.do_start_session(trainee=team.trainee, case_id=case.pk, seed=1)
    session = services.do_training_reply(
        trainee=team.trainee, session_id=session.pk, text="这是公司规定，杯子漏水肯定是您没拧紧。"
    )
    reply = TrainingTurn.objects.get(session=session, role="trainee")
    assert "blame_policy" in {f["rule"] for f in reply.findings}
    assert reply.model_answer.startswith("您好张女士，非常抱歉")
    customer = TrainingTurn.objects.filter(session=session, role="customer").last()
    assert customer.kind == "blamed"
    assert customer.mood > 7.0

    good = services.do_training_reply(
        trainee=team.trainee,
        session_id=session.pk,
        text="非常理解您的心情，真的很抱歉。我们为您免费换新，今天安排上门取件，2天内送到，之后我会跟进。",
    )
    last = TrainingTurn.objects.filter(session=good, role="trainee").last()
    assert {"empathy", "apology", "solution", "time", "follow_up"} <= set(last.worked)


def test_the_traditional_chinese_customer_writes_traditional_and_traditional_replies_are_checked(
    team, case_of
):
    case = case_of("traditional_presale")
    session = services.do_start_session(trainee=team.trainee, case_id=case.pk, seed=3)
    opening = services.session_turns(session)[0].text
    assert to_simplified(opening) != opening
    session = services.do_training_reply(
        trainee=team.trainee, session_id=session.pk, text="這是公司規定，我們也沒辦法。"
    )
    turns = services.session_turns(session)
    assert "blame_policy" in {f["rule"] for f in turns[1].findings}
    assert to_simplified(turns[2].text) != turns[2].text


def test_a_session_touches_no_conversation_metric_webhook_or_event(team, case_of, play, monkeypatch):
    from kefu.analytics.models import ConversationRollup, ReplyRollup
    from kefu.conversations.models import Conversation, Message
    from kefu.core import events
    from kefu.quality.models import QualityScore, ReplyFindings
    from kefu.replies.models import ReplyUsage
    from kefu.sla.models import EscalationNotice
    from kefu.webhooks.models import WebhookDelivery

    published = []
    monkeypatch.setattr(events, "publish", lambda *a, **kw: published.append(a))
    models = [
        Conversation,
        Message,
        ReplyFindings,
        QualityScore,
        ReplyUsage,
        ConversationRollup,
        ReplyRollup,
        EscalationNotice,
        WebhookDelivery,
    ]
    before = {m: m.objects.count() for m in models}
    play(team.trainee, case_of("vip_12315"), POOR_REPLIES)
    play(team.trainee, case_of("late_order"), "model")
    assert {m: m.objects.count() for m in models} == before
    assert published == []


def test_only_the_trainee_plays_and_a_finished_session_takes_no_reply(team, case_of, play):
    session = services.do_start_session(trainee=team.trainee, case_id=case_of("late_order").pk, seed=5)
    with pytest.raises(PermissionDenied):
        services.do_training_reply(trainee=team.lead, session_id=session.pk, text="您好")
    services.do_end_session(trainee=team.trainee, session_id=session.pk)
    session.refresh_from_db()
    assert session.outcome == "left_angry" and session.status == "finished"
    with pytest.raises(Conflict):
        services.do_training_reply(trainee=team.trainee, session_id=session.pk, text="您好")


def test_the_lead_sees_progress_and_the_teams_weak_spots(team, case_of, play):
    play(team.trainee, case_of("late_order"), "model")
    play(team.peer, case_of("rude_service"), POOR_REPLIES)
    progress = services.trainee_progress(team.trainee)
    orders = next(m for m in progress["modules"] if m["category"] == "orders")
    assert orders["passed"] == 1 and progress["passed"] == 1 and progress["total"] == 7
    view = services.team_progress(team.lead)
    assert {p["trainee_id"] for p in view["trainees"]} == {team.trainee.pk, team.peer.pk}
    assert {"blame_policy", "no_empathy"} <= {w["rule"] for w in view["weak_spots"][:3]}
    assert services.team_progress(team.other_lead)["trainees"] == []
    with pytest.raises(PermissionDenied):
        services.team_progress(team.trainee)


def test_a_supervisor_writes_a_case_and_a_bad_one_names_its_field(team):
    data = {
        "title": "发票抬头开错",
        "category": "presale",
        "persona": {"name": "周先生"},
        "facts": {"order_no": "YJ20261121007"},
        "goal": "重开发票",
        "opening": "发票抬头开错了，能重开吗？",
        "model_answers": ["您好周先生，可以为您重开发票，今天18:00前发到您的邮箱。"],
    }
    case = services.do_save_case(actor=team.supervisor, data=data)
    assert case.category == "presale" and case.script["persona"]["name"] == "周先生"
    with pytest.raises(InvalidInput) as bad:
        services.do_save_case(actor=team.supervisor, data={**data, "start_mood": 42})
    assert "start_mood" in bad.value.fields
    with pytest.raises(PermissionDenied):
        services.do_save_case(actor=team.lead, data=data)


def test_a_resolved_conversation_becomes_a_case_without_personal_data(team):
    from kefu.conversations.models import Conversation
    from kefu.conversations.services import do_receive_customer_message, do_send_agent_message, do_set_status

    message, _ = do_receive_customer_message(
        channel=team.channel,
        identities=[("web", "visitor-zhou")],
        text="我是周晓梅，手机13812345678，退货地址改成上海市浦东新区张江路88弄6号1202室，退款怎么还没到？",
        customer_name="周晓梅",
    )
    conversation = message.conversation
    do_send_agent_message(
        agent=team.supervisor,
        conversation_id=conversation.pk,
        text="您好周晓梅女士，非常抱歉，退款已为您加急，今天18:00前原路退回。",
    )
    with pytest.raises(Conflict):
        services.do_case_from_conversation(actor=team.supervisor, conversation_id=conversation.pk)
    do_set_status(actor=team.supervisor, conversation_id=conversation.pk, status=Conversation.Status.RESOLVED)

    case = services.do_case_from_conversation(actor=team.supervisor, conversation_id=conversation.pk)
    text = str(case.script)
    assert "13812345678" not in text and "周晓梅" not in text and "张江路88弄" not in text
    assert case.is_active is False and case.source_conversation_id == conversation.pk
    assert case.script["model_answers"][0].startswith("您好顾客女士")


def test_uncertified_agents_get_no_live_chats_when_an_admin_requires_certification(
    team, make_user, open_all_week, django_capture_on_commit_callbacks
):
    from kefu.conversations.services import do_receive_customer_message

    def write_in(n):
        with django_capture_on_commit_callbacks(execute=True):
            message, _ = do_receive_customer_message(
                channel=team.channel, identities=[("web", f"visitor-cert-{n}")], text="请问有没有现货？"
            )
        message.conversation.refresh_from_db()
        return message.conversation

    newbie = make_user("xinshou", teams=(team.team,), status=AgentStatus.ONLINE)
    assert write_in(1).assignee_id == newbie.pk

    services.do_update_training_settings(actor=team.admin, require_certification=True, pass_score=80)
    queued = write_in(2)
    assert queued.assignee_id is None
    specialist = make_user("zhuanye", role=Role.SPECIALIST, teams=(team.team,), status=AgentStatus.ONLINE)
    assert write_in(3).assignee_id == specialist.pk

    services.do_certify(actor=team.supervisor, trainee_id=newbie.pk)
    from kefu.routing.assignment import do_try_assign

    assert do_try_assign(queued.pk) is not None
    with pytest.raises(PermissionDenied):
        services.do_update_training_settings(
            actor=team.supervisor, require_certification=False, pass_score=80
        )


def test_the_leads_view_costs_the_same_queries_for_two_trainees_or_six(team, case_of, make_user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            services.team_progress(team.lead)
        return len(ctx.captured_queries)

    case = case_of("traditional_presale")
    for trainee in (team.trainee, team.peer):
        services.do_start_session(trainee=trainee, case_id=case.pk, seed=1)
    services.training_settings()  # the settings row, created on first use
    two = queries()
    for n in range(4):
        newcomer = make_user(f"xinren{n}", teams=(team.team,))
        services.do_start_session(trainee=newcomer, case_id=case.pk, seed=1)
        services.do_certify(actor=team.supervisor, trainee_id=newcomer.pk)
    assert len(services.team_progress(team.lead)["trainees"]) == 6
    assert queries() == two
