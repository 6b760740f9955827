"""Quality review (kefu.quality.services): samples, reviews, appeals, agent statistics and
the disagreement report."""

from __future__ import annotations

import pytest

from kefu.accounts.models import Role
from kefu.core.errors import Conflict, InvalidInput, PermissionDenied
from kefu.quality import services
from kefu.quality.models import QualityScore, Review, Sample

pytestmark = pytest.mark.django_db

ANGRY = "你们什么破快递，都一个星期了还没到！什么时候能到？投诉！"
GOOD_CLOSING = "包裹明天上午送到，感谢您的耐心。请问还有其他可以帮您的吗？"
BAD_REPLY = "这是公司规定，可能是您操作不当。"


def _scored(chat, close, *turns, **kw):
    conversation = chat(*turns, **kw)
    close(conversation)
    return conversation


def test_sampling_draws_random_share_and_rule_triggered_conversations(chat, close, desk):
    good = [_scored(chat, close, ("customer", "在吗"), ("agent", GOOD_CLOSING)) for _ in range(4)]
    bad = _scored(chat, close, ("customer", ANGRY), ("agent", BAD_REPLY))
    drawn = services.do_draw_samples(actor=desk.supervisor, percent=25, seed=7)
    by_conversation = {s.conversation_id: s.reasons for s in drawn}
    assert "high_finding" in by_conversation[bad.pk] and "angry_customer" in by_conversation[bad.pk]
    random_ones = [cid for cid, reasons in by_conversation.items() if "random" in reasons]
    assert len(random_ones) == 2  # ceil(25 % of 5)
    assert set(by_conversation) <= {c.pk for c in good} | {bad.pk}
    # Drawn conversations are not drawn again.
    assert services.do_draw_samples(actor=desk.supervisor, percent=100, seed=1)
    assert Sample.objects.count() == 5
    assert services.do_draw_samples(actor=desk.supervisor, percent=100) == []


def test_only_supervisors_draw_samples(desk):
    with pytest.raises(PermissionDenied):
        services.do_draw_samples(actor=desk.agent, percent=10)
    with pytest.raises(InvalidInput) as exc:
        services.do_draw_samples(actor=desk.supervisor, percent=150)
    assert "percent" in exc.value.fields


def _review(desk, conversation, **points):
    items = {k: {"points": v, "comment": f"{k} 评语"} for k, v in points.items()}
    return services.do_create_review(actor=desk.supervisor, conversation_id=conversation.pk, items=items)


def test_review_appeal_and_overturn(chat, close, desk):
    conversation = _scored(chat, close, ("customer", ANGRY), ("agent", BAD_REPLY))
    services.do_draw_samples(actor=desk.supervisor, percent=100)
    review = _review(desk, conversation, greeting=0, empathy=0, conduct=0, closing=0)
    assert review.agent == desk.agent and review.total == 0
    assert review.auto_total == QualityScore.objects.get().total
    assert Sample.objects.get().status == "reviewed"
    with pytest.raises(Conflict):
        _review(desk, conversation, greeting=5)  # once per reviewer

    services.do_appeal(actor=desk.agent, review_id=review.pk, reason="顾客的问题确实属于规定范围")
    with pytest.raises(Conflict):
        services.do_appeal(actor=desk.agent, review_id=review.pk, reason="再申诉一次")
    resolved = services.do_resolve_appeal(
        actor=desk.supervisor,
        review_id=review.pk,
        decision="overturned",
        comment="结束语部分改判",
        items={
            "greeting": {"points": 0},
            "empathy": {"points": 0},
            "conduct": {"points": 0},
            "closing": {"points": 10},
        },
    )
    assert resolved.status == Review.Status.OVERTURNED
    assert resolved.original_total == 0 and resolved.total == 20
    with pytest.raises(Conflict):
        services.do_resolve_appeal(actor=desk.supervisor, review_id=review.pk, decision="upheld", comment="x")


def test_only_the_reviewed_agent_appeals_and_only_supervisors_resolve(chat, close, desk, make_user):
    conversation = _scored(chat, close, ("customer", ANGRY), ("agent", BAD_REPLY))
    review = _review(desk, conversation, greeting=0)
    colleague = make_user("colleague", teams=(desk.team,))
    with pytest.raises(PermissionDenied):
        services.do_appeal(actor=colleague, review_id=review.pk, reason="不是我的")
    with pytest.raises(InvalidInput) as exc:
        services.do_appeal(actor=desk.agent, review_id=review.pk, reason="  ")
    assert "reason" in exc.value.fields
    services.do_appeal(actor=desk.agent, review_id=review.pk, reason="有问候")
    with pytest.raises(PermissionDenied):
        services.do_resolve_appeal(
            actor=desk.agent, review_id=review.pk, decision="overturned", comment="我赢了"
        )
    upheld = services.do_resolve_appeal(
        actor=desk.supervisor, review_id=review.pk, decision="upheld", comment="维持"
    )
    assert upheld.status == "upheld" and upheld.total == 0


def test_reviews_refuse_unknown_items_and_out_of_range_points(chat, close, desk):
    conversation = _scored(chat, close, ("customer", "在吗"), ("agent", GOOD_CLOSING))
    with pytest.raises(InvalidInput) as exc:
        _review(desk, conversation, greeting=11, politeness=3)
    assert {"items.greeting.points", "items.politeness"} <= set(exc.value.fields)


def test_an_open_conversation_cannot_be_reviewed(chat, desk):
    conversation = chat(("customer", "在吗"), ("agent", GOOD_CLOSING))
    with pytest.raises(Conflict):
        _review(desk, conversation, greeting=10)


def test_agents_see_only_their_own_reviews_and_leads_their_teams(chat, close, desk, make_user, make_team):
    other_team = make_team("售后")
    other_agent = make_user("other", teams=(other_team,))
    lead = make_user("lead", role=Role.TEAM_LEAD, teams=(desk.team,))
    mine = _review(desk, _scored(chat, close, ("customer", "在吗"), ("agent", GOOD_CLOSING)), greeting=10)
    supervisor_view = services.access_reviews(desk.supervisor)
    assert list(supervisor_view) == [mine]
    assert list(services.access_reviews(other_agent)) == []
    assert list(services.access_reviews(lead)) == [mine]
    with pytest.raises(PermissionDenied):
        services.access_review(other_agent, mine.pk)


def test_agent_stats_average_scores_and_items_per_agent(chat, close, desk, make_user):
    _scored(chat, close, ("customer", "在吗"), ("agent", GOOD_CLOSING))
    _scored(chat, close, ("customer", ANGRY), ("agent", BAD_REPLY))
    totals = list(QualityScore.objects.values_list("total", flat=True))
    stats = services.agent_stats(desk.supervisor)
    assert len(stats) == 1
    row = stats[0]
    assert row["agent_id"] == desk.agent.pk and row["count"] == 2
    assert row["average"] == round(sum(totals) / 2, 1)
    assert row["items"]["greeting"]["max_points"] == 10
    assert services.agent_stats(make_user("newbie")) == []


def test_disagreement_report_flags_gaps_and_rules_the_reviewer_disputes(chat, close, desk):
    conversation = _scored(chat, close, ("customer", ANGRY), ("agent", BAD_REPLY))
    auto = {i["key"]: i for i in QualityScore.objects.get().items}
    # The reviewer finds the "blame" reply acceptable: full conduct and greeting.
    _review(desk, conversation, conduct=15, greeting=10, closing=auto["closing"]["points"])
    report = services.disagreement_report(desk.supervisor)
    assert report["reviews"] == 1
    [row] = report["conversations"]
    assert row["conversation_id"] == conversation.pk
    assert {i["key"] for i in row["items"]} == {"conduct", "greeting"}
    conduct = next(i for i in report["items"] if i["key"] == "conduct")
    assert conduct["disagreements"] == 1 and conduct["auto_harsher"] == 1
    blame = next(r for r in report["rules"] if r["rule"] == "blame_policy")
    assert blame["fired"] == 1 and blame["disputed"] == 1
    greeting = next(r for r in report["rules"] if r["rule"] == "missing_greeting")
    assert greeting["disputed"] == 1


def test_an_overturned_review_without_rescoring_leaves_the_report(chat, close, desk):
    conversation = _scored(chat, close, ("customer", ANGRY), ("agent", BAD_REPLY))
    review = _review(desk, conversation, conduct=15, greeting=10)
    services.do_appeal(actor=desk.agent, review_id=review.pk, reason="复核有误")
    services.do_resolve_appeal(
        actor=desk.supervisor, review_id=review.pk, decision="overturned", comment="作废"
    )
    assert services.disagreement_report(desk.supervisor)["reviews"] == 0


def test_agents_cannot_read_the_disagreement_report(desk):
    with pytest.raises(PermissionDenied):
        services.disagreement_report(desk.agent)
