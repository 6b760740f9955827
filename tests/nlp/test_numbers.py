import pytest

from kefu.nlp.numbers import parse_number


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("50", 50.0),
        ("12.5", 12.5),
        ("五十", 50.0),
        ("两百", 200.0),
        ("一百五", 150.0),
        ("二十四", 24.0),
        ("十", 10.0),
        ("三万", 30000.0),
    ],
)
def test_arabic_and_chinese_numerals(text, value):
    assert parse_number(text) == value


@pytest.mark.parametrize("text", ["", "元", "五十块"])
def test_not_a_number(text):
    assert parse_number(text) is None
