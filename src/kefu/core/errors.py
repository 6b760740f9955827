"""Domain errors: each carries its HTTP status and a message for people.

    KefuError
    ├── InvalidInput (400)   bad or missing fields; ``fields`` names them
    ├── Unauthorized (401)   no or bad credentials / signature
    ├── PermissionDenied (403)
    ├── NotFound (404)
    ├── Conflict (409)       the state changed under you (already assigned, closed …)
    ├── TooLarge (413)       the request body is larger than kefu accepts
    ├── UnsupportedMediaType (415)  a JSON body sent under another Content-Type
    └── RateLimited (429)    too many attempts; ``retry_after`` seconds until the next

Services raise these; one handler in ``kefu.api`` turns them into JSON and one in
``kefu.core.views`` into readable pages.
"""

from __future__ import annotations

from typing import Any


class KefuError(Exception):
    status = 400
    code = "error"

    def __init__(
        self, message: str, *, fields: dict[str, str] | None = None, extra: dict[str, Any] | None = None
    ):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        self.extra = extra or {}

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "detail": self.message}
        if self.fields:
            body["fields"] = self.fields
        body.update(self.extra)
        return body

    def headers(self) -> dict[str, str]:
        """HTTP headers the response carries besides the body."""
        return {}

    def add_headers(self, response: Any) -> Any:
        """Set ``headers()`` on ``response`` (any Django response); returns it."""
        for name, value in self.headers().items():
            response[name] = value
        return response


class InvalidInput(KefuError):
    status = 400
    code = "invalid_input"


class Unauthorized(KefuError):
    status = 401
    code = "unauthorized"


class PermissionDenied(KefuError):
    status = 403
    code = "permission_denied"


class NotFound(KefuError):
    status = 404
    code = "not_found"


class Conflict(KefuError):
    status = 409
    code = "conflict"


class TooLarge(KefuError):
    status = 413
    code = "too_large"


class UnsupportedMediaType(KefuError):
    status = 415
    code = "unsupported_media_type"


class RateLimited(KefuError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, limit: str, retry_after: int):
        super().__init__(message, extra={"limit": limit, "retry_after": retry_after})
        self.limit = limit
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}
