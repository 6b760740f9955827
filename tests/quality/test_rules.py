"""The reply-quality rules (kefu.quality.rules): each rule, the engine and the conversation rubric."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from kefu.quality.rules import (
    DEFAULT_RULESET,
    Finding,
    ReplyContext,
    Turn,
    apply_finding,
    check_reply,
    contexts_for,
    score_conversation,
)
from kefu.quality.rulesets import RULE_IDS, RuleSet

DATA = Path(__file__).resolve().parent.parent / "data" / "quality_replies.jsonl"
CALM = ReplyContext()


def fired(reply: str, ctx: ReplyContext = CALM, ruleset: RuleSet = DEFAULT_RULESET) -> set[str]:
    return {f.rule for f in check_reply(reply, ctx, ruleset)}


def only(rule: str, reply: str, ctx: ReplyContext = CALM) -> list[Finding]:
    return [f for f in check_reply(reply, ctx) if f.rule == rule]


# --- vague wording -------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        "包裹可能明天到。",
        "大概三天吧。",
        "应该是L码吧。",
        "我不确定能不能退。",
        "這個我不清楚。",
        "應該可以吧，我也不確定。",
    ],
)
def test_vague_wording_fires_on_hedges_in_simplified_and_traditional(reply: str) -> None:
    assert "vague_wording" in fired(reply)


@pytest.mark.parametrize(
    "reply",
    [
        "包裹明天上午送达。",
        "我们会尽可能今天发出，最晚明天上午。",
        "这种情况不可能是质量问题以外的原因，我为您换新。",
        "我不太确定，我帮您核实一下，10分钟内回复您。",
        "我不確定，我幫您核實一下。",
        "不同显示器可能会有色差，以实物为准。",
        "照片不清楚的话麻烦您重新拍一张。",
    ],
)
def test_vague_wording_ignores_definite_answers_exclusions_and_promises_to_check(reply: str) -> None:
    assert "vague_wording" not in fired(reply)


def test_vague_wording_span_and_replacement_point_into_original_traditional_reply() -> None:
    reply = "您好，我不確定。"
    [f] = only("vague_wording", reply)
    assert reply[f.start : f.end] == f.excerpt == "我不確定"
    assert f.replacement == "我幫您核實一下"  # converted back to Traditional


# --- blame and cold policy talk ----------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        "这是公司规定，不能退。",
        "是您操作不当导致的。",
        "您自己没看清详情页。",
        "系统就是这样。",
        "這是公司規定，沒辦法。",
        "你自己的問題。",
    ],
)
def test_blame_policy_fires_on_blame_and_cold_policy(reply: str) -> None:
    assert "blame_policy" in fired(reply)


@pytest.mark.parametrize(
    "reply",
    [
        "根据我们的售后政策，这款可以换货。",
        "我帮您看看有没有办法加急。",
        "我來幫您想想其他辦法。",
        "我们想办法为您处理。",
    ],
)
def test_blame_policy_ignores_helpful_wording(reply: str) -> None:
    assert "blame_policy" not in fired(reply)


def test_blame_policy_offers_a_rewrite_that_applies_cleanly() -> None:
    [f] = only("blame_policy", "这是公司规定，请理解。")
    assert apply_finding("这是公司规定，请理解。", f) == "这是我们目前的售后政策，请理解。"


# --- apology then "but" --------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        "非常抱歉，但是这款不支持退货。",
        "很抱歉给您带来不便，不过杯子出厂都检测过。",
        "對不起，但是我們都是按流程來的。",
    ],
)
def test_apology_but_fires_when_but_follows_the_apology(reply: str) -> None:
    assert "apology_but" in fired(reply)


@pytest.mark.parametrize(
    "reply",
    [
        "非常抱歉给您带来不便。我马上为您补发。",
        "抱歉让您久等了，但愿这次能帮到您。",
        "非常抱歉。退货需要在七天内申请，但是换货不受限制。",
    ],
)
def test_apology_but_ignores_standalone_apologies(reply: str) -> None:
    assert "apology_but" not in fired(reply)


def test_apology_but_suggests_ending_the_apology_first() -> None:
    [f] = only("apology_but", "非常抱歉，但是这款不支持退货。")
    assert f.suggestion == "非常抱歉。这款不支持退货。"


# --- negative framing ------------------------------------------------------------


def test_negative_framing_rewrites_cannot_ship_today() -> None:
    [f] = only("negative_framing", "我们不能今天发货。")
    assert f.replacement == "我们将在明天为您安排发货"


def test_negative_framing_rewrite_keeps_captured_words() -> None:
    [f] = only("negative_framing", "要等到仓库验货完才能退款。")
    assert f.replacement == "仓库验货完就可以"


@pytest.mark.parametrize("reply", ["这个问题很复杂。", "這個問題很複雜。", "现在没货了。"])
def test_negative_framing_fires_in_both_scripts(reply: str) -> None:
    assert "negative_framing" in fired(reply)


@pytest.mark.parametrize(
    "reply", ["我们将在明天为您安排发货。", "让我为您逐步解决。", "这款有货，今天就能发。"]
)
def test_negative_framing_ignores_positive_wording(reply: str) -> None:
    assert "negative_framing" not in fired(reply)


def test_negative_framing_table_is_extendable_as_data() -> None:
    ruleset = DEFAULT_RULESET.with_overrides(
        {
            "rules": {
                "negative_framing": {
                    "params": {"rewrites": [{"regex": "不支持货到付款", "rewrite": "支持在线支付"}]}
                }
            }
        }
    )
    [f] = [f for f in check_reply("我们不支持货到付款。", CALM, ruleset) if f.rule == "negative_framing"]
    assert f.replacement == "支持在线支付"


# --- empathy ---------------------------------------------------------------------


def test_no_empathy_fires_for_angry_customer_without_acknowledgement() -> None:
    [f] = only("no_empathy", "请问是哪个位置漏水？", ReplyContext(customer_emotion="angry"))
    assert f.severity == "high"
    assert f.suggestion is not None and f.suggestion.startswith("非常理解您的心情")


def test_no_empathy_is_medium_for_dissatisfied_customer_in_traditional() -> None:
    [f] = only("no_empathy", "請問是哪個位置漏水？", ReplyContext(customer_emotion="dissatisfied"))
    assert f.severity == "medium"


@pytest.mark.parametrize(
    "reply",
    ["非常抱歉给您带来不便，我马上为您换新。", "理解您的心情，我马上处理。", "非常抱歉給您帶來不便。"],
)
def test_no_empathy_satisfied_by_acknowledging_feelings(reply: str) -> None:
    assert "no_empathy" not in fired(reply, ReplyContext(customer_emotion="angry"))


def test_no_empathy_not_required_for_calm_customer() -> None:
    assert "no_empathy" not in fired("请问是哪个位置漏水？", ReplyContext(customer_emotion="calm"))


def test_no_empathy_infers_anger_from_complaint_words_without_a_label() -> None:
    ctx = ReplyContext(customer_last_message="你们这是什么破服务，我要投诉！")
    assert "no_empathy" in fired("您的问题已记录。", ctx)


def test_no_empathy_flags_apology_buried_at_the_end_as_low() -> None:
    reply = "您的包裹目前在转运中心，明天会派送，派送前快递员会电话联系您，给您带来不便很抱歉。"
    [f] = only("no_empathy", reply, ReplyContext(customer_emotion="angry"))
    assert f.severity == "low"


# --- promise without time ------------------------------------------------------------


@pytest.mark.parametrize("reply", ["我们会尽快处理。", "很快就到账了。", "稍後通知您。", "維修很快的。"])
def test_promise_without_time_fires_when_customer_asked_when(reply: str) -> None:
    assert "promise_without_time" in fired(reply, ReplyContext(expects_time=True))


@pytest.mark.parametrize(
    "reply",
    [
        "我们会尽快处理，24小时内回复您。",
        "今天18:00前给您答复。",
        "明天上午送达。",
        "2个工作日内到账。",
        "我们会盡快處理，兩個工作日內回覆。",
        "我马上为您查询，请稍等。",
    ],
)
def test_promise_without_time_accepts_concrete_times_and_immediate_checks(reply: str) -> None:
    assert "promise_without_time" not in fired(reply, ReplyContext(expects_time=True))


def test_promise_without_time_only_when_a_time_is_expected() -> None:
    assert "promise_without_time" not in fired("我们会尽快处理。", CALM)


def test_promise_without_time_detects_time_question_in_customer_message() -> None:
    assert "promise_without_time" in fired(
        "会尽快的。", ReplyContext(customer_last_message="退款什麼時候到？")
    )


# --- over-promising --------------------------------------------------------------


def test_compensation_over_limit_fires_above_authority() -> None:
    [f] = only("compensation_over_limit", "给您补偿50元无门槛券。", ReplyContext(compensation_limit=20))
    assert f.excerpt == "50元"


def test_compensation_within_limit_is_fine() -> None:
    assert "compensation_over_limit" not in fired("送您一张10元优惠券。", ReplyContext(compensation_limit=20))


def test_compensation_covered_by_approval_is_fine() -> None:
    ctx = ReplyContext(compensation_limit=20, approved_compensation=100)
    assert "compensation_over_limit" not in fired("审批已通过，赔偿您一百元。", ctx)


def test_compensation_reads_chinese_numerals_and_sums_a_reply() -> None:
    ctx = ReplyContext(compensation_limit=20)
    assert "compensation_over_limit" in fired("賠償您五十塊。", ctx)
    assert "compensation_over_limit" in fired("给您10元红包，再加一张15元优惠券。", ctx)


def test_compensation_ignores_prices() -> None:
    assert "compensation_over_limit" not in fired(
        "这款售价199元，可以叠加店铺券。", ReplyContext(compensation_limit=20)
    )


@pytest.mark.parametrize(
    "reply",
    [
        "优惠券需要满 199 元才能使用。",
        "这张券满199元减20元，您下单时选上就行。",
        "訂單滿九十九元包郵，優惠券自動抵扣。",
        "优惠券仅限199元以上的订单使用。",
    ],
)
def test_compensation_ignores_spending_thresholds(reply: str) -> None:
    # The threshold is what the customer spends, not what kefu gives; 「减20元」 is within 20.
    assert "compensation_over_limit" not in fired(reply, ReplyContext(compensation_limit=20))


def test_compensation_after_a_threshold_still_counts() -> None:
    assert "compensation_over_limit" in fired(
        "满199元的订单，我们再补偿您50元优惠券。", ReplyContext(compensation_limit=20)
    )


def test_full_refund_needs_an_approval() -> None:
    assert "compensation_over_limit" in fired("给您全额退款。")
    assert "compensation_over_limit" not in fired("给您全额退款。", ReplyContext(approved_compensation=299))


@pytest.mark.parametrize(
    "reply", ["我们保证以后不会再出现这种问题。", "絕對不會再發生了。", "保证明天送到！"]
)
def test_absolute_guarantee_fires(reply: str) -> None:
    assert "absolute_guarantee" in fired(reply)


@pytest.mark.parametrize(
    "reply", ["我们已经改进了包装，会持续跟进。", "我一定帮您跟进到底。", "預計明天送達。"]
)
def test_absolute_guarantee_ignores_commitments_to_act(reply: str) -> None:
    assert "absolute_guarantee" not in fired(reply)


# --- personal data ---------------------------------------------------------------


def test_pii_exposed_fires_and_suggests_masked_reply() -> None:
    [f] = only("pii_exposed", "您的电话是13812345678对吧？")
    assert f.replacement == "138****5678"
    assert f.suggestion == "您的电话是138****5678对吧？"


def test_pii_exposed_finds_traditional_address() -> None:
    [f] = only("pii_exposed", "寄到臺北市大安區忠孝東路四段100號。")
    assert f.excerpt == "臺北市大安區忠孝東路四段100號"


@pytest.mark.parametrize("reply", ["手机号尾号5678。", "您的手機號尾號5678。", "订单号6222021234567890128。"])
def test_pii_exposed_ignores_masked_data_and_order_numbers(reply: str) -> None:
    assert "pii_exposed" not in fired(reply)


# --- jargon ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "excerpt", "replacement"),
    [
        ("这个SKU没货了", "SKU", "商品规格"),
        ("倉配環節出錯", "倉配", "仓库配送"),
        ("WMS显示拣货中", "WMS", "仓库系统"),
        ("工单TK-20241108-0032已创建", "TK-20241108-0032", "您的服务记录"),
        ("错误码ERR_STOCK_LOCK", "ERR_STOCK_LOCK", "系统异常"),
    ],
)
def test_internal_jargon_maps_terms_to_customer_friendly_words(
    reply: str, excerpt: str, replacement: str
) -> None:
    findings = {f.excerpt: f for f in only("internal_jargon", reply)}
    assert excerpt in findings
    assert findings[excerpt].replacement in (replacement, replacement.replace("仓库配送", "倉庫配送"))


@pytest.mark.parametrize("reply", ["这款有两个规格可选。", "skull 图案的杯子", "订单已出库。"])
def test_internal_jargon_ignores_plain_words(reply: str) -> None:
    assert "internal_jargon" not in fired(reply)


# --- greeting, closing, slang ----------------------------------------------------


def test_missing_greeting_on_first_reply() -> None:
    ctx = ReplyContext(is_first_agent_reply=True)
    assert "missing_greeting" in fired("什么事？", ctx)
    assert "missing_greeting" in fired("有什麼事？", ctx)
    assert "missing_greeting" not in fired("您好，请问有什么可以帮您？", ctx)
    assert "missing_greeting" not in fired("Hi，您好！", ctx)
    assert "missing_greeting" not in fired("什么事？", CALM)


def test_missing_closing_when_ending_the_conversation() -> None:
    ctx = ReplyContext(is_closing=True)
    [f] = only("missing_closing", "不客气，祝您生活愉快！", ctx)
    assert f.suggestion == "不客气，祝您生活愉快！请问还有其他可以帮您的吗？"
    assert "missing_closing" not in fired("不客气，请问还有其他可以帮您的吗？", ctx)
    assert "missing_closing" not in fired("不客氣，請問還有其他可以幫您的嗎？", ctx)
    assert "missing_closing" not in fired("不客气，祝您生活愉快！", CALM)


def test_slang_fires_only_where_house_style_forbids_it() -> None:
    assert "slang" in fired("亲亲，木有问题哦")
    assert "slang" in fired("可以滴，yyds")
    assert "slang" in fired("親親，肿么了？")
    assert "slang" not in fired("亲亲，木有问题哦", ReplyContext(house_style_forbids_slang=False))


@pytest.mark.parametrize("reply", ["您的电话是13866612345。", "没问题，马上为您处理。", "共666元。"])
def test_slang_ignores_digits_inside_numbers_and_plain_words(reply: str) -> None:
    assert "slang" not in fired(reply)


# --- engine behaviour ------------------------------------------------------------


def test_clean_reply_has_no_findings() -> None:
    ctx = ReplyContext(customer_emotion="angry", is_first_agent_reply=True, expects_time=True)
    reply = "您好，非常抱歉让您久等了。我已联系快递优先派送，今天18:00前给您回复结果。"
    assert check_reply(reply, ctx) == []


def test_findings_are_ordered_and_spans_match_excerpts() -> None:
    reply = "這是公司規定，沒辦法，SKU不對可能是您操作不當。"
    findings = check_reply(reply, CALM)
    assert findings == sorted(findings, key=lambda f: (f.start, f.end, f.rule))
    assert all(reply[f.start : f.end] == f.excerpt for f in findings)


def test_full_width_characters_keep_offsets() -> None:
    reply = "電話１３８１２３４５６７８，ＳＫＵ已更新"
    findings = check_reply(reply, CALM)
    assert {f.rule for f in findings} == {"pii_exposed", "internal_jargon"}
    assert all(reply[f.start : f.end] == f.excerpt for f in findings)


def test_disabled_rule_does_not_fire() -> None:
    ruleset = DEFAULT_RULESET.with_overrides({"rules": {"blame_policy": {"enabled": False}}})
    assert "blame_policy" not in fired("这是公司规定。", CALM, ruleset)


def test_severity_is_configurable() -> None:
    ruleset = DEFAULT_RULESET.with_overrides({"rules": {"slang": {"severity": "high"}}})
    [f] = [f for f in check_reply("木有了", CALM, ruleset) if f.rule == "slang"]
    assert f.severity == "high"


def test_check_reply_is_fast() -> None:
    reply = "您好，這是公司規定，沒辦法，可能明天到吧。您的電話13812345678，SKU不對，我們會盡快處理。" * 3
    ctx = ReplyContext(
        customer_emotion="angry", expects_time=True, is_first_agent_reply=True, is_closing=True
    )
    check_reply(reply, ctx)
    timings = []
    for _ in range(200):
        # CPU time of this thread: the shared test machine may preempt us at any moment.
        t0 = time.thread_time()
        check_reply(reply, ctx)
        timings.append(time.thread_time() - t0)
    timings.sort()
    assert timings[int(len(timings) * 0.99) - 1] < 0.005


# --- rubric ----------------------------------------------------------------------


def _good_conversation() -> list[Turn]:
    return [
        Turn("customer", "我的保温杯漏水了，把包都弄湿了！", emotion="angry", at=0),
        Turn("agent", "您好，非常抱歉给您带来这么大的麻烦。您是说杯盖位置漏水对吗？", at=20),
        Turn("customer", "对，什么时候能换？", emotion="dissatisfied", at=60),
        Turn("agent", "理解您的心情，新杯子今天18:00前寄出，明天下午送到。", at=80),
        Turn("customer", "好的", emotion="calm", at=100),
        Turn("agent", "感谢您的耐心，请问还有其他可以帮您的吗？", at=110),
    ]


def test_rubric_scores_a_good_conversation_high() -> None:
    score = score_conversation(_good_conversation())
    assert score.total >= 95
    assert {i.key for i in score.items} == {
        "greeting",
        "listening",
        "empathy",
        "clarity",
        "promise",
        "conduct",
        "closing",
        "response_time",
    }
    assert all(i.reason for i in score.items)


def test_rubric_scores_a_poor_conversation_low_with_reasons() -> None:
    turns = [
        Turn("customer", "杯子漏水了！", emotion="angry"),
        Turn("agent", "这是公司规定，可能是您操作不当。"),
        Turn("customer", "什么时候换？", emotion="angry"),
        Turn("agent", "尽快吧。"),
    ]
    score = score_conversation(turns, response_times=[400, 200])
    assert score.total < 40
    items = {i.key: i for i in score.items}
    assert items["greeting"].points == 0
    assert items["empathy"].points == 0
    assert items["conduct"].points < items["conduct"].max_points
    assert "blame_policy" in items["conduct"].reason


def test_rubric_includes_kb_correctness_when_given() -> None:
    without = score_conversation(_good_conversation())
    with_kb = score_conversation(_good_conversation(), kb_correctness=0.0)
    assert with_kb.total < without.total
    assert any(i.key == "kb_correctness" for i in with_kb.items)


def test_rubric_accepts_precomputed_findings() -> None:
    turns = _good_conversation()
    contexts = contexts_for(turns)
    findings = [
        check_reply(t.text, c) for t, c in zip([t for t in turns if t.role == "agent"], contexts, strict=True)
    ]
    assert score_conversation(turns, findings).total == score_conversation(turns).total


def test_rubric_refuses_misaligned_findings() -> None:
    with pytest.raises(ValueError):
        score_conversation(_good_conversation(), [[]])


def test_rubric_to_dict_is_json_ready() -> None:
    data = score_conversation(_good_conversation()).to_dict()
    assert json.loads(json.dumps(data, ensure_ascii=False)) == data


# --- labelled set ----------------------------------------------------------------


def _labelled(split: str) -> list[dict]:
    with DATA.open(encoding="utf-8") as fh:
        return [row for line in fh if line.strip() for row in [json.loads(line)] if row["split"] == split]


def test_labelled_set_is_well_formed() -> None:
    rows = _labelled("dev") + _labelled("holdout1") + _labelled("holdout2")
    assert len(rows) >= 150
    assert len({r["id"] for r in rows}) == len(rows)
    for row in rows:
        ReplyContext(**row["context"])
        assert set(row["expect"]) <= set(RULE_IDS)


def test_dev_split_precision_and_recall_do_not_regress() -> None:
    tp = fp = fn = 0
    for row in _labelled("dev"):
        got = fired(row["reply"], ReplyContext(**row["context"]))
        want = set(row["expect"])
        tp, fp, fn = tp + len(got & want), fp + len(got - want), fn + len(want - got)
    assert tp / (tp + fp) >= 0.95
    assert tp / (tp + fn) >= 0.9
