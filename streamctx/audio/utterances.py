"""Cut decoded audio into utterances at the speaker's pauses and transcribe them as they end."""
from __future__ import annotations

import itertools
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from chatter_site.lib.errors import ChatterError, ErrorCode
from streamctx import metrics
from streamctx.audio.decode import DECODE_HOP_SECONDS, SAMPLE_RATE, audio_decode
from streamctx.audio.endpointing import VAD_THRESHOLD, VAD_WINDOW, Cut, UtteranceBuffer
from streamctx.audio.heard import TAIL_WORDS, Verdict, norm, segments_judge, unpublished
from streamctx.audio.model import Transcriber, whisper_setting
from streamctx.types import AudioChunk, TimedSegment

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_SECONDS = 8.0
MAX_CHUNK_SECONDS = 25.0  # whisper sees at most 30 s at once
# Words ending this close to a forced cut may be unfinished: carried over, not published.
TAIL_GUARD_SECONDS = 0.4
# Carried-over audio starts this much before the unfinished word, so the model hears it in
# context; the published words it may hear again there are dropped (see _unpublished).
CARRY_CONTEXT_SECONDS = 1.0
PROMPT_CHARS = 120
# A call that publishes nothing from at least this much speech is decoded again without the prompt.
RETRY_SPEECH_SECONDS = 0.3
# Speech this close before the first heard word is that word's own onset.
UNHEARD_MARGIN_SECONDS = 0.2
# A live source falling this far behind (a starved CPU) skips ahead rather than lag for ever.
MAX_BACKLOG_SECONDS = 30.0

_END = object()


@dataclass(frozen=True)
class CutReport:
    """What one cut cost and gave: for the metrics, the benchmark and the tests."""

    start: float
    end: float
    whole: bool
    after_carry: bool  # it began with audio carried over from the previous cut
    speech_seconds: float
    calls: int  # model calls: more than 1 when it was decoded again (without the prompt, or its unheard start)
    published: list[TimedSegment]
    dropped: dict[str, int]  # words, by reason
    carried_over: bool  # its unfinished tail went back into the buffer


@dataclass
class _Committed:
    """What has been published: the prompt for the next utterance, and the words the next call may
    repeat (the prompt echoed, or carried-over audio heard again)."""

    text: str = ""
    words: list[str] = field(default_factory=list)  # normalised, the last TAIL_WORDS
    end: float = 0.0  # stream time the last published word ends
    carried: bool = False  # the buffer starts with audio put back after a forced cut

    def prompt(self, *, after_carry: bool) -> str | None:
        """The end of what was published, when CHATTER_WHISPER_PROMPT asks for it: `carry` (the
        default) only for audio carried over from a cut in mid-speech, where the sentence goes on;
        `always`; or `off`."""
        mode = whisper_setting("CHATTER_WHISPER_PROMPT", "carry")
        if mode == "off" or (mode == "carry" and not after_carry):
            return None
        return self.text[-PROMPT_CHARS:].lstrip() or None


def audio_segments(
    uri: str,
    *,
    transcriber: Transcriber,
    room_slug: str,
    stop: threading.Event,
    realtime: bool = True,
    chunk_seconds: float | None = None,
    observe: Callable[[CutReport], None] | None = None,
) -> Iterator[TimedSegment]:
    """Transcript segments of `uri` (file, URL or - for stdin), in stream time, as they are recognised.

    Opens the source now, so bad input fails here with ChatterError(ErrorCode.INVALID).
    """
    max_seconds = _max_seconds(chunk_seconds)
    chunks = audio_decode(uri, stop=stop, realtime=realtime, chunk_seconds=DECODE_HOP_SECONDS)
    return _transcribed(
        chunks, transcriber=transcriber, room_slug=room_slug, stop=stop, realtime=realtime, max_seconds=max_seconds, observe=observe
    )


def chunks_transcribe(
    chunks: Iterator[AudioChunk],
    *,
    transcriber: Transcriber,
    room_slug: str,
    stop: threading.Event,
    realtime: bool = True,
    chunk_seconds: float | None = None,
    observe: Callable[[CutReport], None] | None = None,
) -> Iterator[TimedSegment]:
    """Transcribe decoded chunks utterance by utterance, yielding segments as they are recognised.

    The chunks are read in a thread of their own, so a slow model call never holds a paced source
    back; the caller's thread does the transcribing. `chunk_seconds` (default
    CHATTER_WHISPER_CHUNK_SECONDS) is the most speech sent to the model when nobody pauses;
    `observe` is given a CutReport for every cut.
    """
    max_seconds = _max_seconds(chunk_seconds)
    return _transcribed(
        chunks, transcriber=transcriber, room_slug=room_slug, stop=stop, realtime=realtime, max_seconds=max_seconds, observe=observe
    )


def _max_seconds(chunk_seconds: float | None) -> float:
    value = float(chunk_seconds or whisper_setting("CHATTER_WHISPER_CHUNK_SECONDS", DEFAULT_CHUNK_SECONDS))
    if not 1 <= value <= MAX_CHUNK_SECONDS:
        raise ChatterError(ErrorCode.INVALID, f"CHATTER_WHISPER_CHUNK_SECONDS must be 1-{MAX_CHUNK_SECONDS:g} seconds, got {value:g}")
    return value


def _transcribed(
    chunks: Iterator[AudioChunk],
    *,
    transcriber: Transcriber,
    room_slug: str,
    stop: threading.Event,
    realtime: bool,
    max_seconds: float,
    observe: Callable[[CutReport], None] | None = None,
) -> Iterator[TimedSegment]:
    halt = threading.Event()  # ends the reader when this generator is closed without `stop`
    # Live: unbounded, a backlog is skipped below. Not live: the reader waits for the model.
    inbox: queue.Queue = queue.Queue(maxsize=0 if realtime else 64)
    reader = threading.Thread(target=_read, args=(chunks, inbox, stop, halt), name="streamctx-audio-decode", daemon=True)
    reader.start()
    buffer = UtteranceBuffer(max_seconds=max_seconds)
    committed = _Committed()
    source_done = False
    try:
        while not (stop.is_set() or source_done):
            try:
                items = [inbox.get(timeout=0.5)]
            except queue.Empty:
                continue
            items += _drain(inbox)
            for item in items:
                if item is _END:
                    source_done = True
                elif isinstance(item, BaseException):
                    raise item
                else:
                    buffer.add(item)
                if realtime and buffer.duration > MAX_BACKLOG_SECONDS:
                    skipped = buffer.skip_to_recent(max_seconds)
                    logger.warning("room=%s transcription fell behind; skipped %.1f s of audio", room_slug, skipped)
                # Cuts are decided hop by hop, as the audio was heard, however much of it waited
                # while the model was busy: a pause in that backlog is still a pause, and the cuts
                # (so the transcript) do not depend on how the threads were scheduled.
                while (cut := buffer.next_cut(final=source_done)) is not None:
                    if stop.is_set():
                        return
                    yield from _transcribe_cut(
                        cut, buffer=buffer, transcriber=transcriber, room_slug=room_slug, committed=committed, observe=observe
                    )
    finally:
        halt.set()


def _transcribe_cut(
    cut: Cut,
    *,
    buffer: UtteranceBuffer,
    transcriber: Transcriber,
    room_slug: str,
    committed: _Committed,
    observe: Callable[[CutReport], None] | None = None,
) -> Iterator[TimedSegment]:
    after_carry, committed.carried = committed.carried, False
    prompt = committed.prompt(after_carry=after_carry)
    verdict, fresh = _hear(cut, transcriber=transcriber, room_slug=room_slug, committed=committed, prompt=prompt, after_carry=after_carry)
    calls = 1
    if prompt and (verdict.looped or (not fresh and cut.speech_seconds >= RETRY_SPEECH_SECONDS)):
        # The prompt made the model echo or loop, or it heard nothing in speech: the same audio
        # without the prompt, less what was published, is what was said.
        again, again_fresh = _hear(cut, transcriber=transcriber, room_slug=room_slug, committed=committed, prompt=None, after_carry=after_carry)
        calls = 2
        metrics.ASR_RETRIES.inc()
        if len(_flat(again_fresh)) >= len(_flat(fresh)) or (verdict.looped and not again.looped and again_fresh):
            # What the prompted call dropped is still what the prompt cost (its echo, its loop).
            for reason, count in verdict.dropped.items():
                again.drop(reason, count)
            verdict, fresh = again, again_fresh
    if not after_carry and _flat(fresh):
        # Whisper sometimes skips a short phrase that opens a chunk ("five five" before "eight of
        # spades"): speech VAD heard before the first word is decoded on its own.
        lead, calls_lead = _unheard_lead(cut, fresh, transcriber=transcriber, room_slug=room_slug, committed=committed, verdict=verdict)
        fresh, calls = lead + fresh, calls + calls_lead
    keep = fresh
    carried_over = False
    if not cut.whole:
        chunk_end = cut.chunk.start + cut.chunk.duration
        words = _flat(fresh)
        finished = list(itertools.takewhile(lambda word: word.end <= chunk_end - TAIL_GUARD_SECONDS, words))
        # The last word before a cut in speech is suspect wherever whisper timed it: a word cut in
        # half is heard as a shorter one ("respectable" as "respect.").
        finished = finished[: len(words) - 1] or words[:1] if len(words) > 1 else words
        if len(finished) < len(words):
            # Unfinished words go back with a second of what came before, for context.
            carry_from = max(cut.chunk.start, words[len(finished)].start - CARRY_CONTEXT_SECONDS)
            offset = int(round((carry_from - cut.chunk.start) * SAMPLE_RATE))
            buffer.put_back(AudioChunk(start=cut.chunk.start + offset / SAMPLE_RATE, samples=cut.chunk.samples[offset:]))
            committed.carried = carried_over = True
            keep = _first_words(fresh, len(finished))
    published = []
    for words in keep:
        text = "".join(word.text for word in words).strip()
        start = max(words[0].start, min(committed.end, words[-1].end - 0.01))
        segment = TimedSegment(start=round(start, 3), end=max(words[-1].end, round(start + 0.01, 3)), text=text)
        _commit(committed, segment)
        published.append(segment)
    for reason, count in verdict.dropped.items():
        metrics.ASR_DROPPED_WORDS.labels(reason=reason).inc(count)
    if not published and cut.speech_seconds >= RETRY_SPEECH_SECONDS:
        metrics.ASR_SPEECH_UNPUBLISHED.inc()
    if observe is not None:
        observe(
            CutReport(
                start=cut.chunk.start, end=cut.chunk.start + cut.chunk.duration, whole=cut.whole, after_carry=after_carry,
                speech_seconds=cut.speech_seconds, calls=calls, published=published, dropped=dict(verdict.dropped),
                carried_over=carried_over,
            )
        )
    yield from published


def _hear(
    cut: Cut, *, transcriber: Transcriber, room_slug: str, committed: _Committed, prompt: str | None, after_carry: bool
) -> tuple[Verdict, list[list[TimedSegment]]]:
    """The verdict on one model call, and its words not yet published, grouped by segment."""
    verdict = segments_judge(
        transcriber.hear(cut.chunk, room_slug=room_slug, prompt=prompt), published=committed.words, english=transcriber.english
    )
    _, repeated = unpublished(verdict.words, committed.words, carried=after_carry)
    verdict.drop("carried" if after_carry else "echo", repeated)
    return verdict, _without_first(verdict.segments, repeated)


def _unheard_lead(
    cut: Cut, fresh: list[list[TimedSegment]], *, transcriber: Transcriber, room_slug: str, committed: _Committed, verdict: Verdict
) -> tuple[list[list[TimedSegment]], int]:
    """The words of the speech before the first heard word, when VAD heard enough of it there; and
    the model calls that cost (0 or 1)."""
    first = fresh[0][0].start
    probs = cut.chunk.extra.get("vad")
    windows = int((first - cut.chunk.start - UNHEARD_MARGIN_SECONDS) * SAMPLE_RATE / VAD_WINDOW)
    if probs is None or windows <= 0:
        return [], 0
    if np.count_nonzero(probs[:windows] >= VAD_THRESHOLD) * VAD_WINDOW / SAMPLE_RATE < RETRY_SPEECH_SECONDS:
        return [], 0
    count = int(round((first - cut.chunk.start) * SAMPLE_RATE))
    piece = AudioChunk(start=cut.chunk.start, samples=cut.chunk.samples[:count])
    again = segments_judge(transcriber.hear(piece, room_slug=room_slug, prompt=None), published=committed.words, english=transcriber.english)
    words, repeated = unpublished(again.words, committed.words)
    for reason, count_dropped in again.dropped.items():
        verdict.drop(reason, count_dropped)
    verdict.drop("echo", repeated)
    words = [word for word in words if word.end <= first]
    metrics.ASR_RETRIES.inc()
    return ([words] if words else []), 1


def _flat(segments: list[list[TimedSegment]]) -> list[TimedSegment]:
    return [word for words in segments for word in words]


def _without_first(segments: list[list[TimedSegment]], count: int) -> list[list[TimedSegment]]:
    kept = []
    for words in segments:
        if count >= len(words):
            count -= len(words)
            continue
        kept.append(words[count:])
        count = 0
    return kept


def _first_words(segments: list[list[TimedSegment]], count: int) -> list[list[TimedSegment]]:
    kept = []
    for words in segments:
        if count <= 0:
            break
        kept.append(words[:count])
        count -= len(words)
    return kept


def _commit(committed: _Committed, segment: TimedSegment) -> None:
    committed.text = (committed.text + " " + segment.text)[-400:]
    committed.words = (committed.words + [norm(word) for word in segment.text.split() if norm(word)])[-TAIL_WORDS:]
    committed.end = max(committed.end, segment.end)


def _read(chunks: Iterator[AudioChunk], inbox: queue.Queue, stop: threading.Event, halt: threading.Event) -> None:
    def put(item: object) -> bool:
        while not (stop.is_set() or halt.is_set()):
            try:
                inbox.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    try:
        for chunk in chunks:
            if not put(chunk):
                return
    except BaseException as exc:  # handed to the transcribing thread, which raises it there
        put(exc)
        return
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()  # closes the container even when we stopped early
    put(_END)


def _drain(inbox: queue.Queue) -> list:
    items = []
    while True:
        try:
            items.append(inbox.get_nowait())
        except queue.Empty:
            return items
