"""Calm stays calm: ordinary e-commerce desk questions read calm, complaints do not.

The fixture (``data/desk_calm_complaints.jsonl``) was written for this test from
what a Chinese e-commerce desk and the demo shop meet every day; no model trains on it.
"""

import json
from pathlib import Path

import pytest

from kefu.nlp.emotion import analyze_message
from kefu.nlp.normalize import normalize
from kefu.nlp.train import DESK_SEED, EMOTION_SEED, INTENT_SEED, load_emotion_seed

FIXTURE = Path(__file__).parent / "data" / "desk_calm_complaints.jsonl"


def _fixture(kind: str) -> list[str]:
    rows = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r["text"] for r in rows if r["kind"] == kind]


def test_fixture_holds_at_least_300_distinct_messages_of_each_kind():
    for kind in ("ordinary", "complaint"):
        texts = _fixture(kind)
        assert len(texts) >= 300 and len(set(texts)) == len(texts), kind


def test_fixture_includes_traditional_chinese():
    assert sum(normalize(t).was_traditional for t in _fixture("ordinary") + _fixture("complaint")) >= 20


def test_at_least_95_percent_of_ordinary_desk_questions_read_calm():
    texts = _fixture("ordinary")
    calm = sum(analyze_message(t).label == "calm" for t in texts) / len(texts)
    assert calm >= 0.95, f"{calm:.1%} calm"


def test_at_least_90_percent_of_complaints_read_not_calm():
    texts = _fixture("complaint")
    flagged = sum(analyze_message(t).label != "calm" for t in texts) / len(texts)
    assert flagged >= 0.90, f"{flagged:.1%} not calm"


@pytest.mark.parametrize("text", ["老板，有货吗", "M码的衣服会不会起球"])
def test_the_issues_shop_questions_are_calm(text):
    assert analyze_message(text).label == "calm"


def test_no_training_seed_shares_a_text_with_the_fixture():
    fixture = {normalize(t).text for t in _fixture("ordinary") + _fixture("complaint")}
    seeds = {text for path in (EMOTION_SEED, DESK_SEED) for text, _ in load_emotion_seed(path)}
    seeds |= {
        normalize(json.loads(line)["text"]).text for line in INTENT_SEED.read_text("utf-8").splitlines()
    }
    assert len(seeds) > 1500
    assert not fixture & seeds
