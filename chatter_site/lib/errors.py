"""The one error type for expected failures and its vocabulary of codes (docs/architecture.md, "Errors").

Views turn a ChatterError into an HTTP error (chatter_site.lib.api), consumers into an `error` frame,
commands into a message and an exit code. `code` is the stable machine-readable part: the `code` of
the API's `{"error": {...}}` body and of the WebSocket error frame.
"""
from __future__ import annotations

from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError


class ErrorCode(StrEnum):
    INVALID = "invalid"
    TOO_LARGE = "too_large"
    AUTH_REQUIRED = "auth_required"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    GONE = "gone"
    STALE = "stale"  # an edit based on a version that is no longer the latest
    RATE_LIMITED = "rate_limited"
    SLOW_MODE = "slow_mode"
    BLOCKED = "blocked"
    EMOTE_ONLY = "emote_only"
    TIMED_OUT = "timed_out"
    BANNED = "banned"
    UNAVAILABLE = "unavailable"
    CORRUPT = "corrupt"  # stored data failed its own check
    # Raised by Django around the views; only the API error middleware answers with these.
    METHOD_NOT_ALLOWED = "method_not_allowed"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    INTERNAL = "internal"
    SERVER_ERROR = "server_error"  # any other 5xx (the middleware keeps the response's own status)


# The one status table: every code's HTTP status.
HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.INVALID: 400,
    ErrorCode.TOO_LARGE: 413,
    ErrorCode.AUTH_REQUIRED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.GONE: 410,
    ErrorCode.STALE: 409,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.SLOW_MODE: 429,
    ErrorCode.BLOCKED: 422,
    ErrorCode.EMOTE_ONLY: 422,
    ErrorCode.TIMED_OUT: 403,
    ErrorCode.BANNED: 403,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.CORRUPT: 500,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.INTERNAL: 500,
    ErrorCode.SERVER_ERROR: 502,
}

# The code a bare status gets when Django (not a view) refused: the generic one of each status.
_GENERIC_CODES = (
    ErrorCode.INVALID,
    ErrorCode.AUTH_REQUIRED,
    ErrorCode.FORBIDDEN,
    ErrorCode.NOT_FOUND,
    ErrorCode.METHOD_NOT_ALLOWED,
    ErrorCode.TOO_LARGE,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    ErrorCode.RATE_LIMITED,
    ErrorCode.INTERNAL,
    ErrorCode.UNAVAILABLE,
)
CODE_BY_STATUS: dict[int, ErrorCode] = {HTTP_STATUS[code]: code for code in _GENERIC_CODES}


def code_for_status(status: int) -> ErrorCode:
    """The code of an error response that carries only a status."""
    return CODE_BY_STATUS.get(status, ErrorCode.SERVER_ERROR if status >= 500 else ErrorCode.INVALID)


class ChatterError(Exception):
    def __init__(self, code: ErrorCode | str, message: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        # A wire string is accepted and checked: an unknown code is a bug, not a 400.
        self.code = ErrorCode(code)
        self.message = message
        # More machine-readable fields of the refusal, e.g. `until` for timed_out and banned.
        self.extra = extra or {}

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.code]

    def as_body(self) -> dict[str, Any]:
        """The `error` object of an API answer."""
        return {"code": self.code.value, "detail": self.message, **self.extra}

    def as_frame(self) -> dict[str, Any]:
        """The WebSocket `error` frame."""
        return {"type": "error", "code": self.code.value, "detail": self.message, **self.extra}


# --- validation -----------------------------------------------------------------------------------
M = TypeVar("M")


def validation_summary(exc: ValidationError, *, root: str = "body") -> str:
    """The first problem of a pydantic error as `where: what` (`root` names the top level)."""
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or root
    return f"{where}: {first.get('msg', 'invalid')}"


def schema_validate(schema: type[M] | TypeAdapter[M], data: Any, *, root: str = "body") -> M:
    """`data` checked against a pydantic model or adapter; ChatterError `invalid` otherwise."""
    try:
        if isinstance(schema, TypeAdapter):
            return schema.validate_python(data)
        assert issubclass(schema, BaseModel)
        return schema.model_validate(data)
    except ValidationError as exc:
        raise ChatterError(ErrorCode.INVALID, validation_summary(exc, root=root)) from None
