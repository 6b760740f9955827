"""The pages of training (模拟训练): cases and my path, a session in the workspace look, the
team's progress, the case form."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from kefu.accounts.access import AuthedRequest, check_desk_user
from kefu.accounts.models import Role
from kefu.core.errors import InvalidInput, KefuError
from kefu.core.params import whole_param

from . import services
from .engine import CATEGORIES, DEFAULT_REPLIES, NEED_LABELS, NEEDS, mood_label
from .models import Category, TrainingSession
from .presenters import KIND_LABELS, certification_out

REPLY_STATE_LABELS = {
    "calm": "平静时",
    "anxious": "焦虑时",
    "dissatisfied": "不满时",
    "angry": "愤怒时",
    "need_solution": "还没有方案时",
    "need_time": "还没有时间时",
    "need_follow_up": "还没有跟进承诺时",
    "need_apology": "还没有道歉时",
    "need_empathy": "感受没被回应时",
    "ignored": "问题被忽视时",
    "blamed": "被指责时",
    "supervisor": "要求找主管",
    "threat": "威胁投诉/差评",
    "resolved": "接受方案",
    "leave": "不满离开",
}


def _int(value: str | None, field: str, *, required: bool = False) -> int | None:
    if required and not (value or "").strip():
        raise InvalidInput("请选择", fields={field: "不能为空"})
    return whole_param(value, field, hi=10**10 - 1)


@login_required
@require_http_methods(["GET", "POST"])
def training_home(request: AuthedRequest) -> HttpResponse:
    """Cases by module with my progress; starting a session; supervisors author here."""
    user = request.user
    check_desk_user(user)
    error: KefuError | None = None
    if request.method == "POST":
        try:
            if request.POST.get("action") == "from_conversation":
                case = services.do_case_from_conversation(
                    actor=user,
                    conversation_id=_int(
                        request.POST.get("conversation_id"), "conversation_id", required=True
                    )
                    or 0,
                )
                messages.success(request, "已生成案例草稿（个人信息已去除），请检查后启用")
                return redirect(f"/desk/training/cases/{case.pk}/edit/")
            session = services.do_start_session(
                trainee=user,
                case_id=_int(request.POST.get("case_id"), "case_id", required=True) or 0,
                seed=_int(request.POST.get("seed"), "seed"),
            )
            return redirect(f"/desk/training/sessions/{session.pk}/")
        except KefuError as exc:
            if exc.status in (401, 403, 404):
                raise
            error = exc
    progress = services.trainee_progress(user)
    is_author = user.has_role_at_least(Role.SUPERVISOR)
    inactive = (
        list(services.visible_cases(user, include_inactive=True).filter(is_active=False)) if is_author else []
    )
    context: dict[str, Any] = {
        "nav": "training",
        "progress": progress,
        "certification": certification_out(progress["certification"]),
        "recent": list(services.visible_sessions(user).filter(trainee=user)[:10]),
        "is_author": is_author,
        "is_lead": user.has_role_at_least(Role.TEAM_LEAD),
        "inactive": inactive,
        "error": error,
    }
    return render(request, "training/home.html", context, status=400 if error else 200)


@login_required
@require_http_methods(["GET", "POST"])
def session_page(request: AuthedRequest, session_id: int) -> HttpResponse:
    """One session in the workspace look (训练模式); POST replies or ends without JavaScript."""
    user = request.user
    error: KefuError | None = None
    if request.method == "POST":
        try:
            if request.POST.get("action") == "end":
                services.do_end_session(trainee=user, session_id=session_id)
            else:
                services.do_training_reply(trainee=user, session_id=session_id, text=request.POST.get("text"))
            return redirect(f"/desk/training/sessions/{session_id}/")
        except KefuError as exc:
            if exc.status in (401, 403, 404):
                raise
            error = exc
    session = services.access_session(user, session_id)
    turns = services.session_turns(session)
    script = session.case.script or {}
    last_customer = next((t for t in reversed(turns) if t.role == "customer"), None)
    mood = (session.state or {}).get("mood")
    context = {
        "nav": "training",
        "session": session,
        "turns": turns,
        "script": script,
        "persona": script.get("persona", {}),
        "facts": script.get("facts", {}),
        "category_label": CATEGORIES.get(session.case.category, ""),
        "last_customer": last_customer,
        "coaching": services.coaching_for(last_customer),
        "mood_label": mood_label(mood) if mood is not None else "",
        "need_labels": NEED_LABELS,
        "kind_labels": KIND_LABELS,
        "is_player": session.trainee_id == user.pk,
        "active": session.status == TrainingSession.Status.ACTIVE,
        "error": error,
    }
    return render(request, "training/session.html", context, status=400 if error else 200)


@login_required
@require_http_methods(["GET", "POST"])
def team_page(request: AuthedRequest) -> HttpResponse:
    """Leads: each trainee's path and the team's weak spots; supervisors certify."""
    user = request.user
    services.check_can_lead(user)
    error: KefuError | None = None
    if request.method == "POST":
        try:
            action = request.POST.get("action")
            trainee_id = _int(request.POST.get("trainee_id"), "trainee_id")
            if action == "certify":
                services.do_certify(actor=user, trainee_id=trainee_id or 0, note=request.POST.get("note", ""))
                messages.success(request, "已认证")
            elif action == "revoke":
                services.do_revoke_certification(actor=user, trainee_id=trainee_id or 0)
                messages.success(request, "已取消认证")
            else:
                raise InvalidInput("未知操作", fields={"action": "无效"})
            return redirect("/desk/training/team/")
        except KefuError as exc:
            if exc.status in (401, 403, 404):
                raise
            error = exc
    team = services.team_progress(user)
    for p in team["trainees"]:
        p["cert"] = certification_out(p["certification"])
    context = {
        "nav": "training",
        "team": team,
        "recent": list(services.visible_sessions(user)[:30]),
        "can_certify": user.has_role_at_least(Role.SUPERVISOR),
        "is_admin": user.has_role_at_least(Role.ADMIN),
        "error": error,
    }
    return render(request, "training/team.html", context, status=400 if error else 200)


@login_required
@require_http_methods(["GET", "POST"])
def settings_page(request: AuthedRequest) -> HttpResponse:
    """Admins: whether uncertified agents get live chats, and the passing score (settings hub)."""
    user = request.user
    current = services.access_training_settings(user)
    error: KefuError | None = None
    if request.method == "POST":
        try:
            services.do_update_training_settings(
                actor=user,
                require_certification=request.POST.get("require_certification") == "on",
                pass_score=_int(request.POST.get("pass_score"), "pass_score", required=True),
            )
            messages.success(request, "设置已保存")
            return redirect("/desk/settings/training/")
        except KefuError as exc:
            if exc.status in (401, 403, 404):
                raise
            error = exc
    context = {"nav": "settings", "settings": current, "error": error}
    return render(request, "training/settings.html", context, status=400 if error else 200)


def _lines(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").splitlines() if v.strip()]


def _words(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").replace("，", ",").replace("、", ",").split(",") if v.strip()]


def _pairs(value: str | None, field: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in _lines(value):
        key, sep, val = line.replace("：", ":").partition(":")
        if not sep or not key.strip():
            raise InvalidInput("每行应为「名称: 内容」", fields={field: f"无法识别：{line[:30]}"})
        out[key.strip()] = val.strip()
    return out


def _form_data(post: Any) -> dict[str, Any]:
    def number(key: str, default: str) -> float:
        raw = (post.get(key) or default).strip()
        try:
            return float(raw)
        except ValueError as exc:
            raise InvalidInput("应为数字", fields={key: "应为数字"}) from exc

    persona = {
        "name": post.get("persona_name", "").strip(),
        "patience": post.get("patience", "normal"),
        "traits": post.get("traits", "").strip(),
    }
    return {
        "title": post.get("title", ""),
        "category": post.get("category", ""),
        "persona": {k: v for k, v in persona.items() if v},
        "facts": _pairs(post.get("facts"), "facts"),
        "goal": post.get("goal", ""),
        "opening": post.get("opening", ""),
        "start_mood": number("start_mood", "6"),
        "needs": post.getlist("needs"),
        "topic_words": _words(post.get("topic_words")),
        "solution_words": _words(post.get("solution_words")),
        "replies": {
            k: _lines(post.get(f"replies_{k}")) for k in DEFAULT_REPLIES if _lines(post.get(f"replies_{k}"))
        },
        "model_answers": _lines(post.get("model_answers")),
        "escalation": {
            "supervisor_after": int(number("supervisor_after", "2")),
            "threat_after": int(number("threat_after", "3")),
        },
        "max_turns": int(number("max_turns", "6")),
        "traditional": post.get("traditional") == "on",
    }


@login_required
@require_http_methods(["GET", "POST"])
def case_form(request: AuthedRequest, case_id: int | None = None) -> HttpResponse:
    """Supervisors write or edit a case."""
    user = request.user
    services.check_can_author(user)
    case = services.access_case(user, case_id) if case_id is not None else None
    error: KefuError | None = None
    attempt: dict[str, Any] | None = None
    if request.method == "POST":
        try:
            attempt = _form_data(request.POST)
            saved = services.do_save_case(
                actor=user,
                data=attempt,
                case_id=case_id,
                is_active=request.POST.get("is_active") == "on",
            )
            messages.success(request, "案例已保存")
            return redirect(f"/desk/training/cases/{saved.pk}/edit/")
        except KefuError as exc:
            if exc.status in (401, 403, 404):
                raise
            error = exc
    script: dict[str, Any] = attempt or (dict(case.script) if case else {})
    persona = script.get("persona", {})
    replies = script.get("replies", {})
    context = {
        "nav": "training",
        "case": case,
        "script": script,
        "persona": persona,
        "facts_text": "\n".join(f"{k}: {v}" for k, v in script.get("facts", {}).items()),
        "answers_text": "\n".join(script.get("model_answers", [])),
        "topic_text": "，".join(script.get("topic_words", [])),
        "solution_text": "，".join(script.get("solution_words", [])),
        "reply_rows": [
            (k, REPLY_STATE_LABELS.get(k, k), "\n".join(replies.get(k, [])), "\n".join(DEFAULT_REPLIES[k]))
            for k in DEFAULT_REPLIES
        ],
        "categories": Category.choices,
        "needs": [(n, NEED_LABELS[n], n in script.get("needs", ["solution", "time"])) for n in NEEDS],
        "escalation": script.get("escalation", {}),
        "is_active": (request.POST.get("is_active") == "on") if error else (case.is_active if case else True),
        "error": error,
    }
    return render(request, "training/case_form.html", context, status=400 if error else 200)
