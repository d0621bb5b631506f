"""Plain data passed between the stream-context stages (source → ASR → window → detectors → publish).

Times named `start`/`end`/`at_stream` are seconds of stream time (from the source's start);
wall-clock times are datetimes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TimedSegment:
    """A piece of transcript with its place in stream time."""

    start: float
    end: float
    text: str


@dataclass(frozen=True)
class DetectedEvent:
    kind: str  # big_laugh | fail | clutch | chat_question | scene_change | chat_spike
    at_stream: float
    confidence: float
    evidence: str


@dataclass(frozen=True)
class ChatActivity:
    """Chat's message rate around now, for spike detection."""

    recent_per_minute: float  # over the last few seconds, scaled to a minute
    baseline_per_minute: float  # over the last minutes
    recent_count: int = 0


@dataclass
class AudioChunk:
    """Mono float32 PCM at `sample_rate`, starting at `start` seconds of stream time."""

    start: float
    samples: Any  # numpy.ndarray, float32, shape (n,)
    sample_rate: int = 16000
    extra: dict = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate
