"""The reply-quality REST API: draft checks, rule editing, scores, samples, reviews, appeals."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings

from kefu.accounts.models import Role

from .conftest import IMMEDIATE_TASKS

pytestmark = pytest.mark.django_db

ANGRY = "你们什么破快递，都一个星期了还没到！什么时候能到？投诉！"
BAD_REPLY = "这是公司规定，可能是您操作不当。"
GOOD_CLOSING = "包裹明天上午送到，感谢您的耐心。请问还有其他可以帮您的吗？"


def post(client, url, body):
    return client.post(url, data=json.dumps(body), content_type="application/json")


def check(client, conversation, text, **extra):
    return post(client, f"/api/v1/conversations/{conversation.pk}/reply-check", {"text": text, **extra})


# --- reply-check -------------------------------------------------------------------------


def test_reply_check_lists_findings_with_spans_and_fixes(client, chat, desk):
    conversation = chat(("customer", ANGRY))
    client.force_login(desk.agent)
    text = "这是公司规定，亲亲再等等吧"
    r = check(client, conversation, text)
    assert r.status_code == 200
    body = r.json()
    by_rule = {f["rule"]: f for f in body["findings"]}
    assert {"blame_policy", "missing_greeting", "no_empathy", "slang"} <= set(by_rule)
    blame = by_rule["blame_policy"]
    assert blame["severity"] == "high" and blame["why"] and blame["rule_label"] == "推诿指责"
    assert text[blame["start"] : blame["end"]] == blame["excerpt"]
    assert body["high"] >= 1
    assert body["context"]["is_first_agent_reply"] is True and body["context"]["expects_time"] is True


def test_reply_check_of_a_traditional_draft_suggests_traditional_rewrites(client, chat, desk):
    conversation = chat(("customer", "請問什麼時候出貨？"))
    client.force_login(desk.agent)
    text = "您好，這個SKU要等到下週才能出貨，沒辦法。"
    body = check(client, conversation, text).json()
    by_rule = {f["rule"]: f for f in body["findings"]}
    assert {"internal_jargon", "blame_policy"} <= set(by_rule)
    jargon = by_rule["internal_jargon"]
    assert text[jargon["start"] : jargon["end"]] == "SKU"
    assert jargon["replacement"] == "商品規格"  # Traditional in, Traditional out
    r = post(client, "/api/v1/quality/apply", {"text": text, "finding": jargon})
    assert r.status_code == 200 and r.json()["text"] == "您好，這個商品規格要等到下週才能出貨，沒辦法。"


def test_a_clean_reply_has_no_findings(client, chat, desk):
    conversation = chat(("customer", "你好，保温杯有现货吗？"))
    client.force_login(desk.agent)
    body = check(client, conversation, "您好，这款保温杯有现货，今天16:00前下单当天发货。").json()
    assert body["findings"] == [] and body["high"] == 0
    assert check(client, conversation, "").json()["findings"] == []


def test_closing_drafts_are_checked_for_a_closing_line(client, chat, desk):
    conversation = chat(("customer", "好的谢谢"), ("agent", "您好，已为您处理。"))
    client.force_login(desk.agent)
    rules = {
        f["rule"] for f in check(client, conversation, "已经处理好了。", closing=True).json()["findings"]
    }
    assert "missing_closing" in rules


def test_reply_check_costs_a_few_small_queries(client, chat, desk, django_assert_max_num_queries):
    conversation = chat(("customer", ANGRY), ("agent", "您好，理解您的心情。"), ("customer", "快点！"))
    client.force_login(desk.agent)
    check(client, conversation, "warm-up")
    # Session and login (4), the conversation, the rule-set head, two message reads, and
    # the complaints app's limit and approvals, and the statements of the conversation's
    # open incidents (one query).
    with django_assert_max_num_queries(13):
        assert check(client, conversation, "尽快吧").status_code == 200


def test_reply_check_needs_a_login(client, chat):
    conversation = chat(("customer", "在吗"))
    assert check(client, conversation, "您好").status_code == 401


def test_agents_outside_the_conversation_team_get_403(client, chat, make_user, make_team):
    conversation = chat(("customer", "在吗"))
    client.force_login(make_user("outsider", teams=(make_team("技术支持"),)))
    assert check(client, conversation, "您好").status_code == 403
    assert check(client, type(conversation)(pk=999999), "您好").status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({}, 422, "text"),
        ({"text": 3}, 422, "text"),
        ({"text": "您好", "closing": [1]}, 422, "closing"),
        ({"text": "您好", "urgent": True}, 422, "urgent"),
        ({"text": "好" * 6000}, 400, "text"),
    ],
)
def test_bad_reply_check_input_is_refused_naming_the_field(client, chat, desk, body, status, field):
    conversation = chat(("customer", "在吗"))
    client.force_login(desk.agent)
    r = post(client, f"/api/v1/conversations/{conversation.pk}/reply-check", body)
    assert r.status_code == status
    assert field in r.json()["fields"]


def test_apply_refuses_a_finding_that_no_longer_matches_the_text(client, desk):
    client.force_login(desk.agent)
    finding = {"rule": "slang", "start": 0, "end": 2, "excerpt": "亲亲", "replacement": "您"}
    assert (
        post(client, "/api/v1/quality/apply", {"text": "亲亲好", "finding": finding}).json()["text"] == "您好"
    )
    r = post(client, "/api/v1/quality/apply", {"text": "您好呀", "finding": finding})
    assert r.status_code == 400 and "finding" in r.json()["fields"]
    r = post(client, "/api/v1/quality/apply", {"text": "亲亲好", "finding": {"start": 0}})
    assert r.status_code == 422 and "finding.end" in r.json()["fields"]


# --- rule sets ---------------------------------------------------------------------------


def test_editing_rules_creates_a_version_that_changes_the_results(client, chat, desk):
    conversation = chat(("customer", "在吗"))
    client.force_login(desk.agent)
    before = {f["rule"] for f in check(client, conversation, "老铁，在的。").json()["findings"]}
    assert "slang" not in before
    client.force_login(desk.supervisor)
    r = post(
        client,
        "/api/v1/quality/rules",
        {
            "rules": {
                "slang": {"severity": "medium", "params": {"terms": {"老铁": "您"}}},
                "missing_greeting": {"enabled": False},
            },
            "note": "老铁算网络用语",
        },
    )
    assert r.status_code == 201 and r.json()["version"] == 2
    active = client.get("/api/v1/quality/rules").json()
    assert active["version"] == 2 and active["note"] == "老铁算网络用语" and active["author"] == "王主管"
    assert active["ruleset"]["rules"]["slang"]["params"]["terms"] == {"老铁": "您"}
    assert [v["version"] for v in client.get("/api/v1/quality/rules/versions").json()] == [2]
    client.force_login(desk.agent)
    body = check(client, conversation, "老铁，在的。").json()
    slang = next(f for f in body["findings"] if f["rule"] == "slang")
    # A form of address on its own goes with its comma (「您，在的。」 is not Chinese).
    assert slang["severity"] == "medium" and slang["excerpt"] == "老铁，" and slang["replacement"] == ""
    assert body["ruleset_version"] == 2
    assert post(client, "/api/v1/quality/rules", {"rules": {"slang": {"enabled": False}}}).status_code == 403


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"rules": {"slang": {"severity": "critical"}}}, 400, "rules.slang.severity"),
        (
            {"rules": {"internal_jargon": {"params": {"glossary": "SKU"}}}},
            400,
            "rules.internal_jargon.params.glossary",
        ),
        (
            {"rules": {"vague_wording": {"params": {"exclude": [1]}}}},
            400,
            "rules.vague_wording.params.exclude[0]",
        ),
        ({"rules": "slang"}, 422, "rules"),
        ({"rubric": {"weights": {"greeting": 1000}}}, 400, "rubric.weights.greeting"),
        ({"note": "什么都没改"}, 400, "rules"),
        ({"rules": {"slang": {"enabled": False}}, "note": "长" * 300}, 400, "note"),
    ],
)
def test_bad_rule_edits_are_refused_naming_the_field(client, desk, body, status, field):
    client.force_login(desk.supervisor)
    r = post(client, "/api/v1/quality/rules", body)
    assert r.status_code == status, r.json()
    assert field in r.json()["fields"]
    assert client.get("/api/v1/quality/rules").json()["version"] == 1


def test_agents_cannot_read_the_rule_set(client, desk):
    client.force_login(desk.agent)
    assert client.get("/api/v1/quality/rules").status_code == 403
    client.force_login(desk.supervisor)
    assert client.get("/api/v1/quality/rules/versions/7").status_code == 404


# --- scores, samples, reviews ---------------------------------------------------------------------


def resolve(client, conversation, django_capture_on_commit_callbacks):
    with override_settings(TASKS=IMMEDIATE_TASKS), django_capture_on_commit_callbacks(execute=True):
        r = post(client, f"/api/v1/conversations/{conversation.pk}/status", {"status": "resolved"})
    assert r.status_code == 200


def test_resolving_through_the_api_stores_a_score(client, chat, desk, django_capture_on_commit_callbacks):
    conversation = chat(("customer", ANGRY), ("agent", BAD_REPLY))
    client.force_login(desk.agent)
    resolve(client, conversation, django_capture_on_commit_callbacks)
    body = client.get(f"/api/v1/quality/conversations/{conversation.pk}").json()
    assert body["score"]["total"] < 60 and body["score"]["rubric_version"] == 1
    assert {"greeting", "conduct"} <= {i["key"] for i in body["score"]["items"]}
    [reply] = body["replies"]
    assert any(f["rule"] == "blame_policy" for f in reply["findings"])


def test_agent_averages_are_scoped_by_role(client, chat, desk, make_user, django_capture_on_commit_callbacks):
    client.force_login(desk.agent)
    resolve(client, chat(("customer", "在吗"), ("agent", GOOD_CLOSING)), django_capture_on_commit_callbacks)
    client.force_login(desk.supervisor)
    [row] = client.get("/api/v1/quality/agents").json()["items"]
    assert row["agent_id"] == desk.agent.pk and row["count"] == 1 and "greeting" in row["items"]
    assert client.get("/api/v1/quality/agents?since=2000-01-01&until=2000-01-31").json()["items"] == []
    assert client.get("/api/v1/quality/agents?since=yesterday").status_code == 422
    r = client.get("/api/v1/quality/agents?since=2030-01-02&until=2030-01-01")
    assert r.status_code == 400 and "since" in r.json()["fields"]
    client.force_login(make_user("stranger"))
    assert client.get("/api/v1/quality/agents").json()["items"] == []


def test_sample_review_appeal_and_disagreement_flow(
    client, chat, desk, make_user, django_capture_on_commit_callbacks
):
    conversation = chat(("customer", ANGRY), ("agent", BAD_REPLY))
    client.force_login(desk.agent)
    resolve(client, conversation, django_capture_on_commit_callbacks)
    assert post(client, "/api/v1/quality/samples", {"percent": 50}).status_code == 403

    client.force_login(desk.supervisor)
    r = post(client, "/api/v1/quality/samples", {"percent": 0})
    assert r.status_code == 201
    [sample] = r.json()["items"]
    assert sample["conversation_id"] == conversation.pk and "high_finding" in sample["reasons"]
    assert client.get("/api/v1/quality/samples?status=pending").json()["items"][0]["id"] == sample["id"]
    assert client.get("/api/v1/quality/samples?status=odd").status_code == 400

    r = post(
        client,
        "/api/v1/quality/reviews",
        {
            "conversation_id": conversation.pk,
            "items": {"conduct": {"points": 15, "comment": "按规定答复，无不当"}, "greeting": {"points": 10}},
            "comment": "整体可以",
        },
    )
    assert r.status_code == 201, r.json()
    review = r.json()
    assert review["total"] == 100 and review["agent_id"] == desk.agent.pk and review["status"] == "final"
    assert client.get("/api/v1/quality/samples?status=pending").json()["items"] == []

    report = client.get("/api/v1/quality/disagreements").json()
    assert [c["conversation_id"] for c in report["conversations"]] == [conversation.pk]
    assert next(r for r in report["rules"] if r["rule"] == "blame_policy")["disputed"] == 1

    # The agent sees the review and appeals; a colleague does not see it.
    colleague = make_user("colleague", teams=(desk.team,))
    client.force_login(colleague)
    assert client.get("/api/v1/quality/reviews").json()["items"] == []
    assert client.get(f"/api/v1/quality/reviews/{review['id']}").status_code == 403
    assert (
        post(client, f"/api/v1/quality/reviews/{review['id']}/appeal", {"reason": "我也想申诉"}).status_code
        == 403
    )
    client.force_login(desk.agent)
    assert [x["id"] for x in client.get("/api/v1/quality/reviews").json()["items"]] == [review["id"]]
    assert client.get("/api/v1/quality/disagreements").status_code == 403
    r = post(client, f"/api/v1/quality/reviews/{review['id']}/appeal", {"reason": "问候其实有"})
    assert r.status_code == 200 and r.json()["status"] == "appealed"
    assert (
        post(client, f"/api/v1/quality/reviews/{review['id']}/appeal", {"reason": "再来"}).status_code == 409
    )
    assert (
        post(
            client, f"/api/v1/quality/reviews/{review['id']}/resolve", {"decision": "upheld", "comment": "x"}
        ).status_code
        == 403
    )

    client.force_login(desk.supervisor)
    r = post(client, f"/api/v1/quality/reviews/{review['id']}/resolve", {"decision": "maybe", "comment": "x"})
    assert r.status_code == 400 and "decision" in r.json()["fields"]
    r = post(
        client,
        f"/api/v1/quality/reviews/{review['id']}/resolve",
        {
            "decision": "overturned",
            "comment": "问候确有",
            "items": {"conduct": {"points": 15}, "greeting": {"points": 5}},
        },
    )
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "overturned" and body["total"] == 80
    assert body["appeal"]["original_total"] == 100 and body["appeal"]["resolved_by"] == "王主管"


def test_review_input_errors_name_the_field(client, chat, desk, django_capture_on_commit_callbacks):
    conversation = chat(("customer", "在吗"), ("agent", GOOD_CLOSING))
    client.force_login(desk.supervisor)
    url = "/api/v1/quality/reviews"
    r = post(client, url, {"conversation_id": conversation.pk, "items": {"greeting": {"points": 5}}})
    assert r.status_code == 409  # still open
    client.force_login(desk.agent)
    resolve(client, conversation, django_capture_on_commit_callbacks)
    assert (
        post(
            client, url, {"conversation_id": conversation.pk, "items": {"greeting": {"points": 5}}}
        ).status_code
        == 403
    )
    client.force_login(desk.supervisor)
    r = post(client, url, {"conversation_id": conversation.pk, "items": {}})
    assert r.status_code == 400 and "items" in r.json()["fields"]
    r = post(client, url, {"conversation_id": conversation.pk, "items": {"greeting": {"points": 50}}})
    assert r.status_code == 400 and "items.greeting.points" in r.json()["fields"]
    r = post(client, url, {"conversation_id": conversation.pk, "items": {"greeting": {"points": "many"}}})
    assert r.status_code == 422 and "items.greeting.points" in r.json()["fields"]
    r = post(client, url, {"conversation_id": 999999, "items": {"greeting": {"points": 5}}})
    assert r.status_code == 404


def test_team_leads_see_their_teams_scores_but_cannot_review(
    client, chat, desk, make_user, django_capture_on_commit_callbacks
):
    lead = make_user("lead", role=Role.TEAM_LEAD, teams=(desk.team,))
    conversation = chat(("customer", "在吗"), ("agent", GOOD_CLOSING))
    client.force_login(desk.agent)
    resolve(client, conversation, django_capture_on_commit_callbacks)
    client.force_login(lead)
    assert [a["agent_id"] for a in client.get("/api/v1/quality/agents").json()["items"]] == [desk.agent.pk]
    assert client.get("/api/v1/quality/disagreements").status_code == 200
    r = post(
        client,
        "/api/v1/quality/reviews",
        {"conversation_id": conversation.pk, "items": {"greeting": {"points": 5}}},
    )
    assert r.status_code == 403


def test_a_sign_off_without_the_closing_question_is_flagged(client, quality_conversation_for_closing):
    client.force_login(quality_conversation_for_closing.agent)
    r = client.post(
        f"/api/v1/conversations/{quality_conversation_for_closing.conversation_id}/reply-check",
        data={"text": "好的，祝您生活愉快，再见！"},
        content_type="application/json",
    )
    assert r.status_code == 200
    assert "missing_closing" in {f["rule"] for f in r.json()["findings"]}
    r = client.post(
        f"/api/v1/conversations/{quality_conversation_for_closing.conversation_id}/reply-check",
        data={"text": "请问还有其他可以帮您的吗？祝您生活愉快！"},
        content_type="application/json",
    )
    assert "missing_closing" not in {f["rule"] for f in r.json()["findings"]}
