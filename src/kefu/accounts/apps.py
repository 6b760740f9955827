from typing import Any

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "kefu.accounts"
    label = "accounts"
    verbose_name = "账号与权限"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_out

        user_logged_out.connect(_close_desk_sockets, dispatch_uid="kefu.accounts.close_desk_sockets")
        user_logged_out.connect(_go_offline, dispatch_uid="kefu.accounts.go_offline")


def _close_desk_sockets(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """A logout (or idle lock) ends the session: the desk sockets opened with it close."""
    if user is not None and getattr(user, "pk", None):
        from kefu.core.events import notify_access_changed

        # Sent before Django flushes the session, so the key is named rather than
        # looked up by the socket.
        session = getattr(request, "session", None)
        notify_access_changed(user.pk, ended_session=getattr(session, "session_key", None))


# Set on the request by whoever ends a session for inactivity (the idle-lock middleware,
# the desk's own countdown), so the status history says why the agent went offline.
LOGOUT_REASON_ATTR = "kefu_logout_reason"


def _go_offline(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """Signing out (or being locked out) ends the agent's availability: no new conversations."""
    if user is not None and getattr(user, "pk", None):
        from kefu.accounts.models import StatusReason
        from kefu.accounts.presence import do_go_offline

        reason = getattr(request, LOGOUT_REASON_ATTR, None) or StatusReason.LOGOUT
        do_go_offline(user.pk, reason=reason)
