"""Does a reply tell the customer that a compensation has been granted?

「已為您補償50元優惠券」, 「50元券已经给您发过去了」, 「优惠券搞定了，已经到您账户了」 and
「给您发了一张50元的券」 all say so; 「申请通过后会给您发50元券」, 「审批通过后24小时内到账」
and 「已为您提交补偿申请」 do not. While a request awaits approval, the desk refuses a
reply that says it (``kefu.complaints.guards.check_no_premature_grant``).

How it reads a reply: the text is normalised (Traditional → Simplified, full-width →
half-width, see :mod:`kefu.nlp.normalize`) and cut into sentences (。！？；, new lines)
and clauses (，、：). A sentence is a claim when one of its clauses states a grant as
done and the sentence names something given to the customer (a coupon, a refund,
money, compensation …). A grant is done when a granting verb is

* preceded by 已/已经 (「已为您补偿」, 「已经给您发过去了」, 「已到账」), or
* followed by a completion mark, 了 or 过 within a short complement (「发了一张」,
  「退给您了」, 「搞定了」, 「批下来了」, 「到您账户了」),

and nothing in the clause before it makes it a plan, a condition or a denial:
会/将/要/稍后/预计 (future), 如果/审批通过后/等…后 (condition, also when the condition
is the clause before), 没/未/还没 (negation). Between 已 and the verb (or the verb and
了) 申请/提交/登记/记录 mean that what was done is the request, not the grant
(「已为您申请补偿」), and a verb right after 的 is a noun (「把您的补偿诉求记录下来了」).
Figures on the phrasings list (tests/nlp/data/grant_claims.tsv) are in docs/complaints.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kefu.nlp.normalize import normalize_text

# What a customer can be given: a compensation word, or an amount of money.
_OBJECT_RE = re.compile(
    r"补偿|赔偿|赔付|理赔|退款|退费|款项|差价|优惠券|代金券|无门槛|券|红包|返现|积分|礼品|赠品|补贴|"
    r"运费|补发|换货|钱|\d+(\.\d+)?\s*(元|块)|[一二两三四五六七八九十百千]+\s*(元|块)"
)
# A verb by which something is granted, paid or handed over (and 批/通过 for approvals).
_VERB = (
    r"(批准|同意|通过|批|发放|发送|发出|派发|下发|发|退款|退回|退还|退给|退|补偿|补发|补上|补给|补|"
    r"赔付|赔偿|赔|到账|入账|到您|到你|打款|打到|打给|打|转账|转给|转|返还|返现|返|充值|充|送|放到|存入|"
    r"搞定|办好|办理好|处理好|安排好|安排)"
)
# 已/已经 … verb: at most a few characters between (为您, 给您, 把券, 帮您把钱).
_DONE_BEFORE_RE = re.compile(r"已经?(?P<gap>[^，,。]{0,8}?)" + _VERB)
# verb … 了/过: a short complement may sit between (过去, 给您, 到您账户, 下来, 一张50元的券).
_DONE_AFTER_RE = re.compile(_VERB + r"(?P<gap>[^，,。了过]{0,10}?)(了|(?<!通)过(?!程|期|来|失))")
# Before the grant in its clause: it is a plan, a condition, a denial or only a request.
_NOT_DONE_RE = re.compile(
    r"会|将|要|稍后|随后|马上|尽快|即将|预计|可以|能|需要|正在|在为您|待|等|后|之后|以后|如果|若|假如|"
    r"一旦|只要|的话|没|未|不|别|审核中|审批中"
)
# Inside the gap between 已 and the verb, or the verb and 了: the same, narrower.
_GAP_BLOCK_RE = re.compile(r"申请|提交|登记|上报|反馈|记录|收|没|未|不|会|将|的$")
# A clause that only sets a condition for the next one.
_CONDITION_RE = re.compile(r"^(如果|若|假如|一旦|只要|等|待)|(后|之后|以后|的话)$")
_SENTENCE_SPLIT_RE = re.compile(r"[。！？!?；;\n]+")
_CLAUSE_SPLIT_RE = re.compile(r"[，,、：:]+")


@dataclass(frozen=True, slots=True)
class GrantClaim:
    """A sentence that states a grant as done (normalised text) and the words that said it."""

    sentence: str
    cue: str


def _grant_in_clause(clause: str) -> str | None:
    """The words stating a grant as done in this clause, if nothing before them holds it back."""
    for pattern in (_DONE_BEFORE_RE, _DONE_AFTER_RE):
        for m in pattern.finditer(clause):
            if _GAP_BLOCK_RE.search(m.group("gap")):
                continue
            if _NOT_DONE_RE.search(clause[: m.start()]):
                continue
            return m.group(0)
    return None


def find_grant_claim(text: str) -> GrantClaim | None:
    """The first sentence of ``text`` that tells the customer a compensation was granted."""
    sentences = (s for line in text.splitlines() for s in _SENTENCE_SPLIT_RE.split(normalize_text(line)))
    for sentence in sentences:
        if not _OBJECT_RE.search(sentence):
            continue
        conditional = False
        for clause in _CLAUSE_SPLIT_RE.split(sentence):
            clause = clause.strip()
            if not clause:
                continue
            cue = None if conditional else _grant_in_clause(clause)
            if cue is not None:
                return GrantClaim(sentence.strip(), cue)
            conditional = bool(_CONDITION_RE.search(clause))
    return None


def claims_grant(text: str) -> bool:
    """Whether ``text`` tells the customer a compensation was granted."""
    return find_grant_claim(text) is not None
