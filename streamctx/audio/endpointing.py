"""Where to cut decoded audio into utterances: Silero VAD (it ships inside faster-whisper) over 32 ms
windows, the speaker's pauses, and the chunk limit. streamctx.audio.utterances transcribes the cuts."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from faster_whisper.vad import get_vad_model

from streamctx.audio.decode import SAMPLE_RATE
from streamctx.types import AudioChunk

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
# Audio kept before speech starts, so the first syllable is never clipped.
LEAD_IN_SECONDS = 0.4
# Silero VAD works on 32 ms windows; probabilities above VAD_THRESHOLD are speech and below
# VAD_NEG_THRESHOLD silence (the defaults faster-whisper uses).
VAD_WINDOW = 512
VAD_THRESHOLD = 0.5
VAD_NEG_THRESHOLD = 0.35


@dataclass(frozen=True)
class Cut:
    chunk: AudioChunk
    whole: bool  # True: the speaker stopped (or the source ended); False: cut at the chunk limit
    speech_seconds: float = 0.0  # what VAD calls speech in it


class UtteranceBuffer:
    """Accumulates decoded audio and says when (and where) to hand it to the model."""

    def __init__(self, *, max_seconds: float, endpoint_silence: float | None = None) -> None:
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
        seconds = speech * VAD_WINDOW / SAMPLE_RATE
        if final:
            return Cut(self._take(len(self.samples)), whole=True, speech_seconds=seconds)
        trailing = _trailing_below(self.probs, VAD_NEG_THRESHOLD)
        if trailing >= self.endpoint_windows and (speech >= _windows(MIN_UTTERANCE_SPEECH_SECONDS) or trailing >= _windows(LONG_PAUSE_SECONDS)):
            return Cut(self._take(len(self.samples)), whole=True, speech_seconds=seconds)
        if len(self.samples) < self.max_samples:
            return None
        gap = self._best_pause()
        if gap is not None:
            # Not whole: a "pause" inside the window can be the closure of a stop inside a word
            # ("respect|able"), so the words just before it are checked and carried like any cut's.
            speech_seconds = self._speech_before(gap)
            return Cut(self._take(gap), whole=False, speech_seconds=speech_seconds)
        dip = self._deepest_dip()
        speech_seconds = self._speech_before(dip)
        return Cut(self._take(dip), whole=False, speech_seconds=speech_seconds)

    def _best_pause(self) -> int | None:
        """A sample index in the middle of the longest pause (the latest of equals) after enough
        speech for whisper, where a phrase most likely ended; None when speech runs on without one."""
        start = self._enough_speech_window()
        if start is None:
            return None
        quiet = np.append(self.probs < VAD_NEG_THRESHOLD, False)
        best: tuple[int, int] | None = None  # (length, middle window)
        run = 0
        for index in range(start, len(quiet)):
            if quiet[index]:
                run += 1
                continue
            if run >= _windows(MIN_GAP_SECONDS) and (best is None or run >= best[0]):
                best = (run, index - run // 2 - 1)
            run = 0
        return best[1] * VAD_WINDOW if best else None

    def _deepest_dip(self) -> int:
        """Where unbroken speech is least sure to be speech (the lowest VAD probability over
        ~100 ms, the latest of equals) in the buffer's second half: between two words more often
        than the hard limit is. Words near it are still carried over (the cut is not whole)."""
        smooth = np.convolve(self.probs, np.ones(3) / 3, mode="same") if len(self.probs) >= 3 else self.probs
        begin = max(len(smooth) // 2, (self._enough_speech_window() or 0))
        end = len(smooth) - 1  # not the very end: that is the hard limit
        if end <= begin:
            return len(self.samples)
        lowest = begin + int(np.flatnonzero(smooth[begin:end] == smooth[begin:end].min())[-1])
        return lowest * VAD_WINDOW

    def _enough_speech_window(self) -> int | None:
        speech_so_far = np.cumsum(self.probs >= VAD_THRESHOLD)
        enough = np.flatnonzero(speech_so_far >= _windows(MIN_UTTERANCE_SPEECH_SECONDS))
        return int(enough[0]) + 1 if len(enough) else None

    def _speech_before(self, sample: int) -> float:
        return float(np.count_nonzero(self.probs[: sample // VAD_WINDOW] >= VAD_THRESHOLD)) * VAD_WINDOW / SAMPLE_RATE

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
        chunk.extra["vad"] = self.probs[: count // VAD_WINDOW].copy()  # what VAD heard, window by window
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
