"""Replies that tell the customer a compensation was granted, on the phrasings list both ways."""

from __future__ import annotations

from pathlib import Path

import pytest

from kefu.nlp.grant_claims import claims_grant, find_grant_claim

DATA = Path(__file__).parent / "data" / "grant_claims.tsv"
ROWS = [
    tuple(line.split("\t"))
    for line in DATA.read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.startswith("#")
]


def test_the_list_holds_at_least_thirty_phrasings_each_way():
    labels = [label for _, label, _ in ROWS]
    assert labels.count("claim") >= 30 and labels.count("no_claim") >= 30


@pytest.mark.parametrize(("split", "label", "text"), ROWS, ids=[f"{s}-{t}" for s, _, t in ROWS])
def test_each_phrasing_is_read_as_labelled(split, label, text):
    assert claims_grant(text) is (label == "claim")


@pytest.mark.parametrize(
    "text",
    [
        "已為您補償50元優惠券",
        "50元券已经给您发过去了",
        "优惠券搞定了，已经到您账户了",
        "给您发了一张50元的券",
    ],
)
def test_the_four_replies_that_went_through_are_claims(text):
    assert claims_grant(text)


def test_full_width_and_traditional_are_read_like_simplified():
    assert claims_grant("５０元券已經給您發過去了！")
    assert not claims_grant("審批通過後２４小時內到賬")


def test_a_claim_in_a_later_sentence_or_line_is_found():
    claim = find_grant_claim("您好，非常抱歉让您久等了。\n退款已经原路退回，请注意查收")
    assert claim is not None and "退回" in claim.cue


def test_a_condition_in_one_clause_holds_back_the_next():
    assert not claims_grant("如果领导批准了，券就会发给您")
    # …but a condition about something else later in the sentence does not.
    assert claims_grant("50元券已经发给您了，如果没收到请联系我们")


def test_text_without_anything_given_is_no_claim():
    assert not claims_grant("您的订单已经发货了，预计明天送达")
    assert not claims_grant("")
    assert not claims_grant("\x00" * 10)
