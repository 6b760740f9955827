"""Reply quality inside the desk: rule-set versions, recorded findings, scores, samples,
reviews, appeals and the disagreement report, through the services."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kefu.accounts.models import Role
from kefu.complaints.models import AuthorityLimit, CompensationKind, CompensationRequest
from kefu.core.errors import Conflict, InvalidInput, PermissionDenied
from kefu.quality import checks, ruleset_store, services
from kefu.quality.models import QualityScore, ReplyFindings, Review, RuleSetVersion, Sample
from kefu.quality.rulesets import default_ruleset

pytestmark = pytest.mark.django_db

ANGRY = "你们什么破快递，都一个星期了还没到！什么时候能到？投诉！"
GOOD_REPLY = "您好，非常理解您的心情，给您带来不便非常抱歉。我已为您催促快递，今天18:00前给您回复进度。"
GOOD_CLOSING = "包裹明天上午送到，感谢您的耐心。请问还有其他可以帮您的吗？"
BAD_REPLY = "这是公司规定，可能是您操作不当。"


def test_without_stored_versions_the_shipped_rule_set_is_active():
    assert ruleset_store.active_ruleset() is default_ruleset()


def test_saving_an_edit_creates_the_next_version_and_makes_it_active(desk):
    row = ruleset_store.do_save_ruleset(
        actor=desk.supervisor,
        overrides={"rules": {"slang": {"params": {"terms": {"老铁": "您"}}}}},
        note="加入老铁",
    )
    assert row.version == 2 and row.author == desk.supervisor
    active = ruleset_store.active_ruleset()
    assert active.version == 2
    assert active.rule("slang").params["terms"] == {"老铁": "您"}
    again = ruleset_store.do_save_ruleset(
        actor=desk.supervisor, overrides={"rules": {"missing_greeting": {"enabled": False}}}
    )
    assert again.version == 3
    assert ruleset_store.active_ruleset().rule("slang").params["terms"] == {"老铁": "您"}  # kept from v2
    assert not ruleset_store.active_ruleset().rule("missing_greeting").enabled
    assert list(RuleSetVersion.objects.values_list("version", flat=True)) == [3, 2]


def test_agents_may_not_edit_rules(desk):
    with pytest.raises(PermissionDenied):
        ruleset_store.do_save_ruleset(actor=desk.agent, overrides={"rules": {"slang": {"enabled": False}}})


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"rules": {"no_such_rule": {"enabled": False}}}, "rules.no_such_rule"),
        ({"rules": {"slang": {"severity": "fatal"}}}, "rules.slang.severity"),
        ({"rules": {"slang": {"enabled": "yes"}}}, "rules.slang.enabled"),
        ({"rules": {"slang": {"params": {"terms": ["亲亲"]}}}}, "rules.slang.params.terms"),
        ({"rules": {"slang": {"params": {"terms": {"亲亲": 3}}}}}, "rules.slang.params.terms.亲亲"),
        ({"rules": {"slang": {"params": {"typo": {}}}}}, "rules.slang.params.typo"),
        (
            {"rules": {"negative_framing": {"params": {"rewrites": [{"regex": "(", "rewrite": "x"}]}}}},
            "rules.negative_framing.params.rewrites[0].regex",
        ),
        (
            {"rules": {"promise_without_time": {"params": {"time_patterns": ["[0-9"]}}}},
            "rules.promise_without_time",
        ),
        (
            {
                "rules": {
                    "negative_framing": {"params": {"rewrites": [{"regex": "不能(发)", "rewrite": "\\3"}]}}
                }
            },
            "rules.negative_framing.params.rewrites[0].rewrite",
        ),
        ({"rubric": {"weights": {"greeting": -1}}}, "rubric.weights.greeting"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_edits_are_refused_naming_the_field(desk, overrides, field):
    with pytest.raises(InvalidInput) as exc:
        ruleset_store.do_save_ruleset(actor=desk.supervisor, overrides=overrides)
    assert field in exc.value.fields
    assert not RuleSetVersion.objects.exists()


def test_sent_replies_store_findings_with_the_context_they_were_checked_in(chat, desk):
    conversation = chat(("customer", ANGRY), ("agent", BAD_REPLY))
    recorded = ReplyFindings.objects.get(conversation=conversation)
    assert recorded.agent == desk.agent and recorded.ruleset_version == 1
    assert recorded.context["is_first_agent_reply"] is True
    assert recorded.context["expects_time"] is True
    assert recorded.context["customer_emotion"] in ("dissatisfied", "angry")
    rules = {f["rule"] for f in recorded.findings}
    assert {"blame_policy", "missing_greeting", "no_empathy"} <= rules
    assert recorded.high_count >= 1


def test_a_broken_rule_set_never_stops_a_reply_from_being_sent(chat, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("engine down")

    monkeypatch.setattr(checks, "check_reply", boom)
    conversation = chat(("customer", "在吗"), ("agent", "您好，在的。"))
    assert conversation.messages.filter(direction="outgoing").count() == 1
    assert not ReplyFindings.objects.exists()


def test_draft_context_reads_emotion_first_reply_and_time_question(chat, desk):
    conversation = chat(("customer", "我的訂單什麼時候發貨？"))
    check = checks.access_reply_check(user=desk.agent, conversation_id=conversation.pk, text="尽快吧")
    assert check.context.is_first_agent_reply and check.context.expects_time
    assert {f.rule for f in check.findings} >= {"promise_without_time", "missing_greeting"}


def _set_limit(role: str, amount: str) -> None:
    AuthorityLimit.objects.update_or_create(role=role, defaults={"max_amount": Decimal(amount)})


def test_the_agents_authority_comes_from_the_complaints_table(chat, desk):
    conversation = chat(("customer", "杯子漏水了"))
    text = "您好，给您补偿50元红包。"
    check = checks.access_reply_check(user=desk.agent, conversation_id=conversation.pk, text=text)
    assert check.context.compensation_limit == 20 and check.context.agent_role == "agent"
    assert any(f.rule == "compensation_over_limit" for f in check.findings)  # the default 20 元
    _set_limit(Role.AGENT, "100")
    check = checks.access_reply_check(user=desk.agent, conversation_id=conversation.pk, text=text)
    assert check.context.compensation_limit == 100
    assert not any(f.rule == "compensation_over_limit" for f in check.findings)


def test_an_approved_compensation_may_be_named_in_the_reply(chat, desk):
    conversation = chat(("customer", "杯子漏水了"))
    _set_limit(Role.AGENT, "0")
    CompensationRequest.objects.create(
        conversation=conversation,
        kind=CompensationKind.COUPON,
        amount=Decimal("50"),
        reason="杯子漏水",
        requested_by=desk.agent,
        status=CompensationRequest.Status.APPROVED,
        decided_by=desk.supervisor,
    )
    check = checks.access_reply_check(
        user=desk.agent, conversation_id=conversation.pk, text="您好，给您补偿50元红包。"
    )
    assert check.context.approved_compensation == 50
    assert not any(f.rule == "compensation_over_limit" for f in check.findings)


def test_no_limit_is_stored_as_json(chat, desk):
    desk.agent.role = Role.MANAGER  # no limit of their own
    desk.agent.save(update_fields=["role"])
    conversation = chat(("customer", "杯子漏水了"), ("agent", "您好，给您补偿500元。"))
    recorded = ReplyFindings.objects.get(conversation=conversation)
    assert recorded.context["compensation_limit"] == checks.NO_LIMIT
    assert not any(f["rule"] == "compensation_over_limit" for f in recorded.findings)


def test_closing_a_conversation_scores_it(chat, close, desk):
    conversation = chat(
        ("customer", ANGRY), ("agent", GOOD_REPLY), ("customer", "好的"), ("agent", GOOD_CLOSING)
    )
    assert not QualityScore.objects.exists()
    close(conversation)
    score = QualityScore.objects.get(conversation=conversation)
    assert score.agent == desk.agent and score.rubric_version == 1
    assert score.total >= 80
    keys = [i["key"] for i in score.items]
    assert {"greeting", "empathy", "closing", "response_time"} <= set(keys)


def test_a_poor_conversation_scores_low_and_is_marked_for_sampling(chat, close):
    conversation = chat(("customer", ANGRY), ("agent", BAD_REPLY), ("agent", "尽快吧。"))
    close(conversation, status="closed")
    score = QualityScore.objects.get(conversation=conversation)
    assert score.total < 50
    assert score.high_findings >= 1
    assert score.rule_counts["blame_policy"] >= 1


def test_kb_correctness_counts_replies_that_carry_the_kb_answer(chat, close, desk, make_user):
    from kefu.kb.index import reset_index
    from kefu.kb.services import do_create_article

    admin = make_user("kbadmin", role=Role.ADMIN)
    do_create_article(
        actor=admin,
        data={
            "title": "保温杯漏水怎么办",
            "answer": "请先检查杯盖密封圈是否安装到位，如仍漏水可申请换货。",
            "status": "published",
            "similar_questions": ["杯子漏水"],
        },
    )
    reset_index()
    conversation = chat(
        ("customer", "我买的保温杯漏水怎么办"),
        ("agent", "您好，请先检查杯盖密封圈是否安装到位，如仍漏水我为您申请换货。"),
    )
    close(conversation)
    score = QualityScore.objects.get(conversation=conversation)
    assert score.kb_correctness == 1.0
    assert any(i["key"] == "kb_correctness" for i in score.items)


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
