"""Poll with a deadline instead of sleeping: tests wait for work, never for a fixed time.

The default deadline is generous on purpose: a passing wait returns as soon as its predicate holds,
and only a failing one waits it out; 10 s was missed by Celery round trips on a 2-core machine
under load 10."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")
DEFAULT_TIMEOUT = 30.0


def wait_for(predicate: Callable[[], T], *, timeout: float = DEFAULT_TIMEOUT, interval: float = 0.05, message: str = "") -> T:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # the thing polled may not exist yet
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message or predicate}: last error {last_error!r}")


async def async_wait_for(
    predicate: Callable[[], Awaitable[T]], *, timeout: float = DEFAULT_TIMEOUT, interval: float = 0.05, message: str = ""
) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message or predicate}")
