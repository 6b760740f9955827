"""The script-library page: browse, add and edit replies, with usage statistics."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from kefu.accounts.access import AuthedRequest
from kefu.core.errors import KefuError
from kefu.core.params import whole

from . import compose, services
from .models import CannedReply, Scenario


@login_required
@require_http_methods(["GET", "POST"])
def library(request: AuthedRequest) -> HttpResponse:
    error = None
    if request.method == "POST":
        data = {
            "title": request.POST.get("title", ""),
            "shortcut": request.POST.get("shortcut", ""),
            "text": request.POST.get("text", ""),
            "scenario": request.POST.get("scenario", "其他"),
        }
        scope = request.POST.get("scope", CannedReply.Scope.PERSONAL)
        team_id = whole(request.POST.get("team_id"))
        try:
            services.do_create_reply(actor=request.user, data=data, scope=scope, team_id=team_id)
            return redirect("replies")
        except KefuError as exc:
            error = exc
    stats = {row["id"]: row for row in services.reply_stats(request.user)}
    replies = list(services.visible_replies(request.user).order_by("scenario", "id"))
    return render(
        request,
        "replies/library.html",
        {
            "replies": [(r, stats.get(r.pk)) for r in replies],
            "scenarios": Scenario.values,
            "variables": list(compose.VARIABLES),
            "teams": request.user.teams.all(),
            "error": error,
        },
        status=400 if error else 200,
    )
