"""Rewrites read as good Chinese: every rewrite of a realistic reply, applied in turn, gives exactly this."""

from __future__ import annotations

import pytest

from kefu.quality.rules import ReplyContext, check_reply, rewrite_reply

CALM = ReplyContext()

REWRITES = [
    (
        "这是公司规定，可能明天发货吧，但是我们也没办法",
        "这是我们目前的售后政策，我帮您确认一下发货时间，稍后给您准确答复，我来帮您想想其他办法",
    ),
    ("这是公司规定。", "这是我们目前的售后政策。"),
    ("这是公司规定，不能退。", "这是我们目前的售后政策，不能退。"),
    ("這是公司規定，沒辦法。", "這是我們目前的售後政策，我來幫您想想其他辦法。"),
    ("可能明天发货吧", "我帮您确认一下发货时间，稍后给您准确答复"),
    ("包裹可能明天到。", "我帮您确认一下送达时间，稍后给您准确答复。"),
    ("大概三天吧。", "我帮您确认一下，稍后给您准确答复。"),
    ("应该是L码吧。", "我帮您确认一下尺码，稍后给您准确答复。"),
    ("我不确定能不能退。", "我帮您核实一下能不能退。"),
    ("物流信息我们也不清楚", "物流信息我帮您查一下"),
    ("我也不知道什么时候到", "我马上帮您确认什么时候到"),
    ("退款应该这两天就到账了吧", "我帮您确认一下退款进度，稍后给您准确答复"),
    ("这个颜色可能有点偏差吧", "我帮您确认一下，稍后给您准确答复"),
    ("估计是快递那边压件了", "我帮您确认一下送达时间，稍后给您准确答复"),
    ("发票好像要月底才能开", "我帮您确认一下发票的开具，稍后给您准确答复"),
    ("您操作不当导致屏幕碎了，我们没办法", "这个情况我们一起来排查一下，我来帮您想想其他办法"),
    (
        "是您自己没看清详情页，这个没办法退",
        "这一点页面提示得不够醒目，我再为您说明一下，我来帮您想想其他办法",
    ),
    ("系统就是这样，我也没办法", "目前系统是按这个规则处理的，我来帮您看看其他办法"),
    ("这个不归我们管，您去找快递公司吧", "我来帮您联系负责的同事，我来帮您联系快递公司"),
    (
        "您应该当面验货的，现在签收了就没办法了",
        "下次可以在签收时先检查一下，这次我来帮您处理，我来帮您想想其他办法",
    ),
    ("跟我们没关系，是快递公司的问题", "我来帮您联系相关方处理"),
    ("我们也说了不算，要看仓库那边", "我来帮您跟进，要看仓库那边"),
    ("亲亲，这个没办法哦", "我来帮您想想其他办法"),
    ("您好亲，这款没货了", "您好亲，这款正在补货，到货后我会马上通知您"),
    ("抱歉，我们不能今天发货", "抱歉，我们将在明天为您安排发货"),
    ("这个问题很复杂，需要时间", "让我为您逐步解决，需要时间"),
    ("没有发票就不能退款", "您提供发票后，我们就可以退款"),
    ("要等到周一才能发货", "周一就可以发货"),
    ("不能再便宜了", "这已经是目前的最低价了，我可以为您看看其他优惠"),
    ("已经发货了，无法修改地址了", "已经发货了，我来帮您看看怎样可以修改地址"),
    (
        "我保证以后不会再出现这种问题了，请放心",
        "我们已针对这个问题做了改进，并会持续跟进，如再有问题请随时联系我，请放心",
    ),
    ("非常抱歉，但是这款不支持七天无理由退货", "非常抱歉。这款不支持七天无理由退货"),
    ("我们也没有办法，规定就是这样", "我来帮您想想其他办法，目前的售后政策是这样的"),
    ("你自己看说明书", "我来为您说明"),
    ("急什么，我已经说过了", "理解您着急，我再为您说明一下"),
    ("这很正常，可能是运输途中压到了", "我理解您的担心，我帮您确认一下送达时间，稍后给您准确答复"),
    ("说不好，估计要等几天", "我帮您确认一下，稍后给您准确答复"),
    ("我也不清楚物流", "我帮您查一下物流"),
    ("不好意思，这个我也不确定，应该明天能发吧", "不好意思，这个我帮您核实一下，稍后给您准确答复"),
    ("您这样说就不对，我们都是按流程来的", "我理解您的顾虑，我们都是按流程来的"),
    ("您好，退款大概要三到五天吧，我也不清楚", "您好，我帮您确认一下退款进度，稍后给您准确答复"),
    ("這個尺碼可能偏小吧", "我幫您確認一下尺碼，稍後給您準確答覆"),
    (
        "您自己没看清详情页，这是公司规定",
        "这一点页面提示得不够醒目，我再为您说明一下，这是我们目前的售后政策",
    ),
]


@pytest.mark.parametrize(("reply", "expected"), REWRITES, ids=[r for r, _ in REWRITES])
def test_applying_every_rewrite_gives_good_chinese(reply: str, expected: str) -> None:
    assert rewrite_reply(reply, CALM) == expected


def test_the_reply_from_the_issue_to_an_angry_customer_is_rewritten_whole() -> None:
    angry = ReplyContext(customer_emotion="angry")
    assert rewrite_reply("这是公司规定，可能明天发货吧，但是我们也没办法", angry) == (
        "非常理解您的心情，给您带来不便真的很抱歉。这是我们目前的售后政策，我帮您确认一下发货时间，稍后给您准确答复，我来帮您想想其他办法"
    )


def test_a_rewritten_reply_has_nothing_left_to_rewrite() -> None:
    for reply, expected in REWRITES:
        assert all(
            f.replacement is None or f.replacement == f.excerpt for f in check_reply(expected, CALM)
        ), reply


def test_a_rewrite_never_splices_a_clause_into_the_middle_of_another() -> None:
    assert "我们也我来" not in rewrite_reply("但是我们也没办法", CALM)
    assert rewrite_reply("但是我们也没办法", CALM) == "我来帮您想想其他办法"


def test_vague_wording_gets_a_rewrite_about_its_topic() -> None:
    [finding] = [f for f in check_reply("可能明天发货吧", CALM) if f.rule == "vague_wording"]
    assert finding.excerpt == "可能明天发货吧"
    assert finding.replacement == "我帮您确认一下发货时间，稍后给您准确答复"
