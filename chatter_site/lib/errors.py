"""The one error type for expected failures.

Views turn it into an HTTP error, consumers into an `error` frame, commands into a message and an
exit code. `code` is the stable machine-readable part (it is the WebSocket error frame's code).
"""
from __future__ import annotations

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
    "unavailable": 503,
}


class ChatterError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return HTTP_STATUS_BY_CODE.get(self.code, 400)

    def as_frame(self) -> dict[str, str]:
        return {"type": "error", "code": self.code, "detail": self.message}
