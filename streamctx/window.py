"""The rolling transcript window: the last N seconds of what was said."""
from __future__ import annotations

from collections import deque

from streamctx.types import TimedSegment


class RollingWindow:
    def __init__(self, window_seconds: float) -> None:
        self.window_seconds = window_seconds
        self._segments: deque[TimedSegment] = deque()
        self.last_speech_end: float | None = None

    def add(self, segment: TimedSegment) -> None:
        if not segment.text.strip():
            return
        self._segments.append(segment)
        self.last_speech_end = max(self.last_speech_end or 0.0, segment.end)

    def prune(self, *, now_stream: float) -> None:
        horizon = now_stream - self.window_seconds
        while self._segments and self._segments[0].end < horizon:
            self._segments.popleft()

    def segments(self) -> list[TimedSegment]:
        return list(self._segments)

    def transcript(self) -> str:
        return " ".join(segment.text.strip() for segment in self._segments)
