"""The bot (智能客服): first line on chat, app and IM; settings; agents' suggestions; the supervisor's view.

The customer's message is stored by the channel (``channels.services``) as any other; a
conversation the bot holds (``bot.gate``) is not routed. After the message commits,
``do_bot_answer`` decides, in one transaction, what the bot says: a hand-over to a
person (asked for, an angry or dissatisfied customer, a complaint or a threat, two
answers rejected, two questions it could not answer, an intent it may not answer), the
customer's own order, a knowledge-base answer whose ``answer_score`` (the search's
confidence × a paraphrase verifier on the top hit) reaches the threshold, up to three likely
questions as buttons, or an honest "I do not know". A hand-over writes the summary the
agent reads at the top of the conversation and routes through ``routing.assignment``;
with the desk closed the customer is told when a person will answer (and an IM customer's
message is left as a 留言 ticket, docs/offhours.md).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from kefu.accounts.access import audit, check_admin, check_role, client_ip, team_ids_of
from kefu.accounts.models import AuditLog, Role, Team, User
from kefu.channels.models import Channel
from kefu.channels.services import (
    LEAVE_MESSAGE_KINDS,
    PlatformMessage,
    do_leave_message_if_closed,
    do_receive_chat_message,
    do_receive_platform_message,
)
from kefu.channels.visitor import Visitor
from kefu.conversations.models import Conversation, Message
from kefu.conversations.timeline import access_conversation, add_activity, do_send_auto_reply
from kefu.core.errors import InvalidInput, NotFound
from kefu.core.masking import mask_address
from kefu.customers.models import Order
from kefu.incidents.facts import PinnedStatement
from kefu.incidents.services import do_statement_for_bot
from kefu.kb.index import SearchResult, search_articles
from kefu.kb.markdown import plain_text
from kefu.kb.models import Article, ArticleUse
from kefu.kb.services import do_create_article, record_article_use
from kefu.nlp import verify
from kefu.nlp.emotion import complaint_risk, message_signals
from kefu.routing.assignment import do_queue_after_commit
from kefu.routing.availability import State, desk_state_for_conversation, when_text
from kefu.sla.policies import do_start_conversation_sla
from kefu.understanding.reading import classify

from . import phrases
from .models import DEFAULT_THRESHOLD, BotSession, BotSetting, BotTurn, HandoverReason, SuggestionUse

log = logging.getLogger(__name__)

FEEDBACK_QUESTION = "这个回答解决您的问题了吗？"
YES_NO = ["解决了", "没解决"]
NONE_OF_THESE = "都不是"
HANDOVER_BUTTON = "转人工"
# Below the answering threshold, questions this confident are offered as buttons.
CHOICE_FLOOR = 0.2
MAX_CHOICES = 3
# Intents that are a complaint or a request for a person whatever the settings say.
COMPLAINT_INTENT = "服务态度投诉"
PERSON_INTENT = "转人工"
INTENT_CONFIDENCE = 0.85
# A suggestion beside the composer needs less confidence than an answer to the customer:
# the agent reads it first.
SUGGESTION_FLOOR = 0.15
_QUERY_CHARS = 200
# The turns the customer is asked 「这个回答解决您的问题了吗？」 about.
ANSWER_KINDS = (BotTurn.Kind.ANSWER, BotTurn.Kind.ORDER, BotTurn.Kind.STATEMENT)

Reply = tuple[str, dict[str, Any]]


# --- the customer's side: receive, then answer ------------------------------------------


def do_receive_chat_and_answer(
    *, channel: Channel, visitor: Visitor, ip: str | None, text: Any, client_msg_id: str, image: Any = None
) -> tuple[Message, bool]:
    """A web-chat message stored as ``channels.services.do_receive_chat_message`` does, then the bot's turn."""
    message, created = do_receive_chat_message(
        channel=channel, visitor=visitor, ip=ip, text=text, client_msg_id=client_msg_id, image=image
    )
    if created:
        _answer_best_effort(message)
    return message, created


def do_receive_platform_and_answer(
    *, channel: Channel, delivery_id: str, incoming: PlatformMessage
) -> tuple[Message, bool]:
    """An IM/app platform post stored as ``channels.services`` does, then the bot's turn."""
    message, created = do_receive_platform_message(
        channel=channel, delivery_id=delivery_id, incoming=incoming
    )
    if created:
        _answer_best_effort(message)
    return message, created


def _answer_best_effort(message: Message) -> None:
    # Most conversations have no bot: one indexed read, not a write transaction (on SQLite,
    # a turn of the one write lock on the thread that serves every chat socket). A session is
    # only opened by the message's own transaction, already committed here.
    if not BotSession.objects.filter(
        conversation_id=message.conversation_id, state=BotSession.State.ACTIVE
    ).exists():
        return
    # The message is stored and acknowledged whatever happens here; a conversation the bot
    # failed on must not wait for it forever, so it goes to the agents' queue.
    try:
        do_bot_answer(message.pk)
    except Exception:
        log.exception("the bot failed on message %s; routing the conversation to agents", message.pk)
        BotSession.objects.filter(
            conversation_id=message.conversation_id, state=BotSession.State.ACTIVE
        ).update(
            state=BotSession.State.HANDED_OVER,
            handover_reason=HandoverReason.NEEDS_PERSON,
            handed_over_at=timezone.now(),
        )
        with transaction.atomic():
            conversation = Conversation.objects.select_related("channel").get(pk=message.conversation_id)
            do_start_conversation_sla(conversation)
            do_queue_after_commit(message.conversation_id)


def do_bot_answer(message_id: int) -> BotTurn | None:
    """The bot's turn after a stored customer message; None when the bot does not hold the conversation."""
    with transaction.atomic():
        message = Message.objects.filter(pk=message_id, direction=Message.Direction.INCOMING).first()
        if message is None:
            return None
        session = (
            # Only the session row is locked: PostgreSQL refuses FOR UPDATE across the outer join.
            BotSession.objects.select_for_update(of=("self",))
            .select_related("setting")
            .filter(conversation_id=message.conversation_id, state=BotSession.State.ACTIVE)
            .first()
        )
        if session is None:
            return None
        conversation = Conversation.objects.select_related("channel", "customer").get(
            pk=message.conversation_id
        )
        if conversation.assignee_id is not None:
            # An agent took the conversation: the bot steps back without a word.
            _close_session(session, HandoverReason.AGENT)
            return None
        session.emotions = [
            *session.emotions,
            {"label": conversation.emotion_label or "calm", "score": round(conversation.emotion_score, 1)},
        ][-20:]
        first_turn = not session.turns.exists()
        if first_turn and session.setting is not None and session.setting.greeting:
            do_send_auto_reply(conversation, session.setting.greeting, meta={"bot": {"kind": "greeting"}})
        turn = _decide(session, conversation, message)
        session.save()
        return turn


def _decide(session: BotSession, conversation: Conversation, message: Message) -> BotTurn:
    text = message.text or ""
    reason = _must_hand_over(conversation, message)
    # An open incident's approved wording comes first (once per conversation): the customer
    # hears the one answer every agent gives, before an article or their order's state. A
    # customer upset about it (most are) hears it too, then goes to a person as usual.
    statement = None
    if (
        reason in ("", HandoverReason.EMOTION)
        and not session.turns.filter(kind=BotTurn.Kind.STATEMENT).exists()
    ):
        statement = do_statement_for_bot(conversation)
    if reason:
        # A verdict said in anger (「没解决！」) still counts for the answer it judges.
        verdict = _verdict(session, message.text or "")
        if verdict is not None:
            _record_verdict(session, helpful=verdict)
        if statement is not None:
            _statement_answer(session, conversation, message, statement, ask=False)
        return _handover(session, conversation, message, reason)
    awaited = _awaited_reply(session, conversation, message)
    if awaited is not None:
        return awaited
    if statement is not None:
        return _statement_answer(session, conversation, message, statement)
    numbers = phrases.order_numbers(text)
    if session.awaiting == BotSession.Awaiting.ORDER_NO and numbers:
        # The number the bot asked for: the question is the one asked before it.
        topic = phrases.order_topic(text) or session.order_topic or "status"
    else:
        topic = phrases.order_topic(text, has_number=bool(numbers))
    if topic:
        return _order_answer(session, conversation, message, topic, numbers)
    prediction = classify(text[:_QUERY_CHARS]) if phrases.fold(text) else None
    if prediction is not None and prediction.confidence < INTENT_CONFIDENCE:
        # The intent model guesses on what it never saw (「直播间几点开播」 as a complaint
        # at 0.69): only a sure intent sends the customer away from the bot.
        prediction = None
    if prediction is not None and prediction.intent == COMPLAINT_INTENT:
        return _handover(session, conversation, message, HandoverReason.COMPLAINT)
    if prediction is not None and prediction.intent == PERSON_INTENT:
        return _handover(session, conversation, message, HandoverReason.EXPLICIT)
    allowed = session.setting.intents if session.setting else []
    if (
        allowed
        and prediction is not None
        and prediction.intent
        and prediction.intent not in (*allowed, "其他")
    ):
        return _handover(session, conversation, message, HandoverReason.OUT_OF_SCOPE)
    return _kb_answer(session, conversation, message)


def _must_hand_over(conversation: Conversation, message: Message) -> str:
    """A reason to hand over whatever was asked: a picture, a request for a person, a threat, anger."""
    text = message.text or ""
    if message.kind == Message.Kind.IMAGE and not phrases.fold(text):
        return HandoverReason.NEEDS_PERSON
    if phrases.wants_person(text):
        return HandoverReason.EXPLICIT
    if complaint_risk(message_signals(text)):
        return HandoverReason.COMPLAINT
    if conversation.emotion_label in ("dissatisfied", "angry"):
        return HandoverReason.EMOTION
    return ""


def _verdict(session: BotSession, text: str) -> bool | None:
    """The customer's answer to 「这个回答解决您的问题了吗？」, when the bot is waiting for one."""
    if session.awaiting != BotSession.Awaiting.FEEDBACK:
        return None
    picked = phrases.picked_choice(text, YES_NO)  # IM customers reply 1 or 2
    if picked is not None:
        return picked == 0
    if phrases.says_yes(text):
        return True
    if phrases.says_no(text):
        return False
    return None


def _awaited_reply(session: BotSession, conversation: Conversation, message: Message) -> BotTurn | None:
    """The customer answered what the bot asked: whether it helped, or which question they meant."""
    text = message.text or ""
    verdict = _verdict(session, text)
    if verdict is not None:
        return _feedback(session, conversation, message, helpful=verdict)
    if session.awaiting == BotSession.Awaiting.CHOICE:
        articles = _offered(session)
        picked = phrases.picked_choice(text, [a.title for a in articles])
        if picked is not None:
            return _answer(session, conversation, message, articles[picked], None)
        if phrases.fold(NONE_OF_THESE) in phrases.fold(text):
            return _not_known(session, conversation, message)
    return None


def _turn(
    session: BotSession,
    message: Message | None,
    kind: str,
    reply: Message | None,
    *,
    article: Article | None = None,
    confidence: float | None = None,
) -> BotTurn:
    return BotTurn.objects.create(
        session=session,
        message=message,
        reply=reply,
        question=(message.text if message else "")[:2000],
        kind=kind,
        article=article,
        confidence=confidence,
    )


def _say(
    conversation: Conversation, text: str, *, kind: str, choices: list[str] | None = None, **meta: Any
) -> Message:
    """A bot line to the customer; buttons are in ``meta.choices`` (the chat shows them, IM reads them as text)."""
    body = text
    if choices and conversation.channel.kind != Channel.Kind.WEB:
        body += "\n" + "\n".join(f"{i}. {c}" for i, c in enumerate(choices, 1)) + "\n（回复序号或问题即可）"
    return do_send_auto_reply(
        conversation, body, meta={"bot": {"kind": kind, **meta}, **({"choices": choices} if choices else {})}
    )


# --- knowledge base --------------------------------------------------------------------


def _kb_query(text: str) -> str:
    """The customer's text as the bot searches and scores it (folded, at most 200 characters)."""
    return phrases.fold(text)[:_QUERY_CHARS]


def _kb_hits(query: str, *, limit: int = 5) -> list[SearchResult]:
    """The knowledge base's hits for a ``_kb_query``."""
    return search_articles(query, limit=limit) if query else []


def _article_answer(article: Article) -> str:
    answer = (article.answer or plain_text(article.body)).strip()
    if len(answer) > 600:
        answer = answer[:600].rstrip() + "…"
    return answer


def answer_score(query: str, hit: SearchResult) -> float:
    """How sure the bot is that ``hit`` answers ``query``: the search's confidence × the
    paraphrase verifier's probability that ``query`` means one of the article's questions
    (``kefu.nlp.verify.answer_score``, the function ``bench/bot.py`` measures)."""
    article = hit.article
    return verify.answer_score(query, hit.confidence, [article.title, *(article.similar_questions or [])])


def _kb_answer(session: BotSession, conversation: Conversation, message: Message) -> BotTurn:
    threshold = session.setting.threshold if session.setting else DEFAULT_THRESHOLD
    query = _kb_query(message.text)
    hits = _kb_hits(query)
    # The search finds the article; the verifier keeps a question that shares its words but
    # not its meaning (「怎么开发票」 → 「发票开错了怎么重开」) from being answered with it:
    # that one is offered as a choice below.
    score = answer_score(query, hits[0]) if hits else 0.0
    if hits and score >= threshold:
        return _answer(session, conversation, message, hits[0].article, score)
    offered = [h for h in hits if h.confidence >= CHOICE_FLOOR][:MAX_CHOICES]
    if offered:
        titles = [h.article.title for h in offered]
        reply = _say(
            conversation,
            "我不太确定您想问的是哪个问题，请选择：",
            kind="choices",
            choices=[*titles, NONE_OF_THESE],
            article_ids=[h.article.pk for h in offered],
        )
        session.awaiting = BotSession.Awaiting.CHOICE
        session.choices = [h.article.pk for h in offered]
        return _turn(session, message, BotTurn.Kind.CHOICES, reply, confidence=hits[0].confidence)
    return _not_known(session, conversation, message, confidence=hits[0].confidence if hits else None)


def _offered(session: BotSession) -> list[Article]:
    found = Article.objects.in_bulk(session.choices)
    return [found[i] for i in session.choices if i in found and found[i].status == Article.Status.PUBLISHED]


def _answer(
    session: BotSession,
    conversation: Conversation,
    message: Message,
    article: Article,
    confidence: float | None,
) -> BotTurn:
    reply = _say(
        conversation,
        f"{_article_answer(article)}\n\n{FEEDBACK_QUESTION}",
        kind="answer",
        choices=YES_NO,
        article_id=article.pk,
        article_title=article.title,
    )
    session.awaiting = BotSession.Awaiting.FEEDBACK
    session.last_article = article
    session.choices = []
    session.misses = 0
    # The conversation's rating will count for the article (its 会话满意度 in the KB).
    record_article_use(article_id=article.pk, conversation_id=conversation.pk, source=ArticleUse.Source.BOT)
    return _turn(session, message, BotTurn.Kind.ANSWER, reply, article=article, confidence=confidence)


def _statement_answer(
    session: BotSession,
    conversation: Conversation,
    message: Message,
    statement: PinnedStatement,
    *,
    ask: bool = True,
) -> BotTurn:
    if not ask:  # a hand-over follows at once
        reply = _say(conversation, statement.statement, kind="incident", incident_id=statement.incident_id)
        return _turn(session, message, BotTurn.Kind.STATEMENT, reply)
    reply = _say(
        conversation,
        f"{statement.statement}\n\n{FEEDBACK_QUESTION}",
        kind="incident",
        choices=YES_NO,
        incident_id=statement.incident_id,
    )
    session.awaiting = BotSession.Awaiting.FEEDBACK
    session.choices = []
    session.misses = 0
    return _turn(session, message, BotTurn.Kind.STATEMENT, reply)


def _not_known(
    session: BotSession, conversation: Conversation, message: Message, *, confidence: float | None = None
) -> BotTurn:
    session.misses += 1
    if session.misses >= 2:
        _turn(session, message, BotTurn.Kind.UNANSWERED, None, confidence=confidence)
        return _handover(session, conversation, None, HandoverReason.UNANSWERED, question=message)
    reply = _say(
        conversation,
        "抱歉，这个问题我暂时还不会回答。您可以换个说法再问一次，或点击「转人工」联系人工客服。",
        kind="unanswered",
        choices=[HANDOVER_BUTTON],
    )
    session.awaiting = BotSession.Awaiting.NOTHING
    session.choices = []
    return _turn(session, message, BotTurn.Kind.UNANSWERED, reply, confidence=confidence)


def _record_verdict(session: BotSession, *, helpful: bool) -> None:
    """The verdict goes on the answer it judges (per article: ``article_feedback``)."""
    last = session.turns.filter(kind__in=ANSWER_KINDS).order_by("-id").first()
    if last is not None:
        BotTurn.objects.filter(pk=last.pk).update(helpful=helpful)
    session.awaiting = BotSession.Awaiting.NOTHING


def _feedback(session: BotSession, conversation: Conversation, message: Message, *, helpful: bool) -> BotTurn:
    _record_verdict(session, helpful=helpful)
    if helpful:
        session.resolved = True
        reply = _say(conversation, "很高兴能帮到您！还有其他问题可以随时问我。", kind="thanks")
        return _turn(session, message, BotTurn.Kind.FEEDBACK, reply)
    session.rejections += 1
    session.resolved = False
    if session.rejections >= 2:
        _turn(session, message, BotTurn.Kind.FEEDBACK, None)
        return _handover(session, conversation, None, HandoverReason.REJECTED, question=message)
    reply = _say(
        conversation,
        "抱歉没能帮到您。能换个说法描述一下您的问题吗？也可以点击「转人工」联系人工客服。",
        kind="sorry",
        choices=[HANDOVER_BUTTON],
    )
    return _turn(session, message, BotTurn.Kind.FEEDBACK, reply)


# --- the customer's own orders ------------------------------------------------------------

_TOPIC_NAMES = {"status": "订单状态", "logistics": "物流", "refund": "退款/退货进度", "invoice": "发票"}


def _own_order(conversation: Conversation, numbers: list[str]) -> tuple[Order | None, bool]:
    """The order the customer means, only among their own; ``(None, True)`` when a typed number is not theirs."""
    own = Order.objects.filter(customer_id=conversation.customer_id)
    if numbers:
        wanted = {n.upper() for n in numbers}
        for order in own.filter(order_no__in=[*numbers, *wanted]):
            return order, False
        return None, True
    if conversation.order_id is not None:
        linked = own.filter(pk=conversation.order_id).first()
        if linked is not None:
            return linked, False
    recent = list(own.order_by("-placed_at")[:2])
    return (recent[0], False) if len(recent) == 1 else (None, False)


def _order_answer(
    session: BotSession, conversation: Conversation, message: Message, topic: str, numbers: list[str]
) -> BotTurn:
    order, typed_not_found = _own_order(conversation, numbers)
    if order is None:
        if typed_not_found:
            session.misses += 1
            if session.misses >= 2:
                return _handover(session, conversation, message, HandoverReason.NEEDS_PERSON)
            # The same words whether the number exists for someone else or not at all.
            text = "没有在您的账户下找到这个订单号，请核对后再发给我（可以在「我的订单」里复制）。"
        else:
            text = f"请问是哪一笔订单？请把订单号发给我，我来帮您查询{_TOPIC_NAMES.get(topic, '')}。"
        reply = _say(conversation, text, kind="ask_order", topic=topic)
        session.awaiting = BotSession.Awaiting.ORDER_NO
        session.order_topic = topic
        return _turn(session, message, BotTurn.Kind.ASK_ORDER, reply)
    if conversation.order_id != order.pk:
        Conversation.objects.filter(pk=conversation.pk).update(order_id=order.pk)
        conversation.order_id = order.pk
    text = order_facts(order, topic)
    reply = _say(
        conversation,
        f"{text}\n\n{FEEDBACK_QUESTION}",
        kind="order",
        choices=YES_NO,
        order_no=order.order_no,
        topic=topic,
    )
    session.awaiting = BotSession.Awaiting.FEEDBACK
    session.order_topic = topic
    session.misses = 0
    return _turn(session, message, BotTurn.Kind.ORDER, reply)


def order_facts(order: Order, topic: str) -> str:
    """What the records say about one order, and only that: no date or state is guessed."""
    items = list(order.items.all()[:3])
    what = "、".join(i.name for i in items) or "商品"
    head = f"您的订单 {order.order_no}（{what}）"
    ship = order.get_shipping_status_display()
    pay = order.get_payment_status_display()
    if topic == "refund":
        if order.payment_status == Order.Payment.REFUNDING:
            text = f"{head}的退款正在处理中，款项会原路退回。"
        elif order.payment_status == Order.Payment.REFUNDED:
            text = f"{head}已退款，{timezone.localtime(order.updated_at):%m月%d日}更新，款项原路退回（到账时间以银行或支付平台为准）。"
        elif order.shipping_status in (Order.Shipping.RETURNING, Order.Shipping.RETURNED):
            text = f"{head}的退货状态：{ship}；退款状态：{pay}。"
        else:
            text = f"{head}目前没有退款或退货记录（支付状态：{pay}，物流状态：{ship}）。"
        return text
    if topic == "invoice":
        # Orders carry no invoice record: say so rather than guess whether one was issued.
        return f"{head}：我这里查不到发票的开具记录。如需开票或查询发票，请点击「转人工」，客服会为您办理。"
    lines = [f"{head}当前状态：{ship}（{pay}）。"]
    if order.carrier or order.tracking_no:
        lines.append(f"承运商：{order.carrier or '—'}，运单号：{order.tracking_no or '—'}。")
    events = list(order.logistics.order_by("-at")[:2])
    if events:
        e = events[0]
        lines.append(
            f"最新物流：{timezone.localtime(e.at):%m月%d日 %H:%M} {e.location} {e.description}".rstrip()
            + "。"
        )
        expected = next((ev.description for ev in events if "预计" in ev.description), "")
        lines.append(f"预计送达：{expected}。" if expected else "物流公司暂未提供预计送达时间。")
    elif order.shipping_status == Order.Shipping.PENDING:
        lines.append("订单还没有发货，发货后这里能查到物流信息。")
    if order.address:
        lines.append(f"收货地址：{mask_address(order.address)}。")
    return "\n".join(lines)


# --- hand-over ------------------------------------------------------------------------------

_REASON_TEXT = dict(HandoverReason.choices)


def _close_session(session: BotSession, reason: str) -> None:
    session.state = BotSession.State.HANDED_OVER
    session.handover_reason = reason
    session.handed_over_at = timezone.now()
    session.awaiting = BotSession.Awaiting.NOTHING
    session.save()


def handover_summary(
    session: BotSession, conversation: Conversation, reason: str, question: str
) -> dict[str, Any]:
    """What the agent reads first: why, the intent, the order, what the bot said, how the customer felt."""
    said = [
        {"kind": t.kind, "text": (t.reply.text if t.reply else "")[:300], "question": t.question[:200]}
        for t in session.turns.select_related("reply").order_by("-id")[:5]
        if t.reply is not None
    ][::-1]
    order_no = ""
    if conversation.order_id:
        order_no = (
            Order.objects.filter(pk=conversation.order_id).values_list("order_no", flat=True).first() or ""
        )
    return {
        "reason": reason,
        "reason_text": _REASON_TEXT.get(reason, reason),
        "intent": conversation.intent or "",
        "question": question[:300],
        "order_no": order_no,
        "bot_said": said,
        "emotions": session.emotions[-10:],
        "rejections": session.rejections,
    }


def _handover(
    session: BotSession,
    conversation: Conversation,
    message: Message | None,
    reason: str,
    *,
    question: Message | None = None,
) -> BotTurn:
    asked = message or question
    summary = handover_summary(session, conversation, reason, asked.text if asked else "")
    session.summary = summary
    state = desk_state_for_conversation(conversation)
    if state.state == State.CLOSED:
        by = when_text(state.reply_by, state.now)
        text = (
            f"现在人工客服不在线，我已把您的问题整理好交给客服，最晚 {by} 前会有人回复您，您不用再重复说明。"
        )
    else:
        text = "好的，正在为您转接人工客服，请稍候。您刚才的问题我已转告客服，不用再重复说明。"
    reply = _say(conversation, text, kind="handover", reason=reason)
    add_activity(conversation, f"智能客服转人工：{summary['reason_text']}", meta={"bot_summary": summary})
    turn = _turn(session, message, BotTurn.Kind.HANDOVER, reply)
    _close_session(session, reason)
    # The desk's first-response clock starts now: the bot's answers were not the desk's.
    do_start_conversation_sla(conversation)
    if state.state == State.CLOSED and conversation.channel.kind in LEAVE_MESSAGE_KINDS and asked is not None:
        do_leave_message_if_closed(asked)
    do_queue_after_commit(conversation.pk)
    return turn


# --- settings (admins) ------------------------------------------------------------------------


def _check_days(value: Any) -> str:
    if value not in BotSetting.Days.values:
        raise InvalidInput(
            "接待日无效", fields={"days": "应为 " + " / ".join(BotSetting.Days.values) + " 之一"}
        )
    return str(value)


def check_setting_fields(data: dict[str, Any]) -> dict[str, Any]:
    """Field checks of a bot setting; errors name the field."""
    out: dict[str, Any] = {}
    if "enabled" in data:
        out["enabled"] = bool(data["enabled"])
    if "greeting" in data:
        greeting = str(data["greeting"] or "").strip()
        if "\x00" in greeting or len(greeting) > 255:
            raise InvalidInput("欢迎语不能超过255个字", fields={"greeting": "最多255个字，不能含控制字符"})
        out["greeting"] = greeting
    for key in ("start_time", "end_time"):
        if key in data:
            out[key] = data[key] or None
    if (out.get("start_time") is None) != (out.get("end_time") is None) and (
        "start_time" in out or "end_time" in out
    ):
        raise InvalidInput("开始和结束时间要么都填，要么都不填", fields={"end_time": "与开始时间一起填写"})
    if "intents" in data:
        intents = data["intents"] or []
        if not isinstance(intents, list) or not all(isinstance(i, str) and 0 < len(i) <= 32 for i in intents):
            raise InvalidInput("意图应为意图名称的列表", fields={"intents": "意图名称的列表"})
        out["intents"] = list(dict.fromkeys(intents))
    if "days" in data:
        out["days"] = _check_days(data["days"])
    if "vip_skip" in data:
        out["vip_skip"] = bool(data["vip_skip"])
    if "vip_level" in data:
        level = data["vip_level"]
        if not isinstance(level, int) or isinstance(level, bool) or not 1 <= level <= 10:
            raise InvalidInput("VIP 等级应为 1 到 10", fields={"vip_level": "1 到 10 的整数"})
        out["vip_level"] = level
    if "threshold" in data:
        threshold = data["threshold"]
        if (
            not isinstance(threshold, int | float)
            or isinstance(threshold, bool)
            or not 0.05 <= threshold <= 0.99
        ):
            raise InvalidInput("置信度阈值应在 0.05 到 0.99 之间", fields={"threshold": "0.05 到 0.99"})
        out["threshold"] = float(threshold)
    return out


def settings_list() -> QuerySet[BotSetting]:
    return BotSetting.objects.select_related("channel", "team")


def do_save_setting(
    *, actor: User, channel_id: int, team_id: int | None, data: dict[str, Any], request: Any = None
) -> BotSetting:
    """Create or change the bot's setting of a channel (for one team, or every team); admins, audited."""
    check_admin(actor)
    channel = Channel.objects.filter(pk=channel_id).first()
    if channel is None:
        raise NotFound(f"渠道 {channel_id} 不存在", fields={"channel_id": "不存在"})
    if team_id is not None and not Team.objects.filter(pk=team_id).exists():
        raise NotFound(f"团队 {team_id} 不存在", fields={"team_id": "不存在"})
    fields = check_setting_fields(data)
    with transaction.atomic():
        same_team = Q(team__isnull=True) if team_id is None else Q(team_id=team_id)
        setting = BotSetting.objects.select_for_update().filter(
            same_team, channel_id=channel_id
        ).first() or BotSetting(channel=channel, team_id=team_id)
        created = setting.pk is None
        for key, value in fields.items():
            setattr(setting, key, value)
        if (setting.start_time is None) != (setting.end_time is None):
            raise InvalidInput(
                "开始和结束时间要么都填，要么都不填", fields={"end_time": "与开始时间一起填写"}
            )
        setting.updated_by = actor
        setting.save()
        audit(
            AuditLog.Action.SETTINGS_CHANGE,
            actor=actor,
            target=setting,
            detail={"bot": True, "created": created, **{k: str(v) for k, v in fields.items()}},
            ip=client_ip(request),
        )
    return setting


def do_delete_setting(*, actor: User, setting_id: int, request: Any = None) -> None:
    check_admin(actor)
    with transaction.atomic():
        setting = BotSetting.objects.filter(pk=setting_id).first()
        if setting is None:
            raise NotFound(f"机器人设置 {setting_id} 不存在")
        audit(
            AuditLog.Action.SETTINGS_CHANGE,
            actor=actor,
            target=setting,
            detail={"bot": True, "deleted": True, "channel": setting.channel_id},
            ip=client_ip(request),
        )
        setting.delete()


# --- beside the composer -----------------------------------------------------------------------


def _suggestion_prior(article_ids: list[int]) -> dict[int, float]:
    """How agents took each article when suggested: accepted or edited counts for it, ignored against it."""
    rows = (
        SuggestionUse.objects.filter(article_id__in=article_ids)
        .values("article_id")
        .annotate(
            good=Count("id", filter=Q(action__in=(SuggestionUse.Action.ACCEPT, SuggestionUse.Action.EDIT))),
            bad=Count("id", filter=Q(action=SuggestionUse.Action.IGNORE)),
        )
    )
    return {r["article_id"]: (r["good"] - r["bad"]) / (r["good"] + r["bad"] + 2) for r in rows}


def access_suggestion(user: User, conversation_id: int) -> dict[str, Any]:
    """The bot's answer to the customer's latest question, for the agent beside the composer."""
    conversation = access_conversation(user, conversation_id)
    message = (
        conversation.messages.filter(direction=Message.Direction.INCOMING)
        .exclude(text="")
        .order_by("-id")
        .first()
    )
    if message is None:
        return {"message_id": None, "question": "", "suggestion": None}
    query = _kb_query(message.text)
    hits = [h for h in _kb_hits(query) if h.confidence >= SUGGESTION_FLOOR]
    decided = set(
        SuggestionUse.objects.filter(message=message, agent=user).values_list("article_id", flat=True)
    )
    prior = _suggestion_prior([h.article.pk for h in hits])
    # Ranked as the bot decides, by answer_score (the search's confidence × the verifier), so
    # an article that shares the question's words but not its meaning is not put first;
    # agents' choices move an article up or down by up to a fifth of its score.
    scored = [(answer_score(query, h), h) for h in hits if h.article.pk not in decided]
    ranked = sorted(scored, key=lambda sh: sh[0] * (1 + 0.2 * prior.get(sh[1].article.pk, 0.0)), reverse=True)
    suggestion = None
    if ranked:
        score, best = ranked[0]
        suggestion = {
            "article_id": best.article.pk,
            "title": best.article.title,
            "text": _article_answer(best.article),
            "confidence": round(best.confidence, 3),
            "score": round(score, 3),
        }
    return {"message_id": message.pk, "question": message.text[:500], "suggestion": suggestion}


def do_record_suggestion_use(
    *, user: User, conversation_id: int, message_id: int, article_id: int, action: str
) -> SuggestionUse:
    """Record that the agent accepted, edited or ignored a suggestion (once per message and article)."""
    conversation = access_conversation(user, conversation_id)
    if action not in SuggestionUse.Action.values:
        raise InvalidInput("操作应为 accept、edit 或 ignore", fields={"action": "accept / edit / ignore"})
    message = conversation.messages.filter(pk=message_id, direction=Message.Direction.INCOMING).first()
    if message is None:
        raise NotFound(f"消息 {message_id} 不在这个会话中", fields={"message_id": "不存在"})
    status = Article.objects.filter(pk=article_id).values_list("status", flat=True).first()
    if status is None:
        raise NotFound(f"知识库文章 {article_id} 不存在", fields={"article_id": "不存在"})
    taken = (SuggestionUse.Action.ACCEPT, SuggestionUse.Action.EDIT)
    with transaction.atomic():
        before = (
            SuggestionUse.objects.filter(message=message, article_id=article_id, agent=user)
            .values_list("action", flat=True)
            .first()
        )
        use, _created = SuggestionUse.objects.update_or_create(
            message=message,
            article_id=article_id,
            agent=user,
            defaults={"conversation": conversation, "action": action},
        )
        # Taken into the composer: the conversation's rating counts for the article, once.
        if action in taken and before not in taken and status == Article.Status.PUBLISHED:
            record_article_use(
                article_id=article_id,
                conversation_id=conversation.pk,
                source=ArticleUse.Source.SUGGESTION,
                agent=user,
            )
    return use


def access_summary(user: User, conversation_id: int) -> dict[str, Any] | None:
    return summary_for(access_conversation(user, conversation_id))


def summary_for(conversation: Conversation) -> dict[str, Any] | None:
    """The hand-over summary shown at the top of the conversation, when the bot handed it over."""
    session = BotSession.objects.filter(conversation=conversation).only("summary", "state").first()
    if session is None or not session.summary:
        return None
    return session.summary


# --- the supervisor's view --------------------------------------------------------------------------


def _visible_sessions(user: User) -> QuerySet[BotSession]:
    check_role(user, Role.TEAM_LEAD)
    qs = BotSession.objects.all()
    if not user.has_role_at_least(Role.SUPERVISOR):
        qs = qs.filter(conversation__team_id__in=team_ids_of(user))
    return qs


def check_days(days: Any) -> int:
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 366:
        raise InvalidInput("天数应为 1 到 366", fields={"days": "1 到 366 的整数"})
    return days


def access_overview(user: User, *, days: int = 30, now: datetime | None = None) -> dict[str, Any]:
    """Containment, hand-over reasons and the questions the bot could not answer, over the last ``days``."""
    days = check_days(days)
    since = (now or timezone.now()) - timedelta(days=days)
    sessions = _visible_sessions(user).filter(created_at__gte=since)
    total = sessions.count()
    # VIP customers skipped the bot at once: they were never the bot's to contain.
    served = sessions.exclude(handover_reason=HandoverReason.VIP)
    served_n = served.count()
    contained = served.filter(state=BotSession.State.ACTIVE).count()
    resolved = served.filter(resolved=True, state=BotSession.State.ACTIVE).count()
    reasons = dict(
        sessions.filter(state=BotSession.State.HANDED_OVER)
        .values_list("handover_reason")
        .annotate(n=Count("id"))
        .values_list("handover_reason", "n")
    )
    turns = BotTurn.objects.filter(session__in=sessions)
    answered = turns.filter(kind__in=ANSWER_KINDS)
    unanswered = (
        turns.filter(kind=BotTurn.Kind.UNANSWERED, draft_article__isnull=True)
        .exclude(question="")
        .select_related("session__conversation")
        .order_by("-id")[:50]
    )
    return {
        "days": days,
        "sessions": total,
        "served": served_n,
        "contained": contained,
        "containment_rate": round(contained / served_n, 3) if served_n else None,
        "resolved_by_customer": resolved,
        "answers": answered.count(),
        "answers_helpful": answered.filter(helpful=True).count(),
        "answers_rejected": answered.filter(helpful=False).count(),
        "articles": article_feedback(sessions=sessions)[:50],
        "handover_reasons": [
            {"reason": key, "label": label, "count": reasons.get(key, 0)}
            for key, label in HandoverReason.choices
            if reasons.get(key, 0)
        ],
        "unanswered": [
            {
                "id": t.pk,
                "question": t.question[:300],
                "conversation_id": t.session.conversation_id,
                "at": t.created_at.isoformat(),
            }
            for t in unanswered
        ],
    }


def article_feedback(
    *, article_ids: list[int] | None = None, sessions: QuerySet[BotSession] | None = None
) -> list[dict[str, Any]]:
    """Per knowledge-base article: how often the bot answered with it and the customers' 「解决了」 /
    「没解决」 to 「这个回答解决您的问题了吗？」; most used first. ``helpful_rate`` is of the answers
    the customer judged (None before the first verdict)."""
    turns = BotTurn.objects.filter(kind=BotTurn.Kind.ANSWER, article__isnull=False)
    if sessions is not None:
        turns = turns.filter(session__in=sessions)
    if article_ids is not None:
        turns = turns.filter(article_id__in=article_ids)
    rows = (
        turns.values("article_id", "article__title")
        .annotate(
            n_answers=Count("id"),
            n_helpful=Count("id", filter=Q(helpful=True)),
            n_rejected=Count("id", filter=Q(helpful=False)),
        )
        .order_by("-n_answers", "article_id")
    )
    out = []
    for r in rows:
        judged = r["n_helpful"] + r["n_rejected"]
        out.append(
            {
                "article_id": r["article_id"],
                "title": r["article__title"],
                "answers": r["n_answers"],
                "helpful": r["n_helpful"],
                "rejected": r["n_rejected"],
                "helpful_rate": round(r["n_helpful"] / judged, 3) if judged else None,
            }
        )
    return out


def do_draft_article_from_question(*, actor: User, turn_id: int, request: Any = None) -> Article:
    """A knowledge-base draft whose title is a question the bot could not answer; the question leaves the list."""
    turn = _access_unanswered(actor, turn_id)
    question = " ".join(turn.question.split())[:200] or "（空白问题）"
    with transaction.atomic():
        locked = BotTurn.objects.select_for_update().get(pk=turn.pk)
        if locked.draft_article_id is not None:
            return Article.objects.get(pk=locked.draft_article_id)
        article = do_create_article(
            actor=actor,
            data={
                "title": question,
                "kind": Article.Kind.FAQ,
                "status": Article.Status.DRAFT,
                "answer": "",
                "body": "",
                "similar_questions": [],
            },
        )
        BotTurn.objects.filter(
            kind=BotTurn.Kind.UNANSWERED, question=turn.question, draft_article__isnull=True
        ).update(draft_article=article)
    return article


def _access_unanswered(user: User, turn_id: int) -> BotTurn:
    turn = (
        BotTurn.objects.filter(pk=turn_id, kind=BotTurn.Kind.UNANSWERED, session__in=_visible_sessions(user))
        .select_related("session")
        .first()
    )
    if turn is None:
        raise NotFound(f"未回答的问题 {turn_id} 不存在")
    return turn
