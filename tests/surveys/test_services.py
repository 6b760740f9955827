"""Surveys after resolution, their one answer, low scores and the 回访 of complaints."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from kefu.analytics import metrics
from kefu.channels.models import OutboundDelivery
from kefu.complaints.models import Stage
from kefu.complaints.services import do_advance, do_confirm_resolution, do_open_complaint, do_resolve
from kefu.conversations.models import Conversation, Message
from kefu.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from kefu.surveys import services
from kefu.surveys.models import FollowUp, Survey, SurveySetting
from kefu.tickets.models import Ticket

pytestmark = pytest.mark.django_db


def sweep(now=None):
    return services.do_sweep(now or timezone.now())


def test_a_resolved_web_chat_gets_a_survey_shown_as_the_widget_card_not_a_message(resolved):
    conversation = resolved()
    assert sweep()["surveys_sent"] == 1
    survey = Survey.objects.get(conversation=conversation)
    assert survey.state() == "open"
    assert survey.expires_at - survey.sent_at == timedelta(days=7)
    assert not Message.objects.filter(conversation=conversation, meta__survey_id=survey.pk).exists()


def test_an_im_conversation_gets_a_message_with_its_signed_link_queued_to_the_platform(shop, resolved):
    conversation = resolved(shop.im)
    sweep()
    survey = Survey.objects.get(conversation=conversation)
    message = Message.objects.get(conversation=conversation, meta__survey_id=survey.pk)
    assert services.survey_url(survey) in message.text
    assert "/survey/" in message.text and "仅可提交一次" in message.text
    assert OutboundDelivery.objects.filter(message=message).exists()
    assert survey.team_id == shop.other_team.pk and survey.agent_id == shop.other_agent.pk


def test_the_sweep_sends_each_survey_once(shop, resolved):
    resolved(shop.email)
    assert sweep()["surveys_sent"] == 1
    assert sweep()["surveys_sent"] == 0
    assert Message.objects.filter(meta__has_key="survey_id").count() == 1


def test_old_resolutions_and_switched_off_channels_get_no_survey(shop, resolved, make_channel):
    conversation = resolved(shop.email)
    assert sweep(timezone.now() + timedelta(days=2))["surveys_sent"] == 0
    SurveySetting.objects.create(key=f"channel-{shop.im.pk}", channel=shop.im, enabled=False)
    resolved(shop.im)
    assert sweep()["surveys_sent"] == 1  # the email one, still fresh now
    assert list(Survey.objects.values_list("conversation_id", flat=True)) == [conversation.pk]


def test_a_channel_setting_overrides_the_desk_default(shop):
    SurveySetting.objects.create(key="desk", nps_enabled=False, expiry_days=3)
    SurveySetting.objects.create(
        key=f"channel-{shop.im.pk}", channel=shop.im, nps_enabled=True, expiry_days=14
    )
    assert services.settings_for(shop.email).expiry_days == 3
    assert services.settings_for(shop.im).nps_enabled is True


def test_an_answer_writes_the_conversations_csat_and_is_accepted_once(shop, resolved):
    SurveySetting.objects.create(key="desk", nps_enabled=True)
    conversation = resolved(shop.email)
    sweep()
    survey = Survey.objects.get(conversation=conversation)
    services.do_answer_survey(survey=survey, csat=5, nps=10, comment="小美很耐心，谢谢！")
    conversation.refresh_from_db()
    assert (conversation.csat_score, conversation.csat_comment) == (5, "小美很耐心，谢谢！")
    with pytest.raises(Conflict) as exc:
        services.do_answer_survey(survey=survey, csat=1, comment="再提交一次")
    assert exc.value.extra["reason"] == "already_rated"
    conversation.refresh_from_db()
    assert conversation.csat_score == 5


def test_an_expired_survey_takes_no_answer(shop, resolved):
    conversation = resolved(shop.email)
    sweep()
    survey = Survey.objects.get(conversation=conversation)
    with pytest.raises(Conflict) as exc:
        services.do_answer_survey(survey=survey, csat=4, now=survey.expires_at + timedelta(seconds=1))
    assert exc.value.extra["reason"] == "expired"
    conversation.refresh_from_db()
    assert conversation.csat_score is None


@pytest.mark.parametrize(
    ("csat", "nps", "comment", "field"),
    [
        (0, None, "", "score"),
        (True, None, "", "score"),
        (4, 11, "", "nps"),
        (4, None, "挺好\x00的", "comment"),
        (4, None, "非常满意" * 200, "comment"),
    ],
)
def test_bad_answers_name_their_field(shop, resolved, csat, nps, comment, field):
    SurveySetting.objects.create(key="desk", nps_enabled=True)
    conversation = resolved(shop.email)
    sweep()
    survey = Survey.objects.get(conversation=conversation)
    with pytest.raises(InvalidInput) as exc:
        services.do_answer_survey(survey=survey, csat=csat, nps=nps, comment=comment)
    assert field in exc.value.fields
    survey.refresh_from_db()
    assert survey.answered_at is None


def test_nps_is_refused_where_it_was_not_asked(shop, resolved):
    conversation = resolved(shop.email)
    sweep()
    with pytest.raises(InvalidInput) as exc:
        services.do_answer_survey(survey=Survey.objects.get(conversation=conversation), csat=4, nps=9)
    assert "nps" in exc.value.fields


def test_a_low_score_opens_a_follow_up_for_the_team_lead_with_the_conversation(shop, resolved):
    conversation = resolved(shop.email)
    happy = resolved(shop.email, identity=("email", "wang.fang@example.com"))
    sweep()
    services.do_answer_survey(
        survey=Survey.objects.get(conversation=conversation), csat=1, comment="等了三天都没发货，太失望了"
    )
    services.do_answer_survey(survey=Survey.objects.get(conversation=happy), csat=4)
    follow_up = FollowUp.objects.get()
    assert follow_up.kind == FollowUp.Kind.LOW_SCORE
    assert follow_up.conversation_id == conversation.pk and follow_up.team_id == shop.team.pk
    assert [f.pk for f in services.access_follow_ups(shop.lead)] == [follow_up.pk]


def test_the_threshold_is_the_channels_setting(shop, resolved):
    SurveySetting.objects.create(key="desk", low_score_threshold=3)
    conversation = resolved(shop.email)
    sweep()
    services.do_answer_survey(survey=Survey.objects.get(conversation=conversation), csat=3)
    assert FollowUp.objects.count() == 1


def test_a_second_teams_lead_neither_lists_nor_opens_the_first_teams_follow_up(shop, resolved):
    conversation = resolved(shop.email)
    sweep()
    services.do_answer_survey(survey=Survey.objects.get(conversation=conversation), csat=2)
    follow_up = FollowUp.objects.get()
    assert list(services.access_follow_ups(shop.other_lead)) == []
    assert list(services.access_answers(shop.other_lead)) == []
    with pytest.raises(PermissionDenied):
        services.access_follow_up(shop.other_lead, follow_up.pk)
    with pytest.raises(PermissionDenied):
        services.do_record_follow_up(
            actor=shop.other_lead, follow_up_id=follow_up.pk, outcome="satisfied", note="已致电"
        )
    with pytest.raises(PermissionDenied):
        services.access_follow_ups(shop.agent)  # agents have no 回访 list
    assert [f.pk for f in services.access_follow_ups(shop.supervisor)] == [follow_up.pk]


def test_a_customer_still_unhappy_on_the_call_back_gets_the_conversation_reopened(shop, resolved):
    conversation = resolved(shop.email)
    sweep()
    services.do_answer_survey(survey=Survey.objects.get(conversation=conversation), csat=1)
    follow_up = FollowUp.objects.get()
    services.do_record_follow_up(
        actor=shop.lead,
        follow_up_id=follow_up.pk,
        outcome="unhappy",
        note="客户仍要求今天发货，已重新打开跟进",
    )
    conversation.refresh_from_db()
    follow_up.refresh_from_db()
    assert conversation.status == Conversation.Status.OPEN
    assert (follow_up.outcome, follow_up.done_by_id) == ("unhappy", shop.lead.pk)
    assert list(services.access_follow_ups(shop.lead)) == []
    with pytest.raises(Conflict):
        services.do_record_follow_up(
            actor=shop.lead, follow_up_id=follow_up.pk, outcome="satisfied", note="再记一次"
        )


def test_a_follow_up_needs_an_outcome_and_a_note(shop, resolved):
    conversation = resolved(shop.email)
    sweep()
    services.do_answer_survey(survey=Survey.objects.get(conversation=conversation), csat=1)
    follow_up = FollowUp.objects.get()
    with pytest.raises(InvalidInput) as exc:
        services.do_record_follow_up(actor=shop.lead, follow_up_id=follow_up.pk, outcome="maybe", note="x")
    assert "outcome" in exc.value.fields
    with pytest.raises(InvalidInput) as exc:
        services.do_record_follow_up(
            actor=shop.lead, follow_up_id=follow_up.pk, outcome="satisfied", note="\x00"
        )
    assert "note" in exc.value.fields
    with pytest.raises(NotFound):
        services.access_follow_up(shop.lead, 987654)


def _confirmed_complaint(shop, resolved):
    conversation = resolved(shop.email, text="快递员态度恶劣还摔坏了我的杯子，我要投诉！")
    complaint = do_open_complaint(
        actor=shop.lead,
        conversation_id=conversation.pk,
        data={
            "what_happened": "快递员派送时摔坏了客户的保温杯，电话里态度恶劣",
            "customer_request": "道歉并换一个新的保温杯",
            "evidence": ["门口包裹照片"],
            "contact_preference": "电话，工作日18点后",
        },
    )
    do_advance(actor=shop.lead, complaint_id=complaint.pk)
    do_resolve(
        actor=shop.lead,
        complaint_id=complaint.pk,
        resolution="非常抱歉给您带来不便，已为您补发新杯子，快递公司也已向您道歉。",
        confirm_findings=True,
    )
    do_confirm_resolution(actor=shop.lead, complaint_id=complaint.pk, confirmed=True)
    complaint.refresh_from_db()
    return conversation, complaint


def test_a_confirmed_complaint_gets_a_call_back_due_days_later_once(shop, resolved):
    SurveySetting.objects.create(key="desk", complaint_follow_up_days=5)
    conversation, complaint = _confirmed_complaint(shop, resolved)
    assert complaint.stage == Stage.FOLLOW_UP
    assert sweep()["follow_ups_scheduled"] == 1
    assert sweep()["follow_ups_scheduled"] == 0
    follow_up = FollowUp.objects.get(kind=FollowUp.Kind.COMPLAINT)
    assert follow_up.complaint_id == complaint.pk and follow_up.conversation_id == conversation.pk
    assert follow_up.due_at == complaint.customer_confirmed_at + timedelta(days=5)
    assert follow_up.team_id == shop.team.pk


def test_a_satisfied_call_back_closes_the_complaint(shop, resolved):
    _, complaint = _confirmed_complaint(shop, resolved)
    sweep()
    follow_up = FollowUp.objects.get(kind=FollowUp.Kind.COMPLAINT)
    services.do_record_follow_up(
        actor=shop.lead, follow_up_id=follow_up.pk, outcome="satisfied", note="客户已收到新杯子，表示满意"
    )
    complaint.refresh_from_db()
    assert complaint.stage == Stage.CLOSED
    assert complaint.ticket.status == Ticket.Status.CLOSED


def test_an_unhappy_call_back_reopens_the_complaint_and_its_conversation(shop, resolved):
    conversation, complaint = _confirmed_complaint(shop, resolved)
    sweep()
    follow_up = FollowUp.objects.get(kind=FollowUp.Kind.COMPLAINT)
    services.do_record_follow_up(
        actor=shop.lead, follow_up_id=follow_up.pk, outcome="unhappy", note="新杯子又是坏的，客户很生气"
    )
    complaint.refresh_from_db()
    conversation.refresh_from_db()
    assert complaint.stage == Stage.TRACKING
    assert complaint.ticket.status == Ticket.Status.IN_PROGRESS
    assert conversation.status == Conversation.Status.OPEN
    # Resolved and confirmed again: a new 回访 is scheduled for the new confirmation.
    do_resolve(
        actor=shop.lead,
        complaint_id=complaint.pk,
        resolution="非常抱歉，已为您再次补发新杯子。",
        confirm_findings=True,
    )
    do_confirm_resolution(actor=shop.lead, complaint_id=complaint.pk, confirmed=True)
    assert sweep()["follow_ups_scheduled"] == 1
    assert FollowUp.objects.filter(complaint=complaint).count() == 2


def test_nps_in_the_metrics_is_promoters_minus_detractors(shop, resolved):
    SurveySetting.objects.create(key="desk", nps_enabled=True)
    answers = [10, 9, 8, 6, 0]
    for i, nps in enumerate(answers):
        conversation = resolved(shop.email, identity=("email", f"kehu{i}@example.com"))
        sweep()
        services.do_answer_survey(survey=Survey.objects.get(conversation=conversation), csat=4, nps=nps)
    resolved(shop.email, identity=("email", "no-answer@example.com"))
    now = timezone.now()
    scope = metrics.Scope(start=now - timedelta(days=1), end=now + timedelta(minutes=1))
    figure = metrics.compute(scope, ["nps"])["nps"]
    assert figure.count == 5
    assert figure.value == pytest.approx(100.0 * (2 - 2) / 5)
    by_team = metrics.compute(
        metrics.Scope(start=scope.start, end=scope.end, team_id=shop.other_team.pk), ["nps"]
    )
    assert by_team["nps"].value is None
    assert services.nps_of(answers) == 0.0
    assert services.nps_of([10, 10, 7]) == pytest.approx(200 / 3)
