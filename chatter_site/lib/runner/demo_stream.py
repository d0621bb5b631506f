"""The demo stream's manners: it yields the demo room to a source somebody else starts there.

runchatter plays the bundled script into the demo room with `run_stream_context --if-free`. When a
user starts their own source on that room, the demo stops with EXIT_SOURCE_YIELDED; the supervisor
does not restart it (that would take the room back) but waits until the room has had no source for
RESUME_IDLE_SECONDS, then plays it again.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from chatter_site.lib.runtime import EXIT_SOURCE_YIELDED

RESUME_IDLE_SECONDS = 60.0
OWNER_POLL_SECONDS = 2.0


def exited_by_yielding(*, name: str, returncode: int | None) -> bool:
    return name == "stream" and returncode == EXIT_SOURCE_YIELDED


@dataclass
class DemoStreamWatch:
    """Set when the demo yielded; says when the room has been sourceless long enough to play again."""

    owner_of: Callable[[], str | None]  # the room's current source id, or None
    idle_seconds: float = RESUME_IDLE_SECONDS
    poll_seconds: float = OWNER_POLL_SECONDS
    yielded: bool = False
    free_since: float | None = None
    checked_at: float = 0.0

    def on_yield(self) -> None:
        self.yielded = True
        self.free_since = None

    def due(self, *, now: float | None = None) -> bool:
        """True once, when a yielded demo should play again. Raises what owner_of raises."""
        now = time.monotonic() if now is None else now
        if not self.yielded or now - self.checked_at < self.poll_seconds:
            return False
        self.checked_at = now
        if self.owner_of() is not None:
            self.free_since = None
            return False
        self.free_since = self.free_since or now
        if now - self.free_since < self.idle_seconds:
            return False
        self.yielded = False
        return True
