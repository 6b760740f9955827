"""Surge detection as plain functions: Traditional and reworded texts, the normal level, the threshold."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from kefu.incidents.detection import Contact, IncidentSpec, find_surges, match_reason
from kefu.nlp.similarity import text_similarity

from .conftest import (
    LEAKING_CUP,
    ORDER_QUESTIONS,
    OTHER_QUESTIONS,
    RED_PACKET_NOT_DEDUCTED,
    RED_PACKET_UNUSABLE,
)

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 18, 14, 10, tzinfo=TZ)


def _contacts(
    texts: list[str], *, start: int = 0, intent: str = "product_quality", minutes: float = 1.0
) -> list[Contact]:
    return [
        Contact(
            id=start + i,
            at=NOW - timedelta(minutes=minutes * i),
            text=t,
            team_id=1,
            intent=intent,
            customer_id=start + i,
        )
        for i, t in enumerate(texts)
    ]


def test_traditional_and_reworded_complaints_are_similar_and_unrelated_questions_are_not():
    assert text_similarity("我買的保溫杯漏水，杯蓋那邊一直滲水", "保温杯盖子漏水啊，刚收到就这样") >= 0.34
    assert text_similarity("保温杯漏水", "请问这款羽绒服有没有XL码") < 0.1
    assert text_similarity("您好请问一下", "您好请问一下优惠券") < 0.5


def test_twelve_similar_complaints_in_ten_minutes_are_a_surge_with_their_evidence():
    surges = find_surges(_contacts(LEAKING_CUP, minutes=0.8), [], history_days=7, now=NOW)
    assert len(surges) == 1
    surge = surges[0]
    assert surge.kind == "text" and surge.count == 12
    assert surge.rate_per_hour == 12 * 4
    assert surge.normal_per_hour == 0


def test_the_same_volume_is_no_surge_when_it_is_normal_for_this_hour():
    history = [
        Contact(
            id=1000 + d * 100 + i,
            at=NOW - timedelta(days=d, minutes=i * 2),
            text=LEAKING_CUP[i % 12],
            team_id=1,
            intent="product_quality",
        )
        for d in range(1, 8)
        for i in range(25)
    ]
    assert find_surges(_contacts(LEAKING_CUP, minutes=0.8), history, history_days=7, now=NOW) == []


def test_a_few_similar_complaints_or_many_different_questions_are_no_surge():
    assert find_surges(_contacts(LEAKING_CUP[:6]), [], history_days=7, now=NOW) == []
    mixed = _contacts(OTHER_QUESTIONS * 2, intent="")
    assert find_surges(mixed, [], history_days=7, now=NOW) == []


def test_the_same_sku_surges_even_when_customers_write_differently():
    contacts = [
        Contact(
            id=i,
            at=NOW - timedelta(minutes=i),
            text=OTHER_QUESTIONS[i % 6],
            team_id=1,
            skus=("VC-500",),
            intent=f"i{i % 3}",
        )
        for i in range(10)
    ]
    surges = find_surges(contacts, [], history_days=7, now=NOW)
    assert [(s.kind, s.label, s.count) for s in surges] == [("sku", "VC-500", 10)]


def test_contacts_outside_the_window_or_of_another_team_do_not_add_up():
    early = _contacts(LEAKING_CUP[:6], minutes=5)  # 0..25 minutes ago: some outside 15 minutes
    other_team = [
        Contact(id=100 + c.id, at=c.at, text=c.text, team_id=2, intent=c.intent)
        for c in _contacts(LEAKING_CUP[6:])
    ]
    assert find_surges(early + other_team, [], history_days=7, now=NOW) == []


def test_an_incident_matches_a_reworded_traditional_message_by_text_keyword_or_sku():
    spec = IncidentSpec(intent="product_quality", samples=(LEAKING_CUP[0],))
    traditional = Contact(id=1, at=NOW, text="保溫杯漏水了，蓋子擰緊也漏", intent="product_quality")
    assert match_reason(spec, traditional) == "text"
    assert match_reason(spec, Contact(id=2, at=NOW, text="优惠券怎么用", intent="product_quality")) is None
    assert (
        match_reason(IncidentSpec(keywords=("华东仓",)), Contact(id=3, at=NOW, text="華東倉是不是停發了"))
        == "keyword"
    )
    assert (
        match_reason(IncidentSpec(skus=("VC-500",)), Contact(id=4, at=NOW, text="在吗", skus=("VC-500",)))
        == "sku"
    )


def test_a_new_problem_is_a_surge_though_everyday_questions_like_it_join_its_cluster():
    """「我的快递到哪了」 is asked every hour and resembles 「显示已签收但快递柜里没有」: the
    cluster's normal level is the new problem's (nothing), not the everyday question's."""
    everyday = ["我的快递到哪了", "我的快递到哪了？", "快递显示签收了但我没收到", "我的快递到哪了，急"]
    history = [
        Contact(
            id=5000 + d * 100 + i,
            at=NOW - timedelta(days=d, minutes=i * 4),
            text=everyday[i % len(everyday)],
            team_id=1,
            intent="logistics",
        )
        for d in range(1, 8)
        for i in range(12)
    ]
    lockers = [
        "显示已签收但是快递柜里没有",
        "快递柜里找不到我的包裹，显示签收了",
        "顯示已簽收但快遞櫃沒有",
        "快递柜空的，物流说已签收",
        "你好，显示已签收但是快递柜里没有",
        "快递柜里找不到我的包裹，显示签收了，急",
        "顯示已簽收但快遞櫃沒有，麻烦尽快处理",
        "客服，快递柜空的，物流说已签收",
    ]
    window = _contacts(lockers + everyday[:3], intent="logistics")
    surges = find_surges(window, history, history_days=7, now=NOW)
    assert [s.kind for s in surges] == ["text"]
    assert {c.text for c in surges[0].contacts} >= set(lockers)
    assert surges[0].normal_per_hour < 1
    # The everyday questions alone, as often as every day, are no surge.
    assert find_surges(_contacts(everyday * 2, intent="logistics"), history, history_days=7, now=NOW) == []


def test_two_wordings_that_share_only_a_rare_term_are_one_surge_named_by_it():
    assert max(text_similarity(a, b) for a in RED_PACKET_UNUSABLE for b in RED_PACKET_NOT_DEDUCTED) < 0.34
    two_wordings = [
        t for pair in zip(RED_PACKET_UNUSABLE, RED_PACKET_NOT_DEDUCTED, strict=True) for t in pair
    ]
    surges = find_surges(_contacts(two_wordings, intent="下单与支付"), [], history_days=7, now=NOW)
    assert [(s.term, s.label, s.count) for s in surges] == [("红包", "红包", 10)]
    spec = surges[0].spec()
    assert spec.keywords == ("红包",)
    later = Contact(id=99, at=NOW, text="红包抵扣不了，付款时一分没减", intent="下单与支付")
    assert match_reason(spec, later) == "keyword"
    # One wording alone is no surge, and no term either.
    assert find_surges(_contacts(RED_PACKET_UNUSABLE, intent="下单与支付"), [], history_days=7, now=NOW) == []


def test_a_term_group_that_is_one_similar_text_cluster_is_not_proposed_twice():
    surges = find_surges(_contacts(LEAKING_CUP, minutes=0.8), [], history_days=7, now=NOW)
    assert [(s.kind, s.term) for s in surges] == [("text", "")]


def test_a_word_written_every_hour_is_no_term_surge_even_when_it_doubles():
    """「订单」 three times this hour every day: ten in a quarter of an hour is busy, not new.

    The classifier reads half of these questions as 物流延迟 and is unsure of the rest
    (no intent), so no similar-text cluster holds them all; only the term would.
    """
    now = NOW.replace(minute=40)
    intents = ("物流延迟/催发货", "")
    history = [
        Contact(
            id=3000 + d * 10 + i,
            at=now - timedelta(days=d, minutes=5 + 15 * i),
            text=ORDER_QUESTIONS[(d + i) % 10],
            team_id=1,
            intent=intents[i % 2],
        )
        for d in range(1, 8)
        for i in range(3)
    ]
    window = [
        Contact(id=i, at=now - timedelta(minutes=i), text=t, team_id=1, intent=intents[i % 2])
        for i, t in enumerate(ORDER_QUESTIONS)
    ]
    assert find_surges(window, history, history_days=7, now=now) == []
    # Nobody wrote it last week: the same ten are a surge of 「订单」.
    assert [s.term for s in find_surges(window, [], history_days=7, now=now)] == ["订单"]
