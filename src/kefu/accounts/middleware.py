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


def touch_interval() -> float:
    """How stale the stored activity time may get: 1 % of the idle timeout, at most a minute.

    Storing it on every request rewrote the session row on every request (a database
    write, on SQLite the one write lock); stored at most this often, it costs one write
    per interval. The lock waits the same interval longer, so it never comes early.
    """
    return min(60.0, settings.KEFU_IDLE_TIMEOUT / 100)


class IdleTimeoutMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and hasattr(request, "session"):
            now = time.time()
            last = request.session.get(SESSION_KEY)
            touch = touch_interval()
            if last is not None and now - float(last) > settings.KEFU_IDLE_TIMEOUT + touch:
                audit(AuditLog.Action.IDLE_LOCK, actor=user, ip=client_ip(request))
                setattr(request, LOGOUT_REASON_ATTR, StatusReason.IDLE_LOCK)
                logout(request)
                request.session["kefu_locked"] = True
            elif not request.path.startswith("/api/v1/ping") and (last is None or now - float(last) >= touch):
                request.session[SESSION_KEY] = now
        return self.get_response(request)
