from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from kefu.core.labels import FIELD_LABELS

from .hub import HUB_ROLE


def desk_context(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    return {
        "KEFU_IDLE_TIMEOUT": settings.KEFU_IDLE_TIMEOUT,
        # desk.js names fields in API errors by these (``core.labels``), not by their keys.
        "KEFU_FIELD_LABELS": FIELD_LABELS,
        # The 「设置」 link: the hub's own view checks the role again.
        "KEFU_SETTINGS_HUB": bool(
            user is not None and user.is_authenticated and user.has_role_at_least(HUB_ROLE)
        ),
    }
