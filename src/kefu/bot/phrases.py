"""What a customer's short reply to the bot means: a request for a person, yes, no, a pick, an order question.

Pure functions over text (Simplified and Traditional: everything is folded to
Simplified first), no database.
"""

from __future__ import annotations

import re
import unicodedata

from kefu.nlp.normalize import to_simplified

# Asking for a person, however it is put (转人工, 轉人工, 我要真人, 别让机器人回了 …).
_HANDOVER = re.compile(
    r"转人工|转接人工|人工客服|人工服务|人工坐席|找人工|要人工|接人工|换人工|叫人工|人工呢|^人工$"
    r"|真人|活人|找客服|找个客服|叫客服|叫你们客服|联系客服|客服在哪|让客服|要客服"
    r"|不要机器人|不想.{0,4}机器人|别.{0,4}机器人|机器人.{0,6}(听不懂|没用|不行)|你是机器人"
    r"|找个人|找人来|我要找人|换个人"
)
_NO = re.compile(
    r"没解决|没有解决|未解决|不能解决|解决不了|没用|没有用|不对|答非所问|不是我要|不是我想|不是这个"
    r"|没帮助|没有帮助|不行|不是|看不懂|不明白|还是不|都不是|没有$|^否|^不$|^no\b"
)
_YES = re.compile(
    r"解决了|已解决|可以了|好的|谢谢|多谢|感谢|明白了|知道了|懂了|有用|有帮助|是的|^嗯|^ok|^好$|^是$|^对$"
)

# An order question is about the customer's own order when it points at it.
_OWN = re.compile(
    r"我的|我买的|我下的|我这|这单|这个订单|那个订单|订单号|单号|到哪|到了吗|到没到|什么时候到|几天到|"
    r"发货了吗|发了吗|发货没|还没|怎么还|进度|状态|退了吗|到账|退到|开了吗|开好|查一下|查下|帮我查"
)
_TOPICS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("invoice", re.compile(r"发票|开票")),
    ("refund", re.compile(r"退款|退钱|退货|退换|换货|退回|退了|售后")),
    (
        "logistics",
        re.compile(r"物流|快递|到哪|发货|送到|到了|什么时候到|几天到|派送|配送|签收|运单|包裹|没收到|发了"),
    ),
    ("status", re.compile(r"订单")),
)

# Order numbers as shops write them (the same shape conversations link on).
_ORDER_NO = re.compile(r"(?<![A-Za-z0-9-])(?=(?:[A-Za-z-]*\d){6})[A-Za-z0-9-]{6,40}(?![A-Za-z0-9-])")


def fold(text: str) -> str:
    """NFKC, Simplified, lower case, no spaces: how the patterns above read a message."""
    text = to_simplified(unicodedata.normalize("NFKC", text or ""))
    return re.sub(r"\s+", "", text).lower()


def wants_person(text: str) -> bool:
    return bool(_HANDOVER.search(fold(text)))


def says_no(text: str) -> bool:
    return bool(_NO.search(fold(text)))


def says_yes(text: str) -> bool:
    folded = fold(text)
    return not _NO.search(folded) and bool(_YES.search(folded))


def order_numbers(text: str) -> list[str]:
    """Candidate order numbers in the text, in order, without repeats."""
    return list(
        dict.fromkeys(m.group(0) for m in _ORDER_NO.finditer(unicodedata.normalize("NFKC", text or "")))
    )[:10]


def order_topic(text: str, *, has_number: bool = False) -> str:
    """``status`` / ``logistics`` / ``refund`` / ``invoice`` when the text asks about the customer's own order, else ``""``.

    「发票怎么开」 is a how-to question for the knowledge base; 「我的发票开了吗」 and
    「YJ2026… 到哪了」 are about one order.
    """
    folded = fold(text)
    if not has_number and not _OWN.search(folded):
        return ""
    for topic, pattern in _TOPICS:
        if pattern.search(folded):
            return topic
    return "status" if has_number else ""


def picked_choice(text: str, titles: list[str]) -> int | None:
    """Which offered question the customer picked: its title pressed as a button, or 1/2/3 typed."""
    folded = fold(text).rstrip("。.!！?？")
    for i, title in enumerate(titles):
        if folded == fold(title).rstrip("。.!！?？"):
            return i
    m = re.fullmatch(r"(?:第)?([1-3一二三])(?:个|条)?", folded)
    if m:
        index = "123一二三".index(m.group(1)) % 3
        return index if index < len(titles) else None
    return None
