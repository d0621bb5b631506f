"""One stream source driving one room's context: window → detectors → publish on cadence or event.

The source (scripted or audio) runs in its own thread and hands over segments as they are heard;
this loop folds them into the rolling window, detects events, and publishes a StreamContext every
`cadence` seconds and at once on a notable event. It stops when another source takes the room.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from django.db import DatabaseError, close_old_connections
from redis import RedisError

from chat.models import Room
from chat.schemas import Segment, StreamContext, StreamEvent
from chatter_site.lib.console_events import console_event
from streamctx import metrics
from streamctx.detect import detect_chat_spike, detect_transcript_events
from streamctx.keywords import extract_keywords, topics_for
from streamctx.services import (
    chat_activity_read,
    stream_context_next_seq,
    stream_context_publish,
    stream_source_claim,
    stream_source_claim_if_free,
    stream_source_release,
)
from streamctx.types import DetectedEvent, TimedSegment
from streamctx.window import RollingWindow

logger = logging.getLogger(__name__)

# Events worth publishing immediately rather than at the next cadence tick.
NOTABLE_EVENT_CONFIDENCE = 0.5
SPEECH_PUBLISH_MIN_GAP = 0.5  # seconds between publishes triggered by new transcript
# The same kind of event again within this many stream seconds is the same moment.
DEFAULT_REPEAT_SECONDS = 3.0
# Redis or PostgreSQL briefly unreachable (restarted, failing over): the source keeps listening and
# a later tick publishes the whole rolling window again, so an outage costs contexts, not the source.
OUTAGE_ERRORS = (RedisError, DatabaseError)
REPEAT_SECONDS = {"chat_spike": 20.0, "scene_change": 10.0}
_END = object()
# Why a session stopped because another source has the room (see run_stream_context's exit code).
TAKEN_OVER = "taken over"
ROOM_BUSY = "room has another source"
YIELDED_REASONS = (TAKEN_OVER, ROOM_BUSY)


def new_source_id(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:10]}"


@dataclass
class ContextBuilder:
    """Holds the window and recent events; builds the StreamContext to publish."""

    room_slug: str
    window_seconds: float
    epoch: datetime  # wall-clock time of stream second 0

    def __post_init__(self) -> None:
        self.window = RollingWindow(self.window_seconds)
        self.events: deque[DetectedEvent] = deque()

    def stream_time(self, now: datetime) -> float:
        return (now - self.epoch).total_seconds()

    def add_segments(self, segments: list[TimedSegment]) -> list[DetectedEvent]:
        found = detect_transcript_events(new_segments=segments, previous_speech_end=self.window.last_speech_end)
        for segment in segments:
            self.window.add(segment)
        return self._remember(found)

    def add_event(self, event: DetectedEvent | None) -> list[DetectedEvent]:
        return self._remember([event] if event else [])

    def _remember(self, events: Iterable[DetectedEvent]) -> list[DetectedEvent]:
        """Keep the new events, except repeats of a moment already recorded (a laugh that spans
        two batches, a chat spike seen on every tick)."""
        fresh = []
        for event in events:
            quiet = REPEAT_SECONDS.get(event.kind, DEFAULT_REPEAT_SECONDS)
            if any(old.kind == event.kind and event.at_stream - old.at_stream < quiet for old in self.events):
                continue
            self.events.append(event)
            fresh.append(event)
            metrics.EVENTS.labels(kind=event.kind).inc()
        return fresh

    def build(self, *, seq: int, now: datetime) -> StreamContext:
        now_stream = self.stream_time(now)
        self.window.prune(now_stream=now_stream)
        while self.events and self.events[0].at_stream < now_stream - self.window_seconds:
            self.events.popleft()
        transcript = self.window.transcript()
        keywords = extract_keywords(transcript)
        return StreamContext(
            room=self.room_slug,
            seq=seq,
            at=now,
            window_seconds=self.window_seconds,
            transcript=transcript,
            segments=[Segment(start=s.start, end=s.end, text=s.text) for s in self.window.segments()],
            events=[
                StreamEvent(
                    kind=event.kind,
                    at=self.epoch + timedelta(seconds=event.at_stream),
                    confidence=round(event.confidence, 3),
                    evidence=event.evidence,
                )
                for event in self.events
            ],
            keywords=keywords,
            topics=topics_for(text=transcript, keywords=keywords),
        )


class StreamContextSession:
    def __init__(
        self,
        *,
        room: Room,
        source_id: str,
        window_seconds: float,
        cadence: float,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self.room = room
        self.source_id = source_id
        self.cadence = cadence
        self.clock = clock
        self.builder = ContextBuilder(room_slug=room.slug, window_seconds=window_seconds, epoch=clock())
        self.seq = stream_context_next_seq(room=room) - 1
        self.published = 0
        self.stop_reason: str | None = None
        self._last_publish: float | None = None

    def run(
        self, segments: Iterable[TimedSegment], *, max_seconds: float | None = None, stop: threading.Event | None = None,
        take_over: bool = True,
    ) -> str:
        """Play `segments` (blocking iterator, paced by its source) until it ends, we are taken over,
        `stop` is set or `max_seconds` pass. Returns why it stopped. With take_over=False a room
        that already has a source is left alone (ROOM_BUSY) and nothing is played."""
        stop = stop or threading.Event()
        if not take_over:
            if not stream_source_claim_if_free(room_slug=self.room.slug, source_id=self.source_id):
                return self._stopped(ROOM_BUSY)
            console_event("room %s: stream source %s started", self.room.slug, self.source_id)
        else:
            previous = stream_source_claim(room_slug=self.room.slug, source_id=self.source_id)
            if previous and previous != self.source_id:
                logger.info("room=%s taken over from source %s", self.room.slug, previous)
                console_event("room %s: stream source %s started, taking over from %s", self.room.slug, self.source_id, previous)
            else:
                console_event("room %s: stream source %s started", self.room.slug, self.source_id)
        inbox: queue.Queue = queue.Queue(maxsize=1000)
        feeder = threading.Thread(target=_feed, args=(segments, inbox, stop), name="streamctx-source", daemon=True)
        feeder.start()
        deadline = time.monotonic() + max_seconds if max_seconds else None
        next_tick = time.monotonic()
        source_done = False
        speech_waiting = False  # new speech not yet published (it came within SPEECH_PUBLISH_MIN_GAP)
        try:
            while not stop.is_set():
                if deadline and time.monotonic() >= deadline:
                    return self._stopped("time limit reached")
                wake = next_tick
                if speech_waiting and self._last_publish is not None:
                    wake = min(wake, self._last_publish + SPEECH_PUBLISH_MIN_GAP)
                timeout = max(0.0, wake - time.monotonic())
                try:
                    item = inbox.get(timeout=timeout)
                except queue.Empty:
                    item = None
                if item is _END:
                    source_done = True
                    item = None
                elif isinstance(item, BaseException):
                    raise item
                if item:
                    batch = [item] + _drain(inbox)
                    if _END in batch:
                        source_done = True
                    for failure in (entry for entry in batch if isinstance(entry, BaseException)):
                        raise failure
                    new_segments = [segment for segment in batch if isinstance(segment, TimedSegment)]
                    events = self.builder.add_segments(new_segments)
                    notable = any(event.confidence >= NOTABLE_EVENT_CONFIDENCE for event in events)
                    speech_waiting = speech_waiting or bool(new_segments)
                    if notable:
                        if not self._publish("event"):
                            return self._stopped(TAKEN_OVER)
                        speech_waiting = False
                        next_tick = time.monotonic() + self.cadence
                # New speech goes out at once too, rate-limited: speech that came too soon after the
                # last publish goes out when the gap has passed, not at the next cadence tick.
                if speech_waiting and (self._last_publish is None or time.monotonic() - self._last_publish >= SPEECH_PUBLISH_MIN_GAP):
                    if not self._publish("speech"):
                        return self._stopped(TAKEN_OVER)
                    speech_waiting = False
                    next_tick = time.monotonic() + self.cadence
                if time.monotonic() >= next_tick:
                    spike = self._chat_spike(self.clock())
                    self.builder.add_event(spike)
                    if not self._publish("event" if spike else "cadence"):
                        return self._stopped(TAKEN_OVER)
                    speech_waiting = False
                    next_tick = time.monotonic() + self.cadence
                if source_done:
                    self._publish("final")
                    # A source cut short by `stop` (Ctrl-C, the runner stopping) did not end by itself.
                    return self._stopped("stopped" if stop.is_set() else "source ended")
            return self._stopped("stopped")
        finally:
            stop.set()
            stream_source_release(room_slug=self.room.slug, source_id=self.source_id)

    def _chat_spike(self, now: datetime) -> DetectedEvent | None:
        try:
            activity = chat_activity_read(room_slug=self.room.slug, now=now)
        except OUTAGE_ERRORS as exc:
            self._outage("chat activity read", exc)
            return None
        return detect_chat_spike(activity=activity, at_stream=self.builder.stream_time(now))

    def _publish(self, reason: str) -> bool:
        """False when another source took the room over; an outage skips this context and says True."""
        self.seq += 1
        context = self.builder.build(seq=self.seq, now=self.clock())
        try:
            published = stream_context_publish(room=self.room, context=context, source_id=self.source_id)
        except OUTAGE_ERRORS as exc:
            self._outage("publish", exc)
            return True
        if not published:
            metrics.TAKEOVERS.inc()
            return False
        now = time.monotonic()
        if self._last_publish is not None:
            metrics.PUBLISH_INTERVAL.observe(now - self._last_publish)
        self._last_publish = now
        self.published += 1
        metrics.PUBLISHED.labels(reason=reason).inc()
        return True

    def _outage(self, what: str, exc: Exception) -> None:
        logger.warning("room=%s source=%s %s skipped, a service is unavailable: %r", self.room.slug, self.source_id, what, exc)
        metrics.PUBLISH_SKIPPED.inc()
        close_old_connections()  # a connection broken by a database restart is replaced on next use

    def _stopped(self, reason: str) -> str:
        self.stop_reason = reason
        if reason == TAKEN_OVER:
            logger.warning("room=%s source=%s stopped: another source took the room over", self.room.slug, self.source_id)
        else:
            logger.info("room=%s source=%s stopped: %s after %d contexts", self.room.slug, self.source_id, reason, self.published)
            # A plain stop is the runner shutting down, and a busy room played nothing: neither is news.
            if reason not in ("stopped", ROOM_BUSY):
                console_event("room %s: stream source %s stopped: %s", self.room.slug, self.source_id, reason)
        return reason


def _feed(segments: Iterable[TimedSegment], inbox: queue.Queue, stop: threading.Event) -> None:
    try:
        for segment in segments:
            if stop.is_set():
                return
            inbox.put(segment)
    except BaseException as exc:  # handed to the main loop, which raises it there
        inbox.put(exc)
        return
    inbox.put(_END)


def _drain(inbox: queue.Queue) -> list:
    items = []
    while True:
        try:
            items.append(inbox.get_nowait())
        except queue.Empty:
            return items


def paced(segments: Iterable[TimedSegment], *, speed: float, stop: threading.Event | None = None) -> Iterable[TimedSegment]:
    """Release each scripted segment when it has been 'spoken' (its end), in real time / speed."""
    started = time.monotonic()
    for segment in segments:
        due = started + segment.end / speed
        while (wait := due - time.monotonic()) > 0:
            if stop is not None and stop.wait(min(wait, 0.5)):
                return
            elif stop is None:
                time.sleep(min(wait, 0.5))
        yield segment
