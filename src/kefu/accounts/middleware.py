"""Idle timeout: a desk left alone locks (the session ends) after KEFU_IDLE_TIMEOUT."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse

from kefu.accounts.access import audit, client_ip
from kefu.accounts.apps import LOGOUT_REASON_ATTR
from kefu.accounts.models import AuditLog, StatusReason

SESSION_KEY = "kefu_last_activity"


class IdleTimeoutMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and hasattr(request, "session"):
            now = time.time()
            last = request.session.get(SESSION_KEY)
            if last is not None and now - float(last) > settings.KEFU_IDLE_TIMEOUT:
                audit(AuditLog.Action.IDLE_LOCK, actor=user, ip=client_ip(request))
                setattr(request, LOGOUT_REASON_ATTR, StatusReason.IDLE_LOCK)
                logout(request)
                request.session["kefu_locked"] = True
            elif not request.path.startswith("/api/v1/ping"):
                request.session[SESSION_KEY] = now
        return self.get_response(request)
