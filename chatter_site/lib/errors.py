"""The one error type for expected failures.

Views turn it into an HTTP error, consumers into an `error` frame, commands into a message and an
exit code. `code` is the stable machine-readable part (it is the WebSocket error frame's code).
"""
from __future__ import annotations

from typing import Any

HTTP_STATUS_BY_CODE = {
    "invalid": 400,
    "too_large": 413,
    "auth_required": 401,
    "forbidden": 403,
    "not_found": 404,
    "gone": 410,
    "rate_limited": 429,
    "slow_mode": 429,
    "blocked": 422,
    "emote_only": 422,
    "timed_out": 403,
    "banned": 403,
    "unavailable": 503,
}


class ChatterError(Exception):
    def __init__(self, code: str, message: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        # More machine-readable fields of the refusal, e.g. `until` for timed_out and banned.
        self.extra = extra or {}

    @property
    def http_status(self) -> int:
        return HTTP_STATUS_BY_CODE.get(self.code, 400)

    def as_frame(self) -> dict[str, Any]:
        return {"type": "error", "code": self.code, "detail": self.message, **self.extra}
