"""Cut decoded audio into utterances at the speaker's pauses and transcribe them as they end."""
from __future__ import annotations

import itertools
import logging
import queue
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from chatter_site.lib.errors import ChatterError
from streamctx.audio.decode import DECODE_HOP_SECONDS, SAMPLE_RATE, audio_decode
from streamctx.audio.model import Transcriber, whisper_setting
from streamctx.types import AudioChunk, TimedSegment

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_SECONDS = 4.0
MAX_CHUNK_SECONDS = 25.0  # whisper sees at most 30 s at once
# A pause this long after speech ends an utterance, once the utterance holds MIN_UTTERANCE_SPEECH
# seconds of speech: whisper guesses wildly on a lone second of speech ("The boss is at low
# health" alone came back as "The most important thing is the low health"), so a shorter phrase
# waits for more speech or for a pause of LONG_PAUSE_SECONDS. Longer pauses add to every word's
# delay; shorter ones split sentences at commas.
ENDPOINT_SILENCE_SECONDS = 0.3
MIN_UTTERANCE_SPEECH_SECONDS = 1.5
LONG_PAUSE_SECONDS = 0.6
# Less speech than this in a buffer is a click or a breath, not worth a model call.
MIN_SPEECH_SECONDS = 0.15
# When forced to cut mid-speech, a pause at least this long is a clean place to cut (shorter
# ones are often the closure before a consonant like the k of "clutch", inside a word).
MIN_GAP_SECONDS = 0.15
# Words ending this close to a forced cut may be unfinished: carried over, not published.
TAIL_GUARD_SECONDS = 0.4
# Carried-over audio starts this much before the unfinished word, so the model hears it in
# context; the published words it may hear again there are dropped (see _unpublished).
CARRY_CONTEXT_SECONDS = 1.0
MAX_OVERLAP_WORDS = 8
# Audio kept before speech starts, so the first syllable is never clipped.
LEAD_IN_SECONDS = 0.4
# A live source falling this far behind (a starved CPU) skips ahead rather than lag for ever.
MAX_BACKLOG_SECONDS = 30.0
# Silero VAD works on 32 ms windows; probabilities above VAD_THRESHOLD are speech and below
# VAD_NEG_THRESHOLD silence (the defaults faster-whisper uses).
VAD_WINDOW = 512
VAD_THRESHOLD = 0.5
VAD_NEG_THRESHOLD = 0.35

_END = object()


@dataclass(frozen=True)
class Cut:
    chunk: AudioChunk
    whole: bool  # True: ends in a pause (or the source ended); False: cut mid-speech


class UtteranceBuffer:
    """Accumulates decoded audio and says when (and where) to hand it to the model."""

    def __init__(self, *, max_seconds: float, endpoint_silence: float | None = None) -> None:
        from faster_whisper.vad import get_vad_model

        self._vad = get_vad_model()
        self.max_samples = int(max_seconds * SAMPLE_RATE)
        endpoint_silence = ENDPOINT_SILENCE_SECONDS if endpoint_silence is None else endpoint_silence
        self.endpoint_windows = _windows(endpoint_silence)
        self.start = 0.0  # stream time of samples[0]
        self.samples = np.zeros(0, dtype=np.float32)
        self.probs = np.zeros(0, dtype=np.float32)  # one per complete VAD window of samples

    @property
    def duration(self) -> float:
        return len(self.samples) / SAMPLE_RATE

    def add(self, chunk: AudioChunk) -> None:
        if not len(self.samples):
            self.start = chunk.start
        self.samples = np.concatenate([self.samples, np.asarray(chunk.samples, dtype=np.float32)])
        self._score()

    def _score(self) -> None:
        done = len(self.probs)
        complete = len(self.samples) // VAD_WINDOW
        if complete <= done:
            return
        # One window of look-back gives the first new window its context, as in a whole-file pass.
        begin = max(0, done - 1)
        # A copy: faster-whisper's Silero wrapper zeroes the last 64 samples of the array it is given.
        window = self.samples[begin * VAD_WINDOW : complete * VAD_WINDOW].copy()
        probs = np.asarray(self._vad(window)).reshape(-1)
        self.probs = np.concatenate([self.probs, probs[done - begin :].astype(np.float32)])

    def _speech_windows(self) -> int:
        return int(np.count_nonzero(self.probs >= VAD_THRESHOLD))

    def next_cut(self, *, final: bool = False) -> Cut | None:
        """The next piece to transcribe, removed from the buffer; None while it should wait."""
        speech = self._speech_windows()
        if speech < _windows(MIN_SPEECH_SECONDS):
            if final:
                self._drop(len(self.samples))
            else:
                self._trim_silence()
            return None
        if final:
            return Cut(self._take(len(self.samples)), whole=True)
        trailing = _trailing_below(self.probs, VAD_NEG_THRESHOLD)
        if trailing >= self.endpoint_windows and (speech >= _windows(MIN_UTTERANCE_SPEECH_SECONDS) or trailing >= _windows(LONG_PAUSE_SECONDS)):
            return Cut(self._take(len(self.samples)), whole=True)
        if len(self.samples) < self.max_samples:
            return None
        gap = self._longest_gap()
        if gap is not None:
            return Cut(self._take(gap), whole=True)
        return Cut(self._take(len(self.samples)), whole=False)

    def _longest_gap(self) -> int | None:
        """A sample index in the middle of the longest pause (the latest of equals) in the buffer's
        second half with enough speech before it, where a phrase most likely ended; None when
        speech runs on without one."""
        speech_so_far = np.cumsum(self.probs >= VAD_THRESHOLD)
        enough = np.flatnonzero(speech_so_far >= _windows(MIN_UTTERANCE_SPEECH_SECONDS))
        if not len(enough):
            return None
        quiet = np.append(self.probs < VAD_NEG_THRESHOLD, False)
        best: tuple[int, int] | None = None  # (length, middle window)
        run = 0
        for index in range(max(len(self.probs) // 2, int(enough[0]) + 1), len(quiet)):
            if quiet[index]:
                run += 1
                continue
            if run >= _windows(MIN_GAP_SECONDS) and (best is None or run >= best[0]):
                best = (run, index - run // 2 - 1)
            run = 0
        return best[1] * VAD_WINDOW if best else None

    def put_back(self, chunk: AudioChunk) -> None:
        """Return unfinished audio (the tail of a forced cut) to the front of the buffer."""
        self.start = chunk.start
        self.samples = np.concatenate([np.asarray(chunk.samples, dtype=np.float32), self.samples])
        self.probs = np.zeros(0, dtype=np.float32)
        self._score()

    def skip_to_recent(self, keep_seconds: float) -> float:
        """Drop all but the last `keep_seconds`; returns the seconds dropped."""
        drop = max(0, len(self.samples) - int(keep_seconds * SAMPLE_RATE))
        drop -= drop % VAD_WINDOW
        self._drop(drop)
        return drop / SAMPLE_RATE

    def _trim_silence(self) -> None:
        keep = int(LEAD_IN_SECONDS * SAMPLE_RATE)
        excess = len(self.samples) - keep
        if excess >= SAMPLE_RATE:  # trim in steps of a second or more, window-aligned
            self._drop(excess - excess % VAD_WINDOW)

    def _take(self, count: int) -> AudioChunk:
        chunk = AudioChunk(start=self.start, samples=self.samples[:count].copy(), sample_rate=SAMPLE_RATE)
        self._drop(count)
        return chunk

    def _drop(self, count: int) -> None:
        self.samples = self.samples[count:]
        self.start += count / SAMPLE_RATE
        if count % VAD_WINDOW == 0:
            self.probs = self.probs[count // VAD_WINDOW :]
        else:
            self.probs = np.zeros(0, dtype=np.float32)
            self._score()


def _windows(seconds: float) -> int:
    return max(1, round(seconds * SAMPLE_RATE / VAD_WINDOW))


def _trailing_below(values: np.ndarray, threshold: float) -> int:
    above = np.flatnonzero(values >= threshold)
    return len(values) if not len(above) else len(values) - 1 - int(above[-1])


_WORD_RE = re.compile(r"[\w']+")


def _norm(word: str) -> str:
    return "".join(_WORD_RE.findall(word.lower()))


@dataclass
class _Committed:
    """What has been published: the prompt for the next utterance, and the words that carried-over
    audio may repeat."""

    text: str = ""
    words: list[str] = field(default_factory=list)  # normalised, the last few
    carried: bool = False  # the buffer starts with audio put back after a forced cut

    def prompt(self, limit: int = 120) -> str | None:
        return self.text[-limit:].lstrip() or None


def audio_segments(
    uri: str,
    *,
    transcriber: Transcriber,
    room_slug: str,
    stop: threading.Event,
    realtime: bool = True,
    chunk_seconds: float | None = None,
) -> Iterator[TimedSegment]:
    """Transcript segments of `uri` (file, URL or - for stdin), in stream time, as they are recognised.

    Opens the source now, so bad input fails here with ChatterError("invalid").
    """
    max_seconds = _max_seconds(chunk_seconds)
    chunks = audio_decode(uri, stop=stop, realtime=realtime, chunk_seconds=DECODE_HOP_SECONDS)
    return _transcribed(chunks, transcriber=transcriber, room_slug=room_slug, stop=stop, realtime=realtime, max_seconds=max_seconds)


def chunks_transcribe(
    chunks: Iterator[AudioChunk],
    *,
    transcriber: Transcriber,
    room_slug: str,
    stop: threading.Event,
    realtime: bool = True,
    chunk_seconds: float | None = None,
) -> Iterator[TimedSegment]:
    """Transcribe decoded chunks utterance by utterance, yielding segments as they are recognised.

    The chunks are read in a thread of their own, so a slow model call never holds a paced source
    back; the caller's thread does the transcribing. `chunk_seconds` (default
    CHATTER_WHISPER_CHUNK_SECONDS) is the most speech sent to the model when nobody pauses.
    """
    max_seconds = _max_seconds(chunk_seconds)
    return _transcribed(chunks, transcriber=transcriber, room_slug=room_slug, stop=stop, realtime=realtime, max_seconds=max_seconds)


def _max_seconds(chunk_seconds: float | None) -> float:
    value = float(chunk_seconds or whisper_setting("CHATTER_WHISPER_CHUNK_SECONDS", DEFAULT_CHUNK_SECONDS))
    if not 1 <= value <= MAX_CHUNK_SECONDS:
        raise ChatterError("invalid", f"CHATTER_WHISPER_CHUNK_SECONDS must be 1-{MAX_CHUNK_SECONDS:g} seconds, got {value:g}")
    return value


def _transcribed(
    chunks: Iterator[AudioChunk], *, transcriber: Transcriber, room_slug: str, stop: threading.Event, realtime: bool, max_seconds: float
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
            while (cut := buffer.next_cut(final=source_done)) is not None:
                if stop.is_set():
                    return
                yield from _transcribe_cut(cut, buffer=buffer, transcriber=transcriber, room_slug=room_slug, committed=committed)
    finally:
        halt.set()


def _transcribe_cut(
    cut: Cut, *, buffer: UtteranceBuffer, transcriber: Transcriber, room_slug: str, committed: _Committed
) -> Iterator[TimedSegment]:
    after_carry, committed.carried = committed.carried, False
    prompt = committed.prompt()
    if cut.whole and not after_carry:
        for segment in transcriber.transcribe(cut.chunk, room_slug=room_slug, prompt=prompt):
            _commit(committed, segment.text)
            yield segment
        return
    words = transcriber.transcribe_words(cut.chunk, room_slug=room_slug, prompt=prompt)
    if after_carry:
        words = _unpublished(words, committed)
    keep = words
    if not cut.whole:
        chunk_end = cut.chunk.start + cut.chunk.duration
        keep = list(itertools.takewhile(lambda word: word.end <= chunk_end - TAIL_GUARD_SECONDS, words)) or words
        if len(keep) < len(words):
            # Unfinished words go back with a second of what came before, for context.
            carry_from = max(cut.chunk.start, words[len(keep)].start - CARRY_CONTEXT_SECONDS)
            offset = int(round((carry_from - cut.chunk.start) * SAMPLE_RATE))
            buffer.put_back(AudioChunk(start=cut.chunk.start + offset / SAMPLE_RATE, samples=cut.chunk.samples[offset:]))
            committed.carried = True
    if keep:
        text = "".join(word.text for word in keep).strip()
        _commit(committed, text)
        yield TimedSegment(start=keep[0].start, end=keep[-1].end, text=text)


def _unpublished(words: list[TimedSegment], committed: _Committed) -> list[TimedSegment]:
    """The words of carried-over audio less those published already: the model may or may not
    hear the second of context again, and its times for it are too rough to go by, so the
    overlap is found by text (the longest run of new words that ends the published text, one
    misheard word allowed)."""
    heard = [_norm(word.text) for word in words]
    tail = committed.words
    for size in range(min(len(heard), len(tail), MAX_OVERLAP_WORDS), 0, -1):
        pairs = list(zip(heard[:size], tail[-size:]))
        same = sum(new == old for new, old in pairs)
        if pairs[-1][0] == pairs[-1][1] and (same == size or (size >= 2 and same == size - 1)):
            return words[size:]
    return words


def _commit(committed: _Committed, text: str) -> None:
    committed.text = (committed.text + " " + text)[-400:]
    committed.words = (committed.words + [_norm(word) for word in text.split()])[-MAX_OVERLAP_WORDS:]


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
