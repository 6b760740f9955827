"""Training (模拟训练): practice sessions with virtual customers, scoring, authoring, paths.

A trainee starts a session for a case; each reply is checked by the reply-quality
engine with a context built from the session (as the desk builds it from a
conversation: the customer's emotion read by kefu.nlp.emotion, a question that expects
a time, the trainee's compensation authority), the virtual customer reacts
(:mod:`kefu.training.engine`) and both turns are stored. A finished session is scored
with the quality rubric, beside its outcome.

Nothing here writes a conversation, a message, a metric, an SLA timer, a webhook or a
wallboard event: a session has its own tables, so practice never reaches customers or
the team's figures.

Who sees what: a trainee their own sessions; a team lead the sessions and progress of
the people in their teams; supervisors and above everyone's. Supervisors write cases
and certify; only the trainee plays their own session.
"""

from __future__ import annotations

import re
import secrets
from collections import Counter
from dataclasses import dataclass, fields
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from kefu.accounts.access import audit, check_desk_user, check_role, team_ids_of
from kefu.accounts.models import Role, User
from kefu.conversations.models import Conversation, Message
from kefu.conversations.timeline import access_conversation
from kefu.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from kefu.core.fields import check_message, check_text
from kefu.nlp.emotion import LABELS, analyze_message
from kefu.nlp.normalize import to_simplified
from kefu.nlp.pii import mask_pii, scan_text
from kefu.nlp.segment import cut
from kefu.quality.checks import (
    TIME_QUESTION_RE,
    agent_role_key,
    check_draft_text,
    compensation_limit_for,
    looks_like_closing,
)
from kefu.quality.presenters import RULE_LABELS, finding_dict
from kefu.quality.rules import Finding, ReplyContext, check_reply, score_conversation
from kefu.quality.rules import Turn as RubricTurn
from kefu.quality.ruleset_store import active_ruleset
from kefu.replies.models import VARIABLE_RE, CannedReply, ShopProfile
from kefu.replies.services import access_reply, search_replies
from kefu.understanding.presenters import model_reading_text
from kefu.understanding.services import guidance_for

from . import engine
from .cases import LEARNING_PATH
from .engine import CaseScript, CustomerState, ScriptError
from .models import Category, Certification, TrainingCase, TrainingSession, TrainingSettings, TrainingTurn

MAX_SEED = 2**31 - 1
_FINDING_FIELDS = tuple(f.name for f in fields(Finding))


# --- access ---------------------------------------------------------------------------


def check_can_author(user: User) -> None:
    """Writing cases and certifying trainees is for supervisors and above."""
    check_role(user, Role.SUPERVISOR)


def check_can_lead(user: User) -> None:
    """Team progress and weak spots are for team leads and above."""
    check_role(user, Role.TEAM_LEAD)


def visible_cases(user: User, *, include_inactive: bool = False) -> QuerySet[TrainingCase]:
    check_desk_user(user)
    qs = TrainingCase.objects.all()
    if not (include_inactive and user.has_role_at_least(Role.SUPERVISOR)):
        qs = qs.filter(is_active=True)
    return qs


def access_case(user: User, case_id: int) -> TrainingCase:
    case = visible_cases(user, include_inactive=True).filter(pk=case_id).first()
    if case is None:
        raise NotFound(f"训练案例 {case_id} 不存在")
    return case


def coached_user_ids(user: User) -> set[int] | None:
    """Whose training ``user`` may follow: ``None`` for everyone (supervisors and above)."""
    if user.has_role_at_least(Role.SUPERVISOR):
        return None
    if user.has_role_at_least(Role.TEAM_LEAD):
        ids = set(User.objects.filter(teams__in=team_ids_of(user)).values_list("id", flat=True))
        return ids | {user.pk}
    return {user.pk}


def visible_sessions(user: User) -> QuerySet[TrainingSession]:
    check_desk_user(user)
    qs = TrainingSession.objects.select_related("case", "trainee")
    ids = coached_user_ids(user)
    return qs if ids is None else qs.filter(trainee_id__in=ids)


def access_session(user: User, session_id: int, *, for_update: bool = False) -> TrainingSession:
    qs = visible_sessions(user)
    if for_update:
        qs = qs.select_for_update(of=("self",))
    session = qs.filter(pk=session_id).first()
    if session is None:
        raise NotFound(f"训练 {session_id} 不存在")
    return session


def _check_player(user: User, session: TrainingSession) -> None:
    if session.trainee_id != user.pk:
        raise PermissionDenied("只有参加训练的学员本人可以回复")


def script_of(case: TrainingCase) -> CaseScript:
    try:
        return engine.script_from_dict(case.script)
    except ScriptError as exc:
        raise InvalidInput(
            f"案例脚本有误：{exc.message}", fields={f"script.{exc.field}": exc.message}
        ) from exc


def session_turns(session: TrainingSession) -> list[TrainingTurn]:
    return list(session.turns.order_by("index"))


# --- playing --------------------------------------------------------------------------


def _check_seed(seed: Any) -> int:
    if seed is None:
        return secrets.randbelow(MAX_SEED)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise InvalidInput("种子无效", fields={"seed": f"应为 0–{MAX_SEED} 的整数"})
    return seed


def _customer_turn(
    session: TrainingSession, index: int, text: str, state: CustomerState, kind: str
) -> TrainingTurn:
    reading = analyze_message(text)
    return TrainingTurn.objects.create(
        session=session,
        index=index,
        role=TrainingTurn.Role.CUSTOMER,
        text=text,
        emotion_label=reading.label,
        emotion_score=reading.score,
        mood=state.mood,
        kind=kind,
    )


def do_start_session(*, trainee: User, case_id: int, seed: Any = None) -> TrainingSession:
    """A new session of a case; the customer's opening message is its first turn."""
    check_desk_user(trainee)
    seed = _check_seed(seed)
    case = access_case(trainee, case_id)
    if not case.is_active:
        raise Conflict("该案例未启用", fields={"case_id": "未启用"})
    script = script_of(case)
    state = engine.start_state(script)
    with transaction.atomic():
        session = TrainingSession.objects.create(case=case, trainee=trainee, seed=seed, state=state.to_dict())
        _customer_turn(session, 0, engine.opening_text(script), state, "opening")
    return session


def _reply_context(
    session: TrainingSession, trainee: User, turns: list[TrainingTurn], *, closing: bool
) -> ReplyContext:
    """What the rule engine should know about the trainee's next reply (as kefu.quality.checks
    builds it for a conversation)."""
    ruleset = active_ruleset()
    last = next((t for t in reversed(turns) if t.role == TrainingTurn.Role.CUSTOMER), None)
    last_text = last.text[-500:] if last else ""
    emotion = last.emotion_label if last and last.emotion_label in LABELS else None
    return ReplyContext(
        customer_emotion=emotion,  # type: ignore[arg-type]
        is_first_agent_reply=not any(t.role == TrainingTurn.Role.TRAINEE for t in turns),
        is_closing=closing,
        customer_last_message=last_text,
        expects_time=bool(TIME_QUESTION_RE.search(scan_text(to_simplified(last_text)))),
        agent_role=agent_role_key(trainee, ruleset),
        compensation_limit=compensation_limit_for(trainee),
        approved_compensation=0.0,
    )


@dataclass(frozen=True)
class TrainingDraftCheck:
    ruleset_version: int
    findings: list[Finding]


def access_draft_check(*, user: User, session_id: int, text: Any) -> TrainingDraftCheck:
    """The composer's coaching for a draft in a training session (as the desk's reply-check)."""
    text = check_draft_text(text)
    session = access_session(user, session_id)
    _check_player(user, session)
    ruleset = active_ruleset()
    if not text.strip():
        return TrainingDraftCheck(ruleset.version, [])
    ctx = _reply_context(session, user, session_turns(session), closing=looks_like_closing(text))
    return TrainingDraftCheck(ruleset.version, check_reply(text, ctx, ruleset))


def do_training_reply(*, trainee: User, session_id: int, text: Any) -> TrainingSession:
    """The trainee's reply and the virtual customer's answer, stored together."""
    text = check_message(text)
    with transaction.atomic():
        session = access_session(trainee, session_id, for_update=True)
        _check_player(trainee, session)
        if session.status != TrainingSession.Status.ACTIVE:
            raise Conflict("本次训练已结束", fields={"session_id": "已结束"})
        script = script_of(session.case)
        state = CustomerState.from_dict(session.state)
        turns = session_turns(session)
        ruleset = active_ruleset()
        ctx = _reply_context(session, trainee, turns, closing=looks_like_closing(text))
        assessment = engine.assess(text, script, state, ctx, ruleset)
        reaction = engine.react(script, state, assessment, seed=session.seed)
        index = len(turns)
        TrainingTurn.objects.create(
            session=session,
            index=index,
            role=TrainingTurn.Role.TRAINEE,
            text=text,
            findings=[finding_dict(f) for f in assessment.findings],
            worked=list(assessment.worked),
            ignored=assessment.ignored,
            model_answer=engine.model_answer(script, state.turn),
        )
        _customer_turn(session, index + 1, reaction.text, reaction.state, reaction.kind)
        session.state = reaction.state.to_dict()
        if reaction.state.ended:
            _finish(session, reaction.state.outcome or TrainingSession.Outcome.LEFT_ANGRY)
        session.save()
    return session


def do_end_session(*, trainee: User, session_id: int) -> TrainingSession:
    """The trainee stops: an unresolved customer counts as one who left angry."""
    with transaction.atomic():
        session = access_session(trainee, session_id, for_update=True)
        _check_player(trainee, session)
        if session.status != TrainingSession.Status.ACTIVE:
            raise Conflict("本次训练已结束", fields={"session_id": "已结束"})
        _finish(session, TrainingSession.Outcome.LEFT_ANGRY)
        session.save()
    return session


def _finish(session: TrainingSession, outcome: str) -> None:
    """Score the session with the quality rubric and record its outcome (caller saves)."""
    total, items = score_session(session_turns(session))
    session.status = TrainingSession.Status.FINISHED
    session.outcome = outcome
    session.score = total
    session.rubric = items
    session.ended_at = timezone.now()


def score_session(turns: list[TrainingTurn]) -> tuple[int, list[dict[str, Any]]]:
    """The rubric score of a session's replies (response time left out: practice is not timed)."""
    rubric_turns = [
        RubricTurn(
            role="customer" if t.role == TrainingTurn.Role.CUSTOMER else "agent",
            text=t.text,
            emotion=t.emotion_label if t.emotion_label in LABELS else None,  # type: ignore[arg-type]
        )
        for t in turns
    ]
    findings = [
        [Finding(**{k: f.get(k) for k in _FINDING_FIELDS}) for f in t.findings]
        for t in turns
        if t.role == TrainingTurn.Role.TRAINEE
    ]
    if not findings:
        return 0, []
    score = score_conversation(rubric_turns, findings, ruleset=active_ruleset())
    return score.total, score.to_dict()["items"]


def passed(session: TrainingSession, pass_score: int) -> bool:
    return session.outcome == TrainingSession.Outcome.RESOLVED and (session.score or 0) >= pass_score


# --- the composer's script library ----------------------------------------------------


def _fill_from_case(text: str, session: TrainingSession, trainee: User) -> tuple[str, list[str]]:
    script = session.case.script or {}
    facts = {**script.get("persona", {}), **script.get("facts", {})}
    shop = ShopProfile.objects.order_by("id").first() or ShopProfile()
    values = {
        "客户姓名": facts.get("name", ""),
        "订单号": facts.get("order_no", ""),
        "商品": facts.get("product", ""),
        "金额": facts.get("amount", ""),
        "快递公司": facts.get("carrier", ""),
        "运单号": facts.get("tracking_no", ""),
        "客服姓名": trainee.display_name or trainee.name,
        "工号": trainee.employee_no,
        "退货地址": shop.return_address,
        "店铺名称": shop.shop_name,
        "客服时间": shop.service_hours,
    }
    missing: list[str] = []

    def fill(m: re.Match[str]) -> str:
        value = values.get(m.group(1), "")
        if not value and m.group(1) not in missing:
            missing.append(m.group(1))
        return value or m.group(0)

    return VARIABLE_RE.sub(fill, text), missing


def training_scripts(*, user: User, session_id: int, q: Any, limit: int = 8) -> list[CannedReply]:
    """The ``/`` picker's scripts in a training session (no use is counted: practice is no usage)."""
    session = access_session(user, session_id)
    _check_player(user, session)
    return search_replies(user, q, limit=limit)


def training_script_text(*, user: User, session_id: int, reply_id: int) -> tuple[str, list[str]]:
    """A script's text with its variables filled from the case's facts."""
    session = access_session(user, session_id)
    _check_player(user, session)
    reply = access_reply(user, reply_id)
    return _fill_from_case(reply.text, session, user)


# --- progress and weak spots ----------------------------------------------------------


def training_settings() -> TrainingSettings:
    return TrainingSettings.objects.get_or_create(pk=1)[0]


def trainee_progress(trainee: User, *, pass_score: int | None = None) -> dict[str, Any]:
    """Week one's modules for one trainee: each case, its best score and whether it was passed."""
    return _progress_of([trainee], pass_score=pass_score, only_active=False)[0]


def _progress_of(
    people: list[User], *, pass_score: int | None = None, only_active: bool = True
) -> list[dict[str, Any]]:
    """The learning path of each of ``people`` in four queries whatever their number
    (``only_active``: leave out those who never trained)."""
    pass_score = training_settings().pass_score if pass_score is None else pass_score
    cases = list(TrainingCase.objects.filter(is_active=True))
    finished: dict[int, list[TrainingSession]] = {}
    started: set[int] = set()
    for s in TrainingSession.objects.filter(trainee__in=people).only(
        "trainee_id", "case_id", "status", "outcome", "score"
    ):
        started.add(s.trainee_id)
        if s.status == TrainingSession.Status.FINISHED:
            finished.setdefault(s.trainee_id, []).append(s)
    certs = {
        c.trainee_id: c
        for c in Certification.objects.filter(trainee__in=people).select_related("certified_by")
    }
    return [
        _path(p, cases, finished.get(p.pk, []), certs.get(p.pk), pass_score)
        for p in people
        if p.pk in started or not only_active
    ]


def _path(
    trainee: User,
    cases: list[TrainingCase],
    finished: list[TrainingSession],
    cert: Certification | None,
    pass_score: int,
) -> dict[str, Any]:
    best: dict[int, TrainingSession] = {}
    for s in finished:
        kept = best.get(s.case_id)
        if kept is None or (passed(s, pass_score), s.score or 0) > (
            passed(kept, pass_score),
            kept.score or 0,
        ):
            best[s.case_id] = s
    modules: list[dict[str, Any]] = []
    for category in LEARNING_PATH:
        rows: list[dict[str, Any]] = []
        for case in (c for c in cases if c.category == category):
            top = best.get(case.pk)
            rows.append(
                {
                    "case_id": case.pk,
                    "title": case.title,
                    "best_score": top.score if top else None,
                    "outcome": top.outcome if top else None,
                    "passed": bool(top and passed(top, pass_score)),
                }
            )
        modules.append(
            {
                "category": category,
                "label": Category(category).label,
                "cases": rows,
                "passed": sum(r["passed"] for r in rows),
                "total": len(rows),
            }
        )
    total = sum(m["total"] for m in modules)
    done = sum(m["passed"] for m in modules)
    return {
        "trainee_id": trainee.pk,
        "trainee": trainee.name,
        "modules": modules,
        "passed": done,
        "total": total,
        "complete": total > 0 and done == total,
        "sessions": len(finished),
        "certification": cert,
    }


def weak_spots(trainee_ids: list[int] | None, *, limit: int = 8) -> list[dict[str, Any]]:
    """The rules most often flagged in these trainees' replies, most frequent first."""
    qs = TrainingTurn.objects.filter(role=TrainingTurn.Role.TRAINEE)
    if trainee_ids is not None:
        qs = qs.filter(session__trainee_id__in=trainee_ids)
    counts: Counter[str] = Counter()
    replies = 0
    for findings in qs.values_list("findings", flat=True).iterator():
        replies += 1
        counts.update({f.get("rule", "") for f in findings if isinstance(f, dict)})
    return [
        {"rule": rule, "label": RULE_LABELS.get(rule, rule), "replies": n, "share": round(n / replies, 2)}
        for rule, n in counts.most_common(limit)
        if rule
    ]


def team_progress(user: User) -> dict[str, Any]:
    """The lead's view: every trainee they coach with their path progress, and the team's weak spots."""
    check_can_lead(user)
    ids = coached_user_ids(user)
    people = User.objects.filter(is_active=True).order_by("id")
    if ids is not None:
        people = people.filter(pk__in=ids)
    pass_score = training_settings().pass_score
    trainees = _progress_of(list(people), pass_score=pass_score)
    return {
        "pass_score": pass_score,
        "trainees": trainees,
        "weak_spots": weak_spots(None if ids is None else sorted(ids)),
    }


# --- certification --------------------------------------------------------------------


def do_certify(*, actor: User, trainee_id: int, note: Any = "") -> Certification:
    """Declare a trainee ready for live chats (supervisors and above)."""
    check_can_author(actor)
    note = check_text(note, field="note", label="备注", max_len=255, required=False)
    trainee = User.objects.filter(pk=trainee_id, is_active=True).first()
    if trainee is None:
        raise NotFound(f"用户 {trainee_id} 不存在")
    with transaction.atomic():
        cert, _ = Certification.objects.update_or_create(
            trainee=trainee, defaults={"certified_by": actor, "note": note}
        )
        audit("training.certify", actor=actor, target=trainee, detail={"note": note})
    return cert


def do_revoke_certification(*, actor: User, trainee_id: int) -> None:
    check_can_author(actor)
    with transaction.atomic():
        deleted, _ = Certification.objects.filter(trainee_id=trainee_id).delete()
        if not deleted:
            raise NotFound("该学员没有认证")
        trainee = User.objects.get(pk=trainee_id)
        audit("training.revoke_certification", actor=actor, target=trainee)


def access_training_settings(user: User) -> TrainingSettings:
    check_role(user, Role.ADMIN)
    return training_settings()


def do_update_training_settings(
    *, actor: User, require_certification: Any, pass_score: Any
) -> TrainingSettings:
    """The admin's switch: uncertified agents get no live chats; and the passing score."""
    check_role(actor, Role.ADMIN)
    if not isinstance(require_certification, bool):
        raise InvalidInput("设置有误", fields={"require_certification": "应为 true/false"})
    if isinstance(pass_score, bool) or not isinstance(pass_score, int) or not 0 <= pass_score <= 100:
        raise InvalidInput("通过分数无效", fields={"pass_score": "应为 0–100 的整数"})
    with transaction.atomic():
        current = training_settings()
        current.require_certification = require_certification
        current.pass_score = pass_score
        current.save()
        audit(
            "training.settings",
            actor=actor,
            target=current,
            detail={"require_certification": require_certification, "pass_score": pass_score},
        )
    return current


# --- authoring ------------------------------------------------------------------------


def check_script(data: Any) -> CaseScript:
    try:
        return engine.script_from_dict(data)
    except ScriptError as exc:
        raise InvalidInput(f"案例有误：{exc.message}", fields={exc.field: exc.message}) from exc


def do_save_case(
    *, actor: User, data: Any, case_id: int | None = None, is_active: bool = True
) -> TrainingCase:
    """Create a case, or replace an existing case's script (supervisors and above)."""
    check_can_author(actor)
    script = check_script(data)
    with transaction.atomic():
        found = (
            TrainingCase(created_by=actor)
            if case_id is None
            else TrainingCase.objects.select_for_update().filter(pk=case_id).first()
        )
        if found is None:
            raise NotFound(f"训练案例 {case_id} 不存在")
        case = found
        case.title = script.title
        case.category = script.category
        case.script = script.to_dict()
        case.is_active = is_active
        case.save()
    return case


_CATEGORY_BY_INTENT = (
    ("物流", Category.ORDERS),
    ("催发货", Category.ORDERS),
    ("下单", Category.ORDERS),
    ("退", Category.RETURNS),
    ("换", Category.RETURNS),
    ("投诉", Category.COMPLAINTS),
    ("质量", Category.COMPLAINTS),
)


_NOT_TOPICS = frozenset(
    {"顾客", "我们", "你们", "怎么", "什么", "还是", "已经", "现在", "可以", "这个", "那个"}
)


def _anonymise(text: str, names: list[str]) -> str:
    """``text`` with personal data masked (kefu.nlp.pii) and the people's names replaced."""
    text = mask_pii(text)
    for name in names:
        if name and len(name) >= 2:
            text = text.replace(name, "顾客")
    return text


def do_case_from_conversation(*, actor: User, conversation_id: int) -> TrainingCase:
    """A draft case from a resolved conversation, its personal data removed (inactive until edited)."""
    check_can_author(actor)
    conversation = access_conversation(actor, conversation_id)
    if conversation.status not in (Conversation.Status.RESOLVED, Conversation.Status.CLOSED):
        raise Conflict("只能用已解决的会话生成案例", fields={"conversation_id": "会话尚未解决"})
    messages = list(
        conversation.messages.filter(is_private=False)
        .exclude(text="")
        .select_related("sender")
        .order_by("id")
    )
    customer = conversation.customer
    names = [customer.name, *(m.sender.name for m in messages if m.sender is not None)]
    incoming = [m for m in messages if m.direction == Message.Direction.INCOMING]
    replies = [m for m in messages if m.direction == Message.Direction.OUTGOING and m.sender is not None]
    if not incoming or not replies:
        raise Conflict("会话中没有顾客消息和客服回复", fields={"conversation_id": "没有可用的对话"})
    opening = _anonymise(incoming[0].text, names)[:1000]
    category = next(
        (c for word, c in _CATEGORY_BY_INTENT if word in (conversation.intent or "")), Category.PRESALE
    )
    readings = [analyze_message(m.text).score for m in incoming[:3]]
    # The customer's own content words (no masked spans, no pronouns): what a reply should touch.
    words = list(
        dict.fromkeys(
            w for w in cut(to_simplified(opening)) if len(w) >= 2 and "*" not in w and w not in _NOT_TOPICS
        )
    )[:12]
    data = {
        "title": f"真实会话改编：{_anonymise(conversation.subject, names)[:30] or opening[:30]}"[:100],
        "category": category,
        "persona": {"name": "顾客", "patience": "normal"},
        "facts": {"problem": opening[:200], "intent": conversation.intent or ""},
        "goal": "问题得到解决",
        "opening": opening,
        "start_mood": round(min(9.0, max(3.0, max(readings, default=5.0))), 1),
        "needs": ["solution"],
        "topic_words": [w[:20] for w in words],
        "replies": {},
        "model_answers": [_anonymise(m.text, names)[:500] for m in replies[:6]],
    }
    with transaction.atomic():
        case = do_save_case(actor=actor, data=data, is_active=False)
        case.source_conversation = conversation
        case.save(update_fields=["source_conversation"])
        audit(
            "training.case_from_conversation",
            actor=actor,
            target=case,
            detail={"conversation_id": conversation.pk},
        )
    return case


def case_limits() -> dict[str, int]:
    return {"max_message_chars": settings.KEFU_MAX_MESSAGE_CHARS}


def coaching_for(turn: TrainingTurn | None) -> dict[str, Any]:
    """What the live workspace's assistant shows beside a customer's message: the signals
    behind its emotion reading, the steps the handbooks give for that emotion (应对建议) and
    the text the knowledge-base suggestions are searched with."""
    if turn is None or turn.role != TrainingTurn.Role.CUSTOMER:
        return {"signals": [], "guidance": [], "kb_query": ""}
    reading = analyze_message(turn.text)
    signals = [s.description for s in reading.signals]
    if not signals and turn.emotion_label and turn.emotion_label != "calm":
        signals = [model_reading_text(turn.emotion_label)]
    return {
        "signals": signals,
        "guidance": guidance_for(turn.emotion_label),
        "kb_query": turn.text,
    }
