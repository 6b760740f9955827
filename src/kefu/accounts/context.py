from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def desk_context(request: HttpRequest) -> dict[str, Any]:
    return {"KEFU_IDLE_TIMEOUT": settings.KEFU_IDLE_TIMEOUT}
