"""Run coroutines from synchronous code (Celery tasks, on_commit hooks) on one long-lived loop.

`async_to_sync` would build a fresh event loop per call, and with it fresh Redis connections for
the channel layer. A single background loop per process keeps those connections warm.
"""
from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_loop_pid: int | None = None


def _bridge_loop() -> asyncio.AbstractEventLoop:
    global _loop, _loop_pid
    with _lock:
        # After a fork (Celery prefork) the parent's loop thread does not exist in the child.
        if _loop is None or _loop_pid != os.getpid():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="chatter-async-bridge", daemon=True)
            thread.start()
            _loop, _loop_pid = loop, os.getpid()
        return _loop


def run_coroutine(coro: Coroutine[Any, Any, T], *, timeout: float = 5.0) -> T:
    future = asyncio.run_coroutine_threadsafe(coro, _bridge_loop())
    return future.result(timeout=timeout)
