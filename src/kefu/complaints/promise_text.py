"""Finding commitments in an agent's reply: "今天18:00前给您回电", "24小时内为您退款".

Pure functions over text and a reference time (no database), so the desk can register
every promise an agent makes with its due time, and tests can pin the clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from kefu.nlp.normalize import to_simplified
from kefu.nlp.numbers import parse_number

# A promise is a commitment by us ("我/我们/会/将/为您/给您 …") to do something
# concrete by a time. A sentence that only informs ("退款一般1-3个工作日到账") is not one.
_COMMIT = re.compile(r"我们?|会|将|马上|立即|为您|给您|帮您|替您")
_ACTION = re.compile(
    r"回复|答复|回电|联系|致电|电话|退款|退回|到账|发货|发出|补发|寄出|安排|处理|核实|查询|反馈|告知|通知|跟进|确认|换新|更换|赔付|补偿|发放"
)
_NUM = r"(\d{1,3}|[一二两三四五六七八九十]{1,3})"
_CLOCK = re.compile(
    r"(?P<day>今天|今日|今晚|明天|明日|后天)?\s*(?P<part>上午|中午|下午|晚上)?\s*"
    r"(?:(?P<h>\d{1,2})[:：](?P<m>\d{2})|(?P<h2>\d{1,2}|[一二两三四五六七八九十]{1,3})点(?P<half>半)?)\s*(?:前|之前|以前)?"
)
_DAY_ONLY = re.compile(r"(?P<day>今天|今日|明天|明日|后天)(?P<part>上午|中午|下午|晚上)?(?:内|之内|前|之前)")
_WITHIN = re.compile(_NUM + r"\s*(?:个)?\s*(?P<unit>分钟|小时|工作日|个工作日|天|日)\s*(?:内|之内|以内)")
_SENTENCE = re.compile(r"[^。！？!?\n；;]+[。！？!?；;]?")


@dataclass(frozen=True)
class FoundPromise:
    description: str
    due_at: datetime
    start: int
    end: int


def _num(text: str) -> int:
    value = parse_number(text)
    return int(value) if value is not None else 0


def _add_business_days(start: datetime, days: int) -> datetime:
    current = start
    while days > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            days -= 1
    return current


def _day_offset(day: str | None) -> int:
    return {"明天": 1, "明日": 1, "后天": 2}.get(day or "", 0)


def _due_from(sentence: str, now: datetime) -> tuple[datetime, re.Match[str]] | None:
    m = _WITHIN.search(sentence)
    if m:
        n = _num(m.group(1))
        unit = m.group("unit")
        if unit == "分钟":
            return now + timedelta(minutes=n), m
        if unit == "小时":
            return now + timedelta(hours=n), m
        if "工作日" in unit:
            return _add_business_days(now, n), m
        return now + timedelta(days=n), m
    m = _CLOCK.search(sentence)
    if m and (m.group("h") or m.group("h2")):
        hour = int(m.group("h")) if m.group("h") else _num(m.group("h2"))
        minute = int(m.group("m")) if m.group("m") else (30 if m.group("half") else 0)
        if m.group("part") in ("下午", "晚上") and hour < 12:
            hour += 12
        if m.group("day") == "今晚" and hour < 12:
            hour += 12
        if not (0 <= hour <= 23 and 0 <= minute <= 59):
            return None
        day = now.date() + timedelta(days=_day_offset(m.group("day")))
        due = datetime.combine(day, time(hour, minute), tzinfo=now.tzinfo)
        if due <= now and not m.group("day"):
            due += timedelta(days=1)  # "15:00前" said at 16:00 means tomorrow
        return due, m
    m = _DAY_ONLY.search(sentence)
    if m:
        part = m.group("part")
        hour = {"上午": 12, "中午": 13, "下午": 18, "晚上": 21}.get(part or "", 18)
        day = now.date() + timedelta(days=_day_offset(m.group("day")))
        return datetime.combine(day, time(hour, 0), tzinfo=now.tzinfo), m
    return None


def find_promises(text: str, now: datetime) -> list[FoundPromise]:
    """Commitments with a time in ``text`` (Simplified or Traditional); ``now`` must be
    timezone-aware local time. Descriptions quote the reply as written."""
    original = text
    text = to_simplified(text)
    if len(text) != len(original):  # OpenCC almost always maps 1:1; if not, quote the converted text
        original = text
    found = []
    for s in _SENTENCE.finditer(text):
        sentence = s.group(0)
        if not (_COMMIT.search(sentence) and _ACTION.search(sentence)):
            continue
        result = _due_from(sentence, now)
        if result is None:
            continue
        due, _ = result
        if due <= now:
            continue
        quoted = original[s.start() : s.end()].strip()
        found.append(FoundPromise(quoted[:255], due, s.start(), s.end()))
    return found
