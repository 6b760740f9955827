"""Pages: the intent taxonomy and the shop dictionary (admins), and the alerts list."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kefu.accounts.access import AuthedRequest, check_role
from kefu.accounts.models import Role, Team
from kefu.core.errors import InvalidInput
from kefu.core.params import whole
from kefu.nlp.emotion import LABEL_NAMES

from . import services
from .models import Intent, IntentExample, ShopWord


@login_required
@require_http_methods(["GET", "POST"])
def intents_page(request: AuthedRequest) -> HttpResponse:
    check_role(request.user, Role.TEAM_LEAD)
    error = None
    if request.method == "POST":
        check_role(request.user, Role.ADMIN)
        try:
            if request.POST.get("action") == "words":
                words = request.POST.get("words", "").replace("，", ",").split(",")
                services.do_add_shop_words(
                    actor=request.user, words=words, kind=request.POST.get("kind", "product")
                )
            elif request.POST.get("action") == "retrain":
                services.do_request_retrain(actor=request.user)
            else:
                services.do_update_intent(
                    actor=request.user,
                    intent_id=whole(request.POST.get("intent_id")) or 0,
                    data={
                        "team_id": whole(request.POST.get("team_id")),
                        "default_priority": request.POST.get("default_priority", "P4"),
                    },
                )
            return redirect("intents")
        except InvalidInput as exc:
            error = exc
    return render(
        request,
        "understanding/intents.html",
        {
            "intents": Intent.objects.select_related("team"),
            "teams": Team.objects.all(),
            "words": ShopWord.objects.order_by("word"),
            "corrections": IntentExample.objects.select_related("created_by")[:30],
            "error": error,
            "is_admin": request.user.has_role_at_least(Role.ADMIN),
            "priorities": ("P1", "P2", "P3", "P4"),
        },
        status=400 if error else 200,
    )


@login_required
@require_GET
def alerts_page(request: AuthedRequest) -> HttpResponse:
    """Alerts of the conversations the user may see, newest first (``?open=1``: unacknowledged only)."""
    open_only = request.GET.get("open") == "1"
    alerts = services.access_alerts(request.user, open_only=open_only)
    for a in alerts:
        a.label_text = LABEL_NAMES.get(a.label, a.label)  # type: ignore[attr-defined]
    return render(request, "understanding/alerts.html", {"alerts": alerts, "open_only": open_only})


@login_required
@require_POST
def acknowledge_alert(request: AuthedRequest, alert_id: int) -> HttpResponse:
    alert = services.do_acknowledge_alert(actor=request.user, alert_id=alert_id)
    messages.success(request, f"已确认 {alert.conversation.customer} 的{alert.get_level_display()}")
    return redirect(f"{reverse('emotion-alerts')}{'?open=1' if request.POST.get('open') == '1' else ''}")
