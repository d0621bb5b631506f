"""Correlation ids (`corr_<timestamp>_<random>`) carried from a message through tasks and logs."""
from __future__ import annotations

import contextvars
import logging
import secrets
import time

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)


def new_correlation_id() -> str:
    return f"corr_{int(time.time() * 1000)}_{secrets.token_hex(4)}"


def current_correlation_id() -> str | None:
    return _current.get()


def bind_correlation_id(value: str | None) -> contextvars.Token:
    return _current.set(value)


def reset_correlation_id(token: contextvars.Token) -> None:
    _current.reset(token)


class CorrelationFilter(logging.Filter):
    """Adds `corr` to every log record so structured logs carry it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.corr = _current.get() or "-"
        return True
