"""The supervisor page: queues per team and every agent's status and load."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from kefu.accounts.access import AuthedRequest
from kefu.accounts.models import AgentStatus

from .services import access_agent_overview, access_queue_overview

# Refresh interval of the page's polling of /api/v1/queues and /api/v1/agents.
REFRESH_SECONDS = 5


@require_GET
@login_required
def supervisor_view(request: AuthedRequest) -> HttpResponse:
    labels = dict(AgentStatus.choices)
    # access_agent_overview refuses roles below team lead.
    agents = [
        {**a, "status_label": labels.get(str(a["status"]), a["status"])}
        for a in access_agent_overview(request.user)
    ]
    return render(
        request,
        "routing/supervisor.html",
        {
            "nav": "supervisor",
            "queues": access_queue_overview(request.user),
            "agents": agents,
            "refresh_seconds": REFRESH_SECONDS,
        },
    )
